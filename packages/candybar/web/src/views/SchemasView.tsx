import { useMemo, useRef, useState } from 'react';
import { api, errorText } from '../api/client.js';
import { JsonView } from '../components/JsonView.js';
import { useApi, useCan, useKeys, useRegistry } from '../hooks.js';
import { buildPayload, exampleFromSchema, formFields, payloadSchema } from '../logic/schema-form.js';
import { TopologyIndex } from '../logic/topology.js';
import type { SchemaDetail, SchemaSummary } from '../logic/types.js';
import type { ViewProps } from './types.js';

export function SchemasView({ route, navigate }: ViewProps) {
  const list = useApi<{ items: SchemaSummary[] }>('/api/bus/schemas');
  const type = route.id ?? null;
  const detail = useApi<SchemaDetail>(type ? `/api/bus/schemas/${encodeURIComponent(type)}` : null);
  const { registry } = useRegistry();
  const index = useMemo(() => (registry ? new TopologyIndex(registry) : null), [registry]);
  const q = route.params.q ?? '';
  const searchRef = useRef<HTMLInputElement>(null);
  useKeys({ '/': () => searchRef.current?.focus() });
  const items = (list.data?.items ?? []).filter(
    (s) =>
      !q || s.event_type.includes(q.toLowerCase()) || (s.title ?? '').toLowerCase().includes(q.toLowerCase()),
  );

  return (
    <div className="view" data-testid="schemas-view">
      <div className="toolbar">
        <input
          ref={searchRef}
          aria-label="search schemas"
          placeholder="search event types"
          value={q}
          onChange={(e) => navigate({ ...route, params: e.target.value ? { q: e.target.value } : {} }, true)}
          style={{ width: 260 }}
        />
        <span className="muted small">{list.data ? `${list.data.items.length} event types` : ''}</span>
      </div>
      {list.error && <div className="banner bad">Schema catalog unavailable: {list.error}</div>}
      <div className="split" style={{ gridTemplateColumns: 'minmax(260px, 32%) 1fr' }}>
        <div className="pane">
          <table className="grid" data-testid="schema-list">
            <tbody>
              {items.map((s) => (
                <tr
                  key={s.event_type}
                  className={`clickable ${s.event_type === type ? 'selected' : ''}`}
                  onClick={() => navigate({ view: 'schemas', id: s.event_type, params: route.params })}
                >
                  <td>
                    <div className="mono">{s.event_type}</div>
                    <div className="muted small">
                      {s.title ?? ''} {s.version ? `· v${s.version}` : ''}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div className="pane" style={{ padding: '12px 16px', borderLeft: '1px solid var(--border)' }}>
          {!type && (
            <div className="empty">
              Choose an event type to see its schema, an example, who produces and consumes it, and to publish
              a test event.
            </div>
          )}
          {type && detail.error && <div className="banner bad">{detail.error}</div>}
          {type && detail.data && (
            <SchemaDetailPane
              key={type}
              detail={detail.data}
              producers={index?.producersOf(type) ?? []}
              consumers={index?.consumersOf(type) ?? []}
            />
          )}
        </div>
      </div>
    </div>
  );
}

function SchemaDetailPane({
  detail,
  producers,
  consumers,
}: {
  detail: SchemaDetail;
  producers: string[];
  consumers: string[];
}) {
  const canPublish = useCan('publish');
  const example =
    detail.examples?.[0] ??
    exampleFromSchema(detail.kind === 'payload' ? detail.schema : payloadSchema(detail.schema));
  return (
    <div>
      <h2 style={{ marginTop: 0, fontFamily: 'var(--mono)' }}>{detail.event_type}</h2>
      <div className="muted">
        {detail.title} {detail.version ? `· version ${detail.version}` : ''}{' '}
        {detail.file ? `· ${detail.file}` : ''}
      </div>
      {detail.description && <p>{detail.description}</p>}
      <div style={{ display: 'grid', gridTemplateColumns: '1fr 1fr', gap: 16 }}>
        <div>
          <h3 className="small muted">PRODUCERS (registry)</h3>
          <div className="chips">
            {producers.length ? (
              producers.map((p) => (
                <a key={p} className="chip" href={`#/topology?node=${encodeURIComponent(p)}`}>
                  {p}
                </a>
              ))
            ) : (
              <span className="muted">none declared</span>
            )}
          </div>
        </div>
        <div>
          <h3 className="small muted">CONSUMERS (bindings that match)</h3>
          <div className="chips">
            {consumers.length ? (
              consumers.map((c) => (
                <a key={c} className="chip" href={`#/topology?node=${encodeURIComponent(c)}`}>
                  {c}
                </a>
              ))
            ) : (
              <span className="muted">none bound</span>
            )}
          </div>
        </div>
      </div>
      {canPublish && <PublishForm detail={detail} />}
      <h3 className="small muted">EXAMPLE</h3>
      <JsonView value={example} />
      <h3 className="small muted">SCHEMA</h3>
      <JsonView value={detail.schema} openDepth={2} />
    </div>
  );
}

function PublishForm({ detail }: { detail: SchemaDetail }) {
  const payloadS = useMemo(
    () =>
      detail.kind === 'payload' ? (detail.schema as Record<string, unknown>) : payloadSchema(detail.schema),
    [detail.schema, detail.kind],
  );
  const fields = useMemo(() => formFields(payloadS, detail.schema), [payloadS, detail.schema]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [raw, setRaw] = useState<string | null>(null);
  const [result, setResult] = useState<{
    ok: boolean;
    text: string;
    event_id?: string;
    correlation_id?: string;
  } | null>(null);
  const [busy, setBusy] = useState(false);
  const built = buildPayload(fields, values);
  const submit = async () => {
    let payload: unknown = built.payload;
    if (raw !== null) {
      try {
        payload = JSON.parse(raw);
      } catch {
        setResult({ ok: false, text: 'The raw payload is not valid JSON.' });
        return;
      }
    } else if (built.errors.length > 0) {
      setResult({ ok: false, text: built.errors.map((e) => `${e.key}: ${e.message}`).join('; ') });
      return;
    }
    setBusy(true);
    try {
      const r = await api<{ event_id: string; correlation_id?: string }>('/api/bus/publish', {
        method: 'POST',
        json: { event_type: detail.event_type, payload },
      });
      setResult({
        ok: true,
        text: `Accepted as ${r.event_id}`,
        event_id: r.event_id,
        correlation_id: r.correlation_id,
      });
    } catch (err) {
      setResult({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="card" style={{ margin: '14px 0' }} data-testid="publish-form">
      <h3>Publish a test event</h3>
      {raw === null ? (
        <div className="form">
          {fields.length === 0 && (
            <span className="muted small">The payload has no declared properties; use raw JSON.</span>
          )}
          {fields.map((f) => {
            const v = values[f.key] ?? f.initial;
            const set = (nv: string) => setValues((s) => ({ ...s, [f.key]: nv }));
            const err = built.errors.find((e) => e.key === f.key);
            return (
              <div key={f.key} className="field">
                <span>
                  <span className="mono">{f.key}</span> {f.required && <span className="req">*</span>}{' '}
                  <span className="hint">
                    {f.kind}
                    {f.format ? ` (${f.format})` : ''}
                  </span>
                </span>
                {f.kind === 'enum' ? (
                  <select name={f.key} aria-label={f.key} value={v} onChange={(e) => set(e.target.value)}>
                    {f.enumValues?.map((o) => (
                      <option key={o}>{o}</option>
                    ))}
                  </select>
                ) : f.kind === 'boolean' ? (
                  <select name={f.key} aria-label={f.key} value={v} onChange={(e) => set(e.target.value)}>
                    <option>false</option>
                    <option>true</option>
                  </select>
                ) : f.kind === 'json' ? (
                  <textarea
                    name={f.key}
                    rows={2}
                    className="mono"
                    value={v}
                    onChange={(e) => set(e.target.value)}
                  />
                ) : (
                  <input
                    name={f.key}
                    value={v}
                    onChange={(e) => set(e.target.value)}
                    inputMode={f.kind === 'string' ? 'text' : 'decimal'}
                  />
                )}
                {f.description && <span className="hint">{f.description}</span>}
                {err && <span className="err">{err.message}</span>}
              </div>
            );
          })}
        </div>
      ) : (
        <textarea
          aria-label="raw payload"
          className="mono"
          rows={10}
          style={{ width: '100%' }}
          value={raw}
          onChange={(e) => setRaw(e.target.value)}
        />
      )}
      <div style={{ display: 'flex', gap: 8, marginTop: 10, alignItems: 'center', flexWrap: 'wrap' }}>
        <button
          type="button"
          className="primary"
          onClick={() => void submit()}
          disabled={busy}
          data-testid="publish"
        >
          {busy ? 'Publishing…' : `Publish ${detail.event_type}`}
        </button>
        <button
          type="button"
          onClick={() => setRaw(raw === null ? JSON.stringify(built.payload, null, 2) : null)}
        >
          {raw === null ? 'Edit raw JSON' : 'Back to the form'}
        </button>
        {result && (
          <span style={{ color: result.ok ? 'var(--ok)' : 'var(--bad)' }} data-testid="publish-result">
            {result.text}
            {result.ok && result.correlation_id && (
              <>
                {' · '}
                <a
                  href={`#/chain/${encodeURIComponent(result.correlation_id)}?event=${encodeURIComponent(result.event_id ?? '')}`}
                >
                  open chain
                </a>
              </>
            )}
          </span>
        )}
      </div>
    </div>
  );
}
