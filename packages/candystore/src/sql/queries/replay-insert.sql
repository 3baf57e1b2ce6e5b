-- A new replay, leased to the instance that starts it ($7 owner, $8 lease in milliseconds).
-- $9: the most replays running at once (null: no bound); with that many running already no
-- row is inserted. The count is the table's, so it covers every instance on this database;
-- it is taken under replay-start-lock.sql, so two starts cannot both see room for one more.
INSERT INTO replays (id, filter, target, rate_per_second, head_position, total, owner, lease_until)
SELECT $1::uuid, $2::jsonb, $3::jsonb, $4::double precision, $5::bigint, $6::bigint,
       $7::text, now() + $8::integer * interval '1 millisecond'
WHERE $9::integer IS NULL
   OR (SELECT count(*) FROM replays WHERE status = 'running') < $9::integer
RETURNING id, filter, target, rate_per_second, head_position, total, published, last_position,
          status, started_at, finished_at, error;
