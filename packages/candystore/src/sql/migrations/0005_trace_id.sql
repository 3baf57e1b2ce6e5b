-- Candystore schema, version 5. Append-only: never edit this file once released; add 0006_*.sql.

-- The W3C trace id of each event, for GET /events?trace_id= and the dashboard's link from a
-- chain to its trace. The traceparent and tracestate themselves are envelope members beyond
-- the standard ones, so they are kept in `extensions` already (a replay republishes them).
-- A generated column: derived where the data is, so no writer (the append function, a
-- replay, a manual INSERT) can forget it, and existing rows get it too. The ingest admits
-- only valid traceparents (core's codec); the pattern guards rows written before that.
ALTER TABLE events ADD COLUMN trace_id text GENERATED ALWAYS AS (
  CASE WHEN extensions->>'traceparent' ~ '^[0-9a-f]{2}-[0-9a-f]{32}-'
       THEN substr(extensions->>'traceparent', 4, 32) END
) STORED;

CREATE INDEX events_trace_idx ON events (trace_id, position);
