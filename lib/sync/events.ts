// The events of a realize-sync run (DESIGN §2, `--json`). lib/ui renders
// them as human lines, live bars or JSON; realize-watch reads them back.

export type SyncEvent =
  | { event: 'start'; files: number; bytes: number; skipped: number }
  | { event: 'file_start'; index: number; files: number; path: string; size: number }
  | { event: 'progress'; path: string; done: number; size: number; bytes_done: number; bytes_total: number }
  | { event: 'file_done'; index: number; files: number; path: string; size: number; hash: string; action: FileAction }
  | { event: 'file_error'; index: number; files: number; path: string; size: number; error: string }
  | { event: 'retry'; error: string; delay_seconds: number; attempt: number }
  | {
      event: 'summary';
      files_ok: number;
      files_failed: number;
      files_skipped: number;
      bytes: number;
      wire_bytes_sent: number;
      wire_bytes_received: number;
      seconds: number;
      interrupted?: boolean;
      timed_out?: boolean;
      error?: string;
    };

export type FileAction = 'moved' | 'copied' | 'unchanged' | 'would_move' | 'would_copy';

export type Emit = (e: SyncEvent) => void;
