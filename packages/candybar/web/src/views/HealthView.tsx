import { useEffect, useMemo, useRef, useState } from 'react';
import { live } from '../api/live.js';
import { useApi, useLiveStatus } from '../hooks.js';
import { formatDuration } from '../logic/chain.js';
import { bucketSeries, sparkPath } from '../logic/series.js';
import type { ServiceHealth, StoreStats } from '../logic/types.js';
import type { ViewProps } from './types.js';

interface HealthDoc {
  status?: string;
  checks?: Record<string, unknown>;
  [k: string]: unknown;
}

/** Health answers 503 when degraded; that is still an answer worth showing, so no ApiError here. */
function useHealth(
  path: string,
  pollMs: number,
): { http: number | null; body: HealthDoc | null; error: string | null } {
  const [s, setS] = useState<{ http: number | null; body: HealthDoc | null; error: string | null }>({
    http: null,
    body: null,
    error: null,
  });
  useEffect(() => {
    let stop = false;
    const load = async () => {
      try {
        const res = await fetch(path, { headers: { accept: 'application/json' } });
        const body = (await res.json().catch(() => null)) as HealthDoc | null;
        if (stop) return;
        const backendDown =
          res.status === 503 && body && 'code' in body && body.code === 'SERVICE_UNAVAILABLE';
        setS({
          http: res.status,
          body: backendDown ? null : body,
          error: backendDown ? String(body.detail ?? 'not reachable') : null,
        });
      } catch {
        if (!stop) setS({ http: null, body: null, error: 'the dashboard server is not reachable' });
      }
    };
    void load();
    const t = setInterval(load, pollMs);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [path, pollMs]);
  return s;
}

function statusOf(h: { body: HealthDoc | null; error: string | null }): string {
  if (h.error) return 'down';
  return String(h.body?.status ?? 'unknown');
}

function checkStatus(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'ok' : 'down';
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.status === 'string') return o.status;
    if (typeof o.connected === 'boolean') return o.connected ? 'ok' : 'down';
    if (typeof o.ok === 'boolean') return o.ok ? 'ok' : 'down';
  }
  return 'unknown';
}

function dotClass(s: string): string {
  return s === 'ok' || s === 'up' || s === 'healthy'
    ? 'ok'
    : s === 'degraded'
      ? 'degraded'
      : s === 'unknown'
        ? ''
        : 'bad';
}

export function HealthView(_props: ViewProps) {
  const store = useHealth('/api/store/health', 5000);
  const bus = useHealth('/api/bus/health', 5000);
  const services = useApi<{ services: ServiceHealth[] }>('/api/health/services', 10_000);
  const streamStatus = useLiveStatus();
  const statsPath = useMemo(() => {
    const until = new Date();
    const since = new Date(until.getTime() - 30 * 60_000);
    return `/api/store/stats?since=${encodeURIComponent(since.toISOString())}&until=${encodeURIComponent(until.toISOString())}&bucket=60`;
  }, []);
  const stats = useApi<StoreStats>(statsPath, 30_000);

  // Live: events/s each second for two minutes, and lag measured on the events themselves.
  const [liveSeries, setLiveSeries] = useState<number[]>([]);
  const lags = useRef<{ ingest: number[]; delivery: number[] }>({ ingest: [], delivery: [] });
  useEffect(() => {
    let last = live.received;
    const t = setInterval(() => {
      const now = live.received;
      setLiveSeries((s) => [...s.slice(-119), now - last]);
      last = now;
    }, 1000);
    const off = live.onEvent((e) => {
      const stored = Date.parse(e.received_at ?? '');
      const emitted = Date.parse(e.timestamp);
      const l = lags.current;
      if (Number.isFinite(stored) && Number.isFinite(emitted)) l.ingest.push(stored - emitted);
      if (Number.isFinite(stored)) l.delivery.push(Date.now() - stored);
      if (l.ingest.length > 500) l.ingest.splice(0, l.ingest.length - 500);
      if (l.delivery.length > 500) l.delivery.splice(0, l.delivery.length - 500);
    });
    return () => {
      clearInterval(t);
      off();
    };
  }, []);
  const median = (a: number[]) => (a.length ? [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]! : null);

  const series = stats.data
    ? bucketSeries(stats.data.by_type, stats.data.since, stats.data.until, stats.data.bucket_seconds)
    : null;
  const topTypes = series
    ? [...series.byKey.entries()]
        .sort((a, b) => b[1].reduce((x, y) => x + y, 0) - a[1].reduce((x, y) => x + y, 0))
        .slice(0, 6)
    : [];
  const brokerCheck =
    bus.body?.broker ?? bus.body?.checks?.broker ?? store.body?.checks?.broker ?? store.body?.broker;

  return (
    <div className="view" data-testid="health-view">
      <div className="pane">
        <div className="cards">
          <Card
            title="Gateway"
            status={statusOf(bus)}
            detail={bus.error ?? checksText(bus.body)}
            testId="health-gateway"
          />
          <Card
            title="Store"
            status={statusOf(store)}
            detail={store.error ?? checksText(store.body)}
            testId="health-store"
          />
          <Card
            title="Broker"
            status={brokerCheck === undefined ? 'unknown' : checkStatus(brokerCheck)}
            detail={
              brokerCheck === undefined
                ? 'not reported by the gateway’s health check'
                : brokerText(brokerCheck)
            }
            testId="health-broker"
          />
          <Card
            title="Live stream"
            status={streamStatus === 'live' ? 'ok' : 'degraded'}
            detail={`${streamStatus} · ${live.reconnects} reconnects`}
            testId="health-stream"
          />
          <div className="card">
            <h3>Ingest lag</h3>
            <div className="big">{formatDuration(median(lags.current.ingest))}</div>
            <div className="muted small">median, emitted → stored (last 500 live events)</div>
            <div className="small">
              delivery to this page: {formatDuration(median(lags.current.delivery))}
            </div>
          </div>
          <div className="card">
            <h3>Live events/s</h3>
            <div className="big">{liveSeries[liveSeries.length - 1] ?? 0}</div>
            <Chart values={liveSeries} label="last 2 minutes" />
          </div>
        </div>
        <div className="section">
          <h3>Stored events per minute, last 30 minutes</h3>
          {stats.error && <div className="banner bad">Stats unavailable: {stats.error}</div>}
          {series && (
            <div className="card">
              <div className="muted small">{stats.data?.total.toLocaleString()} events</div>
              <Chart values={series.total} label="all types" height={90} />
            </div>
          )}
          <div className="cards" style={{ padding: '12px 0' }}>
            {topTypes.map(([k, v]) => (
              <div className="card" key={k}>
                <h3 className="mono" style={{ textTransform: 'none' }}>
                  {k}
                </h3>
                <Chart values={v} label={`${v.reduce((a, b) => a + b, 0)} events`} />
              </div>
            ))}
          </div>
          <h3>Services (health endpoints from the registry)</h3>
          {services.error && <div className="banner bad">{services.error}</div>}
          <table className="grid" data-testid="service-health">
            <thead>
              <tr>
                <th>service</th>
                <th>status</th>
                <th>latency</th>
                <th>endpoint</th>
              </tr>
            </thead>
            <tbody>
              {(services.data?.services ?? []).map((s) => (
                <tr key={s.id}>
                  <td>
                    <a href={`#/topology?node=${encodeURIComponent(s.id)}`}>{s.id}</a>
                  </td>
                  <td>
                    <span className={`dot ${s.status}`} /> {s.status}{' '}
                    {s.detail ? <span className="muted small">({s.detail})</span> : null}
                  </td>
                  <td>{s.latency_ms !== null ? `${s.latency_ms} ms` : '–'}</td>
                  <td className="mono small">{s.url ?? '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </div>
  );
}

/** One line from whatever a health document reports: its checks, or its object-valued members. */
function checksText(body: HealthDoc | null): string {
  if (!body) return '';
  const source =
    body.checks ??
    Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null && typeof v === 'object'));
  return Object.entries(source)
    .map(([k, v]) => `${k}: ${checkStatus(v)}`)
    .join(' · ');
}

function brokerText(v: unknown): string {
  if (!v || typeof v !== 'object') return String(v);
  const o = v as Record<string, unknown>;
  return [o.kind, o.state, typeof o.latency_ms === 'number' ? `${o.latency_ms} ms` : null]
    .filter(Boolean)
    .join(' · ');
}

function Card({
  title,
  status,
  detail,
  testId,
}: {
  title: string;
  status: string;
  detail: string;
  testId: string;
}) {
  return (
    <div className="card" data-testid={testId} data-status={status}>
      <h3>
        <span className={`dot ${dotClass(status)}`} /> {title}
      </h3>
      <div className="big">{status}</div>
      <div className="muted small" style={{ wordBreak: 'break-word' }}>
        {detail}
      </div>
    </div>
  );
}

function Chart({ values, label, height = 60 }: { values: number[]; label: string; height?: number }) {
  const w = 300;
  const { line, area, max } = sparkPath(values, w, height);
  // The SVG stretches to the card; labels stay HTML so they are not stretched with it.
  return (
    <div>
      <svg
        className="chart"
        viewBox={`0 0 ${w} ${height}`}
        preserveAspectRatio="none"
        style={{ height }}
        role="img"
        aria-label={label}
      >
        <path className="area" d={area} />
        <path className="line" d={line} vectorEffect="non-scaling-stroke" />
      </svg>
      <div className="muted small" style={{ display: 'flex', justifyContent: 'space-between' }}>
        <span>{label}</span>
        <span>max {max}</span>
      </div>
    </div>
  );
}
