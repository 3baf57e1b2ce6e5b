import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { api, errorText } from '../api/client.js';
import { live } from '../api/live.js';
import { JsonView } from '../components/JsonView.js';
import { useKeys, useLatest, useToast } from '../hooks.js';
import { toCurl } from '../logic/curl.js';
import { compileFilter, EventBuffer, type StreamFilter, toStoreQuery } from '../logic/filters.js';
import { KEY_Enter, KEY_Escape } from '../logic/keys.js';
import { formatRate, RateCounter } from '../logic/rates.js';
import { withParams } from '../logic/routes.js';
import type { EventPage, StoredEvent } from '../logic/types.js';
import type { ViewProps } from './types.js';

/** How many events the list keeps in memory; older ones are a store query away. */
export const LIST_CAP = 5000;
const ROW_H = 30;

declare global {
  interface Window {
    /** Counters the benchmark reads: events accepted by the view vs. events on screen. */
    __candybarStream?: { received: number; rendered: number; frames: number };
  }
}

function filterFromParams(p: Record<string, string>): StreamFilter {
  return { type: p.type, source: p.source, correlation: p.corr, trace: p.trace, text: p.q };
}

/**
 * How often the list takes in new events: every 100 ms, and every 250 ms when more than
 * 500 a second arrive (a firehose is unreadable at 60 updates a second anyway, and each
 * update re-creates the visible rows).
 */
const FLUSH_EVERY_MS = 100;
const FLUSH_BUSY_MS = 250;
const BUSY_RATE = 500;

export function StreamView({ route, navigate }: ViewProps) {
  const filter = useMemo(() => filterFromParams(route.params), [route.params]);
  const filterKey = JSON.stringify(filter);
  const buffer = useMemo(() => new EventBuffer(LIST_CAP), []);
  const [historyError, setHistoryError] = useState<string | null>(null);
  const [toast, showToast] = useToast();
  const paused = route.params.paused === '1';
  const selectedId = route.params.event ?? null;
  const listRef = useRef<HTMLDivElement>(null);
  const typeRef = useRef<HTMLInputElement>(null);
  const rate = useRef(new RateCounter(5));

  // Filters change: start over with the store's recent matching events, then live ones.
  // biome-ignore lint/correctness/useExhaustiveDependencies: filterKey stands for filter
  useEffect(() => {
    buffer.clear();
    const match = compileFilter(filter);
    let raf = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    const stats = { received: 0, rendered: 0, frames: 0 };
    window.__candybarStream = stats;
    // Arrivals are batched: one flush per animation frame, and no more than one per FLUSH_EVERY_MS.
    const flush = () => {
      raf = 0;
      last = performance.now();
      stats.frames++;
      buffer.flush();
      stats.rendered = buffer.received - buffer.pendingCount;
    };
    const schedule = () => {
      if (raf !== 0 || timer !== null) return;
      const every = rate.current.rate('all', Date.now()) > BUSY_RATE ? FLUSH_BUSY_MS : FLUSH_EVERY_MS;
      const wait = every - (performance.now() - last);
      if (wait <= 0) raf = requestAnimationFrame(flush);
      else
        timer = setTimeout(() => {
          timer = null;
          raf = requestAnimationFrame(flush);
        }, wait);
    };
    const off = live.onEvent((e) => {
      rate.current.add('all', Date.now());
      if (!match(e)) return;
      buffer.push([e]);
      stats.received = buffer.received;
      schedule();
    });
    let cancelled = false;
    api<EventPage>(`/api/store/events?${toStoreQuery(filter, 200).toString()}`)
      .then((page) => {
        if (cancelled) return;
        setHistoryError(null);
        buffer.appendOlder(page.items.filter(match));
      })
      .catch((err) => !cancelled && setHistoryError(errorText(err)));
    return () => {
      cancelled = true;
      off();
      if (raf) cancelAnimationFrame(raf);
      if (timer) clearTimeout(timer);
    };
  }, [buffer, filterKey]);

  useEffect(() => {
    if (paused) buffer.pause();
    else buffer.resume();
  }, [paused, buffer]);

  // Counts and the held number change without the view changing: refresh them once a second.
  const [, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 1000);
    return () => clearInterval(t);
  }, []);

  const items = buffer.items;
  const selected = selectedId ? (items.find((e) => e.event_id === selectedId) ?? null) : null;
  const [fetched, setFetched] = useState<StoredEvent | null>(null);
  useEffect(() => {
    if (!selectedId || selected) return;
    api<StoredEvent>(`/api/store/events/${encodeURIComponent(selectedId)}`)
      .then(setFetched)
      .catch(() => setFetched(null));
  }, [selectedId, selected]);
  const inspected = selected ?? (fetched?.event_id === selectedId ? fetched : null);

  const setParam = (changes: Record<string, string | undefined>, replace = true) =>
    navigate(withParams(route, changes), replace);
  const onSelect = useLatest((id: string) => setParam({ event: id === selectedId ? undefined : id }));
  const move = (d: number) => {
    const list = buffer.items;
    if (list.length === 0) return;
    const i = selectedId ? list.findIndex((e) => e.event_id === selectedId) : -1;
    const index = Math.max(0, Math.min(list.length - 1, i + d));
    const next = list[index];
    if (!next) return;
    setParam({ event: next.event_id });
    const el = listRef.current;
    if (el && (index * ROW_H < el.scrollTop || (index + 1) * ROW_H > el.scrollTop + el.clientHeight)) {
      el.scrollTop = index * ROW_H - el.clientHeight / 2;
    }
  };
  const copyCurl = async (e: StoredEvent) => {
    const cmd = toCurl(e, `${location.origin}/api/bus/events`);
    try {
      await navigator.clipboard.writeText(cmd);
      showToast('curl command copied');
    } catch {
      window.prompt('Copy the curl command:', cmd);
    }
  };
  useKeys({
    ' ': () => setParam({ paused: paused ? undefined : '1' }),
    p: () => setParam({ paused: paused ? undefined : '1' }),
    '/': () => typeRef.current?.focus(),
    j: () => move(1),
    k: () => move(-1),
    x: () => buffer.clear(),
    [KEY_Enter]: () => {
      if (inspected?.correlation_id)
        navigate({ view: 'chain', id: inspected.correlation_id, params: { event: inspected.event_id } });
    },
    c: () => inspected && void copyCurl(inspected),
    [KEY_Escape]: () => {
      (document.activeElement as HTMLElement | null)?.blur();
      setParam({ event: undefined });
    },
  });

  const now = Date.now();
  return (
    <div className="view" data-testid="stream-view">
      <div className="toolbar">
        <FilterInput
          inputRef={typeRef}
          label="type"
          placeholder="type or pattern (agent.#)"
          value={filter.type}
          onChange={(v) => setParam({ type: v })}
        />
        <FilterInput
          label="source"
          placeholder="source app"
          value={filter.source}
          onChange={(v) => setParam({ source: v })}
        />
        <FilterInput
          label="corr"
          placeholder="correlation id"
          value={filter.correlation}
          onChange={(v) => setParam({ corr: v })}
        />
        <FilterInput
          label="trace"
          placeholder="trace id"
          value={filter.trace}
          onChange={(v) => setParam({ trace: v })}
        />
        <FilterInput
          label="payload"
          placeholder="text in payload"
          value={filter.text}
          onChange={(v) => setParam({ q: v })}
        />
        <span className="grow" />
        <span className="muted small" data-testid="stream-counts">
          {items.length.toLocaleString()} shown · {formatRate(rate.current.rate('all', now))} arriving
        </span>
        <button
          type="button"
          className={paused ? 'primary' : ''}
          onClick={() => setParam({ paused: paused ? undefined : '1' })}
          data-testid="pause"
        >
          {paused ? '▶ Resume' : '❚❚ Pause'}
        </button>
        <button type="button" onClick={() => buffer.clear()} title="x">
          Clear
        </button>
      </div>
      {paused && (
        <div className="banner" data-testid="paused-banner">
          Paused: {buffer.pendingCount.toLocaleString()} new matching events held; they appear when you resume
          (<kbd>Space</kbd>).
        </div>
      )}
      {historyError && (
        <div className="banner bad">
          Recent events could not be loaded: {historyError}. Live events still appear below.
        </div>
      )}
      <div className={`split ${inspected ? '' : 'single'}`}>
        <div style={{ display: 'flex', flexDirection: 'column', minHeight: 0 }}>
          <div className="stream-row stream-head">
            <span>time</span>
            <span>type</span>
            <span>source</span>
            <span>correlation</span>
            <span>payload</span>
          </div>
          <StreamList
            buffer={buffer}
            listRef={listRef}
            selectedId={selectedId}
            onSelect={onSelect}
            filtered={filterKey !== '{}'}
          />
        </div>
        {inspected && (
          <aside className="side" data-testid="inspector">
            <div style={{ display: 'flex', gap: 6, flexWrap: 'wrap', marginBottom: 8 }}>
              <button type="button" onClick={() => void copyCurl(inspected)} title="c">
                Copy as curl
              </button>
              <button
                type="button"
                onClick={() =>
                  void navigator.clipboard
                    .writeText(JSON.stringify(inspected, null, 2))
                    .then(() => showToast('JSON copied'))
                }
              >
                Copy JSON
              </button>
              {inspected.correlation_id && (
                <a
                  href={`#/chain/${encodeURIComponent(inspected.correlation_id)}?event=${encodeURIComponent(inspected.event_id)}`}
                >
                  <button type="button">Open chain ↵</button>
                </a>
              )}
              <span className="grow" />
              <button type="button" onClick={() => setParam({ event: undefined })} aria-label="Close">
                ✕
              </button>
            </div>
            <h2 className="mono">{inspected.event_type}</h2>
            <div className="muted small">
              {inspected.timestamp} · from {inspected.source?.app}
              {inspected.received_at ? ` · stored ${lagText(inspected)}` : ''}
            </div>
            <JsonView value={inspected} />
          </aside>
        )}
      </div>
      {toast && <div className="toast">{toast}</div>}
    </div>
  );
}

/** The virtual list re-renders alone when the buffer changes; the rest of the view does not. */
function StreamList(props: {
  buffer: EventBuffer;
  listRef: React.RefObject<HTMLDivElement | null>;
  selectedId: string | null;
  onSelect: { current: (id: string) => void };
  filtered: boolean;
}) {
  const { buffer } = props;
  useSyncExternalStore(
    (fn) => buffer.subscribe(fn),
    () => buffer.version,
  );
  const items = buffer.items;
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => props.listRef.current,
    estimateSize: () => ROW_H,
    overscan: 8,
    getItemKey: (i) => items[i]?.event_id ?? i,
  });
  return (
    <div className="stream-list" ref={props.listRef} data-testid="stream-list">
      {items.length === 0 ? (
        <div className="empty">
          No events yet{props.filtered ? ' match these filters' : ''}. New ones appear here as they arrive.
        </div>
      ) : (
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualizer.getVirtualItems().map((v) => {
            const e = items[v.index];
            if (!e) return null;
            return (
              <StreamRow
                key={v.key}
                event={e}
                start={v.start}
                selected={e.event_id === props.selectedId}
                onSelect={props.onSelect}
              />
            );
          })}
        </div>
      )}
    </div>
  );
}

/** One row; memoized, so new arrivals only move existing rows instead of re-rendering them. */
const StreamRow = memo(function StreamRow(props: {
  event: StoredEvent;
  start: number;
  selected: boolean;
  onSelect: { current: (id: string) => void };
}) {
  const e = props.event;
  return (
    // biome-ignore lint/a11y/useSemanticElements: a grid row of a virtual list
    <div
      className={`stream-row ${props.selected ? 'selected' : ''}`}
      style={{ height: ROW_H, transform: `translateY(${props.start}px)` }}
      // Selected when the button goes down, not on click: rows move as events arrive, and a
      // row that moved between press and release would turn the click into one on the list.
      onPointerDown={(ev) => {
        if (ev.button === 0 && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey && !ev.altKey) {
          props.onSelect.current(e.event_id);
        }
      }}
      onKeyDown={() => undefined}
      role="row"
      tabIndex={-1}
      data-event-id={e.event_id}
      data-event-type={e.event_type}
    >
      <span className="mono muted">{timeOf(e.timestamp)}</span>
      <span className="type">{e.event_type}</span>
      <span>{e.source?.app}</span>
      <span className="mono muted">{e.correlation_id ? e.correlation_id.slice(0, 8) : '–'}</span>
      <span className="payload">{preview(e.payload)}</span>
    </div>
  );
});

function FilterInput(props: {
  label: string;
  placeholder: string;
  value: string | undefined;
  onChange: (v: string) => void;
  inputRef?: React.Ref<HTMLInputElement>;
}) {
  // Typing stays local; the URL (and the filter) follows after a short pause.
  const [text, setText] = useState(props.value ?? '');
  const onChange = useLatest(props.onChange);
  useEffect(() => setText(props.value ?? ''), [props.value]);
  useEffect(() => {
    if (text === (props.value ?? '')) return;
    const t = setTimeout(() => onChange.current(text), 250);
    return () => clearTimeout(t);
  }, [text, props.value, onChange]);
  return (
    <input
      ref={props.inputRef}
      aria-label={props.label}
      name={props.label}
      placeholder={props.placeholder}
      value={text}
      onChange={(e) => setText(e.target.value)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') props.onChange(text);
      }}
      style={{ width: 170 }}
    />
  );
}

function timeOf(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function preview(payload: unknown): string {
  const s = JSON.stringify(payload ?? null);
  return s.length > 160 ? `${s.slice(0, 160)}…` : s;
}

function lagText(e: StoredEvent): string {
  const lag = Date.parse(e.received_at ?? '') - Date.parse(e.timestamp);
  return Number.isFinite(lag) ? `${lag} ms after it was emitted` : String(e.received_at);
}
