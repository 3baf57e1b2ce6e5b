import { useEffect, useState } from 'react';
import { api, errorText } from '../api/client.js';
import { ConfirmDialog } from '../components/Dialog.js';
import { JsonView } from '../components/JsonView.js';
import { useApi, useCan, useKeys, useToast } from '../hooks.js';
import { KEY_Escape } from '../logic/keys.js';
import { withParams } from '../logic/routes.js';
import type { DeadLetter, DeadLetterQueue } from '../logic/types.js';
import type { ViewProps } from './types.js';

type Action = { kind: 'redrive' | 'discard'; ids: string[] | null };

export function DeadLettersView({ route, navigate }: ViewProps) {
  const queues = useApi<{ queues: DeadLetterQueue[] }>('/api/bus/dead-letters', 10_000);
  const queue = route.id ?? null;
  // the oldest 500: the gateway lists a page at a time (`next_cursor` when more follow)
  const letters = useApi<{ items: DeadLetter[]; next_cursor?: string | null; count?: number }>(
    queue ? `/api/bus/dead-letters/${encodeURIComponent(queue)}?limit=500` : null,
    10_000,
  );
  const [checked, setChecked] = useState<Set<string>>(new Set());
  const [action, setAction] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [toast, showToast] = useToast();
  // Redrive, discard and purge need `operate`; without it the view only reads.
  const canOperate = useCan('operate');
  const selectedId = route.params.id ?? null;
  const items = letters.data?.items ?? [];
  const selected = items.find((d) => d.id === selectedId) ?? null;

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new queue starts with nothing checked
  useEffect(() => setChecked(new Set()), [queue]);

  const run = async (a: Action) => {
    if (!queue) return;
    setBusy(true);
    try {
      const body = a.ids ? { ids: a.ids } : {};
      if (a.kind === 'redrive') {
        const r = await api<{ redriven: number }>(
          `/api/bus/dead-letters/${encodeURIComponent(queue)}/redrive`,
          {
            method: 'POST',
            json: body,
          },
        );
        showToast(`${r.redriven} redriven to ${queue.replace(/\.dlq$/, '')}`);
      } else {
        const r = await api<{ purged: number }>(`/api/bus/dead-letters/${encodeURIComponent(queue)}`, {
          method: 'DELETE',
          json: body,
        });
        showToast(`${r.purged} discarded`);
      }
      setChecked(new Set());
      navigate(withParams(route, { id: undefined }), true);
    } catch (err) {
      showToast(`Failed: ${errorText(err)}`);
    } finally {
      setBusy(false);
      setAction(null);
      letters.reload();
      queues.reload();
    }
  };

  const move = (d: number) => {
    const i = items.findIndex((x) => x.id === selectedId);
    const next = items[Math.max(0, Math.min(items.length - 1, i + d))];
    if (next) navigate(withParams(route, { id: next.id }), true);
  };
  const targetIds = checked.size > 0 ? [...checked] : selected ? [selected.id] : null;
  useKeys({
    j: () => move(1),
    k: () => move(-1),
    r: () => canOperate && targetIds && setAction({ kind: 'redrive', ids: targetIds }),
    [KEY_Escape]: () => navigate(withParams(route, { id: undefined }), true),
  });

  return (
    <div className="view" data-testid="dead-letters-view">
      <div className="toolbar">
        <select
          aria-label="queue"
          value={queue ?? ''}
          onChange={(e) => navigate({ view: 'dead-letters', id: e.target.value || undefined, params: {} })}
        >
          <option value="">choose a dead-letter queue…</option>
          {(queues.data?.queues ?? []).map((q) => (
            <option key={q.queue} value={q.queue}>
              {q.queue} ({q.count})
            </option>
          ))}
        </select>
        <span className="grow" />
        {queue && canOperate && (
          <>
            <button
              type="button"
              className="primary"
              disabled={!targetIds || busy}
              onClick={() => targetIds && setAction({ kind: 'redrive', ids: targetIds })}
              data-testid="redrive-selected"
            >
              Redrive {targetIds ? targetIds.length : ''} selected
            </button>
            <button
              type="button"
              disabled={items.length === 0 || busy}
              onClick={() => setAction({ kind: 'redrive', ids: null })}
              data-testid="redrive-all"
            >
              Redrive all
            </button>
            <button
              type="button"
              className="danger"
              disabled={!targetIds || busy}
              onClick={() => targetIds && setAction({ kind: 'discard', ids: targetIds })}
            >
              Discard selected
            </button>
            <button
              type="button"
              disabled={items.length === 0 || busy}
              onClick={() => setAction({ kind: 'discard', ids: null })}
            >
              Discard all
            </button>
          </>
        )}
      </div>
      {queues.error && <div className="banner bad">Dead letters unavailable: {queues.error}</div>}
      {!queue && (
        <div className="pane">
          <table className="grid" data-testid="dlq-queues">
            <thead>
              <tr>
                <th>service queue</th>
                <th>dead-letter queue</th>
                <th>dead letters</th>
              </tr>
            </thead>
            <tbody>
              {(queues.data?.queues ?? []).map((q) => (
                <tr
                  key={q.queue}
                  className="clickable"
                  onClick={() => navigate({ view: 'dead-letters', id: q.queue, params: {} })}
                >
                  <td className="mono">
                    <a href={`#/dead-letters/${encodeURIComponent(q.queue)}`}>{q.queue}</a>
                  </td>
                  <td className="mono muted">{q.dlq ?? `${q.queue}.dlq`}</td>
                  <td>{q.exists === false ? <span className="muted">not declared</span> : q.count}</td>
                </tr>
              ))}
              {queues.data && queues.data.queues.length === 0 && (
                <tr>
                  <td colSpan={3} className="muted">
                    No dead-letter queues. Nothing has failed.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {queue && (
        <div className={`split ${selected ? '' : 'single'}`}>
          <div className="pane">
            {letters.error && <div className="banner bad">{letters.error}</div>}
            {letters.data?.next_cursor && (
              <div className="banner" data-testid="dlq-partial">
                Showing the oldest {items.length} of {letters.data.count ?? 'more'} dead letters.
              </div>
            )}
            <table className="grid" data-testid="dlq-table">
              <thead>
                <tr>
                  <th>
                    <input
                      type="checkbox"
                      aria-label="select all"
                      checked={items.length > 0 && checked.size === items.length}
                      onChange={(e) =>
                        setChecked(e.target.checked ? new Set(items.map((d) => d.id)) : new Set())
                      }
                    />
                  </th>
                  <th>event type</th>
                  <th>reason</th>
                  <th>attempts</th>
                  <th>handler</th>
                  <th>last failure</th>
                </tr>
              </thead>
              <tbody>
                {items.map((d) => (
                  <tr
                    key={d.id}
                    className={`clickable ${d.id === selectedId ? 'selected' : ''}`}
                    onClick={() =>
                      navigate(withParams(route, { id: d.id === selectedId ? undefined : d.id }), true)
                    }
                    data-dead-letter={d.id}
                    data-event-id={d.event_id}
                  >
                    <td onClick={(e) => e.stopPropagation()} onKeyDown={() => undefined}>
                      <input
                        type="checkbox"
                        aria-label={`select ${d.event_id}`}
                        checked={checked.has(d.id)}
                        onChange={(e) => {
                          const next = new Set(checked);
                          if (e.target.checked) next.add(d.id);
                          else next.delete(d.id);
                          setChecked(next);
                        }}
                      />
                    </td>
                    <td className="mono">{d.event_type}</td>
                    <td>
                      {d.reason}
                      {d.error_class ? <span className="muted small"> ({d.error_class})</span> : null}
                    </td>
                    <td>{d.attempts}</td>
                    <td className="small">{d.handler ?? '–'}</td>
                    <td className="small">
                      {d.last_failure_at ? new Date(d.last_failure_at).toLocaleString() : '–'}
                    </td>
                  </tr>
                ))}
                {letters.data && items.length === 0 && (
                  <tr>
                    <td colSpan={6} className="muted">
                      This queue is empty.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          {selected && (
            <aside className="side" data-testid="dlq-inspector">
              <h2 className="mono">{selected.event_type}</h2>
              <table className="grid small">
                <tbody>
                  {(
                    [
                      ['event id', selected.event_id],
                      ['queue', selected.queue],
                      ['routing key', selected.original_routing_key],
                      ['reason', selected.reason],
                      ['error class', selected.error_class],
                      ['handler', selected.handler],
                      ['attempts', String(selected.attempts)],
                      ['first failure', selected.first_failure_at],
                      ['last failure', selected.last_failure_at],
                    ] as [string, string | undefined][]
                  ).map(([k, v]) => (
                    <tr key={k}>
                      <td className="muted">{k}</td>
                      <td className="mono">{v ?? '–'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <div style={{ display: 'flex', gap: 6, margin: '10px 0' }}>
                {canOperate && (
                  <>
                    <button
                      type="button"
                      className="primary"
                      onClick={() => setAction({ kind: 'redrive', ids: [selected.id] })}
                    >
                      Redrive
                    </button>
                    <button
                      type="button"
                      className="danger"
                      onClick={() => setAction({ kind: 'discard', ids: [selected.id] })}
                    >
                      Discard
                    </button>
                  </>
                )}
                <a href={`#/stream?q=${encodeURIComponent(selected.event_id)}`}>
                  <button type="button">Find in stream</button>
                </a>
              </div>
              <h3>Envelope</h3>
              <JsonView value={selected.envelope} />
            </aside>
          )}
        </div>
      )}
      {action && (
        <ConfirmDialog
          title={action.kind === 'redrive' ? 'Redrive dead letters?' : 'Discard dead letters?'}
          confirmLabel={action.kind === 'redrive' ? 'Redrive' : 'Discard for good'}
          danger={action.kind === 'discard'}
          busy={busy}
          onCancel={() => setAction(null)}
          onConfirm={() => void run(action)}
        >
          <p>
            {action.ids
              ? `${action.ids.length} message(s)`
              : `All ${letters.data?.count ?? items.length} message(s)`}{' '}
            in <code>{queue}</code>{' '}
            {action.kind === 'redrive'
              ? 'will be sent back to the queue they failed on.'
              : 'will be deleted. This cannot be undone.'}
          </p>
        </ConfirmDialog>
      )}
      {toast && (
        <div className="toast" data-testid="toast">
          {toast}
        </div>
      )}
    </div>
  );
}
