//! What intake's events say and do not say: later requests are not states, lookup secrets travel
//! only as keyed hashes; and changes to a dossier on a starved pool and by integrating systems.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use futures::StreamExt;
use motcua_domain::events::DossierEvent;
use motcua_domain::secrets::SecretHasher;
use motcua_domain::settings::from_pairs;
use motcua_platform::auth::Role;
use motcua_proto::common::DossierStatus;
use motcua_proto::intake::*;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tonic::Code;

/// The stream's events, decoded, once `expected` have arrived.
async fn events(app: &TestApp, expected: usize) -> Vec<(String, Vec<u8>)> {
    let stream = app
        .bus
        .js
        .get_stream(app.bus.stream_name("DOSSIERS"))
        .await
        .unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while out.len() < expected && tokio::time::Instant::now() < deadline {
        let mut batch = consumer
            .fetch()
            .max_messages(expected - out.len())
            .expires(Duration::from_millis(300))
            .messages()
            .await
            .unwrap();
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            let kind = m
                .headers
                .as_ref()
                .unwrap()
                .get("Motcua-Event-Type")
                .unwrap()
                .as_str()
                .to_owned();
            // A state event the test published as workflow would: not intake's.
            if kind != motcua_domain::events::STATE_CHANGED {
                out.push((kind, m.payload.to_vec()));
            }
        }
    }
    assert_eq!(out.len(), expected);
    out
}

async fn submitted(app: &TestApp) -> Receipt {
    let mut desk = app.client(&[Role::Desk]).await;
    desk.submit_dossier(counter_submission("first"))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_requests_carry_the_dossier_code_and_no_state_version() {
    let app = spawn().await;
    let receipt = submitted(&app).await;
    let mut desk = app.client(&[Role::Desk]).await;
    app.asked_for_supplement(&receipt.dossier_code, 3).await;
    desk.submit_supplement(SubmitSupplementRequest {
        dossier_code: receipt.dossier_code.clone(),
        documents: vec![SubmittedDocument {
            key: "to-khai-thue".into(),
            copies: 1,
            ..Default::default()
        }],
        idempotency_key: "s".into(),
    })
    .await
    .unwrap();
    desk.request_withdrawal(RequestWithdrawalRequest {
        dossier_code: receipt.dossier_code.clone(),
        reason: "Người nộp đề nghị rút".into(),
        idempotency_key: "w".into(),
    })
    .await
    .unwrap();
    let decoded: Vec<DossierEvent> = events(&app, 3)
        .await
        .iter()
        .map(|(kind, payload)| DossierEvent::decode(kind, payload).unwrap().unwrap())
        .collect();
    let first = decoded[0].state().expect("submitted is a state");
    assert_eq!(
        (first.version, first.status),
        (1, DossierStatus::Received as i32)
    );
    for later in &decoded[1..] {
        assert!(
            later.state().is_none(),
            "a request does not pose as a state: {later:?}"
        );
        assert_eq!(later.dossier_code(), receipt.dossier_code);
    }
    let DossierEvent::SupplementSubmitted(s) = &decoded[1] else {
        panic!("{:?}", decoded[1])
    };
    assert_eq!(
        (s.field.as_str(), s.competent_agency.as_str()),
        ("dat-dai", AGENCY)
    );
    assert_eq!(s.document_keys, ["to-khai-thue"]);
    let DossierEvent::WithdrawalRequested(w) = &decoded[2] else {
        panic!("{:?}", decoded[2])
    };
    assert_eq!(w.reason, "Người nộp đề nghị rút");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_secrets_travel_only_as_keyed_hashes() {
    let app = spawn().await;
    let receipt = submitted(&app).await;
    let id_number = receipt.applicant.as_ref().unwrap().id_number.clone();
    let code = receipt.dossier_code.clone();
    let (kind, payload) = events(&app, 1).await.remove(0);
    let event = DossierEvent::decode(&kind, &payload).unwrap().unwrap();
    let state = event.state().unwrap();
    // Lookup, holding the key, checks both secrets.
    let keys = format!("t1:{TEST_HASH_KEY}");
    let lookup =
        SecretHasher::from_vars(from_pairs(&[("MOTCUA_SECRET_HASH_KEYS", keys.as_str())])).unwrap();
    assert_eq!(state.secret_key_id, "t1");
    assert!(lookup.verify(&code, &receipt.lookup_token, "t1", &state.lookup_token_hmac));
    assert!(lookup.verify(&code, &id_number, "t1", &state.applicant_id_hmac));
    assert!(!lookup.verify(&code, "038085001235", "t1", &state.applicant_id_hmac));
    // A reader of the stream without the key gets nothing from it: no unkeyed hash, no secret.
    let text = String::from_utf8_lossy(&payload).to_string();
    for plain in [
        format!("{code}:{id_number}"),
        format!("{code}:{}", receipt.lookup_token),
    ] {
        let unkeyed = hex::encode(Sha256::digest(plain.as_bytes()));
        assert!(
            !text.contains(&unkeyed),
            "an unkeyed SHA-256 travels in the event"
        );
    }
    assert!(!text.contains(&id_number) && !text.contains(&receipt.lookup_token));
    let other = SecretHasher::from_vars(from_pairs(&[(
        "MOTCUA_SECRET_HASH_KEYS",
        "t1:someone-elses-key-0123456789abcdef0123",
    )]))
    .unwrap();
    assert!(!other.verify(&code, &id_number, "t1", &state.applicant_id_hmac));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_holds_one_connection_and_an_integrations_retry_gets_the_first_answer() {
    // One connection in the pool: a change that needed a second one while holding its row lock
    // would wait for itself until the pool gave up.
    let app = spawn_with(|v| {
        v.set("MOTCUA_DATABASE_MAX_CONNECTIONS", "1");
        v.set("MOTCUA_REQUEST_TIMEOUT_SECS", "8");
    })
    .await;
    let receipt = submitted(&app).await;
    app.asked_for_supplement(&receipt.dossier_code, 3).await;
    let mut portal = app.portal().await;
    let supplement = SubmitSupplementRequest {
        dossier_code: receipt.dossier_code.clone(),
        documents: vec![SubmittedDocument {
            name: "Bản vẽ sơ đồ thửa đất".into(),
            copies: 1,
            ..Default::default()
        }],
        idempotency_key: "portal-s-1".into(),
    };
    let started = tokio::time::Instant::now();
    let first = portal
        .submit_supplement(supplement.clone())
        .await
        .expect("supplement");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    let again = portal
        .submit_supplement(supplement)
        .await
        .expect("the retry is answered, not NOT_FOUND");
    assert_eq!(
        again
            .into_inner()
            .dossier
            .unwrap()
            .receipt
            .unwrap()
            .dossier_code,
        first
            .into_inner()
            .dossier
            .unwrap()
            .receipt
            .unwrap()
            .dossier_code
    );
    let withdrawal = RequestWithdrawalRequest {
        dossier_code: receipt.dossier_code.clone(),
        reason: "Người nộp rút trên cổng dịch vụ công".into(),
        idempotency_key: "portal-w-1".into(),
    };
    for _ in 0..2 {
        let d = portal
            .request_withdrawal(withdrawal.clone())
            .await
            .expect("withdrawal and its retry");
        assert_eq!(
            d.into_inner().dossier.unwrap().status,
            DossierStatus::WithdrawalRequested as i32
        );
    }
    // It may see what it acts on.
    let seen = portal
        .get_dossier(GetDossierRequest {
            dossier_code: receipt.dossier_code.clone(),
        })
        .await
        .expect("visible to the integration");
    assert_eq!(
        seen.into_inner().dossier.unwrap().status,
        DossierStatus::WithdrawalRequested as i32
    );
    assert_eq!(
        app.count("SELECT count(*) FROM dossier_actions WHERE action = 'supplement-submitted'")
            .await,
        1,
        "the retry recorded nothing more"
    );
    // Someone from another agency still sees nothing.
    let mut stranger = app
        .client_for(&[Role::Desk], "000.00.09.H01", "other")
        .await;
    let hidden = stranger
        .get_dossier(GetDossierRequest {
            dossier_code: receipt.dossier_code,
        })
        .await
        .expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);
    app.stop().await;
}
