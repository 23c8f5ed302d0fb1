//! Intake's rules, end to end over gRPC against the real PostgreSQL and NATS.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use futures::StreamExt;
use motcua_platform::auth::Role;
use motcua_proto::common::{ApplicantType, Channel, DossierStatus};
use motcua_proto::events::{DossierSubmitted, RejectedAtIntake};
use motcua_proto::intake::*;
use prost::Message;
use std::time::Duration;
use tonic::Code;

/// Waits until the relay has published everything and returns the dossier stream's messages.
async fn dossier_messages(app: &TestApp, expected: usize) -> Vec<async_nats::jetstream::Message> {
    let stream = app
        .bus
        .js
        .get_stream(app.bus.stream_name("DOSSIERS"))
        .await
        .expect("stream");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: app.bus.subject("dossier.>"),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while out.len() < expected && tokio::time::Instant::now() < deadline {
        let mut batch = consumer
            .fetch()
            .max_messages(expected - out.len())
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .expect("fetch");
        while let Some(m) = batch.next().await {
            let m = m.expect("message");
            if !from_workflow(&m) {
                out.push(m);
            }
        }
    }
    // Nothing more of intake's arrives after the expected ones.
    let mut extra = consumer
        .fetch()
        .max_messages(10)
        .expires(Duration::from_millis(300))
        .messages()
        .await
        .expect("fetch");
    while let Some(m) = extra.next().await {
        assert!(
            from_workflow(&m.expect("message")),
            "more events than expected"
        );
    }
    out
}

/// A state event the test published as workflow would (see `asked_for_supplement`).
fn from_workflow(m: &async_nats::jetstream::Message) -> bool {
    m.headers
        .as_ref()
        .and_then(|h| h.get("Motcua-Event-Type"))
        .is_some_and(|t| t.as_str() == motcua_domain::events::STATE_CHANGED)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_submission_gets_a_full_receipt_and_one_event() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let reply = desk
        .submit_dossier(counter_submission("k-1"))
        .await
        .expect("submitted")
        .into_inner();
    assert!(!reply.replayed);
    let r = reply.receipt.expect("receipt");
    assert_eq!(
        r.dossier_code,
        format!("{AGENCY}-{}-0001", app.today_code())
    );
    assert_eq!(r.procedure_code, "1.013831");
    assert_eq!(r.procedure_version, 1);
    assert_eq!(r.receiving_agency, AGENCY);
    assert_eq!(r.competent_agency, AGENCY);
    assert_eq!(r.lookup_token.len(), 10);
    assert_eq!(r.documents.len(), 3);
    assert!(
        r.documents.iter().all(|d| !d.name.is_empty()),
        "document names are filled from the catalog"
    );
    let applicant = r.applicant.clone().expect("applicant");
    assert_eq!(applicant.phone, "0912345678", "phone normalised");
    assert_eq!(r.received_by.as_ref().expect("actor").subject, "officer-1");

    // Due date: 8 working days from receipt, by the same calendar.
    let received =
        chrono::DateTime::from_timestamp(r.received_at.expect("received").seconds, 0).expect("ts");
    let cal = motcua_calendar::standard().expect("calendar");
    let expected = cal
        .due(
            received.with_timezone(&motcua_calendar::vietnam()),
            motcua_calendar::Span::Days(8),
            None,
            &[],
        )
        .expect("due");
    assert_eq!(r.due_at.expect("due").seconds, expected.timestamp());

    // Exactly one `submitted` event, with the public state and the outbox id as message id.
    let messages = dossier_messages(&app, 1).await;
    let m = &messages[0];
    assert_eq!(
        m.subject.as_str(),
        app.bus.subject("dossier.dat-dai.submitted")
    );
    let headers = m.headers.as_ref().expect("headers");
    let msg_id = headers
        .get("Nats-Msg-Id")
        .expect("message id")
        .as_str()
        .to_owned();
    let outbox_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM outbox WHERE subject = 'dossier.dat-dai.submitted'")
            .fetch_one(&app.pool)
            .await
            .expect("outbox row");
    assert_eq!(msg_id, outbox_id.to_string());
    assert!(
        headers.get("traceparent").is_some(),
        "trace context travels with the event"
    );
    let event = DossierSubmitted::decode(m.payload.clone()).expect("decodes");
    let state = event.state.expect("state");
    assert_eq!(state.dossier_code, r.dossier_code);
    assert_eq!(state.version, 1);
    assert_eq!(state.national_code, 2);
    assert_eq!(state.applicant_name_masked, "N***** V** A*");
    // No contact travels in the stream (kept there far longer than contacts may be kept).
    assert_eq!(
        (
            event.applicant_phone.as_str(),
            event.applicant_email.as_str()
        ),
        ("", "")
    );
    assert!(
        !String::from_utf8_lossy(&m.payload).contains("0912345678"),
        "no phone anywhere in the event"
    );
    assert_eq!(event.steps.len(), 4);
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await,
        0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_submissions_get_consecutive_codes() {
    let app = spawn().await;
    let desk = app.client(&[Role::Desk]).await;
    let calls = (0..200).map(|i| {
        let mut c = desk.clone();
        async move {
            c.submit_dossier(counter_submission(&format!("c-{i}")))
                .await
                .map(|r| r.into_inner().receipt.expect("receipt").dossier_code)
        }
    });
    let mut codes: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("submitted"))
        .collect();
    codes.sort();
    let expected: Vec<String> = (1..=200)
        .map(|n| format!("{AGENCY}-{}-{n:04}", app.today_code()))
        .collect();
    assert_eq!(codes, expected);
    assert_eq!(app.count("SELECT count(*) FROM dossiers").await, 200);
    assert_eq!(dossier_messages(&app, 200).await.len(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_key_returns_the_same_dossier() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let first = desk
        .submit_dossier(counter_submission("same"))
        .await
        .expect("first")
        .into_inner();
    let again = desk
        .submit_dossier(counter_submission("same"))
        .await
        .expect("retry")
        .into_inner();
    assert!(again.replayed);
    assert_eq!(
        first.receipt, again.receipt,
        "the same receipt, token included"
    );
    // Concurrent retries too.
    let calls = (0..10).map(|_| {
        let mut c = desk.clone();
        async move {
            c.submit_dossier(counter_submission("race"))
                .await
                .expect("ok")
                .into_inner()
                .receipt
                .expect("r")
                .dossier_code
        }
    });
    let codes: std::collections::HashSet<String> =
        futures::future::join_all(calls).await.into_iter().collect();
    assert_eq!(codes.len(), 1);
    // The same key with a different request is refused, not silently answered.
    let mut other = counter_submission("same");
    other.applicant.as_mut().expect("applicant").name = "Trần Thị Bình".into();
    let err = desk.submit_dossier(other).await.expect_err("conflict");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(app.count("SELECT count(*) FROM dossiers").await, 2);
    assert_eq!(dossier_messages(&app, 2).await.len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_submissions_are_refused_and_leave_nothing_behind() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let mut integration = app.client(&[Role::Integration]).await;
    let case = |change: fn(&mut SubmitDossierRequest)| {
        let mut r = counter_submission("");
        change(&mut r);
        r
    };
    let expect = |result: Result<tonic::Response<SubmitDossierResponse>, tonic::Status>,
                  code: Code,
                  words: &str| {
        let err = result.expect_err(words);
        assert_eq!(err.code(), code, "{words}: {}", err.message());
        assert!(
            err.message().contains(words),
            "{:?} should say {words:?}",
            err.message()
        );
    };
    type Change = fn(&mut SubmitDossierRequest);
    let desk_cases: Vec<(Change, Code, &str)> = vec![
        (
            |r| r.procedure_code = "9.999999".into(),
            Code::InvalidArgument,
            "không có trong danh mục",
        ),
        (|r| r.channel = 0, Code::InvalidArgument, "channel"),
        (
            |r| r.channel = Channel::Online as i32,
            Code::PermissionDenied,
            "online",
        ),
        (
            |r| r.applicant.as_mut().unwrap().id_number = "12345".into(),
            Code::InvalidArgument,
            "ID number",
        ),
        (
            |r| r.applicant.as_mut().unwrap().id_number = "999085001234".into(),
            Code::InvalidArgument,
            "mã tỉnh",
        ),
        (
            |r| r.applicant.as_mut().unwrap().phone = "0112345".into(),
            Code::InvalidArgument,
            "phone",
        ),
        (
            |r| r.applicant.as_mut().unwrap().email = "not mail".into(),
            Code::InvalidArgument,
            "email",
        ),
        (
            |r| r.applicant.as_mut().unwrap().name = "Robert'); DROP TABLE dossiers;--".into(),
            Code::InvalidArgument,
            "letters",
        ),
        (
            |r| r.applicant.as_mut().unwrap().r#type = 0,
            Code::InvalidArgument,
            "applicant.type",
        ),
        (
            |r| r.applicant.as_mut().unwrap().address = String::new(),
            Code::InvalidArgument,
            "address",
        ),
        (
            |r| drop(r.documents.pop()),
            Code::FailedPrecondition,
            "thiếu giấy tờ bắt buộc",
        ),
        (
            |r| r.documents[0].key = "khong-co".into(),
            Code::InvalidArgument,
            "unknown document key",
        ),
        (
            |r| r.documents[1].form = 3,
            Code::InvalidArgument,
            "bản chính",
        ),
        (
            |r| r.receiving_agency = "000.00.07.H56".into(),
            Code::PermissionDenied,
            "own agency",
        ),
        (
            |r| r.idempotency_key = "x".repeat(200),
            Code::InvalidArgument,
            "idempotency_key",
        ),
    ];
    for (change, code, words) in desk_cases {
        expect(desk.submit_dossier(case(change)).await, code, words);
    }
    // Postal only where published as accepting BCCI (1.012789 does not).
    expect(
        desk.submit_dossier(case(|r| {
            r.procedure_code = "1.012789".into();
            r.channel = Channel::Postal as i32;
            r.documents = vec![SubmittedDocument {
                key: "phieu-yeu-cau".into(),
                copies: 1,
                ..Default::default()
            }];
        }))
        .await,
        Code::FailedPrecondition,
        "bưu chính",
    );
    // Online only where the level allows (ks-cap-phep-tham-do is level 2).
    expect(
        integration
            .submit_dossier(case(|r| {
                r.procedure_code = "ks-cap-phep-tham-do".into();
                r.channel = Channel::Online as i32;
                r.receiving_agency = AGENCY.into();
            }))
            .await,
        Code::FailedPrecondition,
        "trực tuyến",
    );
    assert_eq!(app.count("SELECT count(*) FROM dossiers").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM dossier_sequences").await,
        0,
        "no number was taken"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE subject LIKE 'dossier.%'")
            .await,
        0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_is_stored_in_nfc_and_sql_looking_text_literally() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let mut person = counter_submission("nfd");
    person.applicant.as_mut().unwrap().name = "Nguye\u{0302}\u{0303}n  Va\u{0306}n   An".into();
    let code = desk
        .submit_dossier(person)
        .await
        .expect("ok")
        .into_inner()
        .receipt
        .unwrap()
        .dossier_code;
    let stored: String = sqlx::query_scalar("SELECT applicant_name FROM dossiers WHERE code = $1")
        .bind(&code)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, "Nguyễn Văn An");

    let mut business = counter_submission("sql");
    let name = "Công ty TNHH Hòa Bình'); DROP TABLE dossiers;--";
    let address = "1 O'Brien St; DELETE FROM outbox WHERE 1=1";
    {
        let a = business.applicant.as_mut().unwrap();
        a.r#type = ApplicantType::Business as i32;
        a.name = name.into();
        a.id_number = "0101234567-001".into();
        a.address = address.into();
    }
    let code = desk
        .submit_dossier(business)
        .await
        .expect("ok")
        .into_inner()
        .receipt
        .unwrap()
        .dossier_code;
    let got = desk
        .get_dossier(GetDossierRequest { dossier_code: code })
        .await
        .expect("get")
        .into_inner();
    let a = got.dossier.unwrap().receipt.unwrap().applicant.unwrap();
    assert_eq!((a.name.as_str(), a.address.as_str()), (name, address));
    assert_eq!(app.count("SELECT count(*) FROM dossiers").await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_submission_with_attachments_from_an_integrating_system() {
    let app = spawn().await;
    let mut portal = app.portal().await;
    let pdf = b"%PDF-1.4 test scan".to_vec();
    let up = portal
        .upload_attachment(UploadAttachmentRequest {
            file_name: "phieu.pdf".into(),
            media_type: "application/pdf".into(),
            content: pdf.clone(),
        })
        .await
        .expect("uploaded")
        .into_inner()
        .attachment
        .unwrap();
    assert_eq!(up.size_bytes, pdf.len() as u64);
    assert_eq!(up.sha256.len(), 64);
    let bad = portal
        .upload_attachment(UploadAttachmentRequest {
            file_name: "x.exe".into(),
            media_type: "application/x-msdownload".into(),
            content: vec![1],
        })
        .await
        .expect_err("type refused");
    assert_eq!(bad.code(), Code::InvalidArgument);

    let mut req = counter_submission("online-1");
    req.procedure_code = "1.012789".into();
    req.channel = Channel::Online as i32;
    req.receiving_agency = AGENCY.into();
    req.applicant.as_mut().unwrap().address = String::new();
    req.documents = vec![SubmittedDocument {
        key: "phieu-yeu-cau".into(),
        copies: 1,
        attachment_ids: vec![up.id.clone()],
        ..Default::default()
    }];
    let mut without_scan = req.clone();
    without_scan.idempotency_key = "online-2".into();
    without_scan.documents[0].attachment_ids.clear();
    assert_eq!(
        portal
            .submit_dossier(without_scan)
            .await
            .expect_err("needs scan")
            .code(),
        Code::InvalidArgument
    );
    let receipt = portal
        .submit_dossier(req)
        .await
        .expect("online ok")
        .into_inner()
        .receipt
        .unwrap();
    assert_eq!(receipt.channel, Channel::Online as i32);
    assert!(receipt.dossier_code.starts_with(AGENCY));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejection_supplement_and_withdrawal_are_recorded_with_events() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    // Rejected at the desk: recorded with its reasons, not received.
    let mut incomplete = counter_submission("rej");
    incomplete.documents.truncate(1);
    let empty = desk
        .reject_dossier(RejectDossierRequest {
            submission: Some(incomplete.clone()),
            reasons: vec!["  ".into()],
        })
        .await;
    assert_eq!(
        empty.expect_err("reasons needed").code(),
        Code::InvalidArgument
    );
    let rejected = desk
        .reject_dossier(RejectDossierRequest {
            submission: Some(incomplete),
            reasons: vec!["Thiếu giấy chứng nhận đã cấp".into()],
        })
        .await
        .expect("rejected")
        .into_inner()
        .dossier
        .unwrap();
    assert_eq!(rejected.status, DossierStatus::RejectedAtIntake as i32);
    assert!(rejected.receipt.as_ref().unwrap().due_at.is_none());

    let code = desk
        .submit_dossier(counter_submission("ok"))
        .await
        .expect("ok")
        .into_inner()
        .receipt
        .unwrap()
        .dossier_code;
    let supplement = SubmitSupplementRequest {
        dossier_code: code.clone(),
        documents: vec![SubmittedDocument {
            key: String::new(),
            name: "Bản vẽ sơ đồ thửa đất".into(),
            copies: 1,
            ..Default::default()
        }],
        idempotency_key: "s-1".into(),
    };
    // Nobody asked yet: refused, and nothing recorded.
    let unasked = desk
        .submit_supplement(supplement.clone())
        .await
        .expect_err("no supplement was requested");
    assert_eq!(unasked.code(), Code::FailedPrecondition);
    assert!(
        unasked.message().contains("no supplement was requested"),
        "{}",
        unasked.message()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM dossier_actions WHERE action = 'supplement-submitted'")
            .await,
        0
    );
    app.asked_for_supplement(&code, 3).await;
    desk.submit_supplement(supplement.clone())
        .await
        .expect("supplement");
    desk.submit_supplement(supplement)
        .await
        .expect("retry is fine");
    let withdrawn = desk
        .request_withdrawal(RequestWithdrawalRequest {
            dossier_code: code.clone(),
            reason: "Người nộp đề nghị rút".into(),
            idempotency_key: "w-1".into(),
        })
        .await
        .expect("withdrawal")
        .into_inner()
        .dossier
        .unwrap();
    assert_eq!(withdrawn.status, DossierStatus::WithdrawalRequested as i32);
    let missing = desk
        .request_withdrawal(RequestWithdrawalRequest {
            dossier_code: "000.00.06.H56-200101-0001".into(),
            reason: "x".into(),
            idempotency_key: String::new(),
        })
        .await;
    assert_eq!(missing.expect_err("unknown").code(), Code::NotFound);

    let messages = dossier_messages(&app, 4).await;
    let subjects: Vec<String> = messages
        .iter()
        .map(|m| app.bus.strip(m.subject.as_str()).to_owned())
        .collect();
    assert_eq!(
        subjects,
        [
            "dossier.dat-dai.rejected-at-intake",
            "dossier.dat-dai.submitted",
            "dossier.dat-dai.supplement-submitted",
            "dossier.dat-dai.withdrawal-requested"
        ]
    );
    let rej = RejectedAtIntake::decode(messages[0].payload.clone()).unwrap();
    assert_eq!(rej.reasons, ["Thiếu giấy chứng nhận đã cấp"]);
    assert_eq!(rej.state.unwrap().national_code, 3);
    let actions = app
        .count("SELECT count(*) FROM dossier_actions WHERE actor_subject = 'officer-1'")
        .await;
    assert_eq!(actions, 4, "every change records who did it");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dossiers_list_in_pages_and_only_for_the_callers_agency() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    for i in 0..5 {
        desk.submit_dossier(counter_submission(&format!("p-{i}")))
            .await
            .expect("ok");
    }
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = desk
            .list_dossiers(ListDossiersRequest {
                page_size: 2,
                page_token: token.clone(),
                field: "dat-dai".into(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        seen.extend(
            page.dossiers
                .iter()
                .map(|d| d.receipt.as_ref().unwrap().dossier_code.clone()),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<String> = (1..=5)
        .map(|n| format!("{AGENCY}-{}-{n:04}", app.today_code()))
        .collect();
    assert_eq!(seen, expected);
    let mut stranger = app
        .client_for(&[Role::Desk], "000.00.09.H01", "other")
        .await;
    let theirs = stranger
        .list_dossiers(ListDossiersRequest::default())
        .await
        .expect("ok")
        .into_inner();
    assert!(theirs.dossiers.is_empty());
    let hidden = stranger
        .get_dossier(GetDossierRequest {
            dossier_code: expected[0].clone(),
        })
        .await;
    assert_eq!(hidden.expect_err("not theirs").code(), Code::NotFound);
    let bad = desk
        .list_dossiers(ListDossiersRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(bad.expect_err("bad token").code(), Code::InvalidArgument);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_versions_by_effective_date() {
    let app = spawn().await;
    let mut admin = app.client(&[Role::Admin]).await;
    let listed = admin
        .list_procedures(ListProceduresRequest {
            field: "dat-dai".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let land_in_file =
        motcua_intake::catalog::parse_file(include_str!("../../../deploy/catalog/tnmt.toml"))
            .unwrap()
            .procedures
            .iter()
            .filter(|p| p.field == "dat-dai")
            .count();
    assert_eq!(listed.procedures.len(), land_in_file);
    assert!(listed.procedures.iter().all(|p| p.field == "dat-dai"));
    let mut p = admin
        .get_procedure(GetProcedureRequest {
            code: "1.013831".into(),
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner()
        .procedure
        .unwrap();
    assert_eq!(p.version, 1);
    p.effective_from = "2099-01-01".into();
    p.processing_time = Some(motcua_proto::common::ProcessingTime {
        span: Some(motcua_proto::common::processing_time::Span::WorkingDays(6)),
    });
    // The steps still add up to the 8 days of version 1: refused, naming the procedure.
    let uneven = admin
        .publish_procedure(PublishProcedureRequest {
            procedure: Some(p.clone()),
        })
        .await
        .expect_err("steps add up to 8 days, not 6");
    assert_eq!(uneven.code(), Code::InvalidArgument);
    assert!(
        uneven.message().contains("1.013831") && uneven.message().contains("64 giờ"),
        "{}",
        uneven.message()
    );
    // 6 days = 48 h: the appraisal takes what the desk and the leader do not.
    let appraisal = p
        .steps
        .iter_mut()
        .find(|s| s.role == "specialist")
        .expect("an appraisal step");
    appraisal.limit = Some(motcua_proto::common::ProcessingTime {
        span: Some(motcua_proto::common::processing_time::Span::WorkingHours(
            32,
        )),
    });
    let v2 = admin
        .publish_procedure(PublishProcedureRequest {
            procedure: Some(p.clone()),
        })
        .await
        .expect("published")
        .into_inner()
        .procedure
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.published_by, "officer-1");
    let again = admin
        .publish_procedure(PublishProcedureRequest {
            procedure: Some(p.clone()),
        })
        .await;
    assert_eq!(
        again.expect_err("same effective day").code(),
        Code::AlreadyExists
    );
    // A dossier received today keeps version 1; version 2 is in force from 2099.
    let now = admin
        .get_procedure(GetProcedureRequest {
            code: "1.013831".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.procedure.unwrap().version, 1);
    let later = admin
        .get_procedure(GetProcedureRequest {
            code: "1.013831".into(),
            as_of: "2099-06-01".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(later.into_inner().procedure.unwrap().version, 2);
    let mut desk = app.client(&[Role::Desk]).await;
    assert_eq!(
        desk.submit_dossier(counter_submission("v"))
            .await
            .unwrap()
            .into_inner()
            .receipt
            .unwrap()
            .procedure_version,
        1
    );
    let denied = desk
        .publish_procedure(PublishProcedureRequest {
            procedure: Some(p.clone()),
        })
        .await;
    assert_eq!(
        denied.expect_err("admin only").code(),
        Code::PermissionDenied
    );
    p.field = "vu-tru".into();
    p.effective_from = "2100-01-01".into();
    let bad = admin
        .publish_procedure(PublishProcedureRequest { procedure: Some(p) })
        .await;
    assert_eq!(
        bad.expect_err("unknown field").code(),
        Code::InvalidArgument
    );
    // Every published version is an event on the catalog stream (the file's and this one).
    let from_file =
        motcua_intake::catalog::parse_file(include_str!("../../../deploy/catalog/tnmt.toml"))
            .unwrap()
            .procedures
            .len() as u64;
    let stream = app
        .bus
        .js
        .get_stream(app.bus.stream_name("CATALOG"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = stream.get_info().await.unwrap().state.messages;
        if n == from_file + 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "catalog events: {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}
