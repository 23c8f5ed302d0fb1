//! The simulated clock across processes: a driver sets the time in NATS, every process that joined
//! follows it, a timer wakes when the time passes it, the driver's `set` returns only once every
//! live process has seen the time, a process that leaves is no longer waited for, and the setting
//! is refused beside a real token issuer.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use chrono::{DateTime, Duration as Days, Utc};
use motcua_platform::bus::Bus;
use motcua_platform::clock::simulated::delete_buckets;
use motcua_platform::config::{ServerUrl, Settings, Vars};
use motcua_platform::{CancellationToken, Clock, SimulatedClock, SimulatedTime};
use std::time::Duration;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn bus() -> Bus {
    let prefix = format!("simclock{}.", uuid::Uuid::new_v4().simple());
    Bus::connect(&ServerUrl::new("nats://127.0.0.1:4222"), &prefix)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_follow_the_drivers_time_and_the_driver_waits_until_they_have_seen_it() {
    let bus = bus().await;
    let driver = SimulatedTime::open(&bus).await.unwrap();
    assert_eq!(
        driver.now().await.unwrap(),
        None,
        "no time before the driver sets one"
    );

    // A process that starts before the time is set waits for it.
    let (a_stop, b_stop) = (CancellationToken::new(), CancellationToken::new());
    let early = tokio::spawn({
        let (bus, stop) = (bus.clone(), a_stop.clone());
        async move { SimulatedClock::join(&bus, stop).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!early.is_finished(), "joining waits for the first time");
    let start = t("2017-01-03T08:00:00+07:00");
    driver.put(start).await.unwrap();
    let a = tokio::time::timeout(Duration::from_secs(5), early)
        .await
        .expect("joined once the time is set")
        .unwrap();
    let b = SimulatedClock::join(&bus, b_stop.clone()).await.unwrap();
    assert_eq!((a.now(), b.now()), (start, start));
    driver
        .wait_instances(2, Duration::from_secs(5))
        .await
        .unwrap();

    // A timer three months ahead wakes when the time passes it, not before.
    let due = start + Days::days(90);
    let timer = tokio::spawn(b.sleep_until(due));
    driver
        .set(start + Days::days(89), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        (a.now(), b.now()),
        (start + Days::days(89), start + Days::days(89)),
        "set returns once both have seen the time"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!timer.is_finished(), "89 days is not 90");
    driver
        .set(start + Days::days(91), Duration::from_secs(5))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(2), timer)
        .await
        .expect("woken once past its time")
        .unwrap();

    // Never backwards.
    driver.set(start, Duration::from_secs(5)).await.unwrap();
    assert_eq!(a.now(), start + Days::days(91));

    // A process that leaves is not waited for; the one left still follows.
    a_stop.cancel();
    let later = start + Days::days(120);
    tokio::time::timeout(
        Duration::from_secs(3),
        driver.set(later, Duration::from_secs(10)),
    )
    .await
    .expect("not held up by a process that left")
    .unwrap();
    assert_eq!(b.now(), later);
    assert_eq!(
        a.now(),
        start + Days::days(91),
        "the one that left stands still"
    );

    b_stop.cancel();
    delete_buckets(&bus).await;
}

#[test]
fn the_simulated_clock_is_refused_beside_a_real_token_issuer() {
    let err = Settings::from_vars(&Vars::from_pairs([
        ("MOTCUA_SIMULATED_CLOCK", "true"),
        (
            "MOTCUA_JWT_SECRET",
            "a-real-secret-of-the-province-0123456789",
        ),
    ]))
    .unwrap_err();
    assert!(
        err.to_string().contains("MOTCUA_SIMULATED_CLOCK"),
        "names the setting: {err}"
    );
    let ok = Settings::from_vars(&Vars::from_pairs([
        ("MOTCUA_SIMULATED_CLOCK", "true"),
        ("MOTCUA_DEVELOPMENT", "true"),
    ]))
    .unwrap();
    assert!(ok.simulated_clock && ok.uses_development_key());
    assert!(
        !Settings::from_vars(&Vars::default())
            .unwrap()
            .simulated_clock
    );
}
