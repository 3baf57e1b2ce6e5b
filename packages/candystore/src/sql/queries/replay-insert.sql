-- A new replay, leased to the instance that starts it ($7 owner, $8 lease in milliseconds).
INSERT INTO replays (id, filter, target, rate_per_second, head_position, total, owner, lease_until)
VALUES ($1::uuid, $2::jsonb, $3::jsonb, $4::double precision, $5::bigint, $6::bigint,
        $7::text, now() + $8::integer * interval '1 millisecond')
RETURNING id, filter, target, rate_per_second, head_position, total, published, last_position,
          status, started_at, finished_at, error;
