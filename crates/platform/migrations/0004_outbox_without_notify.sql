-- The relay is no longer woken by a NOTIFY from every transaction that writes an event: PostgreSQL
-- serialises the commits of notifying transactions (one lock through each commit's WAL flush), and
-- that capped event-writing changes at a fraction of the database's rate. Writers tell their own
-- process's relay in memory (motcua_platform::outbox::OutboxWake); `motcua outbox retry` still
-- sends NOTIFY motcua_outbox, which relays keep listening for.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION motcua_outbox_notify();
