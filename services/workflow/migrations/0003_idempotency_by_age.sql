-- The hourly prune (`DELETE FROM idempotency WHERE created_at < $1`, retention.rs) read the whole
-- table each time: thirty days of keys to find the hour's few past their window. On a simulated
-- clock, where an hour passes in a fraction of a second, it read the table several times a
-- second. The prune now finds its rows by their age.
CREATE INDEX idempotency_created_at ON idempotency (created_at);
