-- Candystore schema, version 4. Append-only: never edit this file once released; add 0005_*.sql.

-- Replays outlive the process that runs them. A row holds the request (so the replay can be
-- run again), the set it covers (the matching events at or below head_position, fixed when it
-- started), its progress, and a lease: the one instance that may publish for it. The instance
-- renews the lease with every progress write; another instance (or the next start) takes over
-- a running replay whose lease was given up (graceful shutdown) or has expired (the process
-- died), and resumes it after last_position.
CREATE TABLE replays (
  id              uuid             PRIMARY KEY,
  -- the EventFilter, since/until as RFC 3339 text
  filter          jsonb            NOT NULL,
  -- {"exchange": name} or {"queue": name}
  target          jsonb            NOT NULL,
  rate_per_second double precision,
  head_position   bigint           NOT NULL,
  total           bigint           NOT NULL,
  -- the events whose publish was confirmed, in position order, and the position of the last
  -- of them: every selected event up to last_position was delivered
  published       bigint           NOT NULL DEFAULT 0,
  last_position   bigint           NOT NULL DEFAULT 0,
  status          text             NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'completed', 'cancelled', 'failed')),
  started_at      timestamptz      NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  error           text,
  -- the instance publishing it and until when it may (both NULL: nobody holds it)
  owner           text,
  lease_until     timestamptz,
  CHECK ((status = 'running') = (finished_at IS NULL))
);

-- The claim looks for running replays whose lease is free or expired; finished ones pile up.
CREATE INDEX replays_running_idx ON replays (lease_until) WHERE status = 'running';
