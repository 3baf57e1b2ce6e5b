-- Candystore schema, version 2. Append-only: never edit this file once released; add 0003_*.sql.

-- Idempotency without a second table. Every append takes the append advisory lock before it
-- reads or writes (see candystore_append), so appends are serialised, and a volatile SQL
-- function's statements each see a fresh snapshot under READ COMMITTED: the NOT EXISTS below
-- sees every append committed before this one, and no other append can run between the check
-- and the insert. The check probes the event_id index of each partition (index lookups only),
-- where event_ids cost a second heap row and a second index entry per event; ingest no
-- longer writes every event twice. Retention drops a partition and its ids go with it.
CREATE OR REPLACE FUNCTION candystore_append(
  uuid[], text[], timestamptz[], text[], jsonb[], text[],
  uuid[], uuid[], jsonb[], jsonb[], text[], jsonb[], text[]
) RETURNS TABLE ("position" bigint, event_id uuid, event_type text)
LANGUAGE sql VOLATILE AS $$
  SELECT pg_advisory_xact_lock(862246146);
  INSERT INTO events (
    event_id, event_type, "timestamp", version, source, source_app,
    correlation_id, causation_id, payload, extensions, routing_key, headers, replay_id
  )
  SELECT i.event_id, i.event_type, i.ts, i.version, i.source, i.source_app,
         i.correlation_id, i.causation_id, i.payload, i.extensions, i.routing_key, i.headers, i.replay_id
  FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) WITH ORDINALITY AS i(
    event_id, event_type, ts, version, source, source_app,
    correlation_id, causation_id, payload, extensions, routing_key, headers, replay_id, ord
  )
  WHERE NOT EXISTS (SELECT 1 FROM events stored WHERE stored.event_id = i.event_id)
  ORDER BY i.ord
  RETURNING position, event_id, event_type;
$$;

DROP TABLE event_ids;
