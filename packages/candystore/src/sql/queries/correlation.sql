-- Every event of a correlation group, as a timeline (event time, then position).
SELECT position, event_id, event_type, "timestamp", version, source, correlation_id, causation_id, payload, routing_key, headers, received_at, replay_id, extensions, trace_id
FROM events
WHERE correlation_id = $1::uuid
ORDER BY "timestamp", position
LIMIT $2;
