// Runs one of the built bins and collects its output.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN_DIR = fileURLToPath(new URL('../../bin/', import.meta.url));

/** The bins run with hashes remembered in a directory of this process's, not in ~/.cache. */
const CACHE_HOME = join(tmpdir(), `realize-test-cache-${process.pid}`);
process.once('exit', () => rmSync(CACHE_HOME, { recursive: true, force: true }));

export function binEnv(env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...process.env, XDG_CACHE_HOME: CACHE_HOME, ...env };
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runBin(
  name: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN_DIR + name + '.js', ...args], {
      env: binEnv(opts.env),
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}
