-- Cancels a running replay in the table. Whichever instance publishes it notices at its next
-- progress write and stops. No row back: unknown, or already finished.
UPDATE replays
SET status = 'cancelled', finished_at = now()
WHERE id = $1::uuid AND status = 'running'
RETURNING id, filter, target, rate_per_second, head_position, total, published, last_position,
          status, started_at, finished_at, error;
