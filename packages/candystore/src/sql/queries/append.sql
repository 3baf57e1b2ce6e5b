-- Appends a batch (parallel arrays, one element per event). The event id is claimed in
-- event_ids first; only events whose id was new are inserted, in batch order. Must run in a
-- transaction holding the append lock (positions are assigned here).
WITH input AS (
  SELECT *
  FROM unnest(
    $1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::jsonb[], $6::text[],
    $7::uuid[], $8::uuid[], $9::jsonb[], $10::jsonb[], $11::text[], $12::jsonb[], $13::text[]
  ) WITH ORDINALITY AS t(
    event_id, event_type, ts, version, source, source_app,
    correlation_id, causation_id, payload, extensions, routing_key, headers, replay_id, ord
  )
),
fresh AS (
  INSERT INTO event_ids (event_id)
  SELECT event_id FROM input
  ON CONFLICT DO NOTHING
  RETURNING event_id
)
INSERT INTO events (
  event_id, event_type, "timestamp", version, source, source_app,
  correlation_id, causation_id, payload, extensions, routing_key, headers, replay_id
)
SELECT i.event_id, i.event_type, i.ts, i.version, i.source, i.source_app,
       i.correlation_id, i.causation_id, i.payload, i.extensions, i.routing_key, i.headers, i.replay_id
FROM input i
JOIN fresh f ON f.event_id = i.event_id
ORDER BY i.ord
RETURNING position, event_id, event_type;
