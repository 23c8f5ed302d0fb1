//! Standing in for autovacuum when the PostgreSQL the replay runs on has it off (this project's
//! CI machines do: their configuration turns it off for short tests). A production server's
//! autovacuum removes the dead rows of every update and keeps the planner's statistics current
//! within about a minute; a year replayed in minutes without it piles up dead versions of every
//! case, job and outbox row, and every query of the run slows as it goes (measured: acts per
//! second fell by a quarter in the first four simulated months of the full year). So the
//! simulator does what autovacuum would, on the services' databases, every few seconds.

use motcua_platform::CancellationToken;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often the databases are vacuumed and analysed (wall time): autovacuum's own nap is a
/// minute, but the replay writes a production hour's rows in seconds.
const EVERY: Duration = Duration::from_secs(10);

/// Counts the rounds done; zero when the server's own autovacuum is on (nothing to stand in for).
#[derive(Debug, Default, Clone)]
pub struct Upkeep {
    rounds: Arc<AtomicU64>,
}

impl Upkeep {
    /// Vacuums and analyses each of `pools` every [`EVERY`] until `stop`, when autovacuum is off.
    /// A failure (a server restarting in the chaos run) waits for the next round.
    pub fn spawn(&self, pools: Vec<(&'static str, PgPool)>, stop: CancellationToken) {
        let rounds = self.rounds.clone();
        tokio::spawn(async move {
            let Some((_, first)) = pools.first() else {
                return;
            };
            let on: Option<String> = sqlx::query_scalar("SHOW autovacuum")
                .fetch_one(first)
                .await
                .ok();
            if on.as_deref() != Some("off") {
                return;
            }
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(EVERY) => {}
                }
                for (_, pool) in &pools {
                    // Best effort: a database restarting is vacuumed next round.
                    let _ = vacuum(pool).await;
                }
                rounds.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }
}

/// Vacuums and analyses the service's own tables as autovacuum would: never waiting for a lock
/// (a table a migration or a writer holds is done next round) and never truncating the table's
/// end (that takes a lock every statement on the table would queue behind). The system catalogs
/// are left to the server.
async fn vacuum(pool: &PgPool) -> Result<(), sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    if tables.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "VACUUM (ANALYZE, SKIP_LOCKED, TRUNCATE false) {}",
        tables.join(", ")
    );
    // The names come from the catalog, each quoted by format('%I').
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
    Ok(())
}
