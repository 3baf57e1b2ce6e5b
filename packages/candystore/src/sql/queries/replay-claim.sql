-- Takes over ($1 owner, $2 lease in milliseconds) every running replay nobody holds: its
-- instance shut down (lease given up) or stopped renewing (lease expired). $3: the replays
-- this instance still runs itself. An instance claiming the same row at the same moment
-- waits for the first one's commit, then re-checks the WHERE on the row as updated (READ
-- COMMITTED) and skips it, so each replay is taken by exactly one instance.
UPDATE replays
SET owner = $1::text,
    lease_until = now() + $2::integer * interval '1 millisecond'
WHERE status = 'running'
  AND (owner IS NULL OR lease_until < now())
  AND NOT (id = ANY($3::uuid[]))
RETURNING id, filter, target, rate_per_second, head_position, total, published, last_position,
          status, started_at, finished_at, error;
