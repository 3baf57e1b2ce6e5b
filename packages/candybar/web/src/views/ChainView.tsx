import { useEffect, useMemo, useRef, useState } from 'react';
import { api, errorText } from '../api/client.js';
import { live } from '../api/live.js';
import { JsonView } from '../components/JsonView.js';
import { useApi, useKeys, useLatest } from '../hooks.js';
import {
  buildChain,
  type ChainRow,
  chainTraceIds,
  flattenChain,
  formatDuration,
  groupCorrelations,
  serviceColor,
  summarizeChain,
  timeTicks,
  traceLink,
} from '../logic/chain.js';
import { KEY_Escape } from '../logic/keys.js';
import { withParams } from '../logic/routes.js';
import type { ChainNode, CorrelationChain, EventPage, StoredEvent } from '../logic/types.js';
import type { ViewProps } from './types.js';

export function ChainView({ route, navigate }: ViewProps) {
  const id = route.id ?? null;
  const [chain, setChain] = useState<CorrelationChain | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [refresh, setRefresh] = useState(0);
  const inputRef = useRef<HTMLInputElement>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `refresh` is the reload trigger
  useEffect(() => {
    if (!id) {
      setChain(null);
      return;
    }
    let cancelled = false;
    setLoading(true);
    api<CorrelationChain>(`/api/store/correlations/${encodeURIComponent(id)}`)
      .then((c) => {
        if (cancelled) return;
        setChain(c);
        setError(null);
        setLoading(false);
      })
      .catch(async (err) => {
        // Maybe an event id was pasted: follow it to its correlation.
        try {
          const e = await api<StoredEvent>(`/api/store/events/${encodeURIComponent(id)}`);
          if (!cancelled && e.correlation_id && e.correlation_id !== id) {
            navigate({ view: 'chain', id: e.correlation_id, params: { event: e.event_id } }, true);
            return;
          }
        } catch {
          // fall through to the original error
        }
        if (cancelled) return;
        setError(errorText(err));
        setLoading(false);
      });
    return () => {
      cancelled = true;
    };
  }, [id, refresh, navigate]);

  // A chain still in flight grows while you look at it.
  useEffect(() => {
    if (!id) return;
    let t: ReturnType<typeof setTimeout> | null = null;
    const off = live.onEvent((e) => {
      if (e.correlation_id !== id || t) return;
      t = setTimeout(() => {
        t = null;
        setRefresh((r) => r + 1);
      }, 300);
    });
    return () => {
      off();
      if (t) clearTimeout(t);
    };
  }, [id]);

  const rows = useMemo(() => {
    if (!chain) return [];
    const roots: ChainNode[] = chain.roots?.length ? chain.roots : buildChain(chain.timeline ?? []).roots;
    return flattenChain(roots);
  }, [chain]);
  const summary = useMemo(() => summarizeChain(rows), [rows]);
  const traceIds = useMemo(() => chainTraceIds(rows.map((r) => r.event ?? {})), [rows]);
  const info = useApi<{ trace_url?: string | null }>(id ? '/api/info' : null);
  const selectedId = route.params.event ?? null;
  const selectedRow = rows.find((r) => r.eventId === selectedId) ?? null;
  const latestRows = useLatest(rows);
  const move = (d: number) => {
    const list = latestRows.current;
    const i = list.findIndex((r) => r.eventId === selectedId);
    const next = list[Math.max(0, Math.min(list.length - 1, i + d))];
    if (next) navigate(withParams(route, { event: next.eventId }), true);
  };
  useKeys({
    '/': () => inputRef.current?.focus(),
    j: () => move(1),
    k: () => move(-1),
    [KEY_Escape]: () => navigate(withParams(route, { event: undefined }), true),
  });

  return (
    <div className="view" data-testid="chain-view">
      <div className="toolbar">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const v = inputRef.current?.value.trim();
            if (v) navigate({ view: 'chain', id: v, params: {} });
          }}
          style={{ display: 'flex', gap: 6 }}
        >
          <input
            ref={inputRef}
            name="correlation"
            aria-label="correlation or event id"
            placeholder="correlation id or event id"
            defaultValue={id ?? ''}
            key={id ?? ''}
            style={{ width: 330 }}
          />
          <button type="submit">Show chain</button>
        </form>
        <span className="grow" />
        {id && (
          <>
            <a href={`#/stream?corr=${encodeURIComponent(id)}`}>in the live stream</a>
            <button type="button" onClick={() => setRefresh((r) => r + 1)} disabled={loading}>
              {loading ? 'Loading…' : 'Refresh'}
            </button>
          </>
        )}
      </div>
      {!id && <RecentCorrelations />}
      {id && error && (
        <div className="empty">
          Could not load correlation {id}: {error}
        </div>
      )}
      {id && chain && !error && (
        <div className={`split ${selectedRow ? '' : 'single'}`}>
          <div className="pane">
            <div className="chain-summary" data-testid="chain-summary">
              <Stat label="events" value={String(summary.events)} />
              <Stat label="from first to last" value={formatDuration(summary.spanMs)} />
              <Stat label="causal depth" value={String(summary.maxDepth + 1)} />
              <Stat
                label={summary.sources.length === 1 ? 'service' : 'services'}
                value={String(summary.sources.length)}
              />
              <Stat label="missing causes" value={String(summary.missing)} bad={summary.missing > 0} />
              {summary.slowest && (
                <Stat
                  label={`slowest step: ${summary.slowest.event?.event_type ?? ''}`}
                  value={`+${formatDuration(summary.slowest.deltaMs)}`}
                />
              )}
            </div>
            {traceIds.length > 0 && (
              <TraceLinks traceIds={traceIds} template={info.data?.trace_url ?? null} />
            )}
            <TreeDiagram
              rows={rows}
              selected={selectedId}
              onSelect={(eid) => navigate(withParams(route, { event: eid }), true)}
            />
            <Waterfall
              rows={rows}
              spanMs={summary.spanMs}
              slowest={summary.slowest}
              selected={selectedId}
              onSelect={(eid) =>
                navigate(withParams(route, { event: eid === selectedId ? undefined : eid }), true)
              }
            />
            <div className="chain-legend" style={{ padding: '8px 14px' }}>
              <span>bar = time from the cause to the event</span>
              <span style={{ color: 'var(--warn)' }}>■ slowest step</span>
              <span style={{ color: 'var(--bad)' }}>▨ cause not in the store (gap)</span>
              <span>
                <kbd>j</kbd>/<kbd>k</kbd> move
              </span>
            </div>
          </div>
          {selectedRow && (
            <aside className="side" data-testid="chain-inspector">
              {selectedRow.event ? (
                <>
                  <h2 className="mono">{selectedRow.event.event_type}</h2>
                  <div className="muted small">
                    {selectedRow.event.timestamp} · from {selectedRow.event.source?.app} · +
                    {formatDuration(selectedRow.offsetMs)} into the chain
                    {selectedRow.deltaMs !== null
                      ? ` · ${formatDuration(selectedRow.deltaMs)} after its cause`
                      : ''}
                  </div>
                  <JsonView value={selectedRow.event} />
                </>
              ) : (
                <>
                  <h2>Missing cause</h2>
                  <p>
                    Event <code>{selectedRow.eventId}</code> is named as the cause of{' '}
                    {selectedRow.descendants} event(s) but is not in the store. It may have been published
                    before the store was listening, rejected, or belong to another correlation.
                  </p>
                  {chain.gaps
                    ?.filter((g) => g.missing_event_id === selectedRow.eventId)
                    .map((g) => (
                      <div key={g.missing_event_id} className="small">
                        referenced by:{' '}
                        {g.referenced_by.map((r) => (
                          <code key={r}>{r} </code>
                        ))}
                      </div>
                    ))}
                </>
              )}
            </aside>
          )}
        </div>
      )}
    </div>
  );
}

/** The chain's trace(s): to the event list filtered by trace id, and to the trace UI when configured. */
function TraceLinks({ traceIds, template }: { traceIds: string[]; template: string | null }) {
  return (
    <div className="chain-trace small" data-testid="chain-trace" style={{ padding: '6px 14px' }}>
      {traceIds.map((t) => {
        const external = traceLink(template, t);
        return (
          <div key={t} data-testid="chain-trace-id" data-trace-id={t}>
            <span className="muted">trace </span>
            <code className="mono">{t}</code>{' '}
            <a href={`#/stream?trace=${encodeURIComponent(t)}`} data-testid="trace-events-link">
              events in this trace
            </a>
            {external && (
              <>
                {' · '}
                <a href={external} target="_blank" rel="noopener noreferrer" data-testid="trace-ui-link">
                  open in trace UI
                </a>
              </>
            )}
          </div>
        );
      })}
    </div>
  );
}

function Stat({ label, value, bad }: { label: string; value: string; bad?: boolean }) {
  return (
    <div className="stat">
      <b style={bad ? { color: 'var(--bad)' } : undefined}>{value}</b>
      <span>{label}</span>
    </div>
  );
}

const TNODE_W = 190;
const TNODE_H = 34;
const TCOL = 230;
const TROW = 44;

/** Node-link causation tree: leaves in time order top to bottom, each parent centred on its children. */
function TreeDiagram({
  rows,
  selected,
  onSelect,
}: {
  rows: ChainRow[];
  selected: string | null;
  onSelect: (id: string) => void;
}) {
  if (rows.length === 0 || rows.length > 300) return null;
  const pos = new Map<ChainRow, { x: number; y: number }>();
  let leaf = 0;
  const childrenOf = new Map<ChainRow, ChainRow[]>();
  const stack: ChainRow[] = [];
  for (const r of rows) {
    while (stack.length > r.depth) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent && r.depth > 0) (childrenOf.get(parent) ?? childrenOf.set(parent, []).get(parent)!).push(r);
    stack.push(r);
  }
  const place = (r: ChainRow): number => {
    const kids = childrenOf.get(r) ?? [];
    let y: number;
    if (kids.length === 0) y = leaf++ * TROW;
    else {
      const ys = kids.map(place);
      y = (ys[0]! + ys[ys.length - 1]!) / 2;
    }
    pos.set(r, { x: r.depth * TCOL, y });
    return y;
  };
  for (const r of rows) if (r.depth === 0) place(r);
  const maxDepth = Math.max(...rows.map((r) => r.depth));
  const width = maxDepth * TCOL + TNODE_W + 8;
  const height = Math.max(leaf, 1) * TROW;
  return (
    <svg
      className="tree-diagram"
      viewBox={`-4 -4 ${width} ${height}`}
      width={Math.min(width, 1400)}
      data-testid="chain-tree"
      role="img"
      aria-label="Causation tree"
    >
      {rows.map((r) =>
        (childrenOf.get(r) ?? []).map((c) => {
          const a = pos.get(r)!;
          const b = pos.get(c)!;
          const x1 = a.x + TNODE_W;
          const y1 = a.y + TNODE_H / 2;
          const x2 = b.x;
          const y2 = b.y + TNODE_H / 2;
          const mx = (x1 + x2) / 2;
          return (
            <path
              key={`${r.eventId}-${c.eventId}`}
              className="tlink"
              d={`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`}
            />
          );
        }),
      )}
      {rows.map((r) => {
        const p = pos.get(r)!;
        return (
          // biome-ignore lint/a11y/useSemanticElements: an SVG group cannot be a <button>
          <g
            key={r.eventId}
            className={`tnode ${r.missing ? 'missing' : ''} ${selected === r.eventId ? 'selected' : ''}`}
            transform={`translate(${p.x},${p.y})`}
            onClick={() => onSelect(r.eventId)}
            onKeyDown={() => undefined}
            role="button"
            tabIndex={-1}
            data-tree-node={r.eventId}
            data-depth={r.depth}
          >
            <title>
              {r.event ? `${r.event.event_type} from ${r.event.source?.app}` : `missing cause ${r.eventId}`}
            </title>
            <rect width={TNODE_W} height={TNODE_H} rx={6} />
            <text x={8} y={14}>
              {clip(r.event?.event_type ?? `missing ${r.eventId.slice(0, 8)}`, 27)}
            </text>
            <text className="d" x={8} y={27}>
              {r.event ? clip(r.event.source?.app ?? '', 16) : 'not stored'}
              {r.deltaMs !== null ? ` · +${formatDuration(r.deltaMs)}` : ''}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function Waterfall(props: {
  rows: ChainRow[];
  spanMs: number;
  slowest: ChainRow | null;
  selected: string | null;
  onSelect: (id: string) => void;
}) {
  const span = props.spanMs > 0 ? props.spanMs : 1;
  const ticks = timeTicks(props.spanMs, 6);
  // Keep a margin on the right so the last label fits.
  const pct = (ms: number) => (ms / span) * 88 + 1;
  const [hover, setHover] = useState<string | null>(null);
  const focus = hover ?? props.selected;
  const ancestors = new Set<string>();
  if (focus) {
    const idx = props.rows.findIndex((r) => r.eventId === focus);
    let depth = props.rows[idx]?.depth ?? 0;
    ancestors.add(focus);
    for (let i = idx - 1; i >= 0 && depth > 0; i--) {
      const r = props.rows[i]!;
      if (r.depth < depth) {
        ancestors.add(r.eventId);
        depth = r.depth;
      }
    }
  }
  return (
    <div className="chain-table" data-testid="chain-waterfall">
      <div className="chain-row">
        <div className="wf-axis tree-cell">event (tree by causation)</div>
        <div className="wf-axis wf-cell">
          <svg className="wf" style={{ height: 26 }} role="img" aria-label="time since the first event">
            {ticks.map((t) => (
              <g key={t}>
                <line className="tick" x1={`${pct(t)}%`} x2={`${pct(t)}%`} y1={18} y2={26} />
                <text x={`${pct(t)}%`} y={14} textAnchor="middle">
                  {formatDuration(t)}
                </text>
              </g>
            ))}
          </svg>
        </div>
      </div>
      {props.rows.map((r) => {
        const cls = `chain-row ${props.selected === r.eventId ? 'selected' : ''}`;
        const x = pct(r.offsetMs);
        const px = r.parentOffsetMs !== null ? pct(r.parentOffsetMs) : null;
        const isSlowest = props.slowest === r;
        const labelLeft = x > 75;
        return (
          // biome-ignore lint/a11y/useSemanticElements: a row of a two-column grid
          <div
            key={r.eventId}
            className={cls}
            onClick={() => props.onSelect(r.eventId)}
            onKeyDown={() => undefined}
            onMouseEnter={() => setHover(r.eventId)}
            onMouseLeave={() => setHover(null)}
            role="row"
            tabIndex={-1}
            data-chain-row={r.eventId}
            data-depth={r.depth}
            data-missing={r.missing ? 'true' : 'false'}
          >
            <div
              className="tree-cell"
              style={ancestors.has(r.eventId) && focus ? { fontWeight: 600 } : undefined}
            >
              {r.guides.slice(1).map((g, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: guide columns are positional
                <span key={i} className={`tree-guide ${g ? 'line' : ''}`} />
              ))}
              {r.depth > 0 && <span className={`tree-guide ${r.isLast ? 'elbow' : 'tee'}`} />}
              <span className="tree-label">
                {r.event ? (
                  <>
                    <span className="type">{r.event.event_type}</span>
                    <span className="src">
                      <span className="svc-dot" style={{ background: serviceColor(r.event.source?.app) }} />
                      {r.event.source?.app}
                    </span>
                  </>
                ) : (
                  <span className="missing-label">⚠ missing cause {r.eventId.slice(0, 8)}…</span>
                )}
              </span>
            </div>
            <div className="wf-cell">
              <svg
                className="wf"
                role="img"
                aria-label={r.missing ? 'missing cause' : `${formatDuration(r.offsetMs)} into the chain`}
              >
                <defs>
                  <pattern
                    id="hatch"
                    width="6"
                    height="6"
                    patternUnits="userSpaceOnUse"
                    patternTransform="rotate(45)"
                  >
                    <line x1="0" y1="0" x2="0" y2="6" stroke="var(--bad)" strokeWidth="2" />
                  </pattern>
                </defs>
                {ticks.map((t) => (
                  <line
                    key={t}
                    className="tick"
                    x1={`${pct(t)}%`}
                    x2={`${pct(t)}%`}
                    y1={0}
                    y2={30}
                    strokeDasharray="2 4"
                  />
                ))}
                {r.missing ? (
                  <>
                    <rect
                      className="gap"
                      x={`${pct(0)}%`}
                      y={9}
                      width={`${Math.max(0.8, x - pct(0))}%`}
                      height={12}
                      rx={2}
                    />
                    <text x={`${x + 0.8}%`} y={19}>
                      gap
                    </text>
                  </>
                ) : (
                  <>
                    {px !== null && (
                      <rect
                        className={`bar ${isSlowest ? 'slowest' : ''}`}
                        x={`${px}%`}
                        y={11}
                        width={`${Math.max(0.25, x - px)}%`}
                        height={8}
                        rx={2}
                        opacity={0.85}
                      />
                    )}
                    <circle
                      className={`bar ${px === null ? 'root' : ''} ${isSlowest ? 'slowest' : ''}`}
                      cx={`${x}%`}
                      cy={15}
                      r={5}
                      style={isSlowest ? undefined : { fill: serviceColor(r.event?.source?.app) }}
                    />
                    <text
                      x={labelLeft ? `${(px ?? x) - 0.8}%` : `${x + 0.9}%`}
                      y={19}
                      textAnchor={labelLeft ? 'end' : 'start'}
                    >
                      {r.deltaMs !== null
                        ? `+${formatDuration(r.deltaMs)}`
                        : `@${formatDuration(r.offsetMs)}`}
                    </text>
                  </>
                )}
              </svg>
            </div>
          </div>
        );
      })}
    </div>
  );
}

/** Without an id: the correlations seen recently, so there is always something to open. */
function RecentCorrelations() {
  const page = useApi<EventPage>('/api/store/events?limit=500&order=desc', 5000);
  const [withSingles, setWithSingles] = useState(false);
  const { chains, singles } = useMemo(() => groupCorrelations(page.data?.items ?? []), [page.data]);
  // lone events only on request, or when there is no chain to show
  const showSingles = withSingles || chains.length === 0;
  const groups = (showSingles ? [...chains, ...singles] : chains).slice(0, 100);
  if (page.error && !page.data) return <div className="empty">Candystore is not answering: {page.error}</div>;
  return (
    <div className="pane">
      <p className="muted" style={{ padding: '0 14px' }}>
        Recent correlations (from the last 500 stored events). Open one, paste a correlation or event id
        above, or press Enter on an event in the live stream.{' '}
        <label>
          <input
            type="checkbox"
            data-testid="include-singles"
            checked={withSingles}
            onChange={(e) => setWithSingles(e.target.checked)}
          />{' '}
          also the {singles.length} lone events (a correlation of their own)
        </label>
      </p>
      <table className="grid" data-testid="recent-correlations">
        <thead>
          <tr>
            <th>correlation</th>
            <th>events</th>
            <th>types</th>
            <th>last event</th>
          </tr>
        </thead>
        <tbody>
          {groups.map((g) => (
            <tr key={g.id} data-correlation={g.id}>
              <td className="mono">
                <a href={`#/chain/${encodeURIComponent(g.id)}`}>{g.id}</a>
              </td>
              <td>{g.count}</td>
              <td className="mono small">
                {g.types.slice(0, 4).join(', ')}
                {g.types.length > 4 ? ` +${g.types.length - 4}` : ''}
              </td>
              <td className="small">{new Date(g.last).toLocaleString()}</td>
            </tr>
          ))}
          {groups.length === 0 && (
            <tr>
              <td colSpan={4} className="muted">
                {page.loading ? 'Loading…' : 'No correlated events stored yet.'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
