//! The read model against the real stream: duplicated and reordered events leave the newest state
//! and the whole public history; the model rebuilt from the streams equals the live one, finds a
//! damaged one, and replaces it while lookup keeps consuming; the catalog shows the version in
//! force by the clock.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_lookup::rebuild::{self, Mode};
use motcua_platform::SharedClock;
use motcua_proto::common::{
    DossierStatus, PauseReason, Procedure, ProcessingTime, processing_time,
};
use motcua_proto::events::{ChangeKind, DossierState};
use motcua_proto::lookup::{GetProcedureRequest, PublicDossier};
use sqlx::ConnectOptions;
use std::time::Duration;
use uuid::Uuid;

/// The life of a dossier as events: (subject event, type, payload), versions 1 to 5.
fn life(
    code: &str,
    token: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<(&'static str, Vec<u8>)> {
    let s = |v: u64, status: DossierStatus| -> DossierState {
        let mut st = state(code, v, status, token);
        if v >= 3 {
            st.current_step_name = "Thẩm định hồ sơ".into();
            st.current_department = LAND_DEPARTMENT.into();
        }
        st
    };
    let mut paused = s(5, DossierStatus::SupplementRequested);
    paused.paused = PauseReason::Supplement as i32;
    paused.missing_documents = vec!["Bản vẽ sơ đồ thửa đất".into()];
    paused.supplement_requests = 1;
    let minute = |m: i64| at + chrono::Duration::minutes(m);
    vec![
        ("submitted", submitted(s(1, DossierStatus::Received))),
        (
            "state-changed",
            changed(s(2, DossierStatus::Received), ChangeKind::Opened, minute(1)),
        ),
        (
            "state-changed",
            changed(
                s(3, DossierStatus::InProgress),
                ChangeKind::Forwarded,
                minute(2),
            ),
        ),
        (
            "state-changed",
            changed(
                s(4, DossierStatus::InProgress),
                ChangeKind::Claimed,
                minute(3),
            ),
        ),
        (
            "state-changed",
            changed(paused, ChangeKind::SupplementRequested, minute(4)),
        ),
    ]
}

async fn publish_all(app: &App, events: &[(&'static str, Vec<u8>)], order: &[usize]) {
    for &i in order {
        let (event_type, payload) = &events[i];
        app.publish(
            &format!("dossier.dat-dai.{event_type}"),
            event_type,
            Uuid::now_v7(),
            payload.clone(),
        )
        .await;
    }
}

async fn shown(app: &App, code: &str, token: &str) -> PublicDossier {
    grpc_dossier(app, code, token).await.unwrap()
}

/// What the lookup replica at `addr` shows.
async fn shown_at(addr: std::net::SocketAddr, code: &str, token: &str) -> PublicDossier {
    motcua_proto::lookup::lookup_service_client::LookupServiceClient::new(channel(addr).await)
        .lookup_dossier(motcua_proto::lookup::LookupDossierRequest {
            dossier_code: code.into(),
            secret: token.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .dossier
        .unwrap()
}

async fn connection(app: &App) -> sqlx::PgConnection {
    let settings = motcua_platform::config::Settings::from_vars(&app.vars).unwrap();
    motcua_platform::db::options(&settings.database_url)
        .unwrap()
        .database(&settings.database_name("lookup"))
        .connect()
        .await
        .unwrap()
}

async fn rebuild(app: &App, mode: Mode) -> rebuild::Report {
    let clock: SharedClock = app.clock.clone();
    rebuild::run(connection(app).await, &app.bus, &clock, mode)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_events_leave_the_newest_state_and_the_whole_history() {
    let app = lookup_only(|_| {}).await;
    let at = start_time();
    let (ordered, shuffled) = ("000.00.06.H56-260302-0001", "000.00.06.H56-260302-0002");
    let events_a = life(ordered, "AAAAAAAAAA", at);
    let events_b = life(shuffled, "BBBBBBBBBB", at);
    publish_all(&app, &events_a, &[0, 1, 2, 3, 4]).await;
    // Newest first, the oldest last, and three of them twice (as another event id: what a
    // projection sees when a producer sends the same state again).
    publish_all(&app, &events_b, &[4, 2, 4, 0, 3, 2, 1, 0]).await;
    app.wait_db(
        "SELECT count(*) = 2 FROM dossiers WHERE version = 5",
        "both dossiers at version 5",
    )
    .await;
    app.wait_db(
        "SELECT count(*) = 13 FROM processed_events WHERE consumer = 'lookup-dossiers'",
        "all 13 events handled",
    )
    .await;
    let a = shown(&app, ordered, "AAAAAAAAAA").await;
    let mut b = shown(&app, shuffled, "BBBBBBBBBB").await;
    assert_eq!(a.version, 5);
    assert_eq!(a.status, DossierStatus::SupplementRequested as i32);
    assert_eq!(a.missing_documents, ["Bản vẽ sơ đồ thửa đất"]);
    let history: Vec<(u64, &str)> = a
        .history
        .iter()
        .map(|c| (c.version, c.label.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            (1, "Tiếp nhận hồ sơ"),
            (3, "Chuyển bước: Thẩm định hồ sơ"),
            (5, "Yêu cầu bổ sung hồ sơ")
        ],
        "public changes only, in version order, each once"
    );
    b.dossier_code = a.dossier_code.clone();
    assert_eq!(b, a, "the order and the duplicates change nothing");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_from_the_streams_equals_the_live_model_and_replaces_a_damaged_one() {
    // Two replicas, each keeping the rows it read in its own memory.
    let mut app = lookup_only(|_| {}).await;
    app.start_lookup().await;
    let replicas = app.lookup_replicas();
    assert_eq!(replicas.len(), 2);
    let at = start_time();
    let codes: Vec<String> = (1..=30)
        .map(|i| format!("{AGENCY}-260302-{i:04}"))
        .collect();
    for (i, code) in codes.iter().enumerate() {
        let events = life(code, "TOKENTOKEN", at);
        let order: &[usize] = if i % 2 == 0 {
            &[0, 1, 2, 3, 4]
        } else {
            &[3, 0, 4, 1, 2]
        };
        publish_all(&app, &events, order).await;
    }
    publish_version(
        &app,
        "1.013831",
        1,
        "2025-07-01",
        "Đăng ký biến động đất đai",
    )
    .await;
    app.wait_db(
        "SELECT count(*) = 30 FROM dossiers WHERE version = 5",
        "thirty dossiers at version 5",
    )
    .await;
    app.wait_db("SELECT count(*) = 1 FROM procedures", "one procedure")
        .await;
    // Every event handled, late older ones (which only add history) included.
    app.wait_db(
        "SELECT count(*) = 150 FROM processed_events WHERE consumer = 'lookup-dossiers'",
        "all 150 dossier events handled",
    )
    .await;

    let report = rebuild(&app, Mode::Check).await;
    assert_eq!(report.dossier_events, 150);
    assert_eq!(report.catalog_events, 1);
    assert!(report.equal(), "rebuilt = live: {:?}", report.differences);

    // Damage the live model: a row lost, another's view stale, a procedure renamed.
    sqlx::query("DELETE FROM dossiers WHERE dossier_code = $1")
        .bind(&codes[0])
        .execute(&app.lookup_db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE dossiers SET view = (SELECT view FROM dossiers WHERE dossier_code = $2)
         WHERE dossier_code = $1",
    )
    .bind(&codes[1])
    .bind(&codes[2])
    .execute(&app.lookup_db)
    .await
    .unwrap();
    // Read once from each replica, the damaged row is now also kept in each one's memory.
    for &replica in &replicas {
        assert_eq!(
            shown_at(replica, &codes[1], "TOKENTOKEN")
                .await
                .dossier_code,
            codes[2]
        );
    }
    sqlx::query("UPDATE procedures SET name = 'sai'")
        .execute(&app.lookup_db)
        .await
        .unwrap();
    let report = rebuild(&app, Mode::Check).await;
    // The lost row is on one side, the stale one on both; the renamed procedure on both.
    assert_eq!(
        report.differences,
        [("dossiers".to_owned(), 3), ("procedures".to_owned(), 2)]
    );

    // A rebuild from the wrong streams (another bus prefix: nothing there) would empty the
    // model: refused, nothing replaced.
    let elsewhere = motcua_platform::bus::Bus::connect(
        &motcua_platform::config::Settings::from_vars(&app.vars)
            .unwrap()
            .nats_url,
        &format!("elsewhere{}.", app.id),
    )
    .await
    .unwrap();
    let retention = motcua_platform::config::Settings::from_vars(&app.vars)
        .unwrap()
        .retention;
    elsewhere.ensure_streams(&retention).await.unwrap();
    let clock: SharedClock = app.clock.clone();
    let refused = rebuild::run(
        connection(&app).await,
        &elsewhere,
        &clock,
        Mode::Replace { force: false },
    )
    .await
    .unwrap_err();
    assert!(format!("{refused:#}").contains("fewer rows"), "{refused:#}");
    elsewhere.delete_streams().await;
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM dossiers")
        .fetch_one(&app.lookup_db)
        .await
        .unwrap();
    assert_eq!(live, 29, "the live model as it was");

    let report = rebuild(&app, Mode::Replace { force: false }).await;
    assert_eq!(report.dossiers, 30);
    // Each replica drops what it kept when it hears the rebuild's announcement: the restored and
    // the mended rows show from either, well within the 30 s a kept row may live (a replica that
    // ignored the announcement would answer the damaged row until then).
    for &replica in &replicas {
        assert_eq!(shown_at(replica, &codes[0], "TOKENTOKEN").await.version, 5);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let shown = shown_at(replica, &codes[1], "TOKENTOKEN")
                .await
                .dossier_code;
            if shown == codes[1] {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "replica {replica} still answers from the row it kept: {shown}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(
        rebuild(&app, Mode::Check).await.differences,
        [("dossiers".to_owned(), 0), ("procedures".to_owned(), 0)]
    );

    // The live consumer goes on into the replaced tables.
    let code = format!("{AGENCY}-260302-0099");
    publish_all(&app, &life(&code, "TOKENTOKEN", at), &[0, 1, 2]).await;
    let d = app.wait_version(&code, "TOKENTOKEN", 3).await;
    assert_eq!(d.status, DossierStatus::InProgress as i32);
    app.stop().await;
}

async fn publish_version(app: &App, code: &str, version: u32, from: &str, name: &str) {
    let p = Procedure {
        code: code.into(),
        version,
        name: name.into(),
        field: "dat-dai".into(),
        competent_agency: AGENCY.into(),
        level: motcua_proto::common::ServiceLevel::Partial as i32,
        processing_time: Some(ProcessingTime {
            span: Some(processing_time::Span::WorkingDays(8 + version)),
        }),
        effective_from: from.into(),
        published_by: "admin-1".into(),
        ..Default::default()
    };
    publish_procedure(app, p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_shows_the_version_in_force_by_the_clock() {
    let app = lookup_only(|_| {}).await;
    publish_version(&app, "1.013831", 1, "2025-07-01", "Đăng ký biến động").await;
    publish_version(&app, "1.013831", 2, "2026-04-01", "Đăng ký biến động (mới)").await;
    app.wait_db("SELECT count(*) = 2 FROM procedures", "two versions")
        .await;
    let get = || async {
        app.lookup_client()
            .await
            .get_procedure(GetProcedureRequest {
                code: "1.013831".into(),
            })
            .await
            .unwrap()
            .into_inner()
    };
    let today = get().await;
    let p = today.procedure.unwrap();
    assert_eq!((p.version, p.name.as_str()), (1, "Đăng ký biến động"));
    assert!(p.published_by.is_empty(), "who published it is not public");
    assert!(today.competent_agency_name.starts_with("Sở Nông nghiệp"));
    // A month later the new version is in force (Vietnam's 1 April).
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-04-01T00:30:00+07:00")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    assert_eq!(get().await.procedure.unwrap().version, 2);
    app.stop().await;
}

/// Every table of lookup's database is in its retention registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_has_a_retention() {
    let app = lookup_only(|_| {}).await;
    let (missing, extra) =
        motcua_platform::retention::unlisted(&app.lookup_db, motcua_lookup::retention::TABLES)
            .await
            .unwrap();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{missing:?} {extra:?}"
    );
    app.stop().await;
}
