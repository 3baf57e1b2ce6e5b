import { useEffect, useMemo, useRef, useState } from 'react';
import { live } from '../api/live.js';
import { useApi, useKeys, useRegistry, useTick } from '../hooks.js';
import { KEY_Escape } from '../logic/keys.js';
import { type LayoutNode, layoutTopology } from '../logic/layout.js';
import { type PushStatus, pushById, pushLabel } from '../logic/push.js';
import { formatRate, RateCounter } from '../logic/rates.js';
import { exchangeName, type Registry, type RegistryService } from '../logic/registry.js';
import { withParams } from '../logic/routes.js';
import { catchAllConsumers, consumerBindings, TopologyIndex, unconsumedTypes } from '../logic/topology.js';
import type { DeadLetterQueue, ServiceHealth } from '../logic/types.js';
import type { ViewProps } from './types.js';

interface DlqSummary {
  queues: DeadLetterQueue[];
}

export function TopologyView({ route, navigate }: ViewProps) {
  const { registry, error } = useRegistry();
  const index = useMemo(() => (registry ? new TopologyIndex(registry) : null), [registry]);
  // Catch-all links are laid out like the others (so they have a route when shown) but drawn only on focus.
  const layout = useMemo(
    () => (registry && index ? layoutTopology(registry, index.edges) : null),
    [registry, index],
  );
  const edgeMeta = useMemo(() => new Map((index?.edges ?? []).map((e) => [e.id, e])), [index]);
  const taps = useMemo(() => (registry ? catchAllConsumers(registry) : []), [registry]);
  const health = useApi<{ services: ServiceHealth[] }>('/api/health/services', 10_000);
  const dlq = useApi<DlqSummary>('/api/bus/dead-letters', 15_000);
  const hasPush = registry?.services.some((s) => s.push) ?? false;
  // The gateway's own /health lists its push subscriptions' states (only needed when there are some).
  const busHealth = useApi<{ push?: unknown }>(hasPush ? '/api/bus/health' : null, 10_000);
  const rates = useRef(new RateCounter(10));
  const [pulses, setPulses] = useState<Record<string, number>>({});
  const [hover, setHover] = useState<string | null>(null);
  const [fit, setFit] = useState(true);
  useTick(1000);
  const selected = route.params.node ?? null;

  useEffect(() => {
    if (!index) return;
    const hit = new Set<string>();
    let raf = 0;
    const flush = () => {
      raf = 0;
      const ids = [...hit];
      hit.clear();
      setPulses((prev) => {
        const next = { ...prev };
        for (const id of ids) next[id] = (next[id] ?? 0) + 1;
        return next;
      });
    };
    return live.onEvent((e) => {
      const now = Date.now();
      const r = rates.current;
      r.add('*', now);
      const { producer, consumers } = index.route(e.event_type, e.source?.app);
      if (producer) r.add(`out:${producer}`, now);
      for (const c of consumers) r.add(`in:${c}`, now);
      for (const id of index.edgesFor(e.event_type, e.source?.app)) {
        r.add(id, now);
        hit.add(id);
      }
      if (hit.size > 0 && raf === 0) raf = requestAnimationFrame(flush);
    });
  }, [index]);

  useKeys({
    f: () => setFit((f) => !f),
    [KEY_Escape]: () => navigate(withParams(route, { node: undefined }), true),
  });

  if (error) return <div className="empty">Could not load the service registry: {error}</div>;
  if (!registry || !index || !layout) return <div className="empty">Loading the service registry…</div>;

  const now = Date.now();
  const healthById = new Map((health.data?.services ?? []).map((h) => [h.id, h]));
  const pushStatus = pushById(busHealth.data);
  const focus = hover ?? selected;
  const connected = new Set<string>();
  if (focus) {
    connected.add(focus);
    for (const e of index.edges) {
      if (e.from === focus) connected.add(e.to);
      if (e.to === focus) connected.add(e.from);
    }
  }
  const serviceMap = new Map(registry.services.map((s) => [s.id, s]));
  const total = rates.current.rate('*', now);
  const selectedService = selected ? serviceMap.get(selected) : undefined;

  return (
    <div className="view" data-testid="topology-view">
      <div className="toolbar">
        <strong>{registry.services.length} services</strong>
        <span className="muted">
          {index.edges.filter((e) => !e.catchAll).length} producer → consumer links
          {taps.length > 0
            ? ` (+ ${index.edges.filter((e) => e.catchAll).length} into ${taps.join(', ')} via #, shown on hover)`
            : ''}
        </span>
        <span className="grow" />
        <div className="legend">
          <span>
            <span className="sw active" />
            active
          </span>
          <span>
            <span className="sw planned" />
            planned
          </span>
          <span>
            <span className="sw deprecated" />
            deprecated
          </span>
          <span>
            <span className="dot up" /> healthy <span className="dot down" /> down
          </span>
        </div>
        <button type="button" onClick={() => setFit((f) => !f)} title="f">
          {fit ? 'Actual size' : 'Fit'}
        </button>
      </div>
      <div className={`split ${selectedService ? '' : 'single'}`}>
        <div className="topo-wrap">
          <svg
            className="topology"
            viewBox={`0 0 ${layout.width} ${layout.height}`}
            width={fit ? '100%' : layout.width}
            role="img"
            aria-label={`Service topology of ${registry.services.length} services`}
            // Fit shrinks a large graph to the window but never blows a small one up.
            style={fit ? { maxWidth: layout.width } : { maxWidth: 'none' }}
          >
            <g className="exchange">
              <rect
                x={layout.exchange.x}
                y={layout.exchange.y}
                width={layout.exchange.w}
                height={layout.exchange.h}
                rx={8}
              />
              <text x={layout.exchange.x + 14} y={layout.exchange.y + 25}>
                ⇄ exchange <tspan fontWeight={700}>{exchangeName(registry)}</tspan>
                {typeof registry.exchange === 'object' && registry.exchange.type
                  ? ` (${registry.exchange.type})`
                  : ''}
                {'   ·   '}
                <tspan data-testid="bus-rate">{formatRate(total)}</tspan> on the bus · routing key = event
                type
              </text>
            </g>
            {layout.groups.map((g) => (
              <g key={g.id} data-group={g.id}>
                <rect className="band" x={g.x} y={g.y} width={g.w} height={g.h} rx={10} />
                <text className="band-label" x={g.x + 12} y={g.y + 18}>
                  {g.label}
                </text>
              </g>
            ))}
            {taps.map((id) => {
              const n = layout.nodes.find((x) => x.id === id);
              if (!n) return null;
              const x = n.x + n.w / 2;
              const hot = rates.current.rate(`in:${id}`, now) > 0;
              return (
                <g key={`tap-${id}`} data-tap={id}>
                  <path
                    className={`edge tap ${hot ? 'hot' : ''}`}
                    d={`M${x},${layout.exchange.y + layout.exchange.h} L${x},${n.y}`}
                    markerEnd="url(#arrow)"
                  />
                  <text
                    className="edge-label"
                    x={x + 8}
                    y={(layout.exchange.y + layout.exchange.h + n.y) / 2 + 4}
                  >
                    # every event{hot ? ` · ${formatRate(rates.current.rate(`in:${id}`, now))}` : ''}
                  </text>
                </g>
              );
            })}
            {layout.edges.map((e) => {
              const meta = edgeMeta.get(e.id);
              if (meta?.catchAll && focus !== e.from && focus !== e.to) return null;
              const rate = rates.current.rate(e.id, now);
              const cls = [
                'edge',
                rate > 0 ? 'hot' : '',
                focus ? (e.from === focus || e.to === focus ? 'lit' : 'dim') : '',
              ].join(' ');
              const types = meta?.eventTypes ?? [];
              return (
                <g key={e.id}>
                  <path className={cls} d={e.d} markerEnd="url(#arrow)" data-edge={e.id}>
                    <title>{`${e.from} → ${e.to}\n${types.join('\n')}`}</title>
                  </path>
                  {rate > 0 && (
                    <text className="edge-label" x={e.mid.x} y={e.mid.y}>
                      {formatRate(rate)}
                    </text>
                  )}
                  {pulses[e.id] !== undefined && rate > 0 && (
                    <circle key={pulses[e.id]} className="pulse" r={4} opacity={0}>
                      <animateMotion
                        ref={(el) => (el as SVGAnimationElement | null)?.beginElement()}
                        begin="indefinite"
                        dur="0.9s"
                        path={e.d}
                        fill="freeze"
                      />
                      <animate
                        ref={(el) => (el as SVGAnimationElement | null)?.beginElement()}
                        begin="indefinite"
                        attributeName="opacity"
                        values="1;1;0"
                        dur="0.9s"
                        fill="freeze"
                      />
                    </circle>
                  )}
                </g>
              );
            })}
            <defs>
              <marker
                id="arrow"
                viewBox="0 0 10 10"
                refX="9"
                refY="5"
                markerWidth="7"
                markerHeight="7"
                orient="auto-start-reverse"
              >
                <path d="M0,0 L10,5 L0,10 z" fill="var(--edge)" />
              </marker>
            </defs>
            {layout.nodes.map((n) => (
              <NodeBox
                key={n.id}
                node={n}
                service={serviceMap.get(n.id)}
                health={healthById.get(n.id)}
                push={pushStatus.get(n.id)}
                inRate={rates.current.rate(`in:${n.id}`, now)}
                outRate={rates.current.rate(`out:${n.id}`, now)}
                selected={selected === n.id}
                dim={focus !== null && !connected.has(n.id)}
                onHover={setHover}
                onClick={() => navigate(withParams(route, { node: selected === n.id ? undefined : n.id }))}
              />
            ))}
          </svg>
        </div>
        {selectedService && (
          <NodePanel
            registry={registry}
            index={index}
            service={selectedService}
            health={healthById.get(selectedService.id)}
            push={pushStatus.get(selectedService.id)}
            pushError={busHealth.error}
            dlq={dlq.data}
            dlqError={dlq.error}
            rates={rates.current}
            now={now}
            onClose={() => navigate(withParams(route, { node: undefined }))}
          />
        )}
      </div>
    </div>
  );
}

function NodeBox(props: {
  node: LayoutNode;
  service: RegistryService | undefined;
  health: ServiceHealth | undefined;
  push: PushStatus | undefined;
  inRate: number;
  outRate: number;
  selected: boolean;
  dim: boolean;
  onHover: (id: string | null) => void;
  onClick: () => void;
}) {
  const { node: n, service: s } = props;
  if (n.kind === 'external' || !s) {
    const label = n.id.replace(/^external:/, '');
    return (
      <g
        className="node external"
        transform={`translate(${n.x},${n.y})`}
        data-external={label}
        opacity={props.dim ? 0.35 : 1}
      >
        <rect className="box" width={n.w} height={n.h} rx={8} />
        <text className="title" x={12} y={24}>
          {label}
        </text>
        <text className="sub" x={12} y={42}>
          external source
        </text>
      </g>
    );
  }
  const status = String(s.status);
  const rateText = [
    props.inRate > 0 ? `in ${formatRate(props.inRate)}` : '',
    props.outRate > 0 ? `out ${formatRate(props.outRate)}` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const health = props.health?.status ?? 'unknown';
  return (
    // biome-ignore lint/a11y/useSemanticElements: an SVG group cannot be a <button>
    <g
      className={`node status-${status} ${props.selected ? 'selected' : ''}`}
      transform={`translate(${n.x},${n.y})`}
      data-node-id={s.id}
      data-status={status}
      opacity={props.dim ? 0.35 : 1}
      onMouseEnter={() => props.onHover(s.id)}
      onMouseLeave={() => props.onHover(null)}
      onClick={props.onClick}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') props.onClick();
      }}
      tabIndex={0}
      role="button"
      aria-label={`${s.name} (${status})`}
    >
      <title>{`${s.name}\n${s.description}`}</title>
      <rect className="box" width={n.w} height={n.h} rx={8} />
      <rect className={`stripe ${status}`} width={5} height={n.h - 8} x={3} y={4} rx={2} />
      <text className={`title ${s.name.length > 25 ? 'long' : ''}`} x={14} y={21}>
        {truncate(s.name, 31)}
      </text>
      <text className="sub" x={14} y={38}>
        {status} · {s.type.replace(/^event-/, '')}
        {s.queues.length > 1 ? ` · ${s.queues.length} queues` : ''}
      </text>
      {rateText && (
        <text className="rate" x={14} y={51}>
          {rateText}
        </text>
      )}
      {s.push && (
        <text
          className={`push-badge ${props.push?.state ?? 'unknown'}`}
          x={n.w - 10}
          y={n.h - 7}
          textAnchor="end"
          data-push={props.push?.state ?? 'unknown'}
        >
          <title>{`push → ${s.push.url}`}</title>
          {pushLabel(props.push)}
        </text>
      )}
      <circle className={`health ${health}`} cx={n.w - 12} cy={12} r={5} data-health={health}>
        <title>{`health: ${health}${props.health?.detail ? ` (${props.health.detail})` : ''}`}</title>
      </circle>
    </g>
  );
}

function PushSection(props: {
  config: NonNullable<RegistryService['push']>;
  status: PushStatus | undefined;
  error: string | null;
}) {
  const { config, status } = props;
  return (
    <div data-testid="push-section">
      <h3>Push subscription</h3>
      <div className="mono small" data-push-url>
        POST {config.url}
      </div>
      <div className="chips">
        <span
          className={`chip push-state ${status?.state ?? 'unknown'}`}
          data-push-state={status?.state ?? 'unknown'}
        >
          {status?.state ??
            (props.error ? 'state unknown (gateway not reachable)' : 'not reported by the gateway')}
        </span>
        {config.ordered && <span className="chip">ordered by correlation</span>}
        {status && <span className="chip">{status.signed ? 'signed' : 'unsigned'}</span>}
      </div>
      {status && (
        <div className="small">
          {status.delivered} delivered · {status.failed} failed · {status.rejected} rejected
          {status.consecutive_failures > 0 ? ` · ${status.consecutive_failures} failures in a row` : ''}
          {status.probe_at ? ` · next probe ${new Date(status.probe_at).toLocaleTimeString()}` : ''}
        </div>
      )}
      {status && status.recent_failures.length > 0 && (
        <table className="grid" data-testid="push-failures">
          <tbody>
            {status.recent_failures.slice(0, 5).map((f) => (
              <tr key={`${f.at}-${f.reason}`}>
                <td className="mono small">{new Date(f.at).toLocaleTimeString()}</td>
                <td className="mono small">{f.status ?? '—'}</td>
                <td className="small">{f.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function NodePanel(props: {
  registry: Registry;
  index: TopologyIndex;
  service: RegistryService;
  health: ServiceHealth | undefined;
  push: PushStatus | undefined;
  pushError: string | null;
  dlq: DlqSummary | null;
  dlqError: string | null;
  rates: RateCounter;
  now: number;
  onClose: () => void;
}) {
  const { service: s, index, rates, now } = props;
  const bindings = consumerBindings(props.registry, s);
  const outEdges = index.edges.filter((e) => e.from === s.id);
  const inEdges = index.edges.filter((e) => e.to === s.id);
  const lonely = unconsumedTypes(index, s);
  const dlqFor = (q: string) => props.dlq?.queues.find((x) => x.queue === q || x.dlq === `${q}.dlq`);
  return (
    <aside className="side" data-testid="node-panel">
      <div style={{ display: 'flex', justifyContent: 'space-between', alignItems: 'start' }}>
        <h2>{s.name}</h2>
        <button type="button" onClick={props.onClose} aria-label="Close">
          ✕
        </button>
      </div>
      <div className="chips">
        <span className={`chip status-${s.status}`}>{s.status}</span>
        <span className="chip">{s.type}</span>
        {s.owner && <span className="chip">owner {s.owner}</span>}
      </div>
      <p>{s.description}</p>
      <div className="chips">
        {s.tags.map((t) => (
          <span key={t} className="chip">
            #{t}
          </span>
        ))}
      </div>

      <h3>Health</h3>
      {props.health ? (
        <div>
          <span className={`dot ${props.health.status}`} /> {props.health.status}
          {props.health.latency_ms !== null ? ` · ${props.health.latency_ms} ms` : ''}
          {props.health.detail ? <span className="muted"> · {props.health.detail}</span> : null}
          {props.health.url && <div className="mono muted small">{props.health.url}</div>}
        </div>
      ) : (
        <span className="muted">not probed yet</span>
      )}

      {s.push && <PushSection config={s.push} status={props.push} error={props.pushError} />}

      <h3>Traffic (last 10 s)</h3>
      <div>
        in <b>{formatRate(rates.rate(`in:${s.id}`, now))}</b> · out{' '}
        <b>{formatRate(rates.rate(`out:${s.id}`, now))}</b> ·{' '}
        <a href={`#/stream?source=${encodeURIComponent(s.id)}`}>events from this service</a>
      </div>

      <h3>Queues</h3>
      {s.queues.length === 0 ? (
        <span className="muted">none (publishes only)</span>
      ) : (
        <table className="grid">
          <tbody>
            {s.queues.map((q) => {
              const d = dlqFor(q);
              return (
                <tr key={q}>
                  <td className="mono">{q}</td>
                  <td>
                    {d ? (
                      <a href={`#/dead-letters/${encodeURIComponent(d.queue)}`}>{d.count} dead letters</a>
                    ) : (
                      <span className="muted">
                        {props.dlqError ? 'dead letters unknown' : 'no dead letters'}
                      </span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}

      <h3>Bindings</h3>
      {bindings.length === 0 ? (
        <span className="muted">none</span>
      ) : (
        <table className="grid">
          <tbody>
            {bindings.map((b) => (
              <tr key={b.pattern}>
                <td className="mono">{b.pattern}</td>
                <td className="muted small">{b.origin.replace('_', ' ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Produces{lonely.length > 0 ? ` (${lonely.length} without a consumer)` : ''}</h3>
      {s.produces.length === 0 ? (
        <span className="muted">nothing declared</span>
      ) : (
        <table className="grid">
          <tbody>
            {s.produces.map((t) => (
              <tr key={t}>
                <td className="mono">
                  <a href={`#/schemas/${encodeURIComponent(t)}`}>{t}</a>
                </td>
                <td className="small">
                  {index
                    .consumersOf(t)
                    .filter((c) => c !== s.id)
                    .join(', ') || <span className="muted">no consumer</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Links</h3>
      <table className="grid">
        <tbody>
          {outEdges.map((e) => (
            <tr key={e.id}>
              <td>→ {e.to}</td>
              <td className="mono small">{formatRate(rates.rate(e.id, now))}</td>
            </tr>
          ))}
          {inEdges.map((e) => (
            <tr key={e.id}>
              <td>← {e.from}</td>
              <td className="mono small">{formatRate(rates.rate(e.id, now))}</td>
            </tr>
          ))}
          {outEdges.length + inEdges.length === 0 && (
            <tr>
              <td className="muted">no links to other registered services</td>
            </tr>
          )}
        </tbody>
      </table>

      {Object.keys(s.endpoints).length > 0 && (
        <>
          <h3>Endpoints</h3>
          <table className="grid">
            <tbody>
              {Object.entries(s.endpoints).map(([k, v]) => (
                <tr key={k}>
                  <td>{k}</td>
                  <td className="mono small">{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </aside>
  );
}
