/**
 * Reading a Plane webhook body. Plane's shapes vary between versions and endpoints:
 * v1 bodies say `event: 'issue'` and `action: 'create' | 'created' | …`; v2 bodies say
 * `event: 'workitem.created'` (with `delivery_id`, `event_id`, `previous_attributes`).
 * A state arrives as an object (`{ id, name, group }`), as an id next to
 * `state__group`/`state_detail`, or as a bare name; labels arrive as objects or as ids
 * whose names sit in a `label_details`-style list. Everything is reduced here to the
 * few facts the gate needs, keeping every spelling Plane gave so matching can try each.
 */

/** One thing Plane calls by several names (a state or a label). */
export interface PlaneNamed {
  readonly id?: string;
  /** Every spelling Plane sent for it: name, slug, key (and for a state, its group). */
  readonly names: readonly string[];
  /** The first human-readable name, for messages. */
  readonly display: string;
}

export interface PlaneWorkItem {
  /** `issue` or `workitem`, lowercased. */
  readonly entity: string;
  /** `created`, `updated`, `deleted`, … (v1's `create` is normalised to `created`). */
  readonly action: string;
  readonly id: string;
  readonly sequenceId?: number | string;
  /** `PROJ-12` when Plane gave the project identifier, else `#12`, else the id. */
  readonly ticketRef: string;
  readonly title: string;
  readonly state?: PlaneNamed & { readonly group?: string };
  readonly labels: readonly PlaneNamed[];
  readonly url?: string;
  readonly projectId?: string;
  readonly workspaceId?: string;
  readonly deliveryId?: string;
}

export type ReadResult =
  | { readonly ok: true; readonly item: PlaneWorkItem }
  | { readonly ok: false; readonly reason: string; readonly entity?: string; readonly action?: string };

const WORK_ITEM_ENTITIES = new Set(['issue', 'workitem', 'work_item', 'work-item']);

// A Map: the action comes from the webhook body, and `constructor` must not find Object's.
const PAST_TENSE: ReadonlyMap<string, string> = new Map([
  ['create', 'created'],
  ['update', 'updated'],
  ['delete', 'deleted'],
]);

/** Reads a Plane webhook body (the payload of a `webhook.plane.*` event). */
export function readPlaneWorkItem(body: unknown): ReadResult {
  if (!isRecord(body)) return { ok: false, reason: 'payload is not a Plane webhook body (not an object)' };
  // Tolerates an ingestion that wrapped the body as { provider, body }.
  if (body.event === undefined && isRecord(body.body)) return readPlaneWorkItem(body.body);

  const rawEvent = str(body.event)?.toLowerCase();
  if (!rawEvent) return { ok: false, reason: 'payload has no Plane "event"' };
  let entity = rawEvent;
  let action = str(body.action)?.toLowerCase();
  const dot = rawEvent.indexOf('.');
  if (dot > 0) {
    entity = rawEvent.slice(0, dot);
    action = action ?? rawEvent.slice(dot + 1);
  }
  action = action ? (PAST_TENSE.get(action) ?? action) : 'unknown';
  if (!WORK_ITEM_ENTITIES.has(entity)) {
    return { ok: false, reason: `event '${rawEvent}' is not about a work item`, entity, action };
  }

  const data = body.data;
  if (!isRecord(data)) return { ok: false, reason: 'work item event has no "data" object', entity, action };
  const id = str(data.id);
  if (!id) return { ok: false, reason: 'work item has no id', entity, action };

  const sequenceId = typeof data.sequence_id === 'number' ? data.sequence_id : str(data.sequence_id);
  const state = readState(data);
  const item: PlaneWorkItem = {
    entity,
    action,
    id,
    ticketRef: ticketRef(data, id, sequenceId),
    title: (str(data.name) ?? str(data.title) ?? '(untitled)').trim(),
    labels: readLabels(data),
    ...(sequenceId === undefined ? {} : { sequenceId }),
    ...(state === undefined ? {} : { state }),
    ...optional('url', str(data.url) ?? str(data.issue_url) ?? str(data.web_url)),
    ...optional('projectId', str(data.project) ?? str(data.project_id) ?? str(recordOf(data.project)?.id)),
    ...optional('workspaceId', str(body.workspace_id) ?? str(data.workspace)),
    ...optional('deliveryId', str(body.delivery_id)),
  };
  return { ok: true, item };
}

function readState(data: Record<string, unknown>): (PlaneNamed & { group?: string }) | undefined {
  const names: string[] = [];
  let id: string | undefined;
  let group: string | undefined;
  const take = (o: Record<string, unknown> | undefined): void => {
    if (!o) return;
    id = id ?? str(o.id);
    group = group ?? str(o.group);
    pushNames(names, o.name, o.slug, o.key);
  };
  const state = data.state;
  if (isRecord(state)) take(state);
  else if (typeof state === 'string') {
    // A bare string is an id in current Plane, a name in some older payloads; keep it as a candidate name
    // only when it does not look like a UUID.
    if (UUID.test(state)) id = state;
    else pushNames(names, state);
  }
  take(recordOf(data.state_detail));
  take(recordOf(data.state_details));
  id = id ?? str(data.state_id);
  group = group ?? str(data.state__group) ?? str(data.state_group);
  pushNames(names, data.state_name, data.state__name);
  if (names.length === 0 && !group) return undefined;
  const display = names[0] ?? group ?? '';
  if (group) pushNames(names, group);
  return { names, display, ...(id ? { id } : {}), ...(group ? { group } : {}) };
}

function readLabels(data: Record<string, unknown>): PlaneNamed[] {
  // Names for label ids, from whichever detail list Plane included.
  const byId = new Map<string, Record<string, unknown>>();
  for (const key of ['label_details', 'labels_detail', 'label_detail', 'labels_details']) {
    const list = data[key];
    if (!Array.isArray(list)) continue;
    for (const l of list) {
      const lid = isRecord(l) ? str(l.id) : undefined;
      if (lid && isRecord(l)) byId.set(lid, l);
    }
  }
  const raw = [
    ...(Array.isArray(data.labels) ? data.labels : []),
    ...(Array.isArray(data.label_ids) ? data.label_ids : []),
  ];
  const out: PlaneNamed[] = [];
  const seen = new Set<string>();
  const add = (l: PlaneNamed): void => {
    const key = l.id ?? l.names.join('\u0000');
    if (l.names.length === 0 || seen.has(key)) return;
    seen.add(key);
    out.push(l);
  };
  for (const entry of raw) {
    if (isRecord(entry)) {
      const names: string[] = [];
      pushNames(names, entry.name, entry.slug, entry.key, entry.label);
      const lid = str(entry.id);
      const detail = lid ? byId.get(lid) : undefined;
      if (detail) pushNames(names, detail.name, detail.slug, detail.key);
      add({ names, display: names[0] ?? '', ...(lid ? { id: lid } : {}) });
    } else if (typeof entry === 'string') {
      const detail = byId.get(entry);
      if (detail) {
        const names: string[] = [];
        pushNames(names, detail.name, detail.slug, detail.key);
        add({ id: entry, names, display: names[0] ?? entry });
      } else if (!UUID.test(entry)) {
        add({ names: [entry], display: entry });
      }
      // An id with no name anywhere in the body cannot match a configured label; it is dropped.
    }
  }
  return out;
}

function ticketRef(data: Record<string, unknown>, id: string, seq: number | string | undefined): string {
  const identifier = str(data.identifier);
  if (identifier && seq !== undefined && !identifier.includes('-')) return `${identifier}-${seq}`;
  if (identifier?.includes('-')) return identifier;
  const project = recordOf(data.project_detail) ?? recordOf(data.project);
  const projectIdent = str(project?.identifier);
  if (projectIdent && seq !== undefined) return `${projectIdent}-${seq}`;
  if (seq !== undefined) return `#${seq}`;
  return id;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function pushNames(out: string[], ...values: unknown[]): void {
  for (const v of values) {
    const s = str(v)?.trim();
    if (s && !out.includes(s)) out.push(s);
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function recordOf(v: unknown): Record<string, unknown> | undefined {
  return isRecord(v) ? v : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
