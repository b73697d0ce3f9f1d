// Paths inside an arena (DESIGN §1): relative, '/'-separated, no '..', no
// empty or '.' segment, no NUL. Every other byte, ':' and spaces included, is
// allowed. This is the only place that decides what a path is.
import { RealizeError } from './errors.js';

/** A validated arena path. Only `parsePath` makes one. */
export type ArenaPath = string & { readonly __arenaPath: unique symbol };

/** Longest path accepted, in bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest segment accepted, in bytes (Linux NAME_MAX). */
export const MAX_SEGMENT_BYTES = 255;

export function parsePath(text: string): ArenaPath {
  if (typeof text !== 'string' || text === '') throw bad(text, 'empty path');
  if (text.includes('\0')) throw bad(text, 'contains NUL');
  if (text.startsWith('/')) throw bad(text, 'absolute paths are not allowed');
  if (overBytes(text, MAX_PATH_BYTES)) throw bad(text, `longer than ${MAX_PATH_BYTES} bytes`);
  for (const segment of text.split('/')) {
    if (segment === '') throw bad(text, 'empty segment');
    if (segment === '.' || segment === '..') throw bad(text, `'${segment}' segment`);
    if (overBytes(segment, MAX_SEGMENT_BYTES)) throw bad(text, `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
  return text as ArenaPath;
}

export function isValidPath(text: string): boolean {
  try {
    parsePath(text);
    return true;
  } catch {
    return false;
  }
}

/** Joins an optional prefix (a SUBDIR) and a path; both validated. */
export function joinPath(prefix: string | undefined, path: string): ArenaPath {
  return parsePath(prefix ? `${prefix}/${path}` : path);
}

/** The segments of a validated path; the last one is the file name. */
export function segments(path: ArenaPath): string[] {
  return path.split('/');
}

/** `.name.part` beside `name`: the partial form of a path. */
export function partialPath(path: ArenaPath): ArenaPath {
  const parts = segments(path);
  const name = parts.pop()!;
  return [...parts, `.${name}.part`].join('/') as ArenaPath;
}

/** Whether a file name is a partial file, and so not part of any listing or history. */
export function isPartialName(name: string): boolean {
  return name.length > 6 && name.startsWith('.') && name.endsWith('.part');
}

/**
 * Whether a file name is one of realize-sync's probes (sync/probe.ts: an
 * empty file that finds one tree reached two ways). Named like a partial,
 * so never synced; left behind by an interrupted run, it is not counted or
 * logged either.
 */
export function isProbeName(name: string): boolean {
  return name.startsWith(PROBE_PREFIX) && name.endsWith('.part');
}

export const PROBE_PREFIX = '.realize-probe-';

/** The final path a partial path stands for. */
export function finalPathOf(partial: ArenaPath): ArenaPath {
  const parts = segments(partial);
  const name = parts.pop()!;
  return [...parts, name.slice(1, -'.part'.length)].join('/') as ArenaPath;
}

/** Whether `text` is over `max` bytes of UTF-8, measured only when it could be (a UTF-16 unit is at most 3 bytes): every path of every batch passes here. */
function overBytes(text: string, max: number): boolean {
  return text.length * 3 > max && Buffer.byteLength(text) > max;
}

function bad(text: string, why: string): RealizeError {
  return new RealizeError('path', `invalid path ${JSON.stringify(text)}: ${why}`);
}
