//! Who may act, and how changes behave under concurrency and retries.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_domain::time::ts;
use motcua_platform::auth::Role;
use motcua_proto::common::{Actor, DossierStatus};
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_proto::workflow::*;
use tonic::Code;

type Answer = Result<tonic::Response<RefuseCaseResponse>, tonic::Status>;

fn code_of<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_role_department_agency_and_step_are_refused() {
    let app = spawn().await;
    let c = app.submit_land("who-1").await;
    let code = c.dossier_code.clone();
    // The first step is the desk's: a specialist may not do it.
    let mut specialist = app
        .officer(&[Role::Specialist], LAND_DEPARTMENT, "cv-1")
        .await;
    let e = specialist
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(2),
        })
        .await
        .expect_err("wrong role");
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("desk"), "{}", e.message());
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    // Nobody forwards a step they have not taken: the desk is told to claim it first.
    let e = desk
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(2),
        })
        .await
        .expect_err("not claimed");
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("ClaimTask"), "{}", e.message());
    desk.claim_task(ClaimTaskRequest {
        dossier_code: code.clone(),
        action: act(2),
    })
    .await
    .unwrap();
    let c = desk
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(3),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    // The appraisal is the land registration office's: another department's specialist may not.
    let mut minerals = app
        .officer(&[Role::Specialist], "phong-khoang-san", "cv-9")
        .await;
    let e = minerals
        .claim_task(ClaimTaskRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .expect_err("wrong department");
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains(LAND_DEPARTMENT), "{}", e.message());
    // Held by one specialist, the step is not another's.
    specialist
        .claim_task(ClaimTaskRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap();
    let mut colleague = app
        .officer(&[Role::Specialist], LAND_DEPARTMENT, "cv-2")
        .await;
    let e = colleague
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(c.version + 1),
        })
        .await
        .expect_err("held by another");
    assert_eq!(e.code(), Code::PermissionDenied);
    // The result is recorded at the last step, not in the middle.
    let e = specialist
        .record_result(RecordResultRequest {
            dossier_code: code.clone(),
            action: act(c.version + 1),
            result: "QĐ 1".into(),
            ..Default::default()
        })
        .await
        .expect_err("not the last step");
    assert_eq!(e.code(), Code::FailedPrecondition);
    // Only a leader assigns; and an officer of another agency sees no case at all.
    let e = specialist
        .assign_task(AssignTaskRequest {
            dossier_code: code.clone(),
            action: act(c.version + 1),
            assignee: Some(Actor {
                subject: "cv-2".into(),
                name: "Cán bộ 2".into(),
                agency: String::new(),
            }),
        })
        .await
        .expect_err("leaders assign");
    assert_eq!(e.code(), Code::PermissionDenied);
    let channel = channel(app.workflow_addr()).await;
    let mut stranger = WorkflowServiceClient::with_interceptor(
        channel,
        Bearer::new(&token(
            &[Role::Leader],
            "000.00.09.H01",
            "ban-giam-doc",
            "x",
        )),
    );
    let e = stranger
        .get_case(GetCaseRequest {
            dossier_code: code.clone(),
            with_history: false,
        })
        .await
        .expect_err("another agency");
    assert_eq!(e.code(), Code::NotFound);
    // The leader reassigns; the new holder goes on.
    let mut leader = app
        .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
        .await;
    let c = leader
        .assign_task(AssignTaskRequest {
            dossier_code: code.clone(),
            action: act(c.version + 1),
            assignee: Some(Actor {
                subject: "cv-2".into(),
                name: "Cán bộ 2".into(),
                agency: String::new(),
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(c.assignee.as_ref().unwrap().subject, "cv-2");
    colleague
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_actions_on_one_case_apply_exactly_one_per_version() {
    let app = spawn().await;
    let c = app.submit_land("race-1").await;
    let code = c.dossier_code.clone();
    // Fifty officers of the desk, all taking the step on version 2 at once.
    let mut calls = Vec::new();
    for i in 0..50 {
        let mut desk = app
            .officer(&[Role::Desk], "bo-phan-mot-cua", &format!("desk-{i}"))
            .await;
        let code = code.clone();
        calls.push(tokio::spawn(async move {
            code_of(
                desk.claim_task(ClaimTaskRequest {
                    dossier_code: code,
                    action: act(2),
                })
                .await,
            )
        }));
    }
    let mut codes = std::collections::BTreeMap::new();
    for c in calls {
        *codes.entry(format!("{:?}", c.await.unwrap())).or_insert(0) += 1;
    }
    assert_eq!(codes.get("Ok"), Some(&1), "{codes:?}");
    assert_eq!(
        codes.get("Aborted"),
        Some(&49),
        "the rest saw a stale version: {codes:?}"
    );
    let c = app.wait_case(&code, 3).await;
    assert_eq!(
        (c.version, c.current_step),
        (3, 0),
        "one claim, the same step"
    );
    assert!(c.assignee.is_some());
    assert_eq!(
        app.count("SELECT count(*) FROM history WHERE kind = 'claimed'")
            .await,
        1
    );
    // The stale answer says which version is current.
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-0")
        .await;
    let stale = desk
        .claim_task(ClaimTaskRequest {
            dossier_code: code.clone(),
            action: act(2),
        })
        .await
        .expect_err("stale");
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(stale.metadata().get("motcua-current-version").unwrap(), "3");
    assert!(
        stale.message().contains("phiên bản hiện tại 3"),
        "{}",
        stale.message()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_action_is_applied_once_and_gets_the_first_answer() {
    let app = spawn().await;
    let c = app.submit_land("retry-1").await;
    let code = c.dossier_code.clone();
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    desk.claim_task(ClaimTaskRequest {
        dossier_code: code.clone(),
        action: act(2),
    })
    .await
    .unwrap();
    let req = ForwardStepRequest {
        dossier_code: code.clone(),
        action: act_keyed(3, "desk-1-forward-42", "Đủ hồ sơ"),
    };
    let first = desk.forward_step(req.clone()).await.unwrap().into_inner();
    let again = desk.forward_step(req.clone()).await.unwrap().into_inner();
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.case, again.case, "the same answer");
    assert_eq!(again.case.unwrap().version, 4);
    // The same key for another request is refused, not answered with someone else's result.
    let other = ForwardStepRequest {
        dossier_code: code.clone(),
        action: act_keyed(4, "desk-1-forward-42", "khác"),
    };
    assert_eq!(
        code_of(desk.forward_step(other).await),
        Code::FailedPrecondition
    );
    assert_eq!(
        app.count("SELECT count(*) FROM history").await,
        3,
        "opened, one claim and one forward"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_answer_and_changes_nothing() {
    let app = spawn().await;
    let c = app.submit_land("bad-1").await;
    let code = c.dossier_code.clone();
    let mut leader = app
        .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
        .await;
    let cases: Vec<(Answer, Code, &str)> = vec![
        (
            leader
                .refuse_case(RefuseCaseRequest {
                    dossier_code: "000.00.06.H56-260302-9999".into(),
                    action: act(2),
                    reason: "x".into(),
                })
                .await,
            Code::NotFound,
            "không tìm thấy",
        ),
        (
            leader
                .refuse_case(RefuseCaseRequest {
                    dossier_code: code.clone(),
                    action: act(2),
                    reason: "   ".into(),
                })
                .await,
            Code::InvalidArgument,
            "reason is required",
        ),
        (
            leader
                .refuse_case(RefuseCaseRequest {
                    dossier_code: code.clone(),
                    action: None,
                    reason: "x".into(),
                })
                .await,
            Code::InvalidArgument,
            "expected_version",
        ),
        (
            leader
                .refuse_case(RefuseCaseRequest {
                    dossier_code: code.clone(),
                    action: act(77),
                    reason: "x".into(),
                })
                .await,
            Code::Aborted,
            "phiên bản hiện tại 2",
        ),
        (
            leader
                .refuse_case(RefuseCaseRequest {
                    dossier_code: code.clone(),
                    action: Some(Action {
                        expected_version: 2,
                        note: "x".repeat(5000),
                        ..Default::default()
                    }),
                    reason: "x".into(),
                })
                .await,
            Code::InvalidArgument,
            "action.note",
        ),
        (
            leader
                .refuse_case(RefuseCaseRequest {
                    dossier_code: "".into(),
                    action: act(2),
                    reason: "x".into(),
                })
                .await,
            Code::InvalidArgument,
            "dossier_code is required",
        ),
    ];
    for (result, code_wanted, words) in cases {
        let e = result.expect_err(words);
        assert_eq!(e.code(), code_wanted, "{words}: {}", e.message());
        assert!(
            e.message().contains(words),
            "{:?} should say {words:?}",
            e.message()
        );
    }
    // A new due date before now, with an apology.
    let e = leader
        .issue_apology(IssueApologyRequest {
            dossier_code: code.clone(),
            action: act(2),
            reason: "Chậm".into(),
            new_due_at: Some(ts(now(&app) - chrono::Duration::days(1))),
        })
        .await
        .expect_err("in the past");
    assert_eq!(e.code(), Code::InvalidArgument);
    let c = app.wait_case(&code, 2).await;
    assert_eq!(
        (c.version, c.status),
        (2, DossierStatus::Received as i32),
        "nothing was applied"
    );
    app.stop().await;
}
