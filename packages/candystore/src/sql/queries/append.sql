-- Appends a batch (parallel arrays); see candystore_append in the migrations.
SELECT "position"::text AS "position", event_id, event_type
FROM candystore_append(
  $1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::jsonb[], $6::text[],
  $7::uuid[], $8::uuid[], $9::jsonb[], $10::jsonb[], $11::text[], $12::jsonb[], $13::text[]
);
