//! What officers ran into, through the real gRPC API against the real PostgreSQL and NATS: their
//! notes kept verbatim, every field bounded and every accepted change published, amounts bounded,
//! and queues they can search and read the reasons of.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_domain::events::{DossierEvent, STATE_CHANGED};
use motcua_domain::time::{from_ts, ts};
use motcua_platform::auth::Role;
use motcua_proto::common::Actor;
use motcua_proto::events::DossierStateChanged;
use motcua_proto::workflow::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tonic::Code;

/// The state event of `code` at `version`, once the relay has published it (20 s at most).
async fn event(app: &App, code: &str, version: u64) -> DossierStateChanged {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for p in app.events(STATE_CHANGED).await {
            if let Some(DossierEvent::StateChanged(e)) =
                DossierEvent::decode(STATE_CHANGED, &p).unwrap()
                && e.state
                    .as_ref()
                    .is_some_and(|s| s.dossier_code == code && s.version == version)
            {
                return e;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event of {code} at version {version}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn noted(version: u64, note: &str) -> Option<Action> {
    Some(Action {
        expected_version: version,
        note: note.into(),
        ..Default::default()
    })
}

fn case_of<T>(r: Result<tonic::Response<T>, tonic::Status>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}")).into_inner()
}

/// The history line, event and (when the change ends a step) control-sheet line of a change all
/// carry the officer's note as typed, beside a summary the service wrote.
async fn assert_kept(app: &App, officer: &mut Officer, c: &Case, note: &str, ends_step: bool) {
    let history = case_of(
        officer
            .get_case(GetCaseRequest {
                dossier_code: c.dossier_code.clone(),
                with_history: true,
            })
            .await,
        "history",
    )
    .history;
    let line = history.iter().find(|h| h.version == c.version).unwrap();
    assert_eq!(line.note, note, "history of {}", line.kind);
    assert!(
        !line.summary.is_empty() && line.summary != note,
        "{}: {:?}",
        line.kind,
        line.summary
    );
    let e = event(app, &c.dossier_code, c.version).await;
    assert_eq!(e.note, note, "event of {}", e.change);
    assert_eq!(e.summary, line.summary, "event of {}", e.change);
    if ends_step {
        let ended = c
            .control_sheet
            .iter()
            .rev()
            .find(|l| !l.ended_by.is_empty() && l.ended_by != "skipped")
            .unwrap();
        assert_eq!(
            ended.note, note,
            "control sheet line ended by {}",
            ended.ended_by
        );
        assert!(!ended.summary.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_note_an_officer_types_is_kept_verbatim_in_history_control_sheet_and_event() {
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
    let c = app.submit_land("notes-1").await;
    let code = c.dossier_code.clone();
    let c = claim_and_forward(&mut desk, &code, c.version).await;

    let note = "Giao chị Hà, hồ sơ gấp.\nĐã gọi người nộp.";
    let c = case_of(
        leader
            .assign_task(AssignTaskRequest {
                dossier_code: code.clone(),
                action: noted(c.version, note),
                assignee: Some(Actor {
                    subject: "cv-1".into(),
                    name: "Lê Thị Hà".into(),
                    agency: String::new(),
                }),
            })
            .await,
        "assign",
    )
    .case
    .unwrap();
    assert_kept(&app, &mut leader, &c, note, false).await;

    let note = "Người nộp xin nộp tại Kho bạc.";
    let c = case_of(
        specialist
            .request_financial_obligation(RequestFinancialObligationRequest {
                dossier_code: code.clone(),
                action: noted(c.version, note),
                amount_vnd: 1_250_000,
                description: "Lệ phí trước bạ".into(),
            })
            .await,
        "obligation",
    )
    .case
    .unwrap();
    assert_kept(&app, &mut leader, &c, note, false).await;

    let note = "Đã đối chiếu biên lai gốc.";
    let c = case_of(
        desk.record_payment(RecordPaymentRequest {
            dossier_code: code.clone(),
            action: noted(c.version, note),
            reference: "BL 0012345".into(),
        })
        .await,
        "payment",
    )
    .case
    .unwrap();
    assert_kept(&app, &mut leader, &c, note, false).await;
    assert!(c.obligation_paid_at.is_some());
    assert_eq!(c.obligation_payment_reference, "BL 0012345");
    let paid = event(&app, &code, c.version).await.state.unwrap();
    assert_eq!(paid.obligation_paid_at, c.obligation_paid_at);
    assert_eq!(paid.obligation_payment_reference, "BL 0012345");

    let note = "Đã báo lãnh đạo phòng.";
    let promised = from_ts(c.due_at.as_ref().unwrap(), "").unwrap() + chrono::Duration::days(7);
    let c = case_of(
        specialist
            .issue_apology(IssueApologyRequest {
                dossier_code: code.clone(),
                action: noted(c.version, note),
                reason: "Chờ ý kiến cơ quan thuế".into(),
                new_due_at: Some(ts(promised)),
            })
            .await,
        "apology",
    )
    .case
    .unwrap();
    assert_kept(&app, &mut leader, &c, note, false).await;

    let note = "Trả lại để bổ sung trang 2.";
    let c = case_of(
        specialist
            .send_back(SendBackRequest {
                dossier_code: code.clone(),
                action: noted(c.version, note),
                to_step: "tiep-nhan".into(),
                reason: "Thiếu trang 2 của hợp đồng".into(),
            })
            .await,
        "send back",
    )
    .case
    .unwrap();
    assert_kept(&app, &mut leader, &c, note, true).await;

    let note = "Lãnh đạo ký tại chỗ.";
    let c = case_of(
        leader
            .record_result(RecordResultRequest {
                dossier_code: code.clone(),
                action: noted(c.version, note),
                result: "Giấy chứng nhận số CS 123456".into(),
                close_early_reason: "Người nộp nhận ngay tại bộ phận một cửa".into(),
            })
            .await,
        "result",
    )
    .case
    .unwrap();
    assert_kept(&app, &mut leader, &c, note, true).await;

    for (refuse, key) in [(false, "notes-stop"), (true, "notes-refuse")] {
        let c = app.submit_land(key).await;
        let note = format!("Ghi chú khi {key}:\n- dòng hai");
        let reason = "Thửa đất đang có tranh chấp".to_owned();
        let c = if refuse {
            case_of(
                leader
                    .refuse_case(RefuseCaseRequest {
                        dossier_code: c.dossier_code.clone(),
                        action: noted(c.version, &note),
                        reason,
                    })
                    .await,
                "refuse",
            )
            .case
        } else {
            case_of(
                leader
                    .stop_processing(StopProcessingRequest {
                        dossier_code: c.dossier_code.clone(),
                        action: noted(c.version, &note),
                        reason,
                    })
                    .await,
                "stop",
            )
            .case
        }
        .unwrap();
        assert_eq!(c.stop_reason, "Thửa đất đang có tranh chấp");
        assert_kept(&app, &mut leader, &c, &note, true).await;
    }
    app.stop().await;
}

static KEYS: AtomicUsize = AtomicUsize::new(0);

/// Four bytes a character: the worst case of the bounds in bytes.
fn widest(n: usize) -> String {
    "🌾".repeat(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_request_of_each_rpc_is_published_and_one_beyond_is_refused_naming_the_field() {
    let app = spawn().await;
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    let mut leader = app
        .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
        .await;
    let c = app.submit_land("big-1").await;
    let code = c.dossier_code.clone();
    let c = claim_and_forward(&mut desk, &code, c.version).await;
    let note = format!("{}\n{}", widest(999), widest(1000));
    let big_action = |version: u64| {
        Some(Action {
            expected_version: version,
            idempotency_key: format!("{:k>128}", KEYS.fetch_add(1, Ordering::Relaxed)),
            note: note.clone(),
            attachments: (0..20)
                .map(|i| AttachmentRef {
                    id: format!("{i:064}"),
                    file_name: widest(255),
                    media_type: "m".repeat(127),
                    size_bytes: u64::MAX,
                    sha256: "a".repeat(64),
                })
                .collect(),
        })
    };

    // The case the officer saw when RequestSupplement accepted 1,200 items of 487 characters.
    for (missing, field) in [
        (vec!["x".repeat(487); 1200], "missing"),
        (vec!["x".into(); 51], "missing"),
        (vec![widest(501)], "missing[0]"),
    ] {
        let e = leader
            .request_supplement(RequestSupplementRequest {
                dossier_code: code.clone(),
                action: act(c.version),
                missing,
            })
            .await
            .expect_err(field);
        assert_eq!(e.code(), Code::InvalidArgument, "{field}: {}", e.message());
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    assert_eq!(app.wait_case(&code, c.version).await.version, c.version);

    // The largest of each: accepted, and its event published.
    let mut versions = Vec::new();
    let c = case_of(
        leader
            .request_supplement(RequestSupplementRequest {
                dossier_code: code.clone(),
                action: big_action(c.version),
                missing: vec![widest(500); 50],
            })
            .await,
        "largest supplement request",
    )
    .case
    .unwrap();
    versions.push(c.version);
    let e = event(&app, &code, c.version).await;
    assert_eq!(e.state.unwrap().missing_documents.len(), 50);
    assert!(
        !e.summary.contains(&widest(500)),
        "the list travels once, in the state"
    );
    let mut intake = app.intake_client(&[Role::Desk]).await;
    motcua_testkit::until_intake_shows(
        &mut intake,
        &code,
        motcua_proto::common::DossierStatus::SupplementRequested,
    )
    .await;
    intake
        .submit_supplement(motcua_proto::intake::SubmitSupplementRequest {
            dossier_code: code.clone(),
            documents: vec![motcua_proto::intake::SubmittedDocument {
                name: "Bản vẽ".into(),
                copies: 1,
                ..Default::default()
            }],
            idempotency_key: "s".into(),
        })
        .await
        .unwrap();
    let c = app.wait_case(&code, c.version + 1).await;
    let mut v = c.version;
    let c = case_of(
        leader
            .assign_task(AssignTaskRequest {
                dossier_code: code.clone(),
                action: big_action(v),
                assignee: Some(Actor {
                    subject: "s".repeat(128),
                    name: widest(200),
                    agency: String::new(),
                }),
            })
            .await,
        "largest assignment",
    )
    .case
    .unwrap();
    v = c.version;
    versions.push(v);
    let c = case_of(
        leader
            .request_financial_obligation(RequestFinancialObligationRequest {
                dossier_code: code.clone(),
                action: big_action(v),
                amount_vnd: 1_000_000_000_000,
                description: widest(500),
            })
            .await,
        "largest obligation",
    )
    .case
    .unwrap();
    v = c.version;
    versions.push(v);
    let c = case_of(
        desk.record_payment(RecordPaymentRequest {
            dossier_code: code.clone(),
            action: big_action(v),
            reference: widest(200),
        })
        .await,
        "largest payment",
    )
    .case
    .unwrap();
    v = c.version;
    versions.push(v);
    let promised = from_ts(c.due_at.as_ref().unwrap(), "").unwrap() + chrono::Duration::days(7);
    let c = case_of(
        leader
            .issue_apology(IssueApologyRequest {
                dossier_code: code.clone(),
                action: big_action(v),
                reason: widest(2000),
                new_due_at: Some(ts(promised)),
            })
            .await,
        "largest apology",
    )
    .case
    .unwrap();
    v = c.version;
    versions.push(v);
    let c = case_of(
        leader
            .record_result(RecordResultRequest {
                dossier_code: code.clone(),
                action: big_action(v),
                result: widest(2000),
                close_early_reason: widest(2000),
            })
            .await,
        "largest result",
    )
    .case
    .unwrap();
    v = c.version;
    versions.push(v);
    let c = case_of(
        desk.return_result(ReturnResultRequest {
            dossier_code: code.clone(),
            action: big_action(v),
        })
        .await,
        "largest return",
    )
    .case
    .unwrap();
    versions.push(c.version);
    // Claim, forward and send back, each with the largest action.
    let mut specialist = app
        .officer(&[Role::Specialist], LAND_DEPARTMENT, "cv-1")
        .await;
    let c = app.submit_land("big-3").await;
    let other = c.dossier_code.clone();
    let c = case_of(
        desk.claim_task(ClaimTaskRequest {
            dossier_code: other.clone(),
            action: big_action(c.version),
        })
        .await,
        "largest claim",
    )
    .case
    .unwrap();
    event(&app, &other, c.version).await;
    let c = case_of(
        desk.forward_step(ForwardStepRequest {
            dossier_code: other.clone(),
            action: big_action(c.version),
        })
        .await,
        "largest forward",
    )
    .case
    .unwrap();
    event(&app, &other, c.version).await;
    let c = claim(&mut specialist, &other, c.version).await;
    let c = case_of(
        specialist
            .send_back(SendBackRequest {
                dossier_code: other.clone(),
                action: big_action(c.version),
                to_step: "tiep-nhan".into(),
                reason: widest(2000),
            })
            .await,
        "largest send back",
    )
    .case
    .unwrap();
    event(&app, &other, c.version).await;
    // A withdrawal decided with the largest action.
    let c = app.submit_land("big-4").await;
    let other = c.dossier_code.clone();
    app.intake_client(&[Role::Desk])
        .await
        .request_withdrawal(motcua_proto::intake::RequestWithdrawalRequest {
            dossier_code: other.clone(),
            reason: widest(1000),
            idempotency_key: "w".into(),
        })
        .await
        .unwrap();
    let c = app.wait_case(&other, c.version + 1).await;
    let c = case_of(
        desk.decide_withdrawal(DecideWithdrawalRequest {
            dossier_code: other.clone(),
            action: big_action(c.version),
            approve: true,
        })
        .await,
        "largest withdrawal decision",
    )
    .case
    .unwrap();
    event(&app, &other, c.version).await;
    for refuse in [false, true] {
        let c = app
            .submit_land(if refuse { "big-refuse" } else { "big-stop" })
            .await;
        let reason = widest(2000);
        let c = if refuse {
            case_of(
                leader
                    .refuse_case(RefuseCaseRequest {
                        dossier_code: c.dossier_code.clone(),
                        action: big_action(c.version),
                        reason,
                    })
                    .await,
                "largest refusal",
            )
            .case
        } else {
            case_of(
                leader
                    .stop_processing(StopProcessingRequest {
                        dossier_code: c.dossier_code.clone(),
                        action: big_action(c.version),
                        reason,
                    })
                    .await,
                "largest stop",
            )
            .case
        }
        .unwrap();
        event(&app, &c.dossier_code, c.version).await;
    }
    for version in versions {
        event(&app, &code, version).await;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL")
            .await,
        0,
        "nothing accepted was parked"
    );
    // One beyond each bound: refused naming the field.
    let c = app.submit_land("big-2").await;
    let over = |f: fn(&mut RefuseCaseRequest)| {
        let mut r = RefuseCaseRequest {
            dossier_code: c.dossier_code.clone(),
            action: act(c.version),
            reason: "x".into(),
        };
        f(&mut r);
        r
    };
    for (request, field) in [
        (over(|r| r.reason = widest(2001)), "reason"),
        (
            over(|r| r.action.as_mut().unwrap().note = widest(2001)),
            "note",
        ),
        (
            over(|r| r.action.as_mut().unwrap().idempotency_key = "k".repeat(129)),
            "idempotency_key",
        ),
        (
            over(|r| r.action.as_mut().unwrap().attachments = vec![AttachmentRef::default(); 21]),
            "attachments",
        ),
        (
            over(|r| {
                r.action.as_mut().unwrap().attachments = vec![AttachmentRef {
                    file_name: "f".repeat(256),
                    ..Default::default()
                }]
            }),
            "file_name",
        ),
    ] {
        let e = leader.refuse_case(request).await.expect_err(field);
        assert_eq!(e.code(), Code::InvalidArgument, "{field}: {}", e.message());
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    assert_eq!(
        app.wait_case(&c.dossier_code, c.version).await.version,
        c.version,
        "nothing written"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_beyond_a_thousand_billion_dong_or_not_positive_are_refused() {
    let app = spawn().await;
    let mut leader = app
        .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
        .await;
    let c = app.submit_land("money-bound").await;
    for amount in [i64::MAX, 1_000_000_000_001, 0, -1] {
        let e = leader
            .request_financial_obligation(RequestFinancialObligationRequest {
                dossier_code: c.dossier_code.clone(),
                action: act(c.version),
                amount_vnd: amount,
                description: "Lệ phí".into(),
            })
            .await
            .expect_err("out of bounds");
        assert_eq!(e.code(), Code::InvalidArgument, "{amount}");
        assert!(e.message().contains("amount_vnd"), "{}", e.message());
        assert!(e.message().contains("1.000.000.000.000"), "{}", e.message());
    }
    app.stop().await;
}

/// Submits a land dossier for an applicant of the given name and phone; returns its case.
async fn submit_for(app: &App, key: &str, name: &str, phone: &str) -> Case {
    let mut r = land_submission(key);
    let a = r.applicant.as_mut().unwrap();
    a.name = name.into();
    a.phone = phone.into();
    let code = app
        .intake_client(&[Role::Desk])
        .await
        .submit_dossier(r)
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap()
        .dossier_code;
    app.wait_case(&code, 2).await
}

fn listed(r: &ListQueueResponse) -> Vec<(String, Vec<QueueReasonKind>)> {
    r.reasons
        .iter()
        .map(|q| {
            (
                q.dossier_code.clone(),
                q.kinds
                    .iter()
                    .map(|k| QueueReasonKind::try_from(*k).unwrap())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_find_a_dossier_by_code_name_or_phone_and_see_why_it_is_in_their_queue() {
    let mut app = spawn().await;
    let an = submit_for(&app, "q-1", "Nguyễn Văn An", "0912345678").await;
    let binh = submit_for(&app, "q-2", "Trần Thị Bình", "0987654321").await;
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    let search = |query: &str, scope: QueueScope| ListQueueRequest {
        scope: scope as i32,
        query: query.into(),
        ..Default::default()
    };
    let codes = |r: &ListQueueResponse| -> Vec<String> {
        r.cases.iter().map(|c| c.dossier_code.clone()).collect()
    };
    for (query, wanted) in [
        ("tran thi", &binh),
        ("TRẦN THỊ BÌNH", &binh),
        ("+84 987 654 321", &binh),
        ("0912.345.678", &an),
        (&an.dossier_code[an.dossier_code.len() - 4..], &an),
    ] {
        let r = case_of(
            desk.list_queue(search(query, QueueScope::Unassigned)).await,
            query,
        );
        assert_eq!(codes(&r), vec![wanted.dossier_code.clone()], "{query}");
        // The desk's step has 4 working hours, within the 8 of the due-soon window.
        assert_eq!(
            listed(&r)[0].1,
            [QueueReasonKind::MyDepartmentStep, QueueReasonKind::DueSoon],
            "{query}"
        );
    }
    let none = case_of(
        desk.list_queue(search("Lê Văn Cường", QueueScope::Unassigned))
            .await,
        "nobody",
    );
    assert!(none.cases.is_empty());
    let e = desk
        .list_queue(search("a", QueueScope::Unassigned))
        .await
        .expect_err("too short");
    assert_eq!(e.code(), Code::InvalidArgument);

    // Taken, it is the desk's own; the leader's view says so too; overdue once its 4 hours pass.
    let an = claim(&mut desk, &an.dossier_code, an.version).await;
    let mine = case_of(desk.list_queue(search("", QueueScope::Mine)).await, "mine");
    assert_eq!(
        listed(&mine),
        [(
            an.dossier_code.clone(),
            vec![
                QueueReasonKind::AssignedToMe,
                QueueReasonKind::MyDepartmentStep,
                QueueReasonKind::DueSoon
            ]
        )]
    );
    app.clock.advance(chrono::Duration::days(1));
    let mut leader = app
        .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
        .await;
    let agency = case_of(
        leader
            .list_queue(search(&an.dossier_code, QueueScope::Agency))
            .await,
        "agency",
    );
    assert_eq!(
        listed(&agency)[0].1,
        [QueueReasonKind::Overdue, QueueReasonKind::LeaderView]
    );

    // Sent back to the desk step the desk had held: "returned to me".
    let an = case_of(
        desk.forward_step(ForwardStepRequest {
            dossier_code: an.dossier_code.clone(),
            action: act(an.version),
        })
        .await,
        "forward",
    )
    .case
    .unwrap();
    let mut specialist = app
        .officer(&[Role::Specialist], LAND_DEPARTMENT, "cv-1")
        .await;
    let an = claim(&mut specialist, &an.dossier_code, an.version).await;
    case_of(
        specialist
            .send_back(SendBackRequest {
                dossier_code: an.dossier_code.clone(),
                action: act(an.version),
                to_step: "tiep-nhan".into(),
                reason: "Thiếu trang 2".into(),
            })
            .await,
        "send back",
    );
    let back = case_of(
        desk.list_queue(search(&an.dossier_code, QueueScope::Unassigned))
            .await,
        "returned",
    );
    assert!(
        listed(&back)[0].1.contains(&QueueReasonKind::ReturnedToMe),
        "{:?}",
        listed(&back)
    );

    // Intake away: a name cannot be searched (UNAVAILABLE, saying so), a code still can.
    app.stop_service("intake").await;
    let e = desk
        .list_queue(search("Trần Thị Bình", QueueScope::Unassigned))
        .await
        .expect_err("intake away");
    assert_eq!(e.code(), Code::Unavailable, "{}", e.message());
    assert!(e.message().contains("mã hồ sơ"), "{}", e.message());
    let by_code = case_of(
        desk.list_queue(search(&binh.dossier_code, QueueScope::Unassigned))
            .await,
        "by code without intake",
    );
    assert_eq!(codes(&by_code), vec![binh.dossier_code.clone()]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_changes_nothing_spends_no_version() {
    let app = spawn().await;
    let mut leader = app
        .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
        .await;
    let c = app.submit_land("same-1").await;
    let assign = |version: u64| AssignTaskRequest {
        dossier_code: c.dossier_code.clone(),
        action: act(version),
        assignee: Some(Actor {
            subject: "desk-1".into(),
            name: "Cán bộ một cửa".into(),
            agency: String::new(),
        }),
    };
    let first = case_of(leader.assign_task(assign(c.version)).await, "assign")
        .case
        .unwrap();
    assert_eq!(first.version, c.version + 1);
    let again = case_of(leader.assign_task(assign(first.version)).await, "again")
        .case
        .unwrap();
    assert_eq!(
        again.version, first.version,
        "the same assignee again is no change"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM history WHERE kind = 'assigned'")
            .await,
        1
    );
    // The desk's action on the version it saw goes through.
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    let forwarded = case_of(
        desk.forward_step(ForwardStepRequest {
            dossier_code: c.dossier_code.clone(),
            action: act(first.version),
        })
        .await,
        "forward on the version seen",
    )
    .case
    .unwrap();
    // The same assignee with a note is something said: written, with its note.
    let mut with_note = assign(forwarded.version);
    with_note.assignee.as_mut().unwrap().subject = "specialist-1".into();
    let to_specialist = case_of(leader.assign_task(with_note.clone()).await, "assign")
        .case
        .unwrap();
    with_note.action = act_keyed(to_specialist.version, "", "Đề nghị xử lý trước ngày 10");
    let noted = case_of(leader.assign_task(with_note).await, "again, with a note")
        .case
        .unwrap();
    assert_eq!(
        noted.version,
        to_specialist.version + 1,
        "the note is written"
    );
    let notes: Vec<String> = sqlx::query_scalar("SELECT note FROM history WHERE note <> ''")
        .fetch_all(&app.workflow_db)
        .await
        .unwrap();
    assert_eq!(notes, ["Đề nghị xử lý trước ngày 10"]);
    app.stop().await;
}
