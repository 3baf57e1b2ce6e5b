-- Candystore schema, version 3. Append-only: never edit this file once released; add 0004_*.sql.

-- The batch arrives as two JSON arrays instead of thirteen parallel arrays: the envelopes,
-- each the message body exactly as it came off the queue, and beside them one
-- {"routing_key", "headers", "extensions", "replay_id"} object per envelope. The ingester
-- splices the bodies into the first array as they are: no re-serialising of payload and
-- source in Node and no array-literal escaping (the parallel text[]/jsonb[] arrays cost a
-- backslash pass over every payload in Node and a second parse in PostgreSQL).
-- ROWS FROM zips the two arrays in one pass; PostgreSQL parses each array once and picks the
-- columns out of binary jsonb. Locking and idempotency are exactly those of version 2.
CREATE FUNCTION candystore_append_batch(envelopes jsonb, meta jsonb)
RETURNS TABLE ("position" bigint, event_id uuid, event_type text)
LANGUAGE sql VOLATILE AS $$
  SELECT pg_advisory_xact_lock(862246146);
  INSERT INTO events (
    event_id, event_type, "timestamp", version, source, source_app,
    correlation_id, causation_id, payload, extensions, routing_key, headers, replay_id
  )
  SELECT (i.e->>'event_id')::uuid, i.e->>'event_type', (i.e->>'timestamp')::timestamptz,
         i.e->>'version', i.e->'source', i.e->'source'->>'app',
         (i.e->>'correlation_id')::uuid, (i.e->>'causation_id')::uuid, i.e->'payload',
         nullif(i.m->'extensions', 'null'::jsonb), i.m->>'routing_key',
         coalesce(nullif(i.m->'headers', 'null'::jsonb), '{}'::jsonb), i.m->>'replay_id'
  FROM ROWS FROM (jsonb_array_elements(envelopes), jsonb_array_elements(meta)) WITH ORDINALITY AS i(e, m, ord)
  -- One index probe per event, whatever the statistics say. Written as NOT EXISTS, the
  -- planner (which guesses 100 rows for jsonb_array_elements) turned the check into a hash
  -- anti join over a scan of the whole table once the table had some tens of thousands of
  -- rows: every batch then read every stored event.
  WHERE (SELECT true FROM events stored WHERE stored.event_id = (i.e->>'event_id')::uuid LIMIT 1) IS NULL
  ORDER BY i.ord
  RETURNING position, event_id, event_type;
$$;

-- One way in: the array form of version 2 is gone.
DROP FUNCTION candystore_append(
  uuid[], text[], timestamptz[], text[], jsonb[], text[],
  uuid[], uuid[], jsonb[], jsonb[], text[], jsonb[], text[]
);
