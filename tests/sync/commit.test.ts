// The Committer: a move deletes a source only after a flush of DST that began
// after its file was finished, one flush per batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Committer } from '../../lib/sync/commit.js';

function recorder() {
  const log: string[] = [];
  let flushes = 0;
  return {
    log,
    flush: async (keys: string[]) => {
      const n = ++flushes;
      log.push(`flush ${n} start`);
      log.push(`of ${keys.join(',')}`);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`flush ${n} end`);
    },
    del: (name: string) => async () => {
      log.push(`delete ${name}`);
    },
  };
}

test('deletions wait for a flush that started after them, one flush per batch', async () => {
  const r = recorder();
  const c = new Committer(r.flush, { batch: 3, delayMs: 60_000, parallel: 2 });
  const all = ['a', 'b', 'c', 'd'].map((n) => c.commit(n, r.del(n)));
  await Promise.all(all.slice(0, 3));
  // The first three made a full batch: one flush, then their deletions; d still waits.
  assert.deepEqual(r.log, ['flush 1 start', 'of a,b,c', 'flush 1 end', 'delete a', 'delete b', 'delete c']);
  await c.drain();
  await all[3];
  assert.deepEqual(r.log.slice(6), ['flush 2 start', 'of d', 'flush 2 end', 'delete d']);
});

test('a batch that is not full is committed after the delay', async () => {
  const r = recorder();
  const c = new Committer(r.flush, { batch: 100, delayMs: 20, parallel: 4 });
  const started = Date.now();
  await c.commit('x', r.del('x'));
  assert.ok(Date.now() - started >= 15, 'waited for the delay');
  assert.deepEqual(r.log, ['flush 1 start', 'of x', 'flush 1 end', 'delete x']);
});

test('a failed flush deletes nothing and fails every file of its batch', async () => {
  const log: string[] = [];
  const c = new Committer(async () => {
    throw new Error('connection lost');
  }, { batch: 2, delayMs: 60_000, parallel: 2 });
  const results = await Promise.allSettled(['a', 'b'].map((n) => c.commit(n, async () => void log.push(n))));
  assert.deepEqual(results.map((x) => x.status), ['rejected', 'rejected']);
  assert.deepEqual(log, []);
});

test('a failed deletion fails only its own file', async () => {
  const r = recorder();
  const c = new Committer(r.flush, { batch: 2, delayMs: 60_000, parallel: 2 });
  const results = await Promise.allSettled([
    c.commit('a', async () => {
      throw new Error('changed meanwhile');
    }),
    c.commit('b', r.del('b')),
  ]);
  assert.deepEqual(results.map((x) => x.status), ['rejected', 'fulfilled']);
  assert.ok(r.log.includes('delete b'));
});
