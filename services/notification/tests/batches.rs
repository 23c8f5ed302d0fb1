//! Many dossiers' events handled in one transaction (the consumer's batch): each applicant is told
//! of their own dossier at their own address, once, exactly as one event after another would.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_proto::common::DossierStatus;
use motcua_proto::events::ChangeKind;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

const DOSSIERS: usize = 30;

fn phone(i: usize) -> String {
    format!("09123450{i:02}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_many_dossiers_tells_each_applicant_once_at_their_own_address() {
    // The providers' rates (per wall second) would hold some back until the test's clock moves:
    // this test is about the batch, not the pace.
    let mut app = App::start(|v| {
        v.set("MOTCUA_SMS_RATE_PER_SECOND", "1000");
        v.set("MOTCUA_EMAIL_RATE_PER_SECOND", "1000");
    })
    .await;
    // The events wait in the stream while notification is away, so it takes them in batches.
    app.stop_service("notification").await;
    let t0 = now(&app);
    let codes: Vec<String> = (0..DOSSIERS).map(|_| new_code()).collect();
    let mut events = 0;
    for (i, code) in codes.iter().enumerate() {
        let s = state(code, 1, DossierStatus::Received, "K7Q2M9XA3B");
        let body = submitted(s, &phone(i), &format!("a{i}@example.vn"));
        app.publish(
            "dossier.dat-dai.submitted",
            "submitted",
            Uuid::now_v7(),
            body,
        )
        .await;
        events += 1;
    }
    // The first dossier's `submitted` again under another id (a portal's second sync) with another
    // phone: its receipt is sent again, but to the first phone read, in a batch as one after
    // another (and the two rows of one dossier in one statement do not fail it).
    let again = submitted(
        state(&codes[0], 1, DossierStatus::Received, "K7Q2M9XA3B"),
        "0999999999",
        "other@example.vn",
    );
    app.publish(
        "dossier.dat-dai.submitted",
        "submitted",
        Uuid::now_v7(),
        again,
    )
    .await;
    events += 1;
    for code in &codes {
        let mut s = state(code, 2, DossierStatus::SupplementRequested, "K7Q2M9XA3B");
        s.missing_documents = vec!["Bản vẽ sơ đồ thửa đất".into()];
        let body = changed(s, ChangeKind::SupplementRequested, t0);
        app.publish(
            "dossier.dat-dai.state-changed",
            "state-changed",
            Uuid::now_v7(),
            body,
        )
        .await;
        events += 1;
    }
    app.start_notification().await;

    let sms_expected = 2 * DOSSIERS + 1;
    let deliveries_expected = 2 * sms_expected as i64;
    motcua_testkit::floor::wait_until("every delivery sent", || async {
        let (all, queued): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE status = 'queued') FROM deliveries",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        all >= deliveries_expected && queued == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // nothing more comes
    let handled: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(handled, events as i64);
    // Events committed together share their transaction's time: most came in batches.
    let largest: i64 = sqlx::query_scalar(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM processed_events GROUP BY processed_at) b",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(
        largest >= 10,
        "the events were not taken in batches (largest {largest})"
    );

    let sent = app.stand.sms.lock().unwrap().clone();
    assert_eq!(sent.len(), sms_expected, "each SMS once: {sent:#?}");
    let mut to_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for m in &sent {
        let text = m["text"].as_str().unwrap();
        let code = codes
            .iter()
            .find(|c| text.contains(c.as_str()))
            .unwrap_or_else(|| panic!("an SMS names no dossier of the test: {text}"));
        to_of
            .entry(code.as_str())
            .or_default()
            .push(m["to"].as_str().unwrap().to_owned());
    }
    for (i, code) in codes.iter().enumerate() {
        let receipts = if i == 0 { 2 } else { 1 };
        assert_eq!(
            to_of.get(code.as_str()),
            Some(&vec![phone(i); receipts + 1]),
            "dossier {code}: its receipt and its supplement request, to its own applicant"
        );
        let mut expected = Vec::new();
        for (trigger, times) in [("received", receipts), ("supplement-requested", 1)] {
            for channel in ["email", "sms"] {
                for _ in 0..times {
                    expected.push((
                        trigger.to_owned(),
                        channel.to_owned(),
                        "applicant".to_owned(),
                        "sent".to_owned(),
                    ));
                }
            }
        }
        assert_eq!(app.deliveries(code).await, expected, "dossier {code}");
    }
    app.stop().await;
}
