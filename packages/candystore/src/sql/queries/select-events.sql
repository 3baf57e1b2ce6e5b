-- The columns of a StoredEvent; callers append WHERE / ORDER BY / LIMIT.
SELECT position, event_id, event_type, "timestamp", version, source, correlation_id, causation_id, payload, routing_key, headers, received_at, replay_id, extensions, trace_id
FROM events
