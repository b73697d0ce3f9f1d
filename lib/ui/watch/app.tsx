// The realize-watch terminal UI (ink 6): peers and their connection state,
// transfers with a bar and a rate, the Unreal cache's figures, and the live
// history feed (newest at the bottom; arrows and PgUp/PgDn scroll it back,
// `q` quits). It only reads a WatchModel.
import { useEffect, useRef, useState } from 'react';
import { Box, Text, useApp, useInput, useStdin, useStdout } from 'ink';
import { formatRate, formatSize } from '../../model/units.js';
import type { FeedItem, PeerState, TransferView, WatchModel, WatchState } from './model.js';
import { where } from './plain.js';

const MAX_PEERS = 6;
const MAX_TRANSFERS = 4;
const BAR = 20;

/** Re-renders at most every `ms` while inputs arrive. */
function useModel(model: WatchModel, ms = 50): number {
  const [version, setVersion] = useState(model.version);
  useEffect(() => {
    let timer: NodeJS.Timeout | undefined;
    const stop = model.subscribe(() => {
      timer ??= setTimeout(() => {
        timer = undefined;
        setVersion(model.version);
      }, ms);
    });
    setVersion(model.version);
    return () => {
      stop();
      if (timer) clearTimeout(timer);
    };
  }, [model, ms]);
  return version;
}

const PEER_LOOK: Record<PeerState, { mark: string; color: string }> = {
  connected: { mark: '●', color: 'green' },
  connecting: { mark: '◌', color: 'yellow' },
  disconnected: { mark: '○', color: 'red' },
  offline: { mark: '○', color: 'gray' },
};

const KIND_COLOR: Record<string, string> = {
  add: 'green',
  update: 'yellow',
  remove: 'red',
  rename: 'cyan',
  moved: 'green',
  copied: 'green',
  unchanged: 'gray',
  failed: 'red',
  note: 'gray',
};

function clock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function bar(done: number, size: number, width = BAR): string {
  const frac = size > 0 ? Math.min(1, done / size) : 1;
  const full = Math.floor(frac * width);
  return `[${'='.repeat(Math.max(0, full - 1))}${full > 0 ? (frac >= 1 ? '=' : '>') : ''}${' '.repeat(width - full)}]`;
}

function Peers({ state }: { state: WatchState }) {
  const peers = [...state.peers.values()].sort((a, b) => a.peer.localeCompare(b.peer));
  if (peers.length === 0) return null;
  const connected = peers.filter((p) => p.state === 'connected').length;
  return (
    <Box flexDirection="column">
      <Text bold>
        Peers <Text dimColor>{`${connected} of ${peers.length} connected`}</Text>
      </Text>
      {peers.slice(0, MAX_PEERS).map((p) => (
        <Box key={p.peer}>
          <Text color={PEER_LOOK[p.state].color}>{` ${PEER_LOOK[p.state].mark} `}</Text>
          <Box width={16}>
            <Text wrap="truncate-end">{p.peer}</Text>
          </Box>
          <Box width={14}>
            <Text color={PEER_LOOK[p.state].color}>{p.state}</Text>
          </Box>
          <Text wrap="truncate-end" dimColor>
            {[p.address, p.detail].filter(Boolean).join('  ')}
          </Text>
        </Box>
      ))}
      {peers.length > MAX_PEERS ? <Text dimColor>{`   and ${peers.length - MAX_PEERS} more`}</Text> : null}
    </Box>
  );
}

function TransferLine({ t }: { t: TransferView }) {
  const pct = t.size > 0 ? Math.floor((100 * t.done) / t.size) : 100;
  return (
    <Box>
      <Text> </Text>
      <Box flexGrow={1} flexShrink={1} minWidth={10}>
        <Text wrap="truncate-start">{where(t.peer, t.arena, t.path)}</Text>
      </Box>
      <Text color="cyan">{` ${bar(t.done, t.size)} `}</Text>
      <Box width={5} justifyContent="flex-end">
        <Text>{`${pct}%`}</Text>
      </Box>
      <Box width={10} justifyContent="flex-end">
        <Text dimColor>{t.rate !== undefined ? formatRate(t.rate) : ''}</Text>
      </Box>
      <Box width={7} justifyContent="flex-end">
        <Text>{formatSize(t.size)}</Text>
      </Box>
    </Box>
  );
}

function Transfers({ state }: { state: WatchState }) {
  const active = [...state.transfers.values()];
  const run = state.run;
  if (active.length === 0 && !run?.files && !run?.filesDone && !run?.filesFailed) return null;
  const totals: string[] = [];
  if (run) {
    const finished = run.filesDone + run.filesFailed;
    totals.push(run.files ? `${finished}/${run.files} files` : `${finished} done`);
    const bytesNow = run.bytesDone + active.reduce((n, t) => n + t.done, 0);
    if (run.bytes) totals.push(`${formatSize(bytesNow)}/${formatSize(run.bytes)}`);
    if (run.filesFailed) totals.push(`${run.filesFailed} failed`);
  }
  return (
    <Box flexDirection="column">
      <Text bold>
        Transfers <Text dimColor>{[`${active.length} active`, ...totals].join(' · ')}</Text>
      </Text>
      {active.slice(0, MAX_TRANSFERS).map((t) => (
        <TransferLine key={t.id} t={t} />
      ))}
      {active.length > MAX_TRANSFERS ? <Text dimColor>{`   and ${active.length - MAX_TRANSFERS} more`}</Text> : null}
    </Box>
  );
}

function Cache({ state }: { state: WatchState }) {
  const c = state.cache;
  if (!c) return null;
  const total = (c.hits ?? 0) + (c.misses ?? 0);
  return (
    <Text>
      <Text bold>Cache </Text>
      {formatSize(c.bytes)}
      {c.quota !== undefined ? ` of ${formatSize(c.quota)}` : ''}
      {total > 0 ? <Text dimColor>{` · ${Math.round((100 * (c.hits ?? 0)) / total)}% hits`}</Text> : null}
    </Text>
  );
}

function FeedLine({ item, withWho }: { item: FeedItem; withWho: boolean }) {
  const color = KIND_COLOR[item.kind] ?? 'white';
  const path = item.kind === 'rename' && item.from !== undefined ? `${item.from} -> ${item.path}` : item.path;
  return (
    <Box>
      <Text dimColor>{` ${clock(item.time)} `}</Text>
      {withWho ? (
        <Box width={22}>
          <Text wrap="truncate-end" color="blue">
            {item.peer && item.arena ? `${item.peer}:${item.arena}` : (item.peer ?? item.arena ?? '')}
          </Text>
        </Box>
      ) : null}
      <Box width={10}>
        <Text color={color}>{item.kind.replace('_', ' ')}</Text>
      </Box>
      <Box flexGrow={1} flexShrink={1}>
        <Text wrap="truncate-start" color={item.failed ? 'red' : undefined}>
          {item.failed && item.detail ? `${path}: ${item.detail}` : path || (item.detail ?? '')}
        </Text>
      </Box>
      <Box width={7} justifyContent="flex-end">
        <Text>{item.size !== undefined && item.kind !== 'remove' ? formatSize(item.size) : ''}</Text>
      </Box>
    </Box>
  );
}

export interface WatchAppProps {
  model: WatchModel;
  /** Shown in the header (e.g. 'realize-sync on stdin'). */
  source?: string;
  /** Called when the user quits with q (before the app exits). */
  onQuit?: () => void;
}

export function WatchApp({ model, source, onQuit }: WatchAppProps) {
  useModel(model);
  const state = model.state;
  const { exit } = useApp();
  const { stdout } = useStdout();
  const { isRawModeSupported } = useStdin();
  const rows = stdout.rows || 30;
  // Absolute index one past the last feed item shown; null follows the newest.
  const [anchor, setAnchor] = useState<number | null>(null);

  const total = state.feedDropped + state.feed.length;
  const used =
    1 + // header
    (state.peers.size ? 1 + Math.min(state.peers.size, MAX_PEERS) + (state.peers.size > MAX_PEERS ? 1 : 0) : 0) +
    (state.transfers.size || state.run?.files || state.run?.filesDone || state.run?.filesFailed
      ? 1 + Math.min(state.transfers.size, MAX_TRANSFERS) + (state.transfers.size > MAX_TRANSFERS ? 1 : 0)
      : 0) +
    (state.cache ? 1 : 0) +
    1 + // feed title
    1; // status line
  const height = Math.max(3, rows - used - 1);
  const end = Math.min(total, Math.max(Math.min(total, height), anchor ?? total));
  const start = Math.max(state.feedDropped, end - height);
  const shown = state.feed.slice(start - state.feedDropped, end - state.feedDropped);
  const withWho = shown.some((i) => i.peer || i.arena);

  // Read by the key handler, which may run several times between renders.
  const view = useRef({ total, height });
  view.current = { total, height };
  useInput(
    (input, key) => {
      if (input === 'q' || key.escape) {
        onQuit?.();
        exit();
        return;
      }
      const step = key.upArrow || key.downArrow ? 1 : key.pageUp || key.pageDown ? view.current.height : 0;
      if (step === 0) return;
      const back = key.upArrow || key.pageUp;
      setAnchor((prev) => {
        const { total: t, height: h } = view.current;
        const cur = Math.min(t, Math.max(Math.min(t, h), prev ?? t));
        const next = back ? Math.max(Math.min(t, h), cur - step) : cur + step;
        return next >= t ? null : next;
      });
    },
    { isActive: isRawModeSupported === true },
  );

  const following = anchor === null || end >= total;
  return (
    <Box flexDirection="column">
      <Box>
        <Text bold color="magenta">
          Realize
        </Text>
        <Text dimColor>{` · watch${source ? ` · ${source}` : ''}`}</Text>
      </Box>
      <Peers state={state} />
      <Transfers state={state} />
      <Cache state={state} />
      <Text bold>
        History{' '}
        <Text dimColor>
          {total === 0 ? 'nothing yet' : following ? `${total} event${total === 1 ? '' : 's'}` : `${end - shown.length + 1}-${end} of ${total}`}
          {isRawModeSupported ? ' · ↑↓ scroll · q quit' : ''}
        </Text>
      </Text>
      {shown.map((item, i) => (
        <FeedLine key={start + i} item={item} withWho={withWho} />
      ))}
      {state.run?.text ? (
        <Text color={state.run.ok === true ? 'green' : state.run.ok === false ? 'red' : undefined}>{state.run.text}</Text>
      ) : null}
    </Box>
  );
}
