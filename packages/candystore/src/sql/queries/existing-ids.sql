-- Which of these ids are stored at all (a missing causation parent may live in another group).
SELECT DISTINCT event_id FROM events WHERE event_id = ANY($1::uuid[]);
