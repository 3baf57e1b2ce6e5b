-- Appends a batch (envelopes and their metadata as two JSON arrays); see
-- candystore_append_batch in the migrations.
SELECT "position"::text AS "position", event_id, event_type
FROM candystore_append_batch($1::jsonb, $2::jsonb);
