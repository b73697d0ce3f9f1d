// The text of a config file, to point errors at a line: `FILE:LINE: KEY: what`.
// smol-toml reports the line of syntax errors; for errors found after
// parsing, the key's line is found by scanning the text (headers, keys,
// dotted keys; multi-line strings skipped), which is good enough for people.
import { RealizeError } from '../model/errors.js';

const BARE_OR_QUOTED = String.raw`(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')`;
const KEY = String.raw`${BARE_OR_QUOTED}(?:\s*\.\s*${BARE_OR_QUOTED})*`;
const HEADER_RE = new RegExp(String.raw`^\s*\[\[?\s*(${KEY})\s*\]\]?`);
const KEY_RE = new RegExp(String.raw`^\s*(${KEY})\s*=(.*)$`);
const PART_RE = new RegExp(BARE_OR_QUOTED, 'g');

export class ConfigSource {
  readonly #entries: { path: string[]; line: number }[] = [];

  constructor(
    readonly file: string,
    text: string,
  ) {
    let table: string[] = [];
    let open: string | undefined; // the delimiter of a multi-line string being skipped
    text.split(/\r?\n/).forEach((line, i) => {
      if (open) {
        if (count(line, open) % 2 === 1) open = undefined;
        return;
      }
      const header = HEADER_RE.exec(line);
      if (header) {
        table = splitKey(header[1]!);
        this.#entries.push({ path: table, line: i + 1 });
        return;
      }
      const key = KEY_RE.exec(line);
      if (key) {
        this.#entries.push({ path: [...table, ...splitKey(key[1]!)], line: i + 1 });
        const rest = key[2]!;
        for (const delim of ['"""', "'''"]) if (count(rest, delim) % 2 === 1) open = delim;
      }
    });
  }

  /**
   * The line of a key: where it is set; else where a key inside it is first
   * set (`[arena.photos]` for `arena`); else the line of its nearest
   * enclosing table or key (`[peers.laptop]` for a missing `peers.laptop.pubkey`).
   */
  lineOf(path: readonly string[]): number | undefined {
    const startsWith = (long: readonly string[], short: readonly string[]): boolean => long.length >= short.length && short.every((p, i) => p === long[i]);
    const exact = this.#entries.find((e) => e.path.length === path.length && startsWith(e.path, path));
    if (exact) return exact.line;
    const inside = this.#entries.find((e) => startsWith(e.path, path));
    if (inside) return inside.line;
    let best: { path: string[]; line: number } | undefined;
    for (const e of this.#entries) {
      if (startsWith(path, e.path) && (!best || e.path.length > best.path.length)) best = e;
    }
    return best?.line;
  }

  /** A config error: `FILE:LINE: KEY: message`. */
  error(path: readonly string[], message: string, cause?: unknown): RealizeError {
    const line = this.lineOf(path);
    const where = line === undefined ? this.file : `${this.file}:${line}`;
    const key = path.length ? ` ${formatKey(path)}:` : '';
    return new RealizeError('config', `${where}:${key} ${message}`, { cause });
  }
}

/** `peers.laptop.pubkey`, quoting parts that are not bare keys. */
export function formatKey(path: readonly string[]): string {
  return path.map((p) => (/^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p))).join('.');
}

/** The closest of `candidates` to `word`, if close enough to be a typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = distance(w, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = word.length <= 3 ? 1 : Math.min(3, Math.max(2, Math.floor(word.length / 3)));
  return best !== undefined && bestDistance <= limit ? best : undefined;
}

function splitKey(key: string): string[] {
  return (key.match(PART_RE) ?? []).map((p) => {
    if (p.startsWith('"')) {
      try {
        return JSON.parse(p) as string;
      } catch {
        return p.slice(1, -1);
      }
    }
    return p.startsWith("'") ? p.slice(1, -1) : p;
  });
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
