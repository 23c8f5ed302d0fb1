//! PostgreSQL: the service's own database, created if missing, with its migrations applied at
//! start. The platform's tables (outbox, processed events) have their own migration history, so a
//! service's migration numbers never collide with the platform's.

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;
use std::time::Duration;

static PLATFORM_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Connects to `database` on the server at `url`, creating it if it does not exist, and applies
/// the platform's and then the service's migrations.
pub async fn connect(
    url: &str,
    database: &str,
    max_connections: u32,
    migrator: &Migrator,
) -> anyhow::Result<PgPool> {
    let server = PgConnectOptions::from_str(url).context("MOTCUA_DATABASE_URL")?;
    create_if_missing(&server, database).await?;
    let options = server
        .clone()
        .database(database)
        .log_statements(tracing::log::LevelFilter::Debug);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to database {database}"))?;
    let mut platform = Migrator {
        migrations: PLATFORM_MIGRATIONS.migrations.clone(),
        ..Migrator::DEFAULT
    };
    platform.dangerous_set_table_name("_motcua_platform_migrations");
    platform
        .run(&pool)
        .await
        .context("applying platform migrations")?;
    migrator
        .run(&pool)
        .await
        .context("applying service migrations")?;
    Ok(pool)
}

async fn create_if_missing(server: &PgConnectOptions, database: &str) -> anyhow::Result<()> {
    let mut conn = server
        .clone()
        .database("postgres")
        .connect()
        .await
        .context("connecting to PostgreSQL (is it running? `deploy/up.sh` starts it)")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // Identifiers cannot be bound; the name comes from configuration checked to be [a-z0-9_].
        let sql = format!("CREATE DATABASE \"{}\"", database.replace('"', ""));
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database, "created database"),
            // Another replica created it first (duplicate_database, or a unique violation on
            // pg_database when both raced).
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
            Err(e) => return Err(e).context(format!("creating database {database}")),
        }
    }
    Ok(())
}

/// Drops a database (tests clean up after themselves).
pub async fn drop_database(url: &str, database: &str) -> anyhow::Result<()> {
    let server = PgConnectOptions::from_str(url)?;
    let mut conn = server.database("postgres").connect().await?;
    let sql = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        database.replace('"', "")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    Ok(())
}
