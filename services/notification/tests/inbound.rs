//! Inbound SMS lookups: the gateway posts a citizen's SMS, notification asks lookup over gRPC and
//! answers by SMS through the gateway; bad calls get clear errors.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_proto::common::DossierStatus;
use std::time::Duration;
use uuid::Uuid;

async fn inbound(app: &App, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = app
        .http
        .post(format!("{}/sms/inbound", app.web()))
        .header("x-gateway-secret", GATEWAY_SECRET)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or_default(),
    )
}

async fn wait_sms(app: &App, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let texts = app.stand.sms_texts();
        if texts.len() >= n {
            return texts;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {texts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_texts_the_code_and_token_and_gets_the_status_by_sms_once() {
    let app = App::start(|v| v.set("MOTCUA_SMS_REPLIES_PER_HOUR", "4"))
        .await
        .with_lookup()
        .await;
    let code = new_code();
    let s = state(&code, 1, DossierStatus::Received, "K7Q2M9XA3B");
    // No phone: the receipt's SMS does not count here.
    app.publish(
        "dossier.dat-dai.submitted",
        "submitted",
        Uuid::now_v7(),
        submitted(s, "", ""),
    )
    .await;
    // Wait until lookup has it (the SMS answer depends on it).
    let mut client = motcua_proto::lookup::lookup_service_client::LookupServiceClient::new(
        channel(app.addr("lookup")).await,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Err(e) = client
        .lookup_dossier(motcua_proto::lookup::LookupDossierRequest {
            dossier_code: code.clone(),
            secret: "K7Q2M9XA3B".into(),
        })
        .await
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lookup never had it: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Lower case, diacritics, extra spaces and punctuation: still read.
    let text = format!("  hs:  {}   k7q2m9xa3b  cảm ơn ", code.to_lowercase());
    let (status, body) = inbound(
        &app,
        serde_json::json!({"from": "84987654321", "text": text, "message_id": "m-1"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "answered");
    let texts = wait_sms(&app, 1).await;
    assert_eq!(
        texts[0],
        format!("Ho so {code}: Da tiep nhan. Hen tra 14/03/2026.")
    );
    assert_eq!(app.stand.sms.lock().unwrap()[0]["to"], "0987654321");
    // The same message id again: answered once.
    let (status, body) = inbound(
        &app,
        serde_json::json!({"from": "84987654321", "text": text, "message_id": "m-1"}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    // A wrong secret gets the same "not found" as an unknown code; unknown syntax gets help;
    // "TC" (the advertising opt-out word) is not a lookup.
    for (id, text, answer) in [
        ("m-2", format!("HS {code} WRONGTOKEN"), "not-found"),
        ("m-3", "xin chao".to_owned(), "help"),
        ("m-4", format!("TC {code} K7Q2M9XA3B"), "help"),
    ] {
        let (status, body) = inbound(
            &app,
            serde_json::json!({"from": "0987654321", "text": text, "message_id": id}),
        )
        .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some(answer)),
            "{text}"
        );
    }
    let texts = wait_sms(&app, 4).await;
    // Replies go out side by side: their order is not fixed.
    assert!(
        texts.iter().any(|t| t.contains("khong tim thay ho so")),
        "{texts:?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("Tra cuu ho so: soan HS <ma ho so> <ma tra cuu>"))
            .count(),
        2,
        "{texts:?}"
    );
    // The fifth message of the hour from this sender gets no reply.
    let (status, body) = inbound(
        &app,
        serde_json::json!({"from": "0987654321", "text": "HS", "message_id": "m-5"}),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("limited")));
    // A reply is a delivery written with the answer: none was, so none can be sent.
    let replies: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE recipient_kind = 'sender' AND recipient_ref = 'm-5'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(replies, 0);
    // The sender's number is not stored in clear once the reply is sent.
    let clear: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE reply_to IS NOT NULL OR body LIKE '%0987654321%'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(clear, 0);

    // Bad calls: each a clear JSON error, nothing recorded.
    let url = format!("{}/sms/inbound", app.web());
    let r = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(
                &serde_json::json!({"from": "0987654321", "text": "HS", "message_id": "x"}),
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for (body, says) in [
        (
            serde_json::json!({"from": "VIETTEL", "text": "HS", "message_id": "x1"}),
            "from must be",
        ),
        (
            serde_json::json!({"from": "0987654321", "text": "HS", "message_id": ""}),
            "message_id",
        ),
        (
            serde_json::json!({"from": "0987654321", "message_id": "x2"}),
            "cannot read the body",
        ),
    ] {
        let (status, answer) = inbound(&app, body).await;
        assert_eq!(status, 400);
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }
    let r = app
        .http
        .post(&url)
        .header("x-gateway-secret", GATEWAY_SECRET)
        .header("content-type", "application/json")
        .body(vec![b' '; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "oversized bodies are refused");
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM inbound_sms")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(recorded, 5);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_fails_to_be_written_is_answered_on_the_gateways_retry_once() {
    let app = App::start(|_| {}).await.with_lookup().await;
    // The third step (writing the reply) fails once: the first delivery insert raises. A
    // sequence counts tries, since a failed transaction undoes everything else it wrote.
    for sql in [
        "CREATE SEQUENCE fail_once",
        "CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('fail_once') = 1 THEN
                 RAISE EXCEPTION 'injected: the reply cannot be written';
             END IF;
             RETURN NEW;
         END $$",
        "CREATE TRIGGER fail_once BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION fail_once()",
    ] {
        sqlx::query(sql).execute(&app.db).await.unwrap();
    }
    let code = new_code();
    let sms = serde_json::json!({
        "from": "84987654321",
        "text": format!("HS {code} K7Q2M9XA3B"),
        "message_id": "gw-77",
    });
    let (status, body) = inbound(&app, sms.clone()).await;
    assert_eq!(status, 500, "the gateway is told to retry: {body}");
    // The gateway retries with the same message id: answered now, not "duplicate".
    let (status, body) = inbound(&app, sms.clone()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("not-found")),
        "{body}"
    );
    // A third time is the duplicate.
    let (status, body) = inbound(&app, sms).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("duplicate")),
        "{body}"
    );
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE recipient_ref = $1 AND status = 'sent')",
        "gw-77",
        "the reply sent",
    )
    .await;
    let replies: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE recipient_kind = 'sender' AND recipient_ref = 'gw-77'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(replies, 1);
    let texts = app.stand.sms_texts();
    assert_eq!(texts.len(), 1, "exactly one answer sent: {texts:?}");
    assert!(texts[0].contains("khong tim thay ho so"), "{texts:?}");
    app.stop().await;
}
