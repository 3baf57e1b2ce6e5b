-- The highest committed position (append commits in position order, so none below it is pending).
SELECT coalesce(max(position), 0)::text AS position FROM events;
