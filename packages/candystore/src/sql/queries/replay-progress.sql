-- The progress of a running replay, written by the instance holding its lease, which renews
-- the lease ($5 milliseconds from now). No row back: the replay was cancelled (by any
-- instance) or another instance took it over; the caller stops publishing.
UPDATE replays
SET published = $3::bigint,
    last_position = $4::bigint,
    lease_until = now() + $5::integer * interval '1 millisecond'
WHERE id = $1::uuid AND owner = $2 AND status = 'running'
RETURNING id;
