//! One land dossier followed by its code through every interface of the five services, as its
//! applicant, the officers and the leader meet it: the receipt at the desk (intake), the officers'
//! queues and claims (workflow), a supplement and a financial obligation that pause the clock, an
//! apology when it runs late, the applicant's SMS lookup (notification's gateway endpoint, answered
//! from lookup), the public page (lookup's JSON and HTML), the messages the applicant was sent
//! (notification's delivery log) and the month's Biểu 06 with its XLSX (reporting).
//!
//! The five services run in this process on the test floor, on the floor's manual clock: the test
//! sets each moment (Vietnam time, within working hours), so every date asserted below is a
//! literal worked out by hand from the calendar, not recomputed with the code under test. A
//! stand-in SMS gateway on loopback records what notification really sends to the applicant's
//! phone. What a service learns from the stream is waited for by a bounded poll, never a sleep.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use motcua_domain::time::{instant, ts};
use motcua_platform::auth::Role;
use motcua_proto::common::{DocumentForm, DossierStatus, Outcome, PauseReason};
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::intake::{GetDossierRequest, SubmitSupplementRequest, SubmittedDocument};
use motcua_proto::notification::notification_service_client::NotificationServiceClient;
use motcua_proto::notification::{Delivery, DeliveryStatus, ListDeliveriesRequest};
use motcua_proto::reporting::reporting_service_client::ReportingServiceClient;
use motcua_proto::reporting::{
    ExportForm06Request, ExportFormat, Form06Row, GetForm06Request, Period, PeriodKind,
};
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_proto::workflow::*;
use motcua_testkit::dossiers::{APPLICANT_ID, APPLICANT_PHONE, LAND_PROCEDURE, act};
use motcua_testkit::floor::{AGENCY, Floor, LAND_DEPARTMENT, vn};
use motcua_testkit::{Bearer, channel, token, until_intake_shows};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Officer = WorkflowServiceClient<InterceptedService<Channel, Bearer>>;
type Notification = NotificationServiceClient<InterceptedService<Channel, Bearer>>;

/// The desk's and the leaders' departments, as the catalog's steps name them.
const DESK: &str = "bo-phan-mot-cua";
const LEADERS: &str = "ban-giam-doc";
const GATEWAY_SECRET: &str = "one-dossier-gateway-secret-0123456789";
/// In the order they depend on each other (the floor points each at those already running).
const SERVICES: [&str; 5] = ["intake", "workflow", "lookup", "notification", "reporting"];
const MISSING: &str = "Bản sao trích đo địa chính thửa đất";

/// What the stand-in SMS gateway received: (to, text), in arrival order.
type Inbox = Arc<Mutex<Vec<(String, String)>>>;

/// A local HTTP server standing in for the SMS gateway (notification's `http` provider posts
/// `{"to", "text", "ref"}` to it): what reached the phone, not what notification says it sent.
async fn sms_gateway() -> (Inbox, String) {
    async fn receive(
        State(inbox): State<Inbox>,
        Json(sms): Json<serde_json::Value>,
    ) -> Json<serde_json::Value> {
        let mut inbox = inbox.lock().unwrap();
        let field = |k: &str| sms[k].as_str().unwrap_or_default().to_owned();
        inbox.push((field("to"), field("text")));
        Json(serde_json::json!({ "messageId": format!("gw-{}", inbox.len()) }))
    }
    let inbox = Inbox::default();
    let app = axum::Router::new()
        .route("/sms", axum::routing::post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (inbox, url)
}

/// Polls `f` every 50 ms, for at most 30 s, until it gives a value; fails naming `what`.
async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn at(t: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    instant(t.as_ref()).expect("a time")
}

async fn officer(floor: &Floor, role: Role, department: &str, sub: &str) -> Officer {
    WorkflowServiceClient::with_interceptor(
        channel(floor.addr("workflow")).await,
        Bearer::new(&token(&[role], AGENCY, department, sub)),
    )
}

async fn case(officer: &Officer, code: &str) -> Case {
    let req = GetCaseRequest {
        dossier_code: code.to_owned(),
        with_history: false,
    };
    officer
        .clone()
        .get_case(req)
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
}

/// Whether `code` is in the queue (`scope`, `of` an officer for a leader's view) and who holds
/// it: None when it is not listed, Some("") when listed unassigned.
async fn queued(officer: &Officer, scope: QueueScope, of: &str, code: &str) -> Option<String> {
    let req = ListQueueRequest {
        scope: scope as i32,
        officer: of.to_owned(),
        page_size: 200,
        ..Default::default()
    };
    let page = officer.clone().list_queue(req).await.unwrap().into_inner();
    page.cases.iter().find(|c| c.dossier_code == code).map(|c| {
        c.assignee
            .as_ref()
            .map(|a| a.subject.clone())
            .unwrap_or_default()
    })
}

/// An officer's change on the case as last seen (`$c`), answered with the case after it; the
/// request's other fields as `field: value` (the call's name in the failure).
macro_rules! change {
    ($who:expr, $rpc:ident, $req:ident, $code:expr, $c:expr $(, $field:ident: $value:expr)*) => {{
        #[allow(clippy::needless_update)] // most requests are only a code and an action
        let req = $req {
            dossier_code: $code.clone(),
            action: act($c.version),
            $($field: $value,)*
            ..Default::default()
        };
        let answer = $who.clone().$rpc(req).await;
        let answer = answer.unwrap_or_else(|s| panic!("{}: {s:?}", stringify!($rpc)));
        answer.into_inner().case.unwrap()
    }};
}

/// Every delivery notification logged for the dossier (one page holds them all).
async fn deliveries(notification: &Notification, code: &str) -> Vec<Delivery> {
    let req = ListDeliveriesRequest {
        dossier_code: code.to_owned(),
        page_size: 200,
        ..Default::default()
    };
    let log = notification.clone().list_deliveries(req).await.unwrap();
    let log = log.into_inner();
    assert!(log.next_page_token.is_empty(), "more than a page");
    log.deliveries
}

/// Waits until the applicant's message of `trigger` is sent (the stand-in gateway took it).
/// Before the clock jumps ahead the test waits for this: a notice is for now, not days later.
async fn told(notification: &Notification, code: &str, trigger: &str) -> Delivery {
    poll(&format!("the applicant is sent {trigger}"), || async {
        deliveries(notification, code).await.into_iter().find(|d| {
            d.trigger == trigger
                && d.recipient_kind == "applicant"
                && d.status == DeliveryStatus::Sent as i32
        })
    })
    .await
}

/// Lookup's public JSON for the dossier (what the public page's script asks), if it answers.
async fn public(floor: &Floor, code: &str, secret: &str) -> Option<serde_json::Value> {
    let r = floor
        .http
        .post(format!("{}/api/v1/dossiers/lookup", floor.web("lookup")))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "dossier_code": code, "secret": secret }).to_string())
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    serde_json::from_slice(&r.bytes().await.ok()?).ok()
}

/// Columns (3)–(5) and (6)–(13) of a Biểu 06 row, in the form's order.
#[rustfmt::skip]
fn cells(r: &Form06Row) -> [u64; 11] {
    [r.received_total, r.received_online, r.received_counter_postal, r.carried_over,
     r.resolved_total, r.resolved_early, r.resolved_on_time, r.resolved_late,
     r.in_progress_total, r.in_progress_within_deadline, r.in_progress_overdue]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_land_dossier_is_the_same_story_on_every_interface() {
    let started = std::time::Instant::now();
    let (phone, gateway) = sms_gateway().await;
    let mut floor = Floor::new(move |v| {
        v.set("MOTCUA_SMS_PROVIDER", "http");
        v.set("MOTCUA_SMS_GATEWAY_URL", gateway);
        v.set("MOTCUA_SMS_GATEWAY_ID_POINTER", "/messageId");
        v.set("MOTCUA_SMS_INBOUND_SECRET", GATEWAY_SECRET);
    })
    .await;
    for service in SERVICES {
        floor.start(service).await;
    }
    let clock = floor.clock.clone();
    let bearer = |role, department, sub| Bearer::new(&token(&[role], AGENCY, department, sub));
    let leads = || bearer(Role::Leader, LEADERS, "ld-hung");
    let mut intake = IntakeServiceClient::with_interceptor(
        channel(floor.addr("intake")).await,
        bearer(Role::Desk, DESK, "mc-lan"),
    );
    let desk = officer(&floor, Role::Desk, DESK, "mc-lan").await;
    let other_desk = officer(&floor, Role::Desk, DESK, "mc-hoa").await;
    let specialist = officer(&floor, Role::Specialist, LAND_DEPARTMENT, "cv-minh").await;
    let other_specialist = officer(&floor, Role::Specialist, LAND_DEPARTMENT, "cv-tuan").await;
    let leader = officer(&floor, Role::Leader, LEADERS, "ld-hung").await;
    let notification = NotificationServiceClient::with_interceptor(
        channel(floor.addr("notification")).await,
        leads(),
    );
    let reporting =
        ReportingServiceClient::with_interceptor(channel(floor.addr("reporting")).await, leads());

    // 1. The receipt. Monday 2 March 2026, 09:00 (the floor's start), at the counter, for
    //    "đăng ký biến động" (1.013831, 8 working days) of the shipped catalog. Intake has no
    //    printable receipt of its own: the receipt is SubmitDossier's answer, and GetDossier's.
    let submission = motcua_testkit::dossiers::land_submission("one-dossier");
    let receipt = intake.submit_dossier(submission).await.unwrap();
    let receipt = receipt.into_inner().receipt.unwrap();
    let code = receipt.dossier_code.clone();
    // `{agency}-{yyMMdd}-{sequence}`: the agency's first dossier that day.
    assert_eq!(code, format!("{AGENCY}-260302-0001"));
    assert_eq!(receipt.procedure_code, LAND_PROCEDURE);
    assert_eq!(at(&receipt.received_at), vn("2026-03-02T09:00:00"));
    // Eight working days of 8 h from Monday 09:00, no holiday in March 2026: Thursday 12, 09:00.
    let due_on_receipt = vn("2026-03-12T09:00:00");
    assert_eq!(at(&receipt.due_at), due_on_receipt);
    assert_eq!(receipt.applicant.as_ref().unwrap().name, "Nguyễn Văn An");
    assert_eq!(receipt.documents.len(), 3);
    assert_eq!(receipt.received_by.as_ref().unwrap().subject, "mc-lan");
    let lookup_token = receipt.lookup_token.clone();
    assert!(!lookup_token.is_empty(), "printed on the receipt");
    // The desk prints it again: the same code and appointment.
    let req = GetDossierRequest {
        dossier_code: code.clone(),
    };
    let kept = intake.get_dossier(req).await.unwrap().into_inner().dossier;
    let kept = kept.unwrap().receipt.unwrap();
    assert_eq!((&kept.dossier_code, kept.due_at), (&code, receipt.due_at));

    // 2. The officers' queues. Workflow opens the case from intake's event; its first step is
    //    the desk's, unassigned, and in no specialist's queue yet. Once claimed, it leaves the
    //    other officers' unassigned queues and shows who holds it.
    let queue = |who, scope, of| queued(who, scope, of, &code);
    poll("the desk's unassigned queue lists the dossier", || {
        queue(&desk, QueueScope::Unassigned, "")
    })
    .await;
    let spec_unassigned = || queue(&other_specialist, QueueScope::Unassigned, "");
    assert_eq!(spec_unassigned().await, None);
    let c = case(&leader, &code).await;
    assert_eq!(c.status, DossierStatus::Received as i32);
    clock.set(vn("2026-03-02T09:15:00"));
    let c = change!(desk, claim_task, ClaimTaskRequest, code, c);
    assert_eq!(c.assignee.as_ref().unwrap().subject, "mc-lan");
    let mine = queue(&desk, QueueScope::Mine, "").await;
    assert_eq!(mine.as_deref(), Some("mc-lan"));
    assert_eq!(queue(&other_desk, QueueScope::Unassigned, "").await, None);
    let department = queue(&other_desk, QueueScope::Department, "").await;
    assert_eq!(department.as_deref(), Some("mc-lan"));
    let c = change!(desk, forward_step, ForwardStepRequest, code, c);
    assert_eq!(queue(&desk, QueueScope::Mine, "").await, None);
    assert_eq!(spec_unassigned().await.as_deref(), Some(""));
    clock.set(vn("2026-03-02T10:00:00"));
    let c = change!(specialist, claim_task, ClaimTaskRequest, code, c);
    assert_eq!(spec_unassigned().await, None);
    let mine = queue(&specialist, QueueScope::Mine, "").await;
    assert_eq!(mine.as_deref(), Some("cv-minh"));
    // The leader's view of that officer.
    let watched = queue(&leader, QueueScope::Officer, "cv-minh").await;
    assert_eq!(watched.as_deref(), Some("cv-minh"));

    // 3. Supplement: asked Monday 10:00, handed in at the desk at 14:30. The clock stood for
    //    10:00–11:30 and 13:30–14:30, 2.5 working hours: the due time moves to 12 March 11:30.
    let c = change!(specialist, request_supplement, RequestSupplementRequest, code, c,
        missing: vec![MISSING.into()]);
    assert_eq!(c.status, DossierStatus::SupplementRequested as i32);
    assert_eq!(c.paused, PauseReason::Supplement as i32);
    told(&notification, &code, "received").await;
    told(&notification, &code, "supplement-requested").await;
    clock.set(vn("2026-03-02T14:30:00"));
    until_intake_shows(&mut intake, &code, DossierStatus::SupplementRequested).await;
    let document = SubmittedDocument {
        name: MISSING.into(),
        form: DocumentForm::CertifiedCopy as i32,
        copies: 1,
        ..Default::default()
    };
    let req = SubmitSupplementRequest {
        dossier_code: code.clone(),
        documents: vec![document],
        idempotency_key: "one-dossier-supplement".into(),
    };
    intake.submit_supplement(req).await.unwrap();
    let c = poll("workflow resumes the case", || async {
        let c = case(&leader, &code).await;
        (c.paused == 0 && c.status == DossierStatus::InProgress as i32).then_some(c)
    })
    .await;
    assert_eq!(at(&c.due_at), vn("2026-03-12T11:30:00"));
    // The receipt's date is kept beside the moved one.
    assert_eq!(at(&c.original_due_at), due_on_receipt);
    assert_eq!(c.supplement_requests, 1);
    let pause = (at(&c.pauses[0].started_at), at(&c.pauses[0].ended_at));
    assert_eq!(
        pause,
        (vn("2026-03-02T10:00:00"), vn("2026-03-02T14:30:00"))
    );
    // The step stays with its holder through the pause.
    assert_eq!(c.assignee.as_ref().unwrap().subject, "cv-minh");

    // 4. Financial obligation: asked Tuesday 09:00, paid at the desk at 10:00; one working hour
    //    more, so due 12 March 14:30 (11:30 is the end of the morning shift).
    clock.set(vn("2026-03-03T09:00:00"));
    let c = change!(specialist, request_financial_obligation, RequestFinancialObligationRequest,
        code, c, amount_vnd: 1_250_000, description: "Lệ phí trước bạ, thuế thu nhập cá nhân".into());
    assert_eq!(c.status, DossierStatus::FinancialObligation as i32);
    assert_eq!(
        (c.national_code, c.paused),
        (6, PauseReason::FinancialObligation as i32)
    );
    told(&notification, &code, "financial-obligation-requested").await;
    clock.set(vn("2026-03-03T10:00:00"));
    let c = change!(desk, record_payment, RecordPaymentRequest, code, c,
        reference: "BL-0012345".into());
    assert_eq!((c.status, c.paused), (DossierStatus::InProgress as i32, 0));
    assert_eq!(at(&c.obligation_paid_at), vn("2026-03-03T10:00:00"));
    let due = vn("2026-03-12T14:30:00");
    assert_eq!(at(&c.due_at), due);

    // 5. Apology. The specialist passes it on; the leader sits on it. On the due day, before the
    //    due time (the latest a letter may go), the leader apologises and promises three working
    //    days later; the result comes the next morning, late: the apology excuses nothing.
    clock.set(vn("2026-03-03T10:30:00"));
    let c = change!(specialist, forward_step, ForwardStepRequest, code, c);
    let c = change!(leader, claim_task, ClaimTaskRequest, code, c);
    assert_eq!(c.assignee.unwrap().subject, "ld-hung");
    clock.set(vn("2026-03-12T09:00:00"));
    let promised = vn("2026-03-17T14:30:00");
    let c = case(&leader, &code).await;
    let c = change!(leader, issue_apology, IssueApologyRequest, code, c,
        reason: "Hồ sơ cần xác minh thêm tại thực địa".into(), new_due_at: Some(ts(promised)));
    assert_eq!(at(&c.apology_due_at), promised);
    assert_eq!(
        at(&c.due_at),
        due,
        "an apology does not move the legal due time"
    );
    told(&notification, &code, "apology-issued").await;
    clock.set(vn("2026-03-13T09:00:00"));
    let c = case(&leader, &code).await;
    let c = change!(leader, forward_step, ForwardStepRequest, code, c);
    let c = change!(desk, claim_task, ClaimTaskRequest, code, c);
    let c = change!(desk, record_result, RecordResultRequest, code, c,
        result: "Giấy chứng nhận số CS 123456".into());
    assert_eq!(c.status, DossierStatus::Finished as i32);
    assert_eq!(
        c.outcome,
        Outcome::Late as i32,
        "finished after 12 March 14:30"
    );
    told(&notification, &code, "result-ready").await;
    clock.set(vn("2026-03-13T10:00:00"));
    let c = change!(desk, return_result, ReturnResultRequest, code, c);
    assert_eq!(c.status, DossierStatus::Returned as i32);
    told(&notification, &code, "result-returned").await;

    // 6. SMS lookup. Notification answers from lookup's read model, so lookup must have caught
    //    up first; then the gateway hands in the applicant's "HS <code> <token>".
    poll("lookup shows the result returned", || async {
        let page = public(&floor, &code, &lookup_token).await?;
        (page["national_code"] == 10).then_some(())
    })
    .await;
    let sms = serde_json::json!({
        "from": "84912345678",
        "text": format!("HS {code} {lookup_token}"),
        "message_id": "gw-in-1",
    });
    let r = floor
        .http
        .post(format!("{}/sms/inbound", floor.web("notification")))
        .header("x-gateway-secret", GATEWAY_SECRET)
        .header("content-type", "application/json")
        .body(sms.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let answer: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(answer["status"], "answered", "{answer}");
    // The reply reaches the phone after the six notices. It is found by what it says, not by its
    // place in the inbox: that each SMS reached the phone exactly once, in any order, is checked
    // against the log below, which then names a message that came twice.
    let status_sms = (
        APPLICANT_PHONE.to_owned(),
        format!("Ho so {code}: Da tra ket qua."),
    );
    poll("the reply reaches the phone", || async {
        phone.lock().unwrap().contains(&status_sms).then_some(())
    })
    .await;

    // 7. The public page: the JSON the page's script reads, then the HTML a browser without
    //    script gets. Either secret the applicant holds opens it; names are masked.
    let page = public(&floor, &code, &lookup_token).await.unwrap();
    for (field, want) in [
        ("dossier_code", code.as_str()),
        ("status_label", "Đã trả kết quả"),
        ("outcome", "Quá hạn"),
        ("applicant_name_masked", "N***** V** A*"),
        ("original_due_at", "2026-03-12T09:00:00+07:00"),
        ("due_at", "2026-03-12T14:30:00+07:00"),
        ("apology_due_at", "2026-03-17T14:30:00+07:00"),
        ("promised_due_at", "2026-03-17T14:30:00+07:00"),
        ("returned_at", "2026-03-13T10:00:00+07:00"),
    ] {
        assert_eq!(page[field], want, "{field} in {page}");
    }
    assert_eq!(page["obligation_paid"], true);
    // Its public history, by national status: received, in progress, supplement (5), obligation
    // (6), the apology and the steps (4), result (9), returned (10).
    let history = page["history"].as_array().unwrap().iter();
    let national: Vec<_> = history
        .map(|h| h["national_code"].as_u64().unwrap())
        .collect();
    assert_eq!(national, [2, 4, 5, 4, 6, 4, 4, 4, 4, 9, 10], "{page}");
    let by_id = public(&floor, &code, APPLICANT_ID).await.unwrap();
    assert_eq!(by_id["national_code"], 10, "the ID number opens it too");
    let r = floor
        .http
        .post(format!("{}/tra-cuu", floor.web("lookup")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("ma-ho-so={code}&ma-tra-cuu={lookup_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains(&code), "{html}");
    let status = r#"<strong class="status-label">Đã trả kết quả</strong>"#;
    assert!(html.contains(status), "{html}");
    assert!(
        html.contains("hẹn trả kết quả vào 14:30 ngày 17/03/2026"),
        "{html}"
    );
    assert!(!html.contains("Nguyễn Văn An") && !html.contains(APPLICANT_PHONE));

    // 8. The delivery log: each event the applicant hears of, once, by SMS (no e-mail was
    //    given), to the masked phone, saying what the applicant needs; and the SMS lookup's
    //    reply, to its sender. What reached the phone is exactly what the log says was sent.
    let log = deliveries(&notification, &code).await;
    let mut to_applicant: Vec<&Delivery> = log
        .iter()
        .filter(|d| d.recipient_kind == "applicant")
        .collect();
    to_applicant.sort_by(|a, b| a.trigger.cmp(&b.trigger));
    let triggers: Vec<&str> = to_applicant.iter().map(|d| d.trigger.as_str()).collect();
    let events = [
        "apology-issued",
        "financial-obligation-requested",
        "received",
    ];
    let events = [
        &events[..],
        &["result-ready", "result-returned", "supplement-requested"],
    ];
    assert_eq!(triggers, events.concat());
    for d in &to_applicant {
        assert_eq!(d.channel, motcua_proto::notification::Channel::Sms as i32);
        assert_eq!(d.status, DeliveryStatus::Sent as i32, "{d:?}");
        assert_eq!(d.recipient, "09******78");
        assert!(d.body.contains(&code), "{d:?}");
    }
    let says = |trigger: &str, what: &str| {
        let d = to_applicant.iter().find(|d| d.trigger == trigger).unwrap();
        assert!(
            d.body.contains(what),
            "{trigger} should say {what}: {}",
            d.body
        );
    };
    says("received", "12/03/2026");
    says(
        "supplement-requested",
        "Ban sao trich do dia chinh thua dat",
    );
    says("financial-obligation-requested", "1.250.000");
    says("apology-issued", "ngay 17 thang 3 nam 2026");
    let replies: Vec<&Delivery> = log
        .iter()
        .filter(|d| d.recipient_kind == "sender")
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].trigger, "sms-reply");
    let mut sent: Vec<&str> = log.iter().map(|d| d.body.as_str()).collect();
    sent.sort();
    let inbox = phone.lock().unwrap().clone();
    assert!(
        inbox.iter().all(|(to, _)| to == APPLICANT_PHONE),
        "{inbox:?}"
    );
    let mut reached: Vec<&str> = inbox.iter().map(|(_, text)| text.as_str()).collect();
    reached.sort();
    assert_eq!(reached, sent);

    // 9. Biểu 06 for month 3 of 2026 as reported in practice (15 February – 14 March): received
    //    at the counter in the period, resolved in it, late; nothing left in progress.
    let month = Period {
        kind: PeriodKind::Month as i32,
        year: 2026,
        number: 3,
        ..Default::default()
    };
    let form = poll("Biểu 06 counts the dossier as resolved", || async {
        let req = GetForm06Request {
            period: Some(month.clone()),
            ..Default::default()
        };
        let form = reporting.clone().get_form06(req).await.ok()?.into_inner();
        (form.total.as_ref()?.resolved_total == 1).then_some(form)
    })
    .await;
    assert_eq!(
        (form.from.as_str(), form.to.as_str()),
        ("2026-02-15", "2026-03-14")
    );
    let want = [1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0];
    assert_eq!(form.rows.len(), 1, "{:?}", form.rows);
    assert_eq!(form.rows[0].field, "dat-dai");
    assert_eq!(cells(&form.rows[0]), want, "{:?}", form.rows[0]);
    assert_eq!(cells(form.total.as_ref().unwrap()), want);
    assert!(
        (form.late_percent - 100.0).abs() < 1e-9,
        "{}",
        form.late_percent
    );

    // 10. The same form as XLSX: a zip, with the counted figures where the official layout puts
    //     them (the field's row, then the totals; columns (1)–(13)), read back with calamine.
    let format = ExportFormat::Xlsx as i32;
    let req = ExportForm06Request {
        period: Some(month),
        format,
        ..Default::default()
    };
    let file = reporting
        .clone()
        .export_form06(req)
        .await
        .unwrap()
        .into_inner();
    assert!(file.content.starts_with(b"PK"), "an XLSX is a zip");
    assert!(file.file_name.ends_with(".xlsx"), "{}", file.file_name);
    use calamine::{Data, Reader, Xlsx};
    let cursor = std::io::Cursor::new(file.content);
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(cursor).unwrap();
    let sheet = book.worksheet_range("Biểu 06").unwrap();
    let text = |r: u32, c: u32| match sheet.get_value((r, c)) {
        Some(Data::String(s)) => s.clone(),
        Some(Data::Float(f)) => f.to_string(),
        Some(Data::Int(i)) => i.to_string(),
        _ => String::new(),
    };
    let row = |r: u32| (0..13).map(|c| text(r, c)).collect::<Vec<_>>();
    let period = "Kỳ báo cáo: từ ngày 15/02/2026 đến ngày 14/03/2026";
    assert_eq!(text(2, 0), period);
    let figures = ["1", "0", "1", "0", "1", "0", "0", "1", "0", "0", "0"];
    assert_eq!(row(9), [&["1", "Đất đai"][..], &figures].concat());
    assert_eq!(row(10), [&["Tổng cộng", ""][..], &figures].concat());

    floor.stop().await;
    println!(
        "one dossier, every interface: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
