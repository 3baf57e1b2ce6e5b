-- Rows in the events table by the statistics (reltuples of every partition; -1, never
-- analysed, counts as 0). Chooses how pages with a payload filter are read.
SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::float8 AS rows
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'events'::regclass;
