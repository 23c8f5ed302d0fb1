//! Who sees which agency's reports (DESIGN.md "Identity"): a leader and an agency admin their own
//! agency, a province admin every agency of their province and nothing of another; the
//! dashboard keeps the same scope in its session. And which agencies reporting knows: those of
//! the catalog file and those the published catalog names at run time.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_domain::time::ts;
use motcua_platform::auth::Role;
use motcua_proto::common::{Channel, DossierStatus};
use motcua_proto::events::{DossierState, DossierSubmitted, ProcedurePublished};
use motcua_proto::reporting::*;
use motcua_testkit::{province_admin_token, token};
use prost::Message;

fn march() -> Option<Period> {
    Some(Period {
        kind: PeriodKind::Custom as i32,
        from: "2026-03-01".into(),
        to: "2026-03-31".into(),
        ..Default::default()
    })
}

/// Calls `method` of reporting asking for `agency`'s figures.
async fn call(client: &mut Client, method: &str, agency: &str) -> Result<(), tonic::Status> {
    let agency = agency.to_owned();
    match method {
        "GetForm06" => client
            .get_form06(GetForm06Request {
                period: march(),
                agency,
                by_procedure: false,
            })
            .await
            .map(drop),
        "ExportForm06" => client
            .export_form06(ExportForm06Request {
                period: march(),
                agency,
                format: ExportFormat::Csv as i32,
                ..Default::default()
            })
            .await
            .map(drop),
        "GetTrend" => client
            .get_trend(GetTrendRequest {
                period: march(),
                agency,
                ..Default::default()
            })
            .await
            .map(drop),
        "GetBacklog" => client
            .get_backlog(GetBacklogRequest {
                agency,
                ..Default::default()
            })
            .await
            .map(drop),
        "ListRepeatedSupplements" => client
            .list_repeated_supplements(ListRepeatedSupplementsRequest {
                period: march(),
                agency,
            })
            .await
            .map(drop),
        "GetOfficerPerformance" => client
            .get_officer_performance(GetOfficerPerformanceRequest {
                period: march(),
                agency,
            })
            .await
            .map(drop),
        other => panic!("walk {other} too: a new RPC must be scoped and tested here"),
    }
}

/// A dossier of `agency` received in March (submitted: version 1).
fn received(code: &str, agency: &str) -> Vec<u8> {
    DossierSubmitted {
        state: Some(DossierState {
            dossier_code: code.into(),
            version: 1,
            status: DossierStatus::Received as i32,
            procedure_code: "1.013831".into(),
            procedure_version: 1,
            procedure_name: "Thủ tục".into(),
            field: "dat-dai".into(),
            receiving_agency: agency.into(),
            competent_agency: agency.into(),
            channel: Channel::Counter as i32,
            received_at: Some(ts(vn("2026-03-10T09:00:00"))),
            due_at: Some(ts(vn("2026-03-24T16:00:00"))),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_is_refused_outside_the_callers_agency_or_province() {
    let app = Reporting::start(vn("2026-04-10T09:00:00")).await;
    let methods = motcua_testkit::methods(
        motcua_proto::FILE_DESCRIPTOR_SET,
        "motcua.reporting.v1.ReportingService",
    );
    assert_eq!(methods.len(), 6, "{methods:?}");
    let outsiders = [
        (
            "a leader of another agency",
            token(&[Role::Leader], B, "", "ld-b"),
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
    for method in &methods {
        for (who, t) in &outsiders {
            let e = call(&mut app.client(t), method, A).await.unwrap_err();
            assert!(
                matches!(
                    e.code(),
                    tonic::Code::PermissionDenied | tonic::Code::NotFound
                ),
                "{method} for agency A by {who}: {e:?}"
            );
        }
        for (who, t) in [
            ("A's leader", token(&[Role::Leader], A, "", "ld-a")),
            ("A's admin", token(&[Role::Admin], A, "", "qt-a")),
            (
                "a province admin of A's province",
                province_admin_token(B, "qt-h56"),
            ),
        ] {
            call(&mut app.client(&t), method, A)
                .await
                .unwrap_or_else(|e| panic!("{method} for agency A by {who}: {e:?}"));
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_without_an_agency_named_sees_their_scope_and_nothing_beyond() {
    let app = Reporting::start(vn("2026-04-10T09:00:00")).await;
    for (code, agency) in [
        ("A-1", A),
        ("A-2", A),
        ("B-1", B),
        ("C-1", OTHER_PROVINCE),
        ("C-2", OTHER_PROVINCE),
        ("C-3", OTHER_PROVINCE),
    ] {
        app.publish(
            "dossier.dat-dai.submitted",
            "submitted",
            received(code, agency),
        )
        .await;
    }
    app.wait_db("SELECT count(*) = 6 FROM facts", "the six dossiers counted")
        .await;
    let received_by = async |t: &str| {
        app.client(t)
            .get_form06(GetForm06Request {
                period: march(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .total
            .unwrap()
            .received_total
    };
    assert_eq!(
        received_by(&province_admin_token(B, "qt-h56")).await,
        3,
        "A's two and B's one: the province H56, not H57's three"
    );
    assert_eq!(
        received_by(&token(&[Role::Admin], A, "", "qt-a")).await,
        2,
        "an agency admin: their agency"
    );
    assert_eq!(
        received_by(&province_admin_token(OTHER_PROVINCE, "qt-h57")).await,
        3
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_session_keeps_a_province_admins_scope() {
    let app = Reporting::start(vn("2026-04-10T09:00:00")).await;
    app.publish("dossier.dat-dai.submitted", "submitted", received("A-1", A))
        .await;
    app.wait_db("SELECT count(*) = 1 FROM facts", "the dossier counted")
        .await;
    let query = format!("/?ky=tuy-chon&tu=2026-03-01&den=2026-03-31&co-quan={A}");
    // A province admin whose own agency is B reads A's report on the dashboard.
    let session = app.sign_in(&province_admin_token(B, "qt-h56")).await;
    let r = app.get_with_session(&query, &session).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sở Nông nghiệp và Môi trường"), "{page}");
    let r = app
        .get_with_session(&format!("/bieu-06.csv?{}", &query[2..]), &session)
        .await;
    assert_eq!(r.status(), 200);
    // B's agency admin does not.
    let session = app.sign_in(&token(&[Role::Admin], B, "", "qt-b")).await;
    let r = app.get_with_session(&query, &session).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text().await.unwrap().contains("ngoài phạm vi"),
        "says why"
    );
    let r = app
        .get_with_session(&format!("/bieu-06.csv?{}", &query[2..]), &session)
        .await;
    assert_eq!(r.status(), 400);
    // Nor one of another province.
    let session = app
        .sign_in(&province_admin_token(OTHER_PROVINCE, "qt-h57"))
        .await;
    let r = app.get_with_session(&query, &session).await;
    assert_eq!(r.status(), 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agency_published_at_run_time_is_reportable() {
    const NEW: &str = "000.00.09.H56";
    let app = Reporting::start(vn("2026-04-10T09:00:00")).await;
    let admin = province_admin_token(A, "qt-h56");
    let ask = async || {
        app.client(&admin)
            .get_form06(GetForm06Request {
                period: march(),
                agency: NEW.into(),
                ..Default::default()
            })
            .await
    };
    let e = ask().await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("unknown agency"), "{}", e.message());
    // Intake's PublishProcedure names a new competent agency: its catalog event reaches
    // reporting, and its dossiers are counted and reported.
    let procedure = motcua_proto::common::Procedure {
        code: "9.000001".into(),
        version: 1,
        name: "Thủ tục mới".into(),
        field: "dat-dai".into(),
        competent_agency: NEW.into(),
        ..Default::default()
    };
    app.publish(
        "catalog.procedure-published",
        "procedure-published",
        ProcedurePublished {
            procedure: Some(procedure),
        }
        .encode_to_vec(),
    )
    .await;
    app.publish(
        "dossier.dat-dai.submitted",
        "submitted",
        received("N-1", NEW),
    )
    .await;
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM processed_events WHERE consumer = 'reporting-catalog')",
        "the catalog event handled",
    )
    .await;
    app.wait_db("SELECT count(*) = 1 FROM facts", "the dossier counted")
        .await;
    let report = ask().await.unwrap().into_inner();
    assert_eq!(report.total.unwrap().received_total, 1);
    // Its own admin and leader too; a leader of another agency still not.
    for t in [
        token(&[Role::Admin], NEW, "", "qt-n"),
        token(&[Role::Leader], NEW, "", "ld-n"),
    ] {
        app.client(&t)
            .get_form06(GetForm06Request {
                period: march(),
                agency: NEW.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    app.stop().await;
}
