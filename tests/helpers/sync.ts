// Runs realize-sync and parses its --json events.
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN_DIR, binEnv, runBin, type RunResult } from './run.js';

export interface JsonEvent {
  event: string;
  [key: string]: unknown;
}

export interface SyncResult extends RunResult {
  events: JsonEvent[];
  summary: JsonEvent | undefined;
}

export function parseEvents(stdout: string): JsonEvent[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as JsonEvent);
}

export async function syncJson(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<SyncResult> {
  const r = await runBin('realize-sync', ['--json', ...args], opts);
  const events = parseEvents(r.stdout);
  return { ...r, events, summary: events.find((e) => e.event === 'summary') };
}

/** Starts realize-sync --json in the background, for tests that interrupt it. */
export function spawnSync(args: string[]): { child: ChildProcess; output(): string; exited: Promise<number | null>; events(): JsonEvent[] } {
  const child = spawn(process.execPath, [BIN_DIR + 'realize-sync.js', '--json', ...args], { env: binEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out + err, exited, events: () => parseEvents(out) };
}

/** Waits until `cond` holds, polling. */
export async function until(cond: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
