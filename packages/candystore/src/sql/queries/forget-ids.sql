-- Retention, after a partition was detached: forget the ids it held (one slice per call).
DELETE FROM event_ids WHERE event_id = ANY($1::uuid[]);
