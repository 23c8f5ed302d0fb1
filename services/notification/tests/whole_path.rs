//! A land dossier received by intake and moved by workflow, with notification beside them: the
//! applicant hears of each default event once, by SMS (through the gateway stand-in) and e-mail
//! (through the local SMTP server), from the events those services really publish.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_domain::time::ts;
use motcua_platform::auth::Role;
use motcua_proto::common::{ApplicantType, Channel, DocumentForm};
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::intake::{
    Applicant, SubmitDossierRequest, SubmitSupplementRequest, SubmittedDocument,
};
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_proto::workflow::*;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel as GrpcChannel;

type Officer = WorkflowServiceClient<InterceptedService<GrpcChannel, Bearer>>;

fn token_in(roles: &[Role], department: &str, sub: &str) -> String {
    motcua_testkit::token(roles, AGENCY, department, sub)
}

async fn officer(app: &App, roles: &[Role], department: &str, sub: &str) -> Officer {
    WorkflowServiceClient::with_interceptor(
        channel(app.addr("workflow")).await,
        Bearer::new(&token_in(roles, department, sub)),
    )
}

fn act(version: u64) -> Option<Action> {
    Some(Action {
        expected_version: version,
        ..Default::default()
    })
}

/// Waits until the dossier's deliveries of `trigger` are all recorded as sent.
async fn wait_sent(app: &App, code: &str, trigger: &str, n: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let sent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deliveries WHERE dossier_code = $1 AND trigger = $2 AND status = 'sent'",
        )
        .bind(code)
        .bind(trigger)
        .fetch_one(&app.db)
        .await
        .unwrap_or(0);
        if sent >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{trigger}: {:?}",
            app.deliveries(code).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dossier_through_intake_and_workflow_tells_the_applicant_each_step_once() {
    let mut app = App::start(|_| {}).await;
    app.start_other("intake").await;
    app.start_other("workflow").await;
    let doc = |key: &str| SubmittedDocument {
        key: key.into(),
        form: DocumentForm::Original as i32,
        copies: 1,
        ..Default::default()
    };
    let mut intake = IntakeServiceClient::with_interceptor(
        channel(app.addr("intake")).await,
        Bearer::new(&token_in(&[Role::Desk], "", "desk-1")),
    );
    let receipt = intake
        .submit_dossier(SubmitDossierRequest {
            idempotency_key: "whole-1".into(),
            procedure_code: "1.013831".into(),
            channel: Channel::Counter as i32,
            applicant: Some(Applicant {
                r#type: ApplicantType::Citizen as i32,
                name: "Nguyễn Văn An".into(),
                id_number: "038085001234".into(),
                phone: "0912 345 678".into(),
                email: EMAIL.into(),
                address: "Số 12 đường Lê Lợi, phường Điện Biên, tỉnh Thanh Hóa".into(),
            }),
            documents: vec![doc("don-dang-ky"), doc("giay-chung-nhan"), doc("hop-dong")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    let code = receipt.dossier_code.clone();
    wait_sent(&app, &code, "received", 2).await;

    let mut desk = officer(&app, &[Role::Desk], "bo-phan-mot-cua", "desk-1").await;
    let mut specialist = officer(
        &app,
        &[Role::Specialist],
        "van-phong-dang-ky-dat-dai",
        "cv-1",
    )
    .await;
    let mut leader = officer(&app, &[Role::Leader], "ban-giam-doc", "leader-1").await;
    // Workflow opens the case from `submitted` (version 2).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut version = 0;
    while version < 2 {
        if let Ok(r) = desk
            .get_case(GetCaseRequest {
                dossier_code: code.clone(),
                with_history: false,
            })
            .await
        {
            version = r.into_inner().case.unwrap().version;
        }
        assert!(tokio::time::Instant::now() < deadline, "no case");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.clock.advance(chrono::Duration::hours(1));
    let c = desk
        .claim_task(ClaimTaskRequest {
            dossier_code: code.clone(),
            action: act(version),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let c = desk
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let c = specialist
        .claim_task(ClaimTaskRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
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
    wait_sent(&app, &code, "supplement-requested", 2).await;
    app.clock.advance(chrono::Duration::days(1));
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
    // Workflow resumes the case (supplement received).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut version = c.version;
    while version <= c.version {
        version = desk
            .get_case(GetCaseRequest {
                dossier_code: code.clone(),
                with_history: false,
            })
            .await
            .unwrap()
            .into_inner()
            .case
            .unwrap()
            .version;
        assert!(tokio::time::Instant::now() < deadline, "not resumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = specialist
        .request_financial_obligation(RequestFinancialObligationRequest {
            dossier_code: code.clone(),
            action: act(version),
            amount_vnd: 1_250_000,
            description: "Lệ phí trước bạ".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
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
    let promised = motcua_domain::time::from_ts(c.due_at.as_ref().unwrap(), "").unwrap()
        + chrono::Duration::days(7);
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
    let c = specialist
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let c = leader
        .claim_task(ClaimTaskRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let c = leader
        .forward_step(ForwardStepRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let c = desk
        .claim_task(ClaimTaskRequest {
            dossier_code: code.clone(),
            action: act(c.version),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
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
    desk.return_result(ReturnResultRequest {
        dossier_code: code.clone(),
        action: act(c.version),
    })
    .await
    .unwrap();
    wait_sent(&app, &code, "result-returned", 2).await;

    let expected: Vec<(String, String, String, String)> = [
        "apology-issued",
        "financial-obligation-requested",
        "received",
        "result-ready",
        "result-returned",
        "supplement-requested",
    ]
    .iter()
    .flat_map(|t| {
        ["email", "sms"].map(|c| {
            (
                t.to_string(),
                c.to_string(),
                "applicant".to_string(),
                "sent".to_string(),
            )
        })
    })
    .collect();
    // Every message is sent; one whose attempt the stand-ins answered too slowly under a loaded
    // machine is retried after its backoff, which the clock is moved past.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.deliveries(&code).await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            app.deliveries(&code).await
        );
        app.clock.advance(chrono::Duration::seconds(61));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let texts = app.stand.sms_texts();
    assert_eq!(texts.len(), 6, "{texts:?}");
    assert!(texts.iter().all(|t| t.contains(&code)), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("Cho y kien co quan thue")),
        "the apology's reason: {texts:?}"
    );
    assert!(
        app.stand
            .sms
            .lock()
            .unwrap()
            .iter()
            .all(|v| v["to"] == PHONE)
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.mailbox.to(EMAIL).len() < 6 {
        assert!(tokio::time::Instant::now() < deadline, "mails");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The dossier ended: its contact goes after the retention time.
    let erase_after: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT erase_after FROM contacts WHERE dossier_code = $1")
            .bind(&code)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(erase_after, Some(now(&app) + chrono::Duration::days(30)));
    app.stop().await;
}

/// Every text column (and every bytea, in hex) of every table of `database`, searched for each of
/// `needles`: the tables and columns that hold one.
async fn holders(app: &App, database: &str, needles: &[&str]) -> Vec<String> {
    let settings = motcua_platform::config::Settings::from_vars(&app.vars).unwrap();
    let pool = sqlx::PgPool::connect_lazy_with(
        motcua_platform::db::options(&settings.database_url)
            .unwrap()
            .database(&settings.database_name(database)),
    );
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut found = Vec::new();
    for table in tables {
        for needle in needles {
            let hex = hex::encode(needle.as_bytes());
            // The row as text holds text columns as they are and bytea as hex: both forms.
            let sql = format!(
                "SELECT count(*) FROM \"{table}\" t WHERE t::text LIKE '%' || $1 || '%' OR t::text LIKE '%' || $2 || '%'"
            );
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(needle)
                .bind(&hex)
                .fetch_one(&pool)
                .await
                .unwrap();
            if n > 0 {
                found.push(format!("{database}.{table} holds {needle}"));
            }
        }
    }
    pool.close().await;
    found
}

/// DESIGN.md "Secrets and personal data in events": phones and e-mails do not outlive their
/// erasure anywhere. The applicant is told (notification asked intake for the contacts: no event
/// carries them), the dossier ends, the retention passes, and then neither any table of intake,
/// workflow or notification nor any message of the stream holds the phone or the e-mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erased_contacts_leave_no_phone_or_email_in_any_table_or_stream_message() {
    let mut app = App::start(|_| {}).await;
    app.start_other("intake").await;
    app.start_other("workflow").await;
    let phone = "0987654321";
    let email = "chi.ha@example.vn";
    let mut intake = IntakeServiceClient::with_interceptor(
        channel(app.addr("intake")).await,
        Bearer::new(&token_in(&[Role::Desk], "", "desk-1")),
    );
    let doc = |key: &str| SubmittedDocument {
        key: key.into(),
        form: DocumentForm::Original as i32,
        copies: 1,
        ..Default::default()
    };
    let code = intake
        .submit_dossier(SubmitDossierRequest {
            idempotency_key: "erase-1".into(),
            procedure_code: "1.013831".into(),
            channel: Channel::Counter as i32,
            applicant: Some(Applicant {
                r#type: ApplicantType::Citizen as i32,
                name: "Lê Thị Hà".into(),
                id_number: "038085009876".into(),
                phone: "0987 654 321".into(),
                email: email.into(),
                address: "Số 3 đường Trần Phú, tỉnh Khánh Hòa".into(),
            }),
            documents: vec![doc("don-dang-ky"), doc("giay-chung-nhan"), doc("hop-dong")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap()
        .dossier_code;
    // Told by SMS and e-mail: notification got the contacts from intake.
    wait_sent(&app, &code, "received", 2).await;
    assert!(
        !holders(&app, "notification", &[phone, email])
            .await
            .is_empty(),
        "notification keeps them while the dossier runs"
    );
    // The dossier ends (refused), and the retention (30 days by default) passes.
    let mut leader = officer(&app, &[Role::Leader], "ban-giam-doc", "leader-1").await;
    let version = leader
        .get_case(GetCaseRequest {
            dossier_code: code.clone(),
            with_history: false,
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .version;
    leader
        .refuse_case(RefuseCaseRequest {
            dossier_code: code.clone(),
            action: act(version),
            reason: "Thửa đất đang có tranh chấp".into(),
        })
        .await
        .unwrap();
    wait_sent(&app, &code, "refused", 1).await;
    // Intake has followed the end before the clock moves.
    let intake_pool = {
        let settings = motcua_platform::config::Settings::from_vars(&app.vars).unwrap();
        sqlx::PgPool::connect_lazy_with(
            motcua_platform::db::options(&settings.database_url)
                .unwrap()
                .database(&settings.database_name("intake")),
        )
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ended: bool =
            sqlx::query_scalar("SELECT ended_at IS NOT NULL FROM dossiers WHERE code = $1")
                .bind(&code)
                .fetch_one(&intake_pool)
                .await
                .unwrap();
        if ended {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "intake never saw the end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.clock.advance(chrono::Duration::days(31));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let erased: (bool, i64) = (
            sqlx::query_scalar(
                "SELECT contacts_erased_at IS NOT NULL FROM dossiers WHERE code = $1",
            )
            .bind(&code)
            .fetch_one(&intake_pool)
            .await
            .unwrap(),
            sqlx::query_scalar(
                "SELECT count(*) FROM contacts WHERE dossier_code = $1 AND erased_at IS NOT NULL",
            )
            .bind(&code)
            .fetch_one(&app.db)
            .await
            .unwrap(),
        );
        if erased == (true, 1) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not erased: {erased:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    intake_pool.close().await;
    let mut found = Vec::new();
    for database in ["intake", "workflow", "notification"] {
        found.extend(holders(&app, database, &[phone, email]).await);
    }
    assert!(found.is_empty(), "{found:?}");
    // And no message of the stream ever carried them.
    let stream = app
        .bus
        .js
        .get_stream(app.bus.stream_name("DOSSIERS"))
        .await
        .unwrap();
    let total = stream.get_info().await.unwrap().state.messages;
    assert!(total > 0);
    for seq in 1..=total {
        let m = stream.get_raw_message(seq).await.unwrap();
        let text = String::from_utf8_lossy(&m.payload);
        assert!(
            !text.contains(phone) && !text.contains(email),
            "message {seq} ({}) carries a contact",
            m.subject
        );
    }
    app.stop().await;
}
