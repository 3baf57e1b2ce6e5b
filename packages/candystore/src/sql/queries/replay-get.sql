SELECT id, filter, target, rate_per_second, head_position, total, published, last_position,
       status, started_at, finished_at, error
FROM replays
WHERE id = $1::uuid;
