-- Candystore schema, version 1. Append-only: never edit this file once released; add 0002_*.sql.

-- Positions come from one sequence, but are only assigned inside the ingest transaction
-- while it holds the append advisory lock (see storage/event-store.ts), so positions become
-- visible in commit order and a reader following `position > n` never skips a late commit.
CREATE SEQUENCE events_position_seq AS bigint;

-- One row per event. Partitioned by the month the store received it, so retention drops
-- whole partitions. A unique constraint on a partitioned table must contain the partition
-- key, so event_id uniqueness lives in event_ids below.
CREATE TABLE events (
  position       bigint      NOT NULL DEFAULT nextval('events_position_seq'),
  received_at    timestamptz NOT NULL DEFAULT now(),
  event_id       uuid        NOT NULL,
  event_type     text        NOT NULL,
  "timestamp"    timestamptz NOT NULL,
  version        text        NOT NULL,
  source         jsonb       NOT NULL,
  source_app     text        NOT NULL,
  correlation_id uuid,
  causation_id   uuid,
  payload        jsonb       NOT NULL,
  -- envelope members beyond the standard ones, kept so a replay republishes the same body
  extensions     jsonb,
  routing_key    text        NOT NULL,
  headers        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  replay_id      text,
  PRIMARY KEY (position, received_at)
) PARTITION BY RANGE (received_at);

CREATE INDEX events_type_idx ON events (event_type, position);
CREATE INDEX events_source_idx ON events (source_app, position);
CREATE INDEX events_correlation_idx ON events (correlation_id, "timestamp", position);
CREATE INDEX events_causation_idx ON events (causation_id);
CREATE INDEX events_timestamp_idx ON events ("timestamp", position);
CREATE INDEX events_event_id_idx ON events (event_id);
CREATE INDEX events_payload_idx ON events USING gin (payload jsonb_path_ops);

-- The idempotency guard: one row per event id ever stored (and still retained). Retention
-- deletes the ids of a partition after detaching it, before dropping it.
CREATE TABLE event_ids (
  event_id uuid PRIMARY KEY
);

-- Creates the monthly partition holding `at` (idempotent). Name: events_pYYYYMM.
CREATE FUNCTION candystore_ensure_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  lo timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  hi timestamptz := (date_trunc('month', at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  name text := 'events_p' || to_char(at AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
  IF to_regclass(name) IS NULL THEN
    -- several instances (or writers) may race to create the same month
    PERFORM pg_advisory_xact_lock(862246147);
    IF to_regclass(name) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    END IF;
  END IF;
  RETURN name;
EXCEPTION WHEN duplicate_table OR unique_violation THEN
  RETURN name;
END
$$;

-- Appends a batch given as parallel arrays (one element per event): claims each event id in
-- event_ids, inserts only the events whose id was new, in batch order, and returns them.
-- It first takes the append lock, held until the transaction commits: appends therefore
-- commit in position order, and a reader following `position > n` never skips a late commit.
-- One statement, so an autocommitted call is one round trip.
CREATE FUNCTION candystore_append(
  uuid[], text[], timestamptz[], text[], jsonb[], text[],
  uuid[], uuid[], jsonb[], jsonb[], text[], jsonb[], text[]
) RETURNS TABLE ("position" bigint, event_id uuid, event_type text)
LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(862246146);
  WITH input AS (
    SELECT *
    FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) WITH ORDINALITY AS t(
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
$$;
