-- The sync log at a million entries: each of its questions answered from an index.
-- Filtered by outcome, newest first (a rare outcome would otherwise read the whole
-- `deliveries_updated` index to fill one page).
CREATE INDEX deliveries_outcome_updated ON deliveries (outcome, updated_at_us DESC, id DESC);
-- The Overview's counts per hour and outcome over a time range of one destination,
-- read from the index alone.
CREATE INDEX deliveries_destination_updated ON deliveries (destination, updated_at_us, outcome);
-- The queue's depth by state and outcome (`queue_stats`, read in the background for
-- `/metrics` and the Overview), counted from the index instead of reading every row with
-- its report.
CREATE INDEX deliveries_state_outcome ON deliveries (state, outcome);
