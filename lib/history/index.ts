// lib/history: inotify events -> history log -> subscribers (DESIGN §1, §4).
// Owns the per-arena history store (LMDB under `<state>/history`), the
// recorder that fills it (startup scan, then live watching through the native
// watcher, debounced), and the in-process subscription the daemon's
// HistoryService streams to peers. May import lib/model and lib/native only;
// knows nothing of the protocol or transports.
//
// Typical use by the daemon:
//   const db = openHistory(stateDir);
//   const rec = recordArena(db, 'photos', '/srv/photos');
//   await rec.ready;                                   // startup scan recorded
//   const stop = db.subscribe('photos', afterSeq, (entry) => send(entry), { onGap });
//   db.arena('photos').ack(peerName, seq);             // on the peer's ack
//   db.arena('photos').trim(knownPeerNames);           // now and then
export { openHistory, HistoryDb, ArenaHistory, historyPath } from './store.js';
export type { Change, ChangeKind, FileState, HistoryEntry, SubscribeOptions } from './store.js';
export { recordArena } from './recorder.js';
export type { Recorder, RecorderOptions, RecorderStats, RecorderLog } from './recorder.js';
export { Debouncer } from './debounce.js';
export type { Op } from './debounce.js';
export { scanTree } from './scan.js';
export type { ScanResult, ScannedFile } from './scan.js';
export { hashRoot } from './hash.js';
export type { HashFn } from './hash.js';
