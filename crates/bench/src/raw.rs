//! The machine's own limit for the writes the services make: raw PostgreSQL doing the minimal
//! durable write of a submission (one dossier row and one outbox row in one transaction), with the
//! caller's connections and clients. The intake benchmark and the year replay print their figures
//! beside it, measured in the same run.

use sqlx::PgPool;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// Transactions per second of `count` such writes, `concurrency` at a time, on `pool`. The rows go
/// to two tables of its own, dropped afterwards (it runs in a service's database beside its own
/// tables).
pub async fn submission_rate(
    pool: &PgPool,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    for sql in [
        "DROP TABLE IF EXISTS bench_raw_dossier, bench_raw_outbox",
        "CREATE TABLE bench_raw_dossier (code text PRIMARY KEY, agency text NOT NULL, received_at timestamptz NOT NULL, receipt bytea NOT NULL)",
        "CREATE TABLE bench_raw_outbox (id uuid PRIMARY KEY, seq bigserial, subject text NOT NULL, payload bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
    ] {
        sqlx::query(sql).execute(pool).await?;
    }
    let receipt = vec![7u8; 700];
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let permit = permits.clone().acquire_owned().await?;
        let (pool, receipt) = (pool.clone(), receipt.clone());
        tasks.push(tokio::spawn(async move {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO bench_raw_dossier (code, agency, received_at, receipt) VALUES ($1, $2, now(), $3)")
                .bind(format!("raw-{n}"))
                .bind("000.00.06.H56")
                .bind(&receipt)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO bench_raw_outbox (id, subject, payload) VALUES ($1, 'dossier.dat-dai.submitted', $2)")
                .bind(uuid::Uuid::now_v7())
                .bind(&receipt)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            drop(permit);
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    sqlx::query("DROP TABLE bench_raw_dossier, bench_raw_outbox")
        .execute(pool)
        .await?;
    Ok(rate)
}
