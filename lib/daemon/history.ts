// The daemon's history: every arena held here is recorded (startup scan, then
// inotify), served to peers through HistoryService, and trimmed once every
// peer that may reach an arena has acknowledged its entries.
import type { Config } from '../config/index.js';
import type { Logger } from '../model/log.js';
import { openHistory, recordArena, type HistoryDb, type Recorder } from '../history/index.js';
import type { HistorySource } from '../protocol/history-service.js';

export interface DaemonHistory {
  source: HistorySource;
  /** Resolves once every arena's startup scan is recorded. */
  ready: Promise<void>;
  close(): void;
}

export function startHistory(config: Config, log: Logger): DaemonHistory {
  const db: HistoryDb = openHistory(config.state);
  const recorders: Recorder[] = [];
  for (const a of config.arenas.values()) {
    if (!a.path) continue;
    const rec = recordArena(db, a.name, a.path, { log: { warn: (m: string) => log.warn(`history ${a.name}: ${m}`) } });
    rec.ready.then(
      () => log.info(`history ${a.name}: scanned ${a.path}`),
      (err: Error) => log.warn(`history ${a.name}: ${err.message}`),
    );
    recorders.push(rec);
  }
  const peersOf = (arena: string) => [...config.peers.values()].filter((p) => p.arenas.includes(arena as never)).map((p) => p.name);
  return {
    source: {
      subscribe: (arena, afterSeq, onEntry, onGap) => db.subscribe(arena, afterSeq, onEntry, { onGap }),
      ack(arena, peer, seq) {
        const h = db.arena(arena);
        h.ack(peer, seq);
        h.trim(peersOf(arena));
      },
    },
    ready: Promise.allSettled(recorders.map((r) => r.ready)).then(() => {}),
    close() {
      for (const r of recorders) r.close();
      db.close();
    },
  };
}
