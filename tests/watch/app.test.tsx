import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'ink-testing-library';
import { WatchApp } from '../../lib/ui/watch/app.js';
import { WatchModel } from '../../lib/ui/watch/model.js';

const UP = '\u001B[A';
const DOWN = '\u001B[B';

async function frameWith(lastFrame: () => string | undefined, text: string | RegExp, ms = 2000): Promise<string> {
  const start = Date.now();
  for (;;) {
    const f = lastFrame() ?? '';
    if (typeof text === 'string' ? f.includes(text) : text.test(f)) return f;
    if (Date.now() - start > ms) throw new Error(`frame never showed ${String(text)}:\n${f}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('shows peers with their state, transfers with a bar and a rate, the cache and the feed', async () => {
  const model = new WatchModel();
  const t0 = Date.now();
  model.apply({ type: 'peer', peer: 'laptop', state: 'connected', address: 'laptop.lan:9771' });
  model.apply({ type: 'peer', peer: 'nas', state: 'connecting', detail: 'retry in 5s: connection refused' });
  model.apply({ type: 'history', peer: 'laptop', arena: 'photos', entry: { seq: 1, kind: 'add', path: '2026/beach.jpg', size: 3 << 20, time: t0 } });
  model.apply({ type: 'history', peer: 'nas', arena: 'docs', entry: { seq: 7, kind: 'rename', from: 'a.txt', path: 'b.txt', time: t0 } });
  model.apply({ type: 'transfer', id: 'x', peer: 'nas', arena: 'docs', path: 'big.iso', size: 100 << 20, done: 0, state: 'active' }, t0);
  model.apply({ type: 'transfer', id: 'x', peer: 'nas', arena: 'docs', path: 'big.iso', size: 100 << 20, done: 50 << 20, state: 'active' }, t0 + 1000);
  model.apply({ type: 'cache', bytes: 1.5 * 2 ** 30, quota: 20 * 2 ** 30, hits: 93, misses: 7 });
  const { lastFrame, unmount } = render(<WatchApp model={model} />);
  const f = await frameWith(lastFrame, 'Cache');
  unmount();
  assert.match(f, /Peers 1 of 2 connected/);
  assert.match(f, /● laptop\s+connected\s+laptop\.lan:9771/);
  assert.match(f, /◌ nas\s+connecting\s+retry in 5s: connection refused/);
  assert.match(f, /nas:docs\/big\.iso\s+\[=========>\s+\]\s+50%\s+50M\/s\s+100M/);
  assert.match(f, /laptop:photos\s+add\s+2026\/beach\.jpg\s+3\.0M/);
  assert.match(f, /nas:docs\s+rename\s+a\.txt -> b\.txt/);
  assert.match(f, /Cache 1\.5G of 20G · 93% hits/);
});

test('the feed follows new events, scrolls back with the arrows and stays put while events arrive', async () => {
  const model = new WatchModel();
  for (let i = 1; i <= 100; i++) model.apply({ type: 'history', peer: 'p', arena: 'a', entry: { kind: 'add', path: `file${i}` } });
  const { lastFrame, stdin, unmount } = render(<WatchApp model={model} />);
  let f = await frameWith(lastFrame, 'file100');
  assert.match(f, /100 events/);
  stdin.write(UP);
  f = await frameWith(lastFrame, / of 100/);
  assert.doesNotMatch(f, /file100\b/);
  assert.match(f, /file99\b/);
  stdin.write(UP);
  f = await frameWith(lastFrame, /file98$/);
  model.apply({ type: 'history', peer: 'p', arena: 'a', entry: { kind: 'add', path: 'file101' } });
  f = await frameWith(lastFrame, / of 101/);
  assert.doesNotMatch(f, /file(99|100|101)\b/, 'the scrolled view does not move');
  for (const last of ['file99', 'file100']) {
    stdin.write(DOWN);
    await frameWith(lastFrame, new RegExp(`${last}$`));
  }
  stdin.write(DOWN);
  f = await frameWith(lastFrame, /101 events/);
  assert.match(f, /file101\b/);
  unmount();
});

test('q quits', async () => {
  const model = new WatchModel();
  let quit = false;
  const { stdin, lastFrame } = render(<WatchApp model={model} onQuit={() => (quit = true)} />);
  await frameWith(lastFrame, 'nothing yet');
  stdin.write('q');
  const start = Date.now();
  while (!quit && Date.now() - start < 2000) await new Promise((r) => setTimeout(r, 10));
  assert.equal(quit, true);
});
