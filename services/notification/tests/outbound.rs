//! Outbound notifications against the real PostgreSQL and NATS, a local HTTP server as the SMS
//! gateway and webhook receivers, and a local SMTP server.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_platform::auth::Role;
use motcua_proto::common::DossierStatus;
use motcua_proto::events::{ChangeKind, DeadlineKind};
use motcua_proto::notification as pb;
use std::sync::atomic::Ordering;
use std::time::Duration;
use uuid::Uuid;

const SUBMITTED: &str = "submitted";
const CHANGED: &str = "state-changed";

fn subject(code: &str, event: &str) -> String {
    let _ = code;
    format!("dossier.dat-dai.{event}")
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dossier_life_sends_each_default_notification_once_however_often_events_come() {
    let app = App::start(|_| {}).await;
    let code = new_code();
    let t0 = now(&app);
    let mut s = state(&code, 1, DossierStatus::Received, "K7Q2M9XA3B");
    let events: Vec<(&str, Uuid, Vec<u8>)> = {
        let mut v = vec![(
            SUBMITTED,
            Uuid::now_v7(),
            submitted(s.clone(), PHONE, EMAIL),
        )];
        s.version = 3;
        s.status = DossierStatus::SupplementRequested as i32;
        s.missing_documents = vec!["Bản vẽ sơ đồ thửa đất".into()];
        v.push((
            CHANGED,
            Uuid::now_v7(),
            changed(s.clone(), ChangeKind::SupplementRequested, t0),
        ));
        s.version = 4;
        s.status = DossierStatus::FinancialObligation as i32;
        s.missing_documents = vec![];
        s.obligation_vnd = 1_250_000;
        s.obligation_note = "Lệ phí trước bạ".into();
        v.push((
            CHANGED,
            Uuid::now_v7(),
            changed(s.clone(), ChangeKind::FinancialObligationRequested, t0),
        ));
        s.version = 5;
        s.status = DossierStatus::InProgress as i32;
        s.apology_reason = "Cần xác minh thêm".into();
        s.apology_due_at = Some(motcua_domain::time::ts(t0 + chrono::Duration::days(20)));
        v.push((
            CHANGED,
            Uuid::now_v7(),
            changed(s.clone(), ChangeKind::ApologyIssued, t0),
        ));
        s.version = 6;
        s.status = DossierStatus::Finished as i32;
        v.push((
            CHANGED,
            Uuid::now_v7(),
            changed(s.clone(), ChangeKind::ResultRecorded, t0),
        ));
        s.version = 7;
        s.status = DossierStatus::Returned as i32;
        v.push((
            CHANGED,
            Uuid::now_v7(),
            changed(s.clone(), ChangeKind::ResultReturned, t0),
        ));
        // A step change nobody but webhooks hears of.
        s.version = 2;
        v.push((
            CHANGED,
            Uuid::now_v7(),
            changed(s.clone(), ChangeKind::Forwarded, t0),
        ));
        v.push((
            "deadline",
            Uuid::now_v7(),
            deadline(&code, DeadlineKind::Overdue, "cv-1", t0),
        ));
        v
    };
    // Every event twice (a redelivery, a second relay), the second round in reverse order.
    for (t, id, p) in events.iter() {
        app.publish(&subject(&code, t), t, *id, p.clone()).await;
    }
    for (t, id, p) in events.iter().rev() {
        app.publish(&subject(&code, t), t, *id, p.clone()).await;
    }
    let expected: Vec<(String, String, String, String)> = [
        ("apology-issued", "email", "applicant"),
        ("apology-issued", "sms", "applicant"),
        ("financial-obligation-requested", "email", "applicant"),
        ("financial-obligation-requested", "sms", "applicant"),
        ("overdue", "email", "staff"),
        ("overdue", "email", "staff"),
        ("received", "email", "applicant"),
        ("received", "sms", "applicant"),
        ("result-ready", "email", "applicant"),
        ("result-ready", "sms", "applicant"),
        ("result-returned", "email", "applicant"),
        ("result-returned", "sms", "applicant"),
        ("supplement-requested", "email", "applicant"),
        ("supplement-requested", "sms", "applicant"),
    ]
    .iter()
    .map(|(t, c, k)| {
        (
            t.to_string(),
            c.to_string(),
            k.to_string(),
            "sent".to_string(),
        )
    })
    .collect();
    wait_until("every delivery sent", async || {
        app.deliveries(&code).await == expected
    })
    .await;
    // The gateway got each SMS once, without diacritics, with the facts filled in.
    let texts = app.stand.sms_texts();
    assert_eq!(texts.len(), 6, "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("1.250.000 dong")),
        "{texts:?}"
    );
    let received = texts
        .iter()
        .find(|t| t.contains("da duoc tiep nhan"))
        .unwrap();
    assert!(received.contains(&code), "{received}");
    assert!(received.contains("14/03/2026"), "due date: {received}");
    assert!(
        received.contains("https://tracuu.example.gov.vn/tra-cuu#ma="),
        "{received}"
    );
    assert!(
        texts.iter().any(|t| t.contains("Ban ve so do thua dat")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("ngay 22 thang 3 nam 2026")),
        "the apology's new date: {texts:?}"
    );
    assert!(
        texts.iter().all(|t| t.is_ascii()),
        "GSM-7 without diacritics: {texts:?}"
    );
    assert!(
        app.stand
            .sms
            .lock()
            .unwrap()
            .iter()
            .all(|v| v["to"] == PHONE)
    );
    // E-mails in full Vietnamese to the applicant, and the overdue notice to the officer and
    // the leader.
    wait_until("mails", async || {
        app.mailbox.mails.lock().unwrap().len() == 8
    })
    .await;
    assert_eq!(app.mailbox.to(EMAIL).len(), 6);
    assert_eq!(
        app.mailbox.to("binh.tt@example.gov.vn").len(),
        1,
        "{:?}",
        app.mailbox.mails.lock().unwrap()
    );
    assert_eq!(app.mailbox.to("cuong.lv@example.gov.vn").len(), 1);
    // Recipients are masked in the API; the applicant's phone is nowhere in the answer.
    let list = app
        .client_as(&[Role::Desk])
        .await
        .list_deliveries(pb::ListDeliveriesRequest {
            dossier_code: code.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.deliveries.len(), 14);
    let shown = format!("{list:?}");
    assert!(!shown.contains(PHONE) && !shown.contains(EMAIL), "{shown}");
    assert!(shown.contains("09******78"), "{shown}");
    let sms = list
        .deliveries
        .iter()
        .find(|d| d.trigger == "received" && d.channel == pb::Channel::Sms as i32)
        .unwrap();
    assert!(sms.provider_message_id.starts_with("gw-"));
    // The size is known before sending: the receipt's SMS with its link takes two GSM-7 parts.
    assert_eq!(
        sms.sms_parts as usize,
        motcua_notification::gsm::measure(&sms.body).parts
    );
    assert_eq!(sms.sms_parts, 2, "{}", sms.body);
    // A delivery receipt from the gateway marks it delivered.
    let r = app
        .http
        .post(format!("{}/sms/receipt", app.web()))
        .header("x-gateway-secret", GATEWAY_SECRET)
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(
                &serde_json::json!({"id": sms.provider_message_id, "status": "delivered"}),
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: String = sqlx::query_scalar("SELECT status FROM deliveries WHERE id = $1::uuid")
        .bind(&sms.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "delivered");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_errors_and_timeouts_are_retried_with_backoff_then_failed_with_the_reason() {
    let app = App::start(|_| {}).await;
    app.stand.mode.store(FAIL, Ordering::SeqCst);
    let code = new_code();
    let s = state(&code, 1, DossierStatus::Received, "K7Q2M9XA3B");
    app.publish(
        "dossier.dat-dai.submitted",
        SUBMITTED,
        Uuid::now_v7(),
        submitted(s, PHONE, ""),
    )
    .await;
    let first = "SELECT EXISTS (SELECT 1 FROM deliveries WHERE dossier_code = $1 AND channel = 'sms' AND attempts = 1 AND status = 'queued' AND last_error LIKE 'HTTP 502%')";
    app.wait_db(first, &code, "first attempt failed with 502")
        .await;
    // Nothing more happens until the backoff has passed on the clock: the next attempt is due
    // 60 s on, and the clock stands still.
    let next: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT next_attempt_at FROM deliveries WHERE dossier_code = $1")
            .bind(&code)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(next, now(&app) + chrono::Duration::seconds(60));
    assert_eq!(*app.stand.calls.lock().unwrap(), 1);
    // The gateway now hangs: the attempt times out (1 s) and is retried later.
    app.stand.mode.store(HANG, Ordering::SeqCst);
    app.clock.advance(chrono::Duration::seconds(61));
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE dossier_code = $1 AND attempts = 2 AND last_error LIKE 'no answer within%')",
        &code,
        "second attempt timed out",
    )
    .await;
    // Past the retry window (2 h): failed, with the last reason.
    app.stand.mode.store(FAIL, Ordering::SeqCst);
    for _ in 0..8 {
        app.clock.advance(chrono::Duration::minutes(20));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE dossier_code = $1 AND status = 'failed' AND last_error LIKE 'gave up after % attempts: HTTP 502%')",
        &code,
        "failed after the retry window",
    )
    .await;
    // An admin resends it once the gateway is back.
    app.stand.mode.store(OK, Ordering::SeqCst);
    let id: Uuid = sqlx::query_scalar("SELECT id FROM deliveries WHERE dossier_code = $1")
        .bind(&code)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let d = app
        .admin()
        .await
        .resend_delivery(pb::ResendDeliveryRequest {
            delivery_id: id.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .delivery
        .unwrap();
    assert_eq!(d.status, pb::DeliveryStatus::Queued as i32);
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE dossier_code = $1 AND status = 'sent')",
        &code,
        "resent",
    )
    .await;
    let denied = app
        .client_as(&[Role::Desk])
        .await
        .resend_delivery(pb::ResendDeliveryRequest {
            delivery_id: id.to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_webhook_receiver_blocks_nothing_and_signatures_verify_independently() {
    // Four webhook slots, one of them for any one subscription; an attempt may take 5 s.
    let app = App::start(|v| {
        v.set("MOTCUA_DELIVERY_CONCURRENCY", "4");
        v.set("MOTCUA_DELIVERY_TIMEOUT_SECS", "5");
        v.set("MOTCUA_SMS_QUIET_HOURS", "off");
    })
    .await;
    // Webhooks are stamped by the service's clock; the reference verifier checks the stamp
    // against the wall clock (its replay window), so this test's clock stands at the wall time.
    let stamped = chrono::Utc::now();
    app.clock.set(stamped);
    let mut admin = app.admin().await;
    let hang = admin
        .create_subscription(pb::CreateSubscriptionRequest {
            url: format!("{}/hook/hang", app.stand_url),
            description: "treo".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ok = admin
        .create_subscription(pb::CreateSubscriptionRequest {
            url: format!("{}/hook/ok", app.stand_url),
            description: "cổng dịch vụ công".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let bad = admin
        .create_subscription(pb::CreateSubscriptionRequest {
            url: "http://hook.example.vn/in".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    // Five dossiers: the hanging receiver holds at most its slots; the other gets all five.
    let mut codes = Vec::new();
    for _ in 0..5 {
        let code = new_code();
        let s = received_at(&code, stamped);
        app.publish(
            "dossier.dat-dai.submitted",
            SUBMITTED,
            Uuid::now_v7(),
            submitted(s, PHONE, ""),
        )
        .await;
        codes.push(code);
    }
    // Well before the hanging receiver's first attempt times out, the healthy one has them all.
    let published = tokio::time::Instant::now();
    wait_until("the healthy receiver got every event", async || {
        app.stand.hooks.lock().unwrap().len() == 5
    })
    .await;
    assert!(
        published.elapsed() < Duration::from_secs(4),
        "a hanging receiver delayed the others: {:?}",
        published.elapsed()
    );
    wait_until("every SMS sent", async || {
        app.stand.sms.lock().unwrap().len() == 5
    })
    .await;
    // Each webhook verifies with the Standard Webhooks reference implementation.
    let verifier = standardwebhooks::Webhook::new(&ok.secret).unwrap();
    for (headers, body) in app.stand.hooks.lock().unwrap().iter() {
        let mut map = http::HeaderMap::new();
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            map.insert(name, headers[name].to_str().unwrap().parse().unwrap());
        }
        verifier.verify(body, &map).unwrap();
        assert_eq!(
            headers["webhook-timestamp"].to_str().unwrap(),
            stamped.timestamp().to_string(),
            "stamped by the service's clock"
        );
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["type"], "dossier.submitted");
        assert!(codes.contains(&v["data"]["dossier_code"].as_str().unwrap().to_owned()));
        assert!(
            !String::from_utf8_lossy(body).contains(PHONE),
            "no personal data"
        );
    }
    // Rotation: both secrets sign during the overlap, so old and new receivers verify.
    let rotated = admin
        .rotate_subscription_secret(pb::RotateSubscriptionSecretRequest {
            id: ok.subscription.as_ref().unwrap().id.clone(),
            overlap_seconds: 3600,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rotated.subscription.unwrap().secrets, 2);
    let code = new_code();
    let s = received_at(&code, stamped);
    app.publish(
        "dossier.dat-dai.submitted",
        SUBMITTED,
        Uuid::now_v7(),
        submitted(s, PHONE, ""),
    )
    .await;
    wait_until("the sixth webhook", async || {
        app.stand.hooks.lock().unwrap().len() == 6
    })
    .await;
    let (headers, body) = app.stand.hooks.lock().unwrap()[5].clone();
    let mut map = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        map.insert(name, headers[name].to_str().unwrap().parse().unwrap());
    }
    standardwebhooks::Webhook::new(&ok.secret)
        .unwrap()
        .verify(&body, &map)
        .unwrap();
    standardwebhooks::Webhook::new(&rotated.secret)
        .unwrap()
        .verify(&body, &map)
        .unwrap();
    // The hanging receiver's deliveries are all still queued: it got none, and lost none.
    let hang_id = hang.subscription.unwrap().id;
    let stuck: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE recipient_ref = $1 AND status = 'queued'",
    )
    .bind(&hang_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        stuck, 6,
        "the hanging receiver's deliveries wait for their retries"
    );
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE recipient_ref = $1 AND last_error LIKE 'no answer within 5 s')",
        &hang_id,
        "the first attempt to the hanging receiver timed out",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_delay_citizens_sms_by_the_clock_and_contacts_are_erased_after_retention() {
    let app = App::start(|v| v.set("MOTCUA_CONTACT_RETENTION_DAYS", "30")).await;
    // 22:00 in Hà Nội.
    app.clock.set(start_time() + chrono::Duration::hours(13));
    let code = new_code();
    let mut s = state(&code, 1, DossierStatus::Received, "K7Q2M9XA3B");
    app.publish(
        "dossier.dat-dai.submitted",
        SUBMITTED,
        Uuid::now_v7(),
        submitted(s.clone(), PHONE, EMAIL),
    )
    .await;
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE dossier_code = $1 AND channel = 'email' AND status = 'sent')",
        &code,
        "the e-mail goes at night",
    )
    .await;
    let at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT next_attempt_at FROM deliveries WHERE dossier_code = $1 AND channel = 'sms'",
    )
    .bind(&code)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        at,
        start_time() + chrono::Duration::hours(22),
        "07:00 the next morning in Hà Nội"
    );
    let (attempts, give_up): (i32, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT attempts, give_up_at FROM deliveries WHERE dossier_code = $1 AND channel = 'sms'",
    )
    .bind(&code)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(attempts, 0, "waiting through quiet hours is not an attempt");
    // Never claimed (no attempt), so never sent.
    assert!(app.stand.sms.lock().unwrap().is_empty(), "no SMS at 22:00");
    assert_eq!(
        give_up,
        at + chrono::Duration::hours(2),
        "retried for 2 h from 07:00"
    );
    app.clock.set(start_time() + chrono::Duration::hours(22));
    wait_until("the SMS at 07:00", async || {
        app.stand.sms.lock().unwrap().len() == 1
    })
    .await;
    // The result is returned; 30 days later the phone and e-mail are gone. Another dossier,
    // returned two days earlier, shows when erasure has looked at a given time.
    s.version = 7;
    s.status = DossierStatus::Returned as i32;
    let returned_at = now(&app);
    let earlier = new_code();
    let mut e = state(&earlier, 1, DossierStatus::Received, "K7Q2M9XA3B");
    app.publish(
        "dossier.dat-dai.submitted",
        SUBMITTED,
        Uuid::now_v7(),
        submitted(e.clone(), PHONE, EMAIL),
    )
    .await;
    e.version = 7;
    e.status = DossierStatus::Returned as i32;
    app.publish(
        "dossier.dat-dai.state-changed",
        CHANGED,
        Uuid::now_v7(),
        changed(
            e,
            ChangeKind::ResultReturned,
            returned_at - chrono::Duration::days(2),
        ),
    )
    .await;
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE dossier_code = $1 AND submitted AND erase_after IS NOT NULL)",
        &earlier,
        "the earlier end recorded",
    )
    .await;
    app.publish(
        "dossier.dat-dai.state-changed",
        CHANGED,
        Uuid::now_v7(),
        changed(s.clone(), ChangeKind::ResultReturned, returned_at),
    )
    .await;
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE dossier_code = $1 AND erase_after IS NOT NULL)",
        &code,
        "the end recorded",
    )
    .await;
    app.clock.advance(chrono::Duration::days(29));
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE dossier_code = $1 AND erased_at IS NOT NULL)",
        &earlier,
        "erasure has run at day 29: the earlier dossier's contact is gone",
    )
    .await;
    let kept: Option<String> =
        sqlx::query_scalar("SELECT phone FROM contacts WHERE dossier_code = $1")
            .bind(&code)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(kept.as_deref(), Some(PHONE), "kept within the retention");
    app.clock.advance(chrono::Duration::days(2));
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE dossier_code = $1 AND phone IS NULL AND email IS NULL AND erased_at IS NOT NULL)",
        &code,
        "erased after 30 days",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_checked_when_published_and_the_new_version_is_used() {
    let app = App::start(|_| {}).await;
    let mut admin = app.admin().await;
    let publish = |body: &str| pb::PublishTemplateRequest {
        template: Some(pb::Template {
            trigger: "received".into(),
            channel: pb::Channel::Sms as i32,
            body: body.into(),
            ..Default::default()
        }),
    };
    for (body, says) in [
        (
            "Ho so {{ code }} tiep nhan, {{ applicant_phone }}",
            "unknown placeholder {{ applicant_phone }}",
        ),
        ("Ho so da tiep nhan", "missing placeholder(s) code"),
        ("Ho so {{ code } tiep nhan", "body:"),
    ] {
        let e = admin.publish_template(publish(body)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains(says), "{}", e.message());
    }
    let e = admin
        .publish_template(pb::PublishTemplateRequest {
            template: Some(pb::Template {
                trigger: "recieved".into(),
                channel: pb::Channel::Sms as i32,
                body: "{{ code }}".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let denied = app
        .client_as(&[Role::Leader])
        .await
        .publish_template(publish("{{ code }}"))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let published = admin
        .publish_template(publish("Đã nhận hồ sơ {{ code }}, hẹn {{ due_date }}."))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(published.template.unwrap().version, 1);
    assert_eq!(published.sample_sms_parts, 1);
    assert!(
        published.sample.starts_with("Da nhan ho so 000.00.06.H56"),
        "{}",
        published.sample
    );
    let listed = admin
        .list_templates(pb::ListTemplatesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let used = listed
        .templates
        .iter()
        .find(|t| t.trigger == "received" && t.channel == pb::Channel::Sms as i32)
        .unwrap();
    assert_eq!(used.version, 1);
    let code = new_code();
    let s = state(&code, 1, DossierStatus::Received, "K7Q2M9XA3B");
    app.publish(
        "dossier.dat-dai.submitted",
        SUBMITTED,
        Uuid::now_v7(),
        submitted(s, PHONE, ""),
    )
    .await;
    wait_until("the SMS", async || app.stand.sms.lock().unwrap().len() == 1).await;
    assert_eq!(
        app.stand.sms_texts()[0],
        format!("Da nhan ho so {code}, hen 14/03/2026.")
    );
    let version: i32 =
        sqlx::query_scalar("SELECT template_version FROM deliveries WHERE dossier_code = $1")
            .bind(&code)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(version, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_work_and_send_each_delivery_once() {
    let mut app = App::start(|_| {}).await;
    app.start_notification().await;
    let mut codes = Vec::new();
    for _ in 0..30 {
        let code = new_code();
        let s = state(&code, 1, DossierStatus::Received, "K7Q2M9XA3B");
        let (id, payload) = (Uuid::now_v7(), submitted(s, PHONE, ""));
        // Each event twice, as two relays would publish it.
        app.publish("dossier.dat-dai.submitted", SUBMITTED, id, payload.clone())
            .await;
        app.publish("dossier.dat-dai.submitted", SUBMITTED, id, payload)
            .await;
        codes.push(code);
    }
    // Every row sent after one attempt: each send follows its one claim and is recorded after
    // the gateway answered, so every send has happened, and no row was sent twice.
    app.wait_db(
        "SELECT count(*) = 30 FROM deliveries WHERE status = 'sent' AND attempts = 1 AND $1 <> ''",
        "x",
        "30 SMS sent once each",
    )
    .await;
    let texts = app.stand.sms_texts();
    assert_eq!(texts.len(), 30, "each SMS once");
    for code in &codes {
        assert_eq!(
            texts.iter().filter(|t| t.contains(code.as_str())).count(),
            1
        );
    }
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE status = 'sent' AND attempts = 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(rows, 30);
    app.stop().await;
}

/// A dossier received at `at` (events older than the notice age tell no one).
fn received_at(
    code: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> motcua_proto::events::DossierState {
    let mut s = state(code, 1, DossierStatus::Received, "K7Q2M9XA3B");
    s.received_at = Some(motcua_domain::time::ts(at));
    s.due_at = Some(motcua_domain::time::ts(at + chrono::Duration::days(12)));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness_is_judged_by_when_the_event_was_published_not_by_its_business_time() {
    let app = App::start(|v| {
        v.set("MOTCUA_NOTIFICATION_MAX_EVENT_AGE_HOURS", "24");
        v.set("MOTCUA_SMS_QUIET_HOURS", "off");
    })
    .await;
    // The service's clock at the wall's time, as in production (the stream stamps messages by
    // the NATS server's clock).
    let wall = chrono::Utc::now();
    app.clock.set(wall);
    // The portal syncs a dossier the citizen submitted five days ago: published now, so the
    // applicant is told.
    let synced = new_code();
    let id = Uuid::now_v7();
    app.publish(
        "dossier.dat-dai.submitted",
        SUBMITTED,
        id,
        submitted(
            received_at(&synced, wall - chrono::Duration::days(5)),
            PHONE,
            "",
        ),
    )
    .await;
    app.wait_handled(id).await;
    assert_eq!(
        app.deliveries(&synced).await.len(),
        1,
        "the receipt's SMS is planned"
    );
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE dossier_code = $1 AND status = 'sent')",
        &synced,
        "the receipt's SMS sent",
    )
    .await;
    // An event read two days after it was published (a consumer that was away), whatever the
    // time inside it says, tells no one.
    app.clock.set(wall + chrono::Duration::days(2));
    let late = new_code();
    let id = Uuid::now_v7();
    app.publish(
        "dossier.dat-dai.submitted",
        SUBMITTED,
        id,
        submitted(received_at(&late, now(&app)), PHONE, ""),
    )
    .await;
    app.wait_handled(id).await;
    assert!(app.deliveries(&late).await.is_empty(), "nobody is told");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_has_a_retention_and_what_is_past_it_is_pruned_by_the_clock() {
    let app = App::start(|v| {
        v.set("MOTCUA_DELIVERY_RETENTION_DAYS", "30");
        v.set("MOTCUA_INBOUND_SMS_RETENTION_DAYS", "7");
        v.set("MOTCUA_SMS_QUIET_HOURS", "off");
    })
    .await;
    // The registry names every table of notification's database.
    let (missing, extra) =
        motcua_platform::retention::unlisted(&app.db, motcua_notification::retention::TABLES)
            .await
            .unwrap();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{missing:?} {extra:?}"
    );

    // A dossier's two messages, and an inbound SMS with its reply.
    let code = new_code();
    let s = state(&code, 1, DossierStatus::Received, "K7Q2M9XA3B");
    app.publish(
        "dossier.dat-dai.submitted",
        SUBMITTED,
        Uuid::now_v7(),
        submitted(s, PHONE, EMAIL),
    )
    .await;
    let r = app
        .http
        .post(format!("{}/sms/inbound", app.web()))
        .header("x-gateway-secret", GATEWAY_SECRET)
        .header("content-type", "application/json")
        .body(r#"{"from": "0987654321", "text": "xin chao", "message_id": "r-1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.wait_db(
        "SELECT count(*) = 3 AND bool_and(status = 'sent') FROM deliveries WHERE $1 <> ''",
        "x",
        "three messages sent",
    )
    .await;
    // Eight days on: the inbound row is past its 7 days. The pass that removes it looked at the
    // deliveries first (the registry's order) and kept them: 30 days have not passed.
    app.clock.advance(chrono::Duration::days(8));
    app.wait_db(
        "SELECT NOT EXISTS (SELECT 1 FROM inbound_sms WHERE provider_message_id = $1)",
        "r-1",
        "the inbound SMS pruned after 7 days",
    )
    .await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(kept, 3, "deliveries are kept 30 days after they ended");
    app.clock.advance(chrono::Duration::days(23));
    app.wait_db(
        "SELECT NOT EXISTS (SELECT 1 FROM deliveries WHERE $1 <> '')",
        "x",
        "the deliveries pruned after 30 days",
    )
    .await;
    app.stop().await;
}

/// A delivery a pod of the previous release queued (its row, with no job in the platform's queue,
/// as deliveries were kept before they waited there) is sent once after this release starts, and
/// no other delivery is touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_queued_by_the_previous_release_is_sent_once_after_the_upgrade() {
    let mut app = App::start(|_| {}).await;
    let id = Uuid::now_v7();
    let at = now(&app);
    sqlx::query(
        "INSERT INTO deliveries (id, event_id, dossier_code, trigger, channel, recipient_kind,
             recipient_ref, recipient_masked, reply_to, body, next_attempt_at, give_up_at,
             created_at, agencies)
         VALUES ($1, $2, $3, 'sms-reply', 'sms', 'sender', 'inbound-before-upgrade', '0912***678',
             $4, 'Ho so truoc nang cap: da tiep nhan.', $5, $5 + interval '2 hours', $5, ARRAY[$6])",
    )
    .bind(id)
    .bind(Uuid::now_v7())
    .bind(new_code())
    .bind(PHONE)
    .bind(at)
    .bind(AGENCY)
    .execute(&app.db)
    .await
    .unwrap();
    app.restart_notification(|_| {}).await;
    wait_until("the old delivery sent", async || {
        sqlx::query_scalar::<_, String>("SELECT status FROM deliveries WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap()
            == "sent"
    })
    .await;
    // Given a chance to send it twice, it is not.
    app.clock.advance(chrono::Duration::hours(3));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let texts = app.stand.sms_texts();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("truoc nang cap"))
            .count(),
        1,
        "{texts:?}"
    );
    app.stop().await;
}

/// An SMS reply to `recipient`, due at `at`, as the tests that claim by hand write it.
fn sms_reply(
    recipient: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> motcua_notification::deliveries::NewDelivery {
    use motcua_notification::deliveries::{NewDelivery, RecipientKind};
    NewDelivery {
        event_id: Uuid::now_v7(),
        dossier_code: new_code(),
        agencies: vec![AGENCY.into()],
        trigger: "sms-reply".into(),
        channel: motcua_notification::rules::Channel::Sms,
        kind: RecipientKind::Sender,
        recipient_ref: recipient.into(),
        recipient_masked: "0912***678".into(),
        reply_to: Some(PHONE.into()),
        template_version: 0,
        subject: String::new(),
        body: "Ho so: da tiep nhan.".into(),
        html_body: String::new(),
        sms_parts: 1,
        quiet_hours: false,
        not_before: at,
    }
}

/// SMS replies to `recipients`, written with their jobs and claimed at `at` for two minutes, as
/// the tests that record by hand start.
async fn queued_and_claimed(
    pool: &sqlx::PgPool,
    at: chrono::DateTime<chrono::Utc>,
    recipients: &[&str],
) -> Vec<motcua_notification::deliveries::Claimed> {
    use motcua_notification::deliveries;
    let mut tx = pool.begin().await.unwrap();
    let replies: Vec<_> = recipients.iter().map(|r| sms_reply(r, at)).collect();
    deliveries::insert(&mut tx, &replies, at, chrono::Duration::hours(2))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let claimed = deliveries::claim(
        pool,
        motcua_notification::rules::Channel::Sms,
        at,
        at + chrono::Duration::minutes(2),
        10,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), recipients.len(), "each reply was claimed");
    claimed
}

/// A delivery's status and whether its SMS job is still there.
async fn status_and_job(pool: &sqlx::PgPool, id: Uuid) -> (String, bool) {
    sqlx::query_as(
        "SELECT status, EXISTS (SELECT 1 FROM jobs WHERE queue = 'deliveries.sms' AND key = $2)
         FROM deliveries WHERE id = $1",
    )
    .bind(id)
    .bind(id.to_string())
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The advisory lock that holds the lease at its start in the test below.
const LEASE_GATE: i64 = 4_242_017;

/// The lease runs in a function, on a snapshot of its own: a delivery committed after a claim's
/// statement began is leased with a row that the claim's snapshot does not show. It keeps its job
/// and goes with the next claim (it once lost its job and waited for the minute's sweep).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_committed_while_a_claim_runs_keeps_its_job_and_goes_next() {
    use motcua_notification::deliveries;
    use motcua_notification::rules::Channel;
    let mut app = App::start(|_| {}).await;
    // The test claims by hand: no dispatcher of the service's own.
    app.stop_service("notification").await;
    let pool = app.db.clone();
    // A gate in this test's database only: the lease waits at its start while the test holds it.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER FUNCTION motcua_jobs_lease(text, timestamptz, timestamptz, integer, bytea[])
             RENAME TO motcua_jobs_lease_ungated;
         CREATE FUNCTION motcua_jobs_lease(p_queue text, p_now timestamptz, p_until timestamptz,
             p_limit integer, p_skip bytea[])
         RETURNS TABLE (key text, payload bytea, attempts integer) LANGUAGE plpgsql AS $$
         BEGIN
             PERFORM pg_advisory_xact_lock_shared({LEASE_GATE});
             RETURN QUERY SELECT * FROM motcua_jobs_lease_ungated(p_queue, p_now, p_until, p_limit, p_skip);
         END $$;"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let mut holder = pool.acquire().await.unwrap().detach();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LEASE_GATE)
        .execute(&mut holder)
        .await
        .unwrap();

    let at = now(&app);
    let until = at + chrono::Duration::minutes(2);
    let claiming = {
        let pool = pool.clone();
        tokio::spawn(
            async move { deliveries::claim(&pool, Channel::Sms, at, until, 10, &[]).await },
        )
    };
    wait_until("the claim waits at the gate", async || {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_locks
             WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid::bigint = $1
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(LEASE_GATE)
        .fetch_one(&pool)
        .await
        .unwrap()
            == 1
    })
    .await;
    // Meanwhile a delivery is written and committed, its job with it.
    let mut tx = pool.begin().await.unwrap();
    let written = deliveries::insert(
        &mut tx,
        &[sms_reply("inbound-during-claim", at)],
        at,
        chrono::Duration::hours(2),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(written, 1);
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LEASE_GATE)
        .execute(&mut holder)
        .await
        .unwrap();

    let first = claiming.await.unwrap().unwrap();
    assert!(
        first.is_empty(),
        "the claim's own snapshot did not show the delivery: {first:?}"
    );
    let next = deliveries::claim(&pool, Channel::Sms, at, until, 10, &[])
        .await
        .unwrap();
    assert_eq!(
        next.iter()
            .map(|c| c.recipient_ref.as_str())
            .collect::<Vec<_>>(),
        vec!["inbound-during-claim"],
        "the delivery kept its job and went with the next claim"
    );
    drop(holder);
    app.stop().await;
}

/// Sent outcomes are recorded in batches, each row as the one-row record would: marked sent only
/// while still queued under the claim that sent it (its job removed), left alone with its job when
/// another claim took it meanwhile (a lease that ended), and its job removed when it ended
/// meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_sent_outcomes_marks_only_rows_still_under_their_claim() {
    use motcua_notification::deliveries::{self, SentRecord};
    use motcua_notification::rules::Channel;
    let mut app = App::start(|_| {}).await;
    // The test claims and records by hand: no dispatcher of the service's own.
    app.stop_service("notification").await;
    let pool = app.db.clone();
    let at = now(&app);
    let claimed = queued_and_claimed(
        &pool,
        at,
        &["still-mine", "claimed-again", "ended-meanwhile"],
    )
    .await;
    let id = |who: &str| claimed.iter().find(|c| c.recipient_ref == who).unwrap().id;
    // Meanwhile: another replica's claim after this one's lease ended, and a receipt that ended
    // the third.
    sqlx::query("UPDATE deliveries SET attempts = attempts + 1 WHERE id = $1")
        .bind(id("claimed-again"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE deliveries SET status = 'failed', failed_at = $2 WHERE id = $1")
        .bind(id("ended-meanwhile"))
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();

    let sent: Vec<SentRecord> = claimed
        .iter()
        .map(|c| SentRecord {
            id: c.id,
            attempt: c.attempts,
            provider: "log",
            provider_message_id: Some(format!("msg-{}", c.recipient_ref)),
            answer: "ok".into(),
            delivered: false,
        })
        .collect();
    deliveries::record_sent_many(&pool, Channel::Sms, &sent, at)
        .await
        .unwrap();

    let state = |who: &'static str| status_and_job(&pool, id(who));
    assert_eq!(state("still-mine").await, ("sent".into(), false));
    assert_eq!(
        state("claimed-again").await,
        ("queued".into(), true),
        "the other claim's row and its job are left to it"
    );
    assert_eq!(state("ended-meanwhile").await, ("failed".into(), false));
    app.stop().await;
}

/// A claim that takes a delivery whose lease ran out while its attempt was being recorded locks
/// the job first, then the delivery; the record (batch or alone) takes them in the same order, so
/// the two wait for each other in turn and never deadlock (the record once locked the delivery
/// first: each such meeting cost a second of PostgreSQL's deadlock detection and one side's
/// statement). The later claim's word stands: the row stays queued under it, its job kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_meeting_a_claim_of_the_same_delivery_waits_its_turn_without_deadlock() {
    use motcua_notification::deliveries::{self, Outcome, SentRecord};
    use motcua_notification::rules::Channel;
    let mut app = App::start(|_| {}).await;
    // The test claims and records by hand: no dispatcher of the service's own.
    app.stop_service("notification").await;
    let pool = app.db.clone();
    let at = now(&app);
    let claimed = queued_and_claimed(&pool, at, &["batch", "alone"]).await;
    for c in &claimed {
        // The later claim, as the lease statement does it: the job first, then the delivery.
        let mut later = pool.begin().await.unwrap();
        sqlx::query("SET LOCAL lock_timeout = '10s'")
            .execute(&mut *later)
            .await
            .unwrap();
        sqlx::query("SELECT 1 FROM jobs WHERE queue = 'deliveries.sms' AND key = $1 FOR UPDATE")
            .bind(c.id.to_string())
            .execute(&mut *later)
            .await
            .unwrap();
        let recording = {
            let (pool, c) = (pool.clone(), c.clone());
            tokio::spawn(async move {
                if c.recipient_ref == "batch" {
                    let sent = SentRecord {
                        id: c.id,
                        attempt: c.attempts,
                        provider: "log",
                        provider_message_id: None,
                        answer: "ok".into(),
                        delivered: false,
                    };
                    deliveries::record_sent_many(&pool, Channel::Sms, &[sent], at).await
                } else {
                    let later = Outcome::Later {
                        at: at + chrono::Duration::minutes(5),
                        error: Some("busy".into()),
                        uncounted: false,
                    };
                    deliveries::record(&pool, c.id, Channel::Sms, c.attempts, &later, at).await
                }
            })
        };
        wait_until("the record waits for the later claim", async || {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
                == 1
        })
        .await;
        sqlx::query(
            "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = $2 WHERE id = $1",
        )
        .bind(c.id)
        .bind(at + chrono::Duration::minutes(20))
        .execute(&mut *later)
        .await
        .expect("the later claim takes the delivery without a deadlock");
        later.commit().await.unwrap();
        recording
            .await
            .unwrap()
            .expect("the record waits its turn without a deadlock");
        let (status, job) = status_and_job(&pool, c.id).await;
        assert_eq!(
            (status.as_str(), job),
            ("queued", true),
            "{}: the later claim's row and its job are left to it",
            c.recipient_ref
        );
    }
    app.stop().await;
}
