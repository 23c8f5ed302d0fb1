//! A land dossier's whole life, through the real gRPC clients, against the real PostgreSQL and
//! NATS: intake receives it, workflow opens its case, officers move it through its steps, pauses
//! move its due time, and every change reaches the stream as a state event that intake follows.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_domain::events::{DossierEvent, STATE_CHANGED};
use motcua_domain::time::{from_ts, ts};
use motcua_platform::auth::Role;
use motcua_proto::common::{DossierStatus, Outcome, PauseReason, StopKind};
use motcua_proto::events::ChangeKind;
use motcua_proto::intake::{
    GetDossierRequest, RequestWithdrawalRequest, SubmitSupplementRequest, SubmittedDocument,
};
use motcua_proto::workflow::*;
use std::time::Duration;
use tonic::Code;

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn due(c: &Case) -> chrono::DateTime<chrono::Utc> {
    from_ts(c.due_at.as_ref().unwrap(), "").unwrap()
}

/// The kinds of the state events published for a dossier, in version order.
async fn kinds(app: &App, code: &str) -> Vec<(u64, ChangeKind)> {
    let mut out: Vec<(u64, ChangeKind)> = app
        .events(STATE_CHANGED)
        .await
        .iter()
        .filter_map(|p| match DossierEvent::decode(STATE_CHANGED, p).unwrap()? {
            DossierEvent::StateChanged(e) => {
                let s = e.state?;
                (s.dossier_code == code).then(|| (s.version, ChangeKind::try_from(e.kind).unwrap()))
            }
            _ => None,
        })
        .collect();
    out.sort_by_key(|(v, _)| *v);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_land_dossier_goes_from_submitted_to_result_returned() {
    let app = spawn().await;
    let c = app.submit_land("chain-1").await;
    assert_eq!((c.version, c.status), (2, DossierStatus::Received as i32));
    assert_eq!(c.steps.len(), 4);
    assert_eq!(
        c.steps[1].department, LAND_DEPARTMENT,
        "steps carry their departments"
    );
    assert_eq!(c.original_due_at, c.due_at);
    let code = c.dossier_code.clone();

    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    let mut specialist = app
        .officer(&[Role::Specialist], LAND_DEPARTMENT, "cv-1")
        .await;
    let mut leader = app
        .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
        .await;

    // The desk takes the step and forwards it an hour later.
    app.clock.advance(chrono::Duration::hours(1));
    claim(&mut desk, &code, 2).await;
    let c = desk
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act_keyed(3, "f-1", "Đủ hồ sơ"),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(
        (c.version, c.status, c.current_step),
        (4, DossierStatus::InProgress as i32, 1)
    );
    // The specialist finds it unassigned in the department's queue, and claims it.
    let waiting = specialist
        .list_queue(ListQueueRequest {
            scope: QueueScope::Unassigned as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].dossier_code, code);
    let c = specialist
        .claim_task(ClaimTaskRequest {
            dossier_code: code.clone(),
            action: act(4),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(c.assignee.as_ref().unwrap().subject, "cv-1");
    let mine = specialist
        .list_queue(ListQueueRequest {
            scope: QueueScope::Mine as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(mine.len(), 1);
    // Two days of appraisal; forwarded to the leader, who signs; the desk records the result.
    app.clock.advance(chrono::Duration::days(2));
    let c = claim_and_forward(&mut specialist, &code, 5).await;
    let c = claim_and_forward(&mut leader, &code, c.version).await;
    assert_eq!(c.current_step, 3);
    let c = claim(&mut desk, &code, c.version).await;
    let c = desk
        .record_result(RecordResultRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            result: "Giấy chứng nhận số CS 123456".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(c.status, DossierStatus::Finished as i32);
    assert_eq!(
        c.outcome,
        Outcome::Early as i32,
        "finished days before its due date"
    );
    let c = desk
        .return_result(ReturnResultRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(
        (c.status, c.national_code),
        (DossierStatus::Returned as i32, 10)
    );

    // The processing control sheet: each step, who had it, when, and on time.
    let sheet = leader
        .get_control_sheet(GetControlSheetRequest {
            dossier_code: code.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let lines: Vec<(String, String, String, i32)> = sheet
        .iter()
        .map(|e| {
            (
                e.step.as_ref().unwrap().key.clone(),
                e.finished_by
                    .as_ref()
                    .map(|a| a.subject.clone())
                    .unwrap_or_default(),
                e.ended_by.clone(),
                e.outcome,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (
                "tiep-nhan".into(),
                "desk-1".into(),
                "forwarded".into(),
                Outcome::Early as i32
            ),
            (
                "tham-dinh".into(),
                "cv-1".into(),
                "forwarded".into(),
                Outcome::Early as i32
            ),
            (
                "phe-duyet".into(),
                "leader-1".into(),
                "forwarded".into(),
                Outcome::Early as i32
            ),
            (
                "tra-ket-qua".into(),
                "desk-1".into(),
                "result-recorded".into(),
                Outcome::Early as i32
            ),
        ]
    );
    assert_eq!(sheet[1].assignee.as_ref().unwrap().subject, "cv-1");

    // Every change reached the stream as a state event, with its version and kind.
    let published = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let k = kinds(&app, &code).await;
            if k.len() >= 10 {
                return k;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("ten state events");
    assert_eq!(
        published,
        [
            (2, ChangeKind::Opened),
            (3, ChangeKind::Claimed),
            (4, ChangeKind::Forwarded),
            (5, ChangeKind::Claimed),
            (6, ChangeKind::Forwarded),
            (7, ChangeKind::Claimed),
            (8, ChangeKind::Forwarded),
            (9, ChangeKind::Claimed),
            (10, ChangeKind::ResultRecorded),
            (11, ChangeKind::ResultReturned),
        ]
    );
    // Intake follows: its view of the dossier is returned, and a withdrawal is refused.
    let mut intake = app.intake_client(&[Role::Desk]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let d = intake
            .get_dossier(GetDossierRequest {
                dossier_code: code.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .dossier
            .unwrap();
        if d.status == DossierStatus::Returned as i32 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "intake did not follow: {}",
            d.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = intake
        .request_withdrawal(RequestWithdrawalRequest {
            dossier_code: code.clone(),
            reason: "Muốn rút".into(),
            idempotency_key: String::new(),
        })
        .await
        .expect_err("finished");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplement_pause_moves_the_due_time_across_the_april_holidays() {
    // Received Tuesday 21 April 2026, 09:00. Eight working days skip Monday 27 April (Hùng Kings'
    // day, 10/3 lunar, falls on Sunday 26), Thursday 30 April, Friday 1 May and the weekends:
    // due Wednesday 6 May, 09:00.
    let app = spawn().await;
    app.clock.set(t("2026-04-21T09:00:00+07:00"));
    let c = app.submit_land("pause-1").await;
    let code = c.dossier_code.clone();
    assert_eq!(due(&c), t("2026-05-06T09:00:00+07:00"));
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    let mut specialist = app
        .officer(&[Role::Specialist], LAND_DEPARTMENT, "cv-1")
        .await;
    let c = claim_and_forward(&mut desk, &code, 2).await;
    // Paused Wednesday 29 April 09:00, for the applicant's drawing.
    app.clock.set(t("2026-04-29T09:00:00+07:00"));
    let c = claim(&mut specialist, &code, c.version).await;
    let c = specialist
        .request_supplement(RequestSupplementRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            missing: vec!["Bản vẽ sơ đồ thửa đất".into()],
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(
        (c.status, c.paused),
        (
            DossierStatus::SupplementRequested as i32,
            PauseReason::Supplement as i32
        )
    );
    assert_eq!(c.supplement_requests, 1);
    // Actions wait while paused.
    let paused = specialist
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .expect_err("paused");
    assert_eq!(paused.code(), Code::FailedPrecondition);
    // Handed in at the desk Tuesday 5 May 09:00. The pause spans 30/4, 1/5 and the weekend, which
    // count nothing: it held two working days (Wednesday 29 to Monday 4, Monday 4 to Tuesday 5),
    // so the due time moves two working days: Friday 8 May, 09:00.
    app.clock.set(t("2026-05-05T09:00:00+07:00"));
    let mut intake = app.intake_client(&[Role::Desk]).await;
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
    let c = app.wait_case(&code, c.version + 1).await;
    assert_eq!(c.status, DossierStatus::InProgress as i32);
    assert_eq!(c.paused, PauseReason::Unspecified as i32);
    assert_eq!(due(&c), t("2026-05-08T09:00:00+07:00"));
    assert_eq!(c.pauses.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn financial_obligation_pauses_until_payment_and_an_apology_does_not_excuse_lateness() {
    let app = spawn().await;
    let c = app.submit_land("money-1").await;
    let code = c.dossier_code.clone();
    let original_due = due(&c);
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    let mut specialist = app
        .officer(&[Role::Specialist], LAND_DEPARTMENT, "cv-1")
        .await;
    let mut leader = app
        .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
        .await;
    let c = claim_and_forward(&mut desk, &code, 2).await;
    let c = claim(&mut specialist, &code, c.version).await;
    let c = specialist
        .request_financial_obligation(RequestFinancialObligationRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            amount_vnd: 1_250_000,
            description: "Lệ phí trước bạ".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(
        (c.status, c.national_code),
        (DossierStatus::FinancialObligation as i32, 6)
    );
    // Paid one working day later (Tuesday 09:00): the due time moves by a working day.
    app.clock.advance(chrono::Duration::days(1));
    let c = desk
        .record_payment(RecordPaymentRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            reference: "BL 0012345".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(c.status, DossierStatus::InProgress as i32);
    let moved = due(&c);
    assert!(moved > original_due, "{moved} after {original_due}");

    // On the due date the unit at fault apologises and promises a new date...
    app.clock.set(moved - chrono::Duration::hours(2));
    // A week later, the same working hour (the new date must be a working moment).
    let promised = moved + chrono::Duration::days(7);
    let too_late = specialist
        .issue_apology(IssueApologyRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            reason: "Chờ ý kiến cơ quan thuế".into(),
            new_due_at: Some(ts(moved + chrono::Duration::days(60))),
        })
        .await
        .expect_err("beyond the allowed extension");
    assert_eq!(too_late.code(), Code::InvalidArgument);
    let earlier = specialist
        .issue_apology(IssueApologyRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            reason: "Chờ ý kiến cơ quan thuế".into(),
            new_due_at: Some(ts(moved - chrono::Duration::days(1))),
        })
        .await
        .expect_err("earlier than the due time");
    assert_eq!(earlier.code(), Code::InvalidArgument);
    let c = specialist
        .issue_apology(IssueApologyRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            reason: "Chờ ý kiến cơ quan thuế".into(),
            new_due_at: Some(ts(promised)),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(
        from_ts(c.apology_due_at.as_ref().unwrap(), "").unwrap(),
        promised
    );
    assert_eq!(
        due(&c),
        moved,
        "statistics keep the due time moved by pauses only"
    );
    // ...and finishes after the old due time but before the promised one: still late.
    app.clock.set(moved + chrono::Duration::days(2));
    let c = leader
        .record_result(RecordResultRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            result: "Quyết định số 12/QĐ".into(),
            close_early_reason: "Đủ căn cứ, lãnh đạo ký ngay".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(c.outcome, Outcome::Late as i32);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_back_refusal_withdrawal_and_stop() {
    let app = spawn().await;
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    let mut specialist = app
        .officer(&[Role::Specialist], LAND_DEPARTMENT, "cv-1")
        .await;
    let mut leader = app
        .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
        .await;

    // Sent back from the appraisal to the desk, with a reason.
    let c = app.submit_land("back-1").await;
    let code = c.dossier_code.clone();
    let c = claim_and_forward(&mut desk, &code, 2).await;
    let c = claim(&mut specialist, &code, c.version).await;
    let no_reason = specialist
        .send_back(SendBackRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            to_step: "tiep-nhan".into(),
            reason: "  ".into(),
        })
        .await
        .expect_err("a reason is needed");
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    let c = specialist
        .send_back(SendBackRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            to_step: "tiep-nhan".into(),
            reason: "Thiếu trang 2 của hợp đồng".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(c.current_step, 0);
    assert_eq!(
        c.control_sheet.last().unwrap().step.as_ref().unwrap().key,
        "tiep-nhan"
    );
    assert_eq!(c.control_sheet[1].ended_by, "sent-back");
    // Refused by the leader: stopped, with the reason.
    let refused = specialist
        .refuse_case(RefuseCaseRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            reason: "Không đủ điều kiện".into(),
        })
        .await
        .expect_err("leaders refuse");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let c = leader
        .refuse_case(RefuseCaseRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            reason: "Thửa đất đang có tranh chấp".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(
        (c.status, c.stop_kind),
        (DossierStatus::Stopped as i32, StopKind::Refused as i32)
    );
    assert_eq!(c.national_code, 8);
    assert!(
        c.outcome == Outcome::Unspecified as i32,
        "refused dossiers are not classified"
    );

    // A withdrawal asked at intake comes before the desk, which approves it.
    let c = app.submit_land("withdraw-1").await;
    let code = c.dossier_code.clone();
    app.intake_client(&[Role::Desk])
        .await
        .request_withdrawal(RequestWithdrawalRequest {
            dossier_code: code.clone(),
            reason: "Người nộp đề nghị rút".into(),
            idempotency_key: "w".into(),
        })
        .await
        .unwrap();
    let c = app.wait_case(&code, 3).await;
    assert!(c.withdrawal_requested);
    assert_eq!(c.status, DossierStatus::WithdrawalRequested as i32);
    let waits = desk
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .expect_err("decide first");
    assert_eq!(waits.code(), Code::FailedPrecondition);
    let c = desk
        .decide_withdrawal(DecideWithdrawalRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            approve: true,
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(
        (c.status, c.stop_kind),
        (DossierStatus::Stopped as i32, StopKind::Withdrawn as i32)
    );
    assert_eq!(
        c.stop_reason, "Người nộp đề nghị rút",
        "the applicant's reason, not the desk's note"
    );

    // Stopped by a leader.
    let c = app.submit_land("stop-1").await;
    let c = leader
        .stop_processing(StopProcessingRequest {
            dossier_code: c.dossier_code.clone(),
            action: act(c.version),
            reason: "Cơ quan có thẩm quyền yêu cầu tạm dừng".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(c.stop_kind, StopKind::Stopped as i32);
    app.stop().await;
}
