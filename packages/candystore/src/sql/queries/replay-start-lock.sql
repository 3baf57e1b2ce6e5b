-- Serialises the starts of bounded replays (replay-insert.sql with a bound) across instances
-- until the transaction ends. Its own key: appends (862246146) do not wait for it.
SELECT pg_advisory_xact_lock(862246148);
