-- The last progress of a replay this instance stops publishing without finishing it
-- (shutdown, a cancel made through the table, a lease it could not renew), and its lease
-- given up, so the next start or another instance resumes it at once. The status is left as
-- it is: a running replay stays running.
UPDATE replays
SET published = $3::bigint,
    last_position = $4::bigint,
    owner = NULL,
    lease_until = NULL
WHERE id = $1::uuid AND owner = $2;
