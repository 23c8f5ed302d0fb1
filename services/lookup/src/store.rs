//! Reading dossier rows, many lookups to a query.
//!
//! A lookup is one row by key, and on results days thousands arrive a second. A query per lookup
//! spends most of its time in the round trip and in PostgreSQL's per-statement work, not in
//! finding the row. So lookups queue here, and a few readers each take what has queued (up to
//! [`MAX_BATCH`]) and fetch it with one query (the batch's codes joined to the rows). When lookups
//! are few each goes alone at once (no waiting to fill a batch); under load the batches fill by
//! themselves while the previous queries run. Every answer read here comes from the database as
//! it is now, and an unknown code takes the same path as a known one. (Rows read recently may also
//! be kept in memory: [`crate::cache`].)

use crate::error::LookupError;
use crate::guard::StoredSecrets;
use sqlx::{Connection, PgConnection, PgPool};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Lookups in one query at most.
const MAX_BATCH: usize = 64;
/// Lookups waiting at most; past it a lookup waits for room (the gRPC boundary and the HTTP side
/// shed load long before this fills).
const QUEUE: usize = 4096;

/// A dossier's stored view and secret hashes.
#[derive(Debug, Clone)]
pub struct Row {
    pub version: u64,
    /// Counts every write of the row (see migration 0002).
    pub revision: i64,
    pub view: Vec<u8>,
    pub secrets: StoredSecrets,
}

type Reply = oneshot::Sender<Result<Option<Row>, Arc<LookupError>>>;

#[derive(Debug, Clone)]
pub struct Reader {
    queue: mpsc::Sender<(String, Reply)>,
}

impl Reader {
    /// Starts `readers` reading tasks on `pool` (they end when the last `Reader` is dropped).
    pub fn start(pool: PgPool, readers: usize) -> Self {
        let (tx, rx) = mpsc::channel::<(String, Reply)>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..readers.max(1) {
            let (pool, rx) = (pool.clone(), rx.clone());
            tokio::spawn(async move {
                // Each reader keeps a connection of its own, beside the pool: taking one from
                // the pool and giving it back for every query cost more, on this side, than the
                // query itself (fresh lookups over HTTP 0.30 → 0.36 of the no-op ceiling).
                let mut conn: Option<PgConnection> = None;
                loop {
                    let batch = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        // Let the requests already running reach the queue first: one turn of
                        // the scheduler took batches from 5 lookups a query to 8 in the benchmark.
                        tokio::task::yield_now().await;
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(next) => batch.push(next),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    let codes: Vec<&str> = batch.iter().map(|(c, _)| c.as_str()).collect();
                    let started = std::time::Instant::now();
                    let mut read = read(&pool, &mut conn, &codes).await;
                    if read.is_err() && conn.take().is_some() {
                        // The kept connection may have been closed under it (a restart, an idle
                        // timeout): once more on a new one before the lookups see an error. (Not
                        // one from the pool: after a restart those are closed as well.)
                        read = read_fresh(&pool, &mut conn, &codes).await;
                    }
                    metrics::histogram!("motcua_lookup_read_seconds")
                        .record(started.elapsed().as_secs_f64());
                    answer(batch, read);
                }
            });
        }
        Self { queue: tx }
    }

    /// The row of `code`, if there is one.
    pub async fn row(&self, code: String) -> Result<Option<Row>, LookupError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((code, tx))
            .await
            .map_err(|_| LookupError::Unavailable("lookup's readers have stopped".into()))?;
        match rx.await {
            Ok(Ok(row)) => Ok(row),
            Ok(Err(e)) => Err(match e.as_ref() {
                LookupError::Unavailable(m) => LookupError::Unavailable(m.clone()),
                other => LookupError::Internal(anyhow::anyhow!("reading dossiers: {other}")),
            }),
            Err(_) => Err(LookupError::Unavailable(
                "lookup's reader stopped mid-query".into(),
            )),
        }
    }
}

/// A view of the usual size, read in place of a missing row (see [`query`]).
static STAND_IN_VIEW: [u8; 600] = [0; 600];

type Found = (bool, i64, i64, Vec<u8>, String, String, String);

/// Reads the rows of `codes` on the kept connection, or on a new one if none is kept.
async fn read(
    pool: &PgPool,
    conn: &mut Option<PgConnection>,
    codes: &[&str],
) -> Result<Vec<Found>, sqlx::Error> {
    match conn.as_mut() {
        Some(c) => query(c, codes).await,
        None => read_fresh(pool, conn, codes).await,
    }
}

/// Opens a new connection (with the pool's options), keeps it if the read succeeds on it.
async fn read_fresh(
    pool: &PgPool,
    conn: &mut Option<PgConnection>,
    codes: &[&str],
) -> Result<Vec<Found>, sqlx::Error> {
    let options = pool.connect_options();
    // As long as the pool would wait for one of its own.
    let wait = pool.options().get_acquire_timeout();
    let mut c = tokio::time::timeout(wait, PgConnection::connect_with(&options))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    let rows = query(&mut c, codes).await?;
    *conn = Some(c);
    Ok(rows)
}

/// One query for a batch, its rows in the order of `codes`. A code without a row gets a stand-in
/// of the same shape and size from the same query (a left join), so an unknown code costs the
/// database, the wire and the decoding what a known one does.
async fn query(conn: &mut PgConnection, codes: &[&str]) -> Result<Vec<Found>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.dossier_code IS NOT NULL, COALESCE(d.version, 0), COALESCE(d.revision, 0),
                COALESCE(d.view, $2), COALESCE(d.lookup_token_hmac, $3),
                COALESCE(d.applicant_id_hmac, $3), COALESCE(d.secret_key_id, $4)
         FROM unnest($1::text[]) WITH ORDINALITY AS c(code, n)
         LEFT JOIN dossiers d ON d.dossier_code = c.code
         ORDER BY c.n",
    )
    .bind(codes)
    .bind(&STAND_IN_VIEW[..])
    .bind(crate::guard::STAND_IN)
    .bind("")
    .fetch_all(conn)
    .await
}

/// Hands each lookup of the batch its row (None: no such dossier), or the error.
fn answer(batch: Vec<(String, Reply)>, read: Result<Vec<Found>, sqlx::Error>) {
    metrics::histogram!("motcua_lookup_read_batch_size").record(batch.len() as f64);
    // One row per code, in the batch's order (`ORDER BY c.n`); anything else is no answer.
    let read = read.map_err(LookupError::from).and_then(|rows| {
        if rows.len() == batch.len() {
            Ok(rows)
        } else {
            Err(LookupError::Internal(anyhow::anyhow!(
                "{} rows for {} codes",
                rows.len(),
                batch.len()
            )))
        }
    });
    match read {
        Ok(rows) => {
            for ((_, reply), (found, version, revision, view, token, id, key)) in
                batch.into_iter().zip(rows)
            {
                let row = found.then(|| Row {
                    version: version.max(0) as u64,
                    revision,
                    view,
                    secrets: StoredSecrets {
                        lookup_token_hmac: token,
                        applicant_id_hmac: id,
                        secret_key_id: key,
                    },
                });
                let _ = reply.send(Ok(row));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for (_, reply) in batch {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
