-- Retention for replays: deletes the finished ones that ended before the cutoff (the events
-- they replayed go with their partitions) and counts them. Running replays are never removed.
WITH gone AS (
  DELETE FROM replays
  WHERE status <> 'running' AND finished_at < $1::timestamptz
  RETURNING 1
)
SELECT count(*)::text AS n FROM gone;
