//! Every RPC of intake and workflow, walked with tokens of another agency (issue 18 item 2): a
//! dossier of agency A is NOT_FOUND to them, a write for A is PERMISSION_DENIED, and a list shows
//! none of A's. The RPCs are read from the compiled contracts, so a new one cannot go unwalked.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_platform::auth::Role;
use motcua_proto::common::{Actor, Procedure};
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::intake::*;
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_proto::workflow::*;
use motcua_testkit::{Bearer, channel, province_admin_token};
use tonic::Code;

/// Another agency of A's province, and an agency of another province.
const B: &str = "000.00.07.H56";
const OTHER_PROVINCE: &str = "000.00.06.H57";

const ALL_ROLES: &[Role] = &[
    Role::Desk,
    Role::Specialist,
    Role::Leader,
    Role::Admin,
    Role::Integration,
];

/// What a call for A's data by an outsider gave.
#[derive(Debug, PartialEq)]
enum Seen {
    /// Refused: PERMISSION_DENIED or NOT_FOUND.
    Walled,
    /// A list that held none of A's.
    NothingOfA,
    /// Something of A's: the defect.
    Leaked(String),
}

fn refused<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> Seen {
    match r {
        Err(e) if matches!(e.code(), Code::PermissionDenied | Code::NotFound) => Seen::Walled,
        other => Seen::Leaked(format!("{other:?}")),
    }
}

fn none_of_a(codes: Vec<String>) -> Seen {
    if codes.iter().any(|c| c.starts_with(AGENCY)) {
        Seen::Leaked(format!("{codes:?}"))
    } else {
        Seen::NothingOfA
    }
}

type Intake = IntakeServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
>;

async fn intake_call(c: &mut Intake, method: &str, code: &str) -> Seen {
    let mut for_a = land_submission(&format!("wall-{method}"));
    for_a.receiving_agency = AGENCY.into();
    match method {
        "PublishProcedure" => refused(
            c.publish_procedure(PublishProcedureRequest {
                procedure: Some(Procedure {
                    code: "9.999999".into(),
                    competent_agency: AGENCY.into(),
                    ..Default::default()
                }),
            })
            .await,
        ),
        "SubmitDossier" => refused(c.submit_dossier(for_a).await),
        "RejectDossier" => refused(
            c.reject_dossier(RejectDossierRequest {
                submission: Some(for_a),
                reasons: vec!["Thiếu giấy tờ".into()],
            })
            .await,
        ),
        "GetDossier" => refused(
            c.get_dossier(GetDossierRequest {
                dossier_code: code.into(),
            })
            .await,
        ),
        "ListDossiers" => none_of_a(
            c.list_dossiers(ListDossiersRequest {
                receiving_agency: AGENCY.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .dossiers
            .into_iter()
            .filter_map(|d| d.receipt.map(|r| r.dossier_code))
            .collect(),
        ),
        "SubmitSupplement" => refused(
            c.submit_supplement(SubmitSupplementRequest {
                dossier_code: code.into(),
                documents: vec![SubmittedDocument {
                    name: "Bản vẽ".into(),
                    copies: 1,
                    ..Default::default()
                }],
                idempotency_key: String::new(),
            })
            .await,
        ),
        "GetApplicantContacts" => refused(
            c.get_applicant_contacts(GetApplicantContactsRequest {
                dossier_code: code.into(),
            })
            .await,
        ),
        "RequestWithdrawal" => refused(
            c.request_withdrawal(RequestWithdrawalRequest {
                dossier_code: code.into(),
                reason: "Rút".into(),
                idempotency_key: String::new(),
            })
            .await,
        ),
        other => panic!("intake's {other} is not walked: add it here"),
    }
}

async fn workflow_call(c: &mut Officer, method: &str, code: &str) -> Seen {
    let code = code.to_owned();
    let action = act(99);
    match method {
        "ListQueue" => {
            let mut codes = Vec::new();
            for scope in [QueueScope::Mine, QueueScope::Unassigned, QueueScope::Agency] {
                if let Ok(r) = c
                    .list_queue(ListQueueRequest {
                        scope: scope as i32,
                        query: code.clone(),
                        ..Default::default()
                    })
                    .await
                {
                    codes.extend(r.into_inner().cases.into_iter().map(|c| c.dossier_code));
                }
            }
            none_of_a(codes)
        }
        "GetCase" => refused(
            c.get_case(GetCaseRequest {
                dossier_code: code,
                with_history: true,
            })
            .await,
        ),
        "GetControlSheet" => refused(
            c.get_control_sheet(GetControlSheetRequest { dossier_code: code })
                .await,
        ),
        "ClaimTask" => refused(
            c.claim_task(ClaimTaskRequest {
                dossier_code: code,
                action,
            })
            .await,
        ),
        "AssignTask" => refused(
            c.assign_task(AssignTaskRequest {
                dossier_code: code,
                action,
                assignee: Some(Actor {
                    subject: "x".into(),
                    ..Default::default()
                }),
            })
            .await,
        ),
        "ForwardStep" => refused(
            c.forward_step(ForwardStepRequest {
                dossier_code: code,
                action,
            })
            .await,
        ),
        "SendBack" => refused(
            c.send_back(SendBackRequest {
                dossier_code: code,
                action,
                to_step: "tiep-nhan".into(),
                reason: "x".into(),
            })
            .await,
        ),
        "RequestSupplement" => refused(
            c.request_supplement(RequestSupplementRequest {
                dossier_code: code,
                action,
                missing: vec!["x".into()],
            })
            .await,
        ),
        "RequestFinancialObligation" => refused(
            c.request_financial_obligation(RequestFinancialObligationRequest {
                dossier_code: code,
                action,
                amount_vnd: 1,
                description: "x".into(),
            })
            .await,
        ),
        "RecordPayment" => refused(
            c.record_payment(RecordPaymentRequest {
                dossier_code: code,
                action,
                reference: "x".into(),
            })
            .await,
        ),
        "IssueApology" => refused(
            c.issue_apology(IssueApologyRequest {
                dossier_code: code,
                action,
                reason: "x".into(),
                new_due_at: Some(motcua_domain::time::ts(start_time())),
            })
            .await,
        ),
        "RefuseCase" => refused(
            c.refuse_case(RefuseCaseRequest {
                dossier_code: code,
                action,
                reason: "x".into(),
            })
            .await,
        ),
        "RecordResult" => refused(
            c.record_result(RecordResultRequest {
                dossier_code: code,
                action,
                result: "x".into(),
                close_early_reason: "x".into(),
            })
            .await,
        ),
        "ReturnResult" => refused(
            c.return_result(ReturnResultRequest {
                dossier_code: code,
                action,
            })
            .await,
        ),
        "DecideWithdrawal" => refused(
            c.decide_withdrawal(DecideWithdrawalRequest {
                dossier_code: code,
                action,
                approve: true,
            })
            .await,
        ),
        "StopProcessing" => refused(
            c.stop_processing(StopProcessingRequest {
                dossier_code: code,
                action,
                reason: "x".into(),
            })
            .await,
        ),
        other => panic!("workflow's {other} is not walked: add it here"),
    }
}

/// Reads of the published catalog: public information (lookup shows it to anyone), and every
/// desk of the province receives for any agency of it, so they are not walled.
const CATALOG_READS: &[&str] = &["ListProcedures", "GetProcedure"];
/// An upload is the caller's own file, stored under the caller's agency: nothing of A's is read
/// or written (checked below).
const OWN_UPLOADS: &[&str] = &["UploadAttachment"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_of_intake_and_workflow_is_walled_off_from_another_agency() {
    let app = spawn().await;
    let c = app.submit_land("walls-1").await;
    let code = c.dossier_code.clone();
    let outsiders = [
        (
            "an officer of every role of another agency",
            token(ALL_ROLES, B, "bo-phan-mot-cua", "b-1"),
        ),
        (
            "an admin of another agency",
            token(&[Role::Admin], B, "", "qt-b"),
        ),
        (
            "a province admin of another province",
            province_admin_token(OTHER_PROVINCE, "qt-h57"),
        ),
    ];
    let intake_methods = motcua_testkit::methods(
        motcua_proto::FILE_DESCRIPTOR_SET,
        "motcua.intake.v1.IntakeService",
    );
    let workflow_methods = motcua_testkit::methods(
        motcua_proto::FILE_DESCRIPTOR_SET,
        "motcua.workflow.v1.WorkflowService",
    );
    assert_eq!(
        (intake_methods.len(), workflow_methods.len()),
        (11, 16),
        "{intake_methods:?} {workflow_methods:?}"
    );
    for (who, t) in &outsiders {
        let mut intake =
            IntakeServiceClient::with_interceptor(channel(app.intake_addr()).await, Bearer::new(t));
        let mut workflow = WorkflowServiceClient::with_interceptor(
            channel(app.workflow_addr()).await,
            Bearer::new(t),
        );
        for m in &intake_methods {
            if CATALOG_READS.contains(&m.as_str()) || OWN_UPLOADS.contains(&m.as_str()) {
                continue;
            }
            let seen = intake_call(&mut intake, m, &code).await;
            assert!(
                !matches!(seen, Seen::Leaked(_)),
                "intake {m} for A by {who}: {seen:?}"
            );
        }
        for m in &workflow_methods {
            let seen = workflow_call(&mut workflow, m, &code).await;
            assert!(
                !matches!(seen, Seen::Leaked(_)),
                "workflow {m} for A by {who}: {seen:?}"
            );
        }
    }
    // A desk of another province receiving for itself still cannot file into A's province: the
    // procedure's competent agency is A's, and the dossier would land in A's queues.
    sqlx::query(
        "INSERT INTO agencies (code, name, updated_at) VALUES ($1, 'Sở TN&MT tỉnh khác', now())",
    )
    .bind(OTHER_PROVINCE)
    .execute(&app.intake_db)
    .await
    .unwrap();
    let mut other_desk = IntakeServiceClient::with_interceptor(
        channel(app.intake_addr()).await,
        Bearer::new(&token(&[Role::Desk], OTHER_PROVINCE, "", "h57-desk")),
    );
    let mut theirs = land_submission("wall-other-province");
    theirs.receiving_agency = OTHER_PROVINCE.into();
    let e = other_desk.submit_dossier(theirs).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());
    assert!(e.message().contains("tỉnh khác"), "{}", e.message());
    let filed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dossiers WHERE receiving_agency = $1")
            .bind(OTHER_PROVINCE)
            .fetch_one(&app.intake_db)
            .await
            .unwrap();
    assert_eq!(filed, 0);
    // Uploads are stored under the uploader's agency.
    let mut b_desk = IntakeServiceClient::with_interceptor(
        channel(app.intake_addr()).await,
        Bearer::new(&token(&[Role::Desk], B, "", "b-desk")),
    );
    b_desk
        .upload_attachment(UploadAttachmentRequest {
            file_name: "ban-ve.pdf".into(),
            media_type: "application/pdf".into(),
            content: b"%PDF-1.4 test".to_vec(),
        })
        .await
        .unwrap();
    let agencies: Vec<String> = sqlx::query_scalar("SELECT agency FROM attachments")
        .fetch_all(&app.intake_db)
        .await
        .unwrap();
    assert_eq!(agencies, [B]);

    // The walls are not blindness: A's own and its province's admin see A's dossier.
    for (who, t) in [
        ("A's leader", token(&[Role::Leader], AGENCY, "", "ld-a")),
        (
            "a province admin of A's province",
            province_admin_token(B, "qt-h56"),
        ),
    ] {
        let mut workflow = WorkflowServiceClient::with_interceptor(
            channel(app.workflow_addr()).await,
            Bearer::new(&t),
        );
        workflow
            .get_case(GetCaseRequest {
                dossier_code: code.clone(),
                with_history: false,
            })
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        let mut intake = IntakeServiceClient::with_interceptor(
            channel(app.intake_addr()).await,
            Bearer::new(&t),
        );
        intake
            .get_dossier(GetDossierRequest {
                dossier_code: code.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
    }
    app.stop().await;
}
