SELECT to_timestamp(floor(extract(epoch FROM "timestamp") / $3) * $3) AS bucket,
       event_type AS key,
       count(*)::integer AS count
FROM events
WHERE "timestamp" >= $1::timestamptz AND "timestamp" < $2::timestamptz
GROUP BY 1, 2
ORDER BY 1, 2;
