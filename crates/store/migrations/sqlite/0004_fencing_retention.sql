-- Fencing and retention. Same conventions as 0001.

-- Each lease of a delivery takes the next token; a completion applies only with the current
-- one, so a worker whose lease ran out and was taken over can never move the delivery.
ALTER TABLE deliveries ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;

-- An attempt recorded by a worker whose lease had been taken over: what it wrote in the
-- destination is kept in the log, but it did not change the delivery.
ALTER TABLE sync_log ADD COLUMN stale BOOLEAN NOT NULL DEFAULT FALSE;

-- Retention walks evaluations oldest first by (received_at_us, id).
DROP INDEX evaluations_received_at;
CREATE INDEX evaluations_received_at ON evaluations (received_at_us, id);
