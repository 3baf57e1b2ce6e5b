-- What a replay publishes: the envelope rebuilt as JSON text by the database (no parse and
-- re-serialize in Node), plus the columns the message properties need. Callers append the
-- page as a subquery named `events` (filter, ORDER BY position, LIMIT inside it), then
-- `ORDER BY events.position` (plain `position` would sort the text alias). With the LIMIT
-- inside, the bodies are built for the page's rows only: with the LIMIT outside, a plan that
-- sorts (chosen whenever the table's statistics are stale, e.g. right after a bulk ingest)
-- built the body of every matching row for each page, 6.5x slower on 50,000 events.
SELECT position::text AS position,
       routing_key,
       event_id,
       event_type,
       version,
       source_app,
       correlation_id,
       causation_id,
       to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts,
       (coalesce(extensions, '{}'::jsonb) || jsonb_build_object(
         'event_id', event_id,
         'event_type', event_type,
         'timestamp', to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
         'version', version,
         'source', source,
         'correlation_id', correlation_id,
         'causation_id', causation_id,
         'payload', payload
       ))::text AS body
FROM
