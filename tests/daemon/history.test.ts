// Live history across peers: changes in the nas's arena reach realize-watch
// on the laptop (plain lines) through the HistoryService, within 5 s.
import { test, before, after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHousehold, type Household } from '../helpers/household.js';
import { BIN_DIR } from '../helpers/run.js';
import { until } from '../helpers/sync.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
let h: Household;
let watch: ChildProcess;
let out = '';
let arena: string;

/** Waits for a line of realize-watch's output matching `re`, within `ms`. */
async function line(re: RegExp, ms = 5000): Promise<void> {
  await until(() => re.test(out), ms, `a line matching ${re} in:\n${out}`);
}

before(async () => {
  // A tree of 5,000 directories, there before the daemon starts.
  const root = join(dir, 'nas-photos');
  for (let i = 0; i < 50; i++) for (let j = 0; j < 100; j++) mkdirSync(join(root, `y${i}`, `m${j}`), { recursive: true });
  h = await startHousehold(dir);
  arena = h.arenas.photos!;
  watch = spawn(process.execPath, [BIN_DIR + 'realize-watch.js', '--config', h.laptopConfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  watch.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  watch.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await line(/peer +nas connected/, 15_000);
});

after(async () => {
  watch?.kill('SIGTERM');
  await h?.stop();
});

test('a new file at the top reaches the other peer', async () => {
  writeFileSync(join(arena, 'top.txt'), 'hello');
  await line(/add +nas:photos\/top\.txt 5B/);
});

test('a file deep in a 5,000-directory tree', async () => {
  writeFileSync(join(arena, 'y49', 'm99', 'deep.jpg'), 'x'.repeat(2048));
  await line(/add +nas:photos\/y49\/m99\/deep\.jpg 2\.0k/i);
});

test('a file in a directory created after start', async () => {
  mkdirSync(join(arena, 'new', 'album'), { recursive: true });
  writeFileSync(join(arena, 'new', 'album', 'a.jpg'), 'a');
  await line(/add +nas:photos\/new\/album\/a\.jpg/);
});

test('removals and renames', async () => {
  renameSync(join(arena, 'top.txt'), join(arena, 'renamed.txt'));
  await line(/rename +nas:photos\/top\.txt -> nas:photos\/renamed\.txt/);
  rmSync(join(arena, 'renamed.txt'));
  await line(/remove +nas:photos\/renamed\.txt/);
});

test('changes made while the daemon was down arrive after its restart', async () => {
  await h.stop();
  await line(/peer +nas disconnected/);
  writeFileSync(join(arena, 'while-down.txt'), 'made while down');
  rmSync(join(arena, 'new', 'album', 'a.jpg'));
  await h.restart();
  await line(/add +nas:photos\/while-down\.txt/, 20_000);
  await line(/remove +nas:photos\/new\/album\/a\.jpg/, 5000);
});
