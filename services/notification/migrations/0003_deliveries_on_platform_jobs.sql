-- Deliveries wait in the platform's job queue, one queue per channel (`deliveries.<channel>`), the
-- delivery's id as the job's key and its recipient as the payload: the deliveries table keeps
-- what was sent and what came of it, the platform's queue keeps when to try next. The deliveries
-- still queued move there now, through the platform's API; the dispatchers' sweep
-- (`deliveries::adopt`) gives a job to any queued delivery that lacks one later (written by a pod
-- of the previous release during a rolling update), through `deliveries_due`, which stays.
SELECT motcua_jobs_reschedule('deliveries.' || channel, '{}', array_agg(id::text),
           array_agg(next_attempt_at), array_agg(convert_to(recipient_ref, 'UTF8')), now())
FROM deliveries WHERE status = 'queued' GROUP BY channel;
