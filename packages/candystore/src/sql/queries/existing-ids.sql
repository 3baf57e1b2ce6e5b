-- Which of these ids are stored at all (a missing causation parent may live in another group).
SELECT event_id FROM event_ids WHERE event_id = ANY($1::uuid[]);
