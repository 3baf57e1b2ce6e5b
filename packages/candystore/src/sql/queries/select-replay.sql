-- What a replay publishes: the envelope rebuilt as JSON text by the database (no parse and
-- re-serialize in Node), plus the columns the message properties need. Callers append
-- WHERE / ORDER BY / LIMIT (order by `events.position`: plain `position` would sort the text alias).
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
FROM events
