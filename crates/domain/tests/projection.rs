//! "Decode by type, apply if newer" against the real PostgreSQL: whatever order and however often
//! a dossier's events come, a read model ends with its newest state, and requests are not states.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use futures::future::BoxFuture;
use motcua_domain::events::{self, DossierEvent};
use motcua_domain::projection::{Projector, StateProjection};
use motcua_platform::config::ServerUrl;
use motcua_platform::consumer::{Event, HandleError, Handler};
use motcua_proto::events::{
    DossierState, DossierStateChanged, DossierSubmitted, SupplementSubmitted,
};
use prost::Message;
use sqlx::PgConnection;

static NO_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;

/// A read model of one table: the dossier's status and version as last applied.
struct Statuses;

impl StateProjection for Statuses {
    fn name(&self) -> &'static str {
        "test-statuses"
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        state: &'a DossierState,
        _event: &'a DossierEvent,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO statuses (code, version, status) VALUES ($1, $2, $3)
                 ON CONFLICT (code) DO UPDATE SET version = $2, status = $3",
            )
            .bind(&state.dossier_code)
            .bind(state.version as i64)
            .bind(state.status)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }
}

fn state(version: u64, status: i32) -> Option<DossierState> {
    Some(DossierState {
        dossier_code: "000.00.06.H56-260302-0001".into(),
        version,
        status,
        ..Default::default()
    })
}

fn event(kind: &str, payload: Vec<u8>) -> Event {
    Event {
        id: uuid::Uuid::now_v7(),
        event_type: kind.into(),
        subject: format!("dossier.dat-dai.{kind}"),
        payload: payload.into(),
        published: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_and_repeated_events_leave_the_newest_state() {
    let url = ServerUrl::new("postgres://postgres@127.0.0.1:5432");
    let database = format!(
        "t_{}_proj",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let pool = motcua_platform::db::connect(&url, &database, 2, &NO_MIGRATIONS)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE statuses (code text PRIMARY KEY, version bigint, status int)")
        .execute(&pool)
        .await
        .unwrap();
    let changed = |v: u64, status: i32| {
        event(
            events::STATE_CHANGED,
            DossierStateChanged {
                state: state(v, status),
                change: "step-completed".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        )
    };
    let submitted = event(
        events::SUBMITTED,
        DossierSubmitted {
            state: state(1, 1),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let supplement = event(
        events::SUPPLEMENT_SUBMITTED,
        SupplementSubmitted {
            dossier_code: "000.00.06.H56-260302-0001".into(),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let v3 = changed(3, 8);
    // Out of order and twice; a request in between; a type from a newer producer.
    let order = [
        changed(2, 4),
        v3.clone(),
        submitted,
        supplement,
        v3,
        event("archived", b"whatever".to_vec()),
    ];
    let projector = Projector(Statuses);
    for e in &order {
        let mut tx = pool.begin().await.unwrap();
        projector.handle(&mut tx, e).await.unwrap();
        tx.commit().await.unwrap();
    }
    let (version, status): (i64, i32) = sqlx::query_as("SELECT version, status FROM statuses")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        (version, status),
        (3, 8),
        "the newest state, whatever the order"
    );

    // An event that does not decode, or a state without a version, can never be applied.
    for bad in [
        event(events::STATE_CHANGED, vec![0xff, 0xff, 0xff]),
        event(
            events::STATE_CHANGED,
            DossierStateChanged::default().encode_to_vec(),
        ),
    ] {
        let mut tx = pool.begin().await.unwrap();
        let e = projector.handle(&mut tx, &bad).await.unwrap_err();
        assert!(matches!(e, HandleError::Poison(_)), "{e}");
    }
    pool.close().await;
    motcua_platform::db::drop_database(&url, &database)
        .await
        .unwrap();
}
