import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runWatchStdin, plainLine } from '../../lib/ui/watch/index.js';
import { runBin } from '../helpers/run.js';

const BIN = fileURLToPath(new URL('../../bin/realize-watch.js', import.meta.url));
const HASH = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

function stream(events: object[], extra = ''): string {
  return events.map((e) => JSON.stringify(e)).join('\n') + '\n' + extra;
}

const RUN = [
  { event: 'start', files: 3, bytes: 3 * 2 ** 30 + 2048, skipped: 1 },
  { event: 'file_start', index: 1, files: 3, path: 'sub/a.bin', size: 3 * 2 ** 30 },
  { event: 'progress', path: 'sub/a.bin', done: 2 ** 30, size: 3 * 2 ** 30, bytes_done: 2 ** 30, bytes_total: 3 * 2 ** 30 + 2048 },
  { event: 'file_done', index: 1, files: 3, path: 'sub/a.bin', size: 3 * 2 ** 30, hash: HASH, action: 'moved' },
  { event: 'file_error', index: 2, files: 3, path: 'sub/b.txt', size: 1024, error: 'I/O error: no space left on device' },
  { event: 'retry', error: 'network error: connection reset by peer', delay_seconds: 5, attempt: 1 },
  { event: 'file_done', index: 3, files: 3, path: 'c.txt', size: 1024, hash: HASH, action: 'moved' },
];
const summary = (over: object) => ({ event: 'summary', files_ok: 2, files_failed: 0, files_skipped: 1, bytes: 3 * 2 ** 30 + 1024, wire_bytes_sent: 1, wire_bytes_received: 1, seconds: 12.5, ...over });

async function plain(text: string): Promise<{ code: number; out: string }> {
  const out = new PassThrough();
  let written = '';
  out.on('data', (d: Buffer) => (written += d.toString()));
  const code = await runWatchStdin(Readable.from([text]), out as unknown as NodeJS.WriteStream);
  return { code, out: written };
}

test('plain lines: one per event, progress left out, the summary decides the status', async () => {
  const { code, out } = await plain(stream([...RUN, summary({ files_failed: 1 })], 'garbage\n'));
  assert.equal(code, 1);
  assert.deepEqual(out.trimEnd().split('\n'), [
    'start   3 files, 3.0G to do; 1 skipped',
    `moved   sub/a.bin 3.0G BLAKE3 ${HASH}`,
    'failed  sub/b.txt 1.0k: I/O error: no space left on device',
    'retry   retrying in 5.0s (attempt 1): network error: connection reset by peer',
    `moved   c.txt 1.0k BLAKE3 ${HASH}`,
    'Error: 1 file failed, 2 files moved',
    'note    ignoring a line that is not a realize-sync --json event: garbage',
  ]);
  assert.equal((await plain(stream([...RUN, summary({})]))).code, 0);
  assert.match((await plain(stream([summary({})]))).out, /^Success: 2 files moved \(3\.0G in 13s\)$/m);
  assert.equal((await plain(stream([summary({ interrupted: true })]))).code, 20);
  assert.equal((await plain(stream([summary({ timed_out: true })]))).code, 11);
  assert.equal((await plain(stream(RUN))).code, 1, 'no summary: the run died');
});

test('plain lines name the peer, the arena and the path', () => {
  assert.equal(plainLine({ type: 'history', peer: 'laptop', arena: 'photos', entry: { kind: 'add', path: '2026/a.jpg', size: 3 << 20 } }), 'add     laptop:photos/2026/a.jpg 3.0M');
  assert.equal(plainLine({ type: 'history', peer: 'laptop', arena: 'photos', entry: { kind: 'rename', from: 'a', path: 'b' } }), 'rename  laptop:photos/a -> laptop:photos/b');
  assert.equal(plainLine({ type: 'history', peer: 'nas', arena: 'docs', entry: { kind: 'remove', path: 'x', size: 5 } }), 'remove  nas:docs/x');
  assert.equal(plainLine({ type: 'peer', peer: 'nas', state: 'connecting', detail: 'connection refused' }), 'peer    nas connecting (connection refused)');
  assert.equal(plainLine({ type: 'cache', bytes: 2 ** 30, quota: 20 * 2 ** 30, hits: 3, misses: 1 }), 'cache   1.0G of 20G, 75% hits');
  assert.equal(plainLine({ type: 'transfer', id: 'x', peer: 'nas', arena: 'docs', path: 'x', size: 10, done: 5, state: 'active' }), undefined);
});

test('realize-watch - prints plain lines when stdout is a pipe', async () => {
  const r = await runBin('realize-watch', ['-'], { input: stream([...RUN, summary({})]) });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^moved   sub\/a\.bin 3\.0G BLAKE3 [0-9a-f]{64}$/m);
  assert.match(r.stdout, /^Success: 2 files moved/m);
  const bad = await runBin('realize-watch', ['nope']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^realize-watch: unexpected argument 'nope'; use '-'/);
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

/** Runs `command` in a detached 120x30 tmux session; returns helpers to read and type. */
function tmux(t: { after: (fn: () => void) => void }, command: string) {
  const name = `realize-watch-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  // ink draws only the last frame when it thinks it runs in CI: this terminal is a real one.
  execFileSync('tmux', ['new-session', '-d', '-s', name, '-x', '120', '-y', '30', `unset CI CONTINUOUS_INTEGRATION BUILD_NUMBER RUN_ID; ${command}`]);
  t.after(() => spawnSync('tmux', ['kill-session', '-t', name]));
  const capture = () => spawnSync('tmux', ['capture-pane', '-p', '-t', name], { encoding: 'utf8' }).stdout;
  return {
    capture,
    keys: (...keys: string[]) => execFileSync('tmux', ['send-keys', '-t', name, ...keys]),
    async screenWith(re: RegExp, ms = 10_000): Promise<string> {
      const start = Date.now();
      for (;;) {
        const s = capture();
        if (re.test(s)) return s;
        if (Date.now() - start > ms) throw new Error(`the screen never showed ${re}:\n${s}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

test('in a real terminal: draws the run, scrolls with the arrows, quits with q and exits with the summary status', { skip: !hasTmux && 'tmux is not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'realize-watch-tty-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const many = Array.from({ length: 60 }, (_, i) => ({ event: 'file_done', index: i + 4, files: 63, path: `many/f${i + 1}`, size: 1000, hash: HASH, action: 'copied' }));
  writeFileSync(join(dir, 'events.jsonl'), stream([{ ...RUN[0], files: 63 }, ...RUN.slice(1), ...many, summary({ files_ok: 62, files_failed: 1 })]));
  const status = join(dir, 'status');
  const term = tmux(t, `node ${BIN} - < ${join(dir, 'events.jsonl')}; echo $? > ${status}; sleep 60`);
  let screen = await term.screenWith(/press q to quit/);
  assert.match(screen, /Realize · watch · realize-sync on stdin/);
  assert.match(screen, /Transfers 0 active · 63\/63 files · 3\.0G\/3\.0G · 1 failed/);
  assert.match(screen, /copied\s+many\/f60/);
  assert.match(screen, /Error: 1 file failed, 62 files copied/);
  term.keys('Up', 'Up', 'Up', 'Up', 'Up');
  screen = await term.screenWith(/History \d+-\d+ of 64/);
  assert.doesNotMatch(screen, /many\/f60\b/);
  term.keys('q');
  const start = Date.now();
  while (!existsSync(status) && Date.now() - start < 10_000) await new Promise((r) => setTimeout(r, 50));
  assert.equal(readFileSync(status, 'utf8').trim(), '1');
});

test('in a real terminal: a live stream shows the bar and the rate as it goes', { skip: !hasTmux && 'tmux is not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'realize-watch-live-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A stand-in for realize-sync --json: 1 MiB of progress every 100 ms.
  const feeder = join(dir, 'feed.cjs');
  writeFileSync(
    feeder,
    `const size = 100 * 2 ** 20; let done = 0;
     const out = (e) => process.stdout.write(JSON.stringify(e) + '\\n');
     out({ event: 'start', files: 1, bytes: size, skipped: 0 });
     const t = setInterval(() => { done += 2 ** 20; out({ event: 'progress', path: 'big.iso', done, size, bytes_done: done, bytes_total: size }); if (done >= 30 * 2 ** 20) clearInterval(t); }, 100);`,
  );
  const term = tmux(t, `node ${feeder} | node ${BIN} -; sleep 60`);
  const screen = await term.screenWith(/big\.iso\s+\[=+>?\s*\]\s+\d+%\s+\d+(\.\d)?M\/s\s+100M/);
  assert.match(screen, /Transfers 1 active · 0\/1 files/);
  term.keys('q');
});
