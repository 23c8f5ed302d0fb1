//! A citizen follows a land dossier in lookup while intake and workflow move it: each state shows,
//! through gRPC and the JSON API, with the masked name and the public history — and nothing of the
//! applicant's ID number, phone or address, nor of the officers.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

/// The case a workflow answer carries.
macro_rules! case {
    ($r:expr $(,)?) => {
        $r.into_inner().case.unwrap()
    };
}

mod common;

use common::*;
use motcua_domain::time::ts;
use motcua_platform::auth::Role;
use motcua_proto::common::{DossierStatus, Outcome, PauseReason};
use motcua_proto::intake::{SubmitSupplementRequest, SubmittedDocument};
use motcua_proto::workflow::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dossier_moved_through_workflow_shows_each_state_in_lookup() {
    let app = whole_path().await;
    let receipt = app
        .intake_client()
        .await
        .submit_dossier(land_submission("follow-1"))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    let code = receipt.dossier_code.clone();
    let token = receipt.lookup_token.clone();

    // Received, then opened by workflow (version 2): shown to the token and to the ID number.
    let d = app.wait_version(&code, &token, 2).await;
    assert_eq!(d.status, DossierStatus::Received as i32);
    assert_eq!(d.status_label, "Đã tiếp nhận");
    assert_eq!(d.national_code, 2);
    assert_eq!(d.applicant_name_masked, "N***** V** A*");
    assert!(
        d.competent_agency_name
            .starts_with("Sở Nông nghiệp và Môi trường")
    );
    assert_eq!(d.received_at, receipt.received_at);
    assert_eq!(d.due_at, receipt.due_at);
    let by_id = app.wait_version(&code, "0380 8500 1234", 2).await;
    assert_eq!(by_id, d, "the ID number opens the same view");
    assert_eq!(
        d.history
            .iter()
            .map(|c| c.label.as_str())
            .collect::<Vec<_>>(),
        ["Tiếp nhận hồ sơ"],
        "opening the case is not a public change"
    );

    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    let mut specialist = app
        .officer(&[Role::Specialist], LAND_DEPARTMENT, "cv-1")
        .await;
    let mut leader = app
        .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
        .await;

    app.clock.advance(chrono::Duration::hours(1));
    let c = case!(
        desk.claim_task(ClaimTaskRequest {
            dossier_code: code.clone(),
            action: act(2),
        })
        .await
        .unwrap(),
    );
    let c = case!(
        desk.forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap(),
    );
    let d = app.wait_version(&code, &token, c.version).await;
    assert_eq!(d.status_label, "Đang giải quyết");
    assert!(
        !d.current_step_name.is_empty(),
        "the step in progress is shown"
    );
    assert_eq!(d.current_department, LAND_DEPARTMENT);

    // The specialist asks for a supplement: paused, with the written list of what is missing.
    let c = case!(
        specialist
            .claim_task(ClaimTaskRequest {
                dossier_code: code.clone(),
                action: act(c.version),
            })
            .await
            .unwrap(),
    );
    let c = case!(
        specialist
            .request_supplement(RequestSupplementRequest {
                dossier_code: code.clone(),
                action: act(c.version),
                missing: vec!["Bản vẽ sơ đồ thửa đất".into()],
            })
            .await
            .unwrap(),
    );
    let d = app.wait_version(&code, &token, c.version).await;
    assert_eq!(d.status, DossierStatus::SupplementRequested as i32);
    assert_eq!(d.paused, PauseReason::Supplement as i32);
    assert_eq!(d.missing_documents, ["Bản vẽ sơ đồ thửa đất"]);
    assert_eq!(d.national_code, 5);

    // The applicant hands it in at the desk; workflow resumes the case.
    app.clock.advance(chrono::Duration::days(2));
    let mut intake = app.intake_client().await;
    motcua_testkit::until_intake_shows(
        &mut intake,
        &code,
        motcua_proto::common::DossierStatus::SupplementRequested,
    )
    .await;
    intake
        .submit_supplement(SubmitSupplementRequest {
            dossier_code: code.clone(),
            documents: vec![SubmittedDocument {
                name: "Bản vẽ sơ đồ thửa đất".into(),
                copies: 1,
                ..Default::default()
            }],
            idempotency_key: "s-1".into(),
        })
        .await
        .unwrap();
    let d = app.wait_version(&code, &token, c.version + 1).await;
    assert_eq!(d.status, DossierStatus::InProgress as i32);
    assert_eq!(d.paused, PauseReason::Unspecified as i32);
    assert!(
        d.due_at.unwrap().seconds > receipt.due_at.unwrap().seconds,
        "the due time moved by the time paused"
    );
    let version = d.version;

    // Fees, paid; an apology with a new date; the result, handed over.
    let c = case!(
        specialist
            .request_financial_obligation(RequestFinancialObligationRequest {
                dossier_code: code.clone(),
                action: act(version),
                amount_vnd: 1_250_000,
                description: "Lệ phí trước bạ".into(),
            })
            .await
            .unwrap(),
    );
    let d = app.wait_version(&code, &token, c.version).await;
    assert_eq!(d.status_label, "Chờ thực hiện nghĩa vụ tài chính");
    assert_eq!((d.obligation_vnd, d.national_code), (1_250_000, 6));
    let c = case!(
        desk.record_payment(RecordPaymentRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            reference: "BL 0012345".into(),
        })
        .await
        .unwrap(),
    );
    // Shown as paid, with when and the voucher (workflow fills them in the state it publishes).
    let d = app.wait_version(&code, &token, c.version).await;
    assert_eq!(d.status, DossierStatus::InProgress as i32);
    assert_eq!(d.obligation_paid_at, Some(ts(now(&app))));
    assert_eq!(d.obligation_payment_reference, "BL 0012345");
    let promised = motcua_domain::time::from_ts(c.due_at.as_ref().unwrap(), "").unwrap()
        + chrono::Duration::days(7);
    let c = case!(
        specialist
            .issue_apology(IssueApologyRequest {
                dossier_code: code.clone(),
                action: act(c.version),
                reason: "Chờ ý kiến cơ quan thuế".into(),
                new_due_at: Some(ts(promised)),
            })
            .await
            .unwrap(),
    );
    let d = app.wait_version(&code, &token, c.version).await;
    assert_eq!(d.apology_reason, "Chờ ý kiến cơ quan thuế");
    assert_eq!(d.apology_due_at, Some(ts(promised)));
    assert_eq!(
        d.promised_due_at,
        Some(ts(promised)),
        "the apology's date is the return date now"
    );
    assert_eq!(d.original_due_at, receipt.due_at, "the receipt's, apart");
    let c = case!(
        specialist
            .forward_step(ForwardStepRequest {
                dossier_code: code.clone(),
                action: act(c.version),
            })
            .await
            .unwrap(),
    );
    let c = case!(
        leader
            .claim_task(ClaimTaskRequest {
                dossier_code: code.clone(),
                action: act(c.version),
            })
            .await
            .unwrap(),
    );
    let c = case!(
        leader
            .forward_step(ForwardStepRequest {
                dossier_code: code.clone(),
                action: act(c.version),
            })
            .await
            .unwrap(),
    );
    let c = case!(
        desk.claim_task(ClaimTaskRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap(),
    );
    let c = case!(
        desk.record_result(RecordResultRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            result: "Giấy chứng nhận số CS 123456".into(),
            ..Default::default()
        })
        .await
        .unwrap(),
    );
    let d = app.wait_version(&code, &token, c.version).await;
    assert_eq!(d.status_label, "Đã có kết quả");
    assert_eq!(d.outcome, Outcome::Early as i32);
    assert_eq!(d.outcome_label, "Trước hạn");
    let c = case!(
        desk.return_result(ReturnResultRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap(),
    );
    let d = app.wait_version(&code, &token, c.version).await;
    assert_eq!(
        (d.status_label.as_str(), d.national_code),
        ("Đã trả kết quả", 10)
    );
    assert!(d.returned_at.is_some());
    assert!(d.current_step_name.is_empty(), "no step once finished");

    // The public history: each public change once, in order, with its time.
    let labels: Vec<&str> = d.history.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels.first(), Some(&"Tiếp nhận hồ sơ"));
    for expected in [
        "Yêu cầu bổ sung hồ sơ",
        "Đã nhận hồ sơ bổ sung",
        "Thông báo nghĩa vụ tài chính",
        "Đã hoàn thành nghĩa vụ tài chính",
        "Xin lỗi và hẹn lại ngày trả kết quả",
        "Đã có kết quả",
        "Đã trả kết quả",
    ] {
        assert_eq!(
            labels.iter().filter(|l| **l == expected).count(),
            1,
            "{expected} in {labels:?}"
        );
    }
    assert!(d.history.windows(2).all(|w| w[0].version < w[1].version));
    assert!(d.history.iter().all(|c| c.at.is_some()));

    // The JSON API says the same, with no personal data but the masked name.
    let body = app
        .http
        .post(format!("{}/api/v1/dossiers/lookup", app.web()))
        .header("content-type", "application/json")
        .body(serde_json::json!({"dossier_code": code, "secret": token}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(body.status().as_u16(), 200);
    assert_eq!(
        body.headers().get("cache-control").unwrap(),
        "no-store",
        "a dossier's state is kept by no cache"
    );
    let text = body.text().await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["status_label"], "Đã trả kết quả");
    assert_eq!(json["national_code"], 10);
    assert_eq!(json["applicant_name_masked"], "N***** V** A*");
    assert_eq!(json["outcome"], "Trước hạn");
    assert!(json["received_at"].as_str().unwrap().ends_with("+07:00"));
    assert_eq!(
        json["current_department"], "",
        "no department once finished"
    );
    // No personal data but the masked name, in any answer: JSON, the page, gRPC.
    let page = app
        .http
        .post(format!("{}/tra-cuu", app.web()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("ma-ho-so={code}&ma-tra-cuu={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Đã trả kết quả"), "{page}");
    let grpc = format!("{d:?}");
    for answer in [&text, &page, &grpc] {
        for secret in [
            "038085001234",
            "0912345678",
            "Lê Lợi",
            "Nguyễn",
            &token,
            "cv-1",
            "Cán bộ",
        ] {
            assert!(
                !answer.contains(secret),
                "{secret} must not be shown: {answer}"
            );
        }
    }
    app.stop().await;
}
