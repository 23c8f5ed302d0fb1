//! Time, as every service reads it (DESIGN.md "Time").
//!
//! Nothing in a service calls the system time directly: it asks its [`Clock`] for `now()` and waits
//! for deadlines with `sleep_until()`. Production runs on [`SystemClock`]; tests drive a
//! [`ManualClock`] forward by hours or months and every waiter whose time has come wakes at once,
//! so a timer test never sleeps on the wall clock. The year simulator runs every process on a
//! [`SimulatedClock`] that it drives through NATS (`MOTCUA_SIMULATED_CLOCK=true`, see
//! [`simulated`]).
//!
//! Bookkeeping that decides no rule (trace timestamps, log lines, JetStream's own ack timers, the
//! relay's poll interval) keeps tokio's monotonic time.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::fmt::Debug;
use std::sync::Arc;
use tokio::sync::watch;

pub mod simulated;
pub use simulated::{SimulatedClock, SimulatedTime};

/// The source of "now" for rules and timers.
pub trait Clock: Send + Sync + Debug + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Resolves once `now() >= at` (at once if it already is).
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

/// A clock shared by the parts of a process.
pub type SharedClock = Arc<dyn Clock>;

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        // The one place that reads the system time.
        Utc::now()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // Re-check after each wake: the wall clock may have been stepped meanwhile.
            loop {
                let left = at - Utc::now();
                let Ok(left) = left.to_std() else { return };
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left).await;
            }
        })
    }
}

/// A clock that moves only when told to: tests set it and advance it.
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: watch::Sender::new(start),
        })
    }

    /// Moves the clock to `at` (never backwards: time does not run back for timers).
    pub fn set(&self, at: DateTime<Utc>) {
        self.now.send_if_modified(|now| {
            if at > *now {
                *now = at;
                true
            } else {
                false
            }
        });
    }

    pub fn advance(&self, by: chrono::Duration) {
        let at = *self.now.borrow() + by;
        self.set(at);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        sleep_on(self.now.subscribe(), at)
    }
}

/// Resolves once the time `rx` follows reaches `at` (a clock that only moves when told to).
fn sleep_on(mut rx: watch::Receiver<DateTime<Utc>>, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        loop {
            if *rx.borrow_and_update() >= at {
                return;
            }
            if rx.changed().await.is_err() {
                // The clock is gone: its time will never come.
                futures::future::pending::<()>().await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_advanced_past_their_time() {
        let start = DateTime::parse_from_rfc3339("2026-01-05T08:00:00+07:00")
            .unwrap()
            .with_timezone(&Utc);
        let clock = ManualClock::new(start);
        let due = start + chrono::Duration::days(90);
        let sleeper = tokio::spawn(clock.sleep_until(due));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished(), "nothing moves until the clock does");
        clock.advance(chrono::Duration::days(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished(), "30 days is not 90");
        clock.advance(chrono::Duration::days(61));
        tokio::time::timeout(Duration::from_secs(1), sleeper)
            .await
            .expect("woken once past its time")
            .unwrap();
        clock.set(start);
        assert_eq!(
            clock.now(),
            start + chrono::Duration::days(91),
            "never backwards"
        );
        // A time already past resolves at once.
        tokio::time::timeout(Duration::from_millis(100), clock.sleep_until(start))
            .await
            .expect("past time");
    }
}
