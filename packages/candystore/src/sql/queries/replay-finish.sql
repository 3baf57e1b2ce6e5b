-- The end of a replay run by this instance ($5 completed | cancelled | failed, $6 error). A
-- replay cancelled through the table meanwhile stays cancelled (with the final progress).
UPDATE replays
SET published = $3::bigint,
    last_position = $4::bigint,
    status = CASE WHEN status = 'running' THEN $5::text ELSE status END,
    error = CASE WHEN status = 'running' THEN $6::text ELSE error END,
    finished_at = coalesce(finished_at, now()),
    owner = NULL,
    lease_until = NULL
WHERE id = $1::uuid AND owner = $2;
