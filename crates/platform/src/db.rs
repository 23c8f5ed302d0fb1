//! PostgreSQL: the service's own database, created if missing, with its migrations applied at
//! start (and by `motcua migrate` before a pod serves). The platform's tables (outbox, processed
//! events) have their own migration history, so a service's migration numbers never collide with
//! the platform's.

use crate::config::{ServerUrl, Settings};
use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;
use std::time::Duration;

static PLATFORM_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Times a pool gave up waiting for a connection, in this process: the host's watcher asks the
/// server why (busy pool, or PostgreSQL refusing new clients) when this grows.
pub static POOL_TIMEOUTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What PostgreSQL says to a new connection now: None when it takes it, else its refusal (too
/// many clients, the role's connection limit, starting up …). For telling an operator why a pool
/// timed out: sqlx retries a refused connect silently until its deadline.
pub async fn refusal(options: &PgConnectOptions) -> Option<String> {
    match tokio::time::timeout(Duration::from_secs(5), options.connect()).await {
        Ok(Ok(conn)) => {
            let _ = sqlx::Connection::close(conn).await;
            None
        }
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("no answer within 5 s".into()),
    }
}

/// A connection idle longer than this is pinged before it is handed out.
const IDLE_CHECK: Duration = Duration::from_secs(30);

/// The pool settings every service (and every benchmark's baseline) uses.
///
/// sqlx pings every connection it hands out by default: one more round trip per query, which
/// halves the rate of short queries such as a read by key. Here only a connection that sat idle
/// longer than [`IDLE_CHECK`] is pinged first (a restart, a failover or a firewall may have cut
/// it meanwhile). A busy connection that breaks fails the query it carries; sqlx then discards it,
/// the caller answers UNAVAILABLE, and the retry gets a fresh connection.
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > IDLE_CHECK {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Where a service's database is, and whether the service may create it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server, as the service's role reaches it (no database chosen).
    pub server: PgConnectOptions,
    pub database: String,
    /// Whether to create the database when missing: yes on a shared server URL (a developer's
    /// machine, a role with CREATEDB); no for a service's own URL, whose database the operator (or
    /// CloudNativePG) made and gave to a role that can do nothing else.
    pub create: bool,
}

impl Target {
    /// `database` on the server at `url`, created when missing.
    pub fn on_server(url: &ServerUrl, database: &str) -> anyhow::Result<Self> {
        Ok(Self {
            server: options(url)?,
            database: database.to_owned(),
            create: true,
        })
    }

    /// Connection options for the database itself.
    pub fn options(&self) -> PgConnectOptions {
        self.server.clone().database(&self.database)
    }
}

/// The database of `service`: its own URL when `MOTCUA_<SERVICE>_DATABASE_URL` is set (the
/// database it names, never created), else `<prefix>_<service>` on MOTCUA_DATABASE_URL's server.
pub fn target(settings: &Settings, service: &str) -> anyhow::Result<Target> {
    let var = format!("MOTCUA_{}_DATABASE_URL", service.to_uppercase());
    match settings.database_urls.get(&var) {
        Some(url) => {
            let server = PgConnectOptions::from_str(url.expose())
                .with_context(|| format!("{var} {url} is not a PostgreSQL URL"))?;
            let database = server
                .get_database()
                .with_context(|| format!("{var} {url} names no database"))?
                .to_owned();
            Ok(Target {
                server,
                database,
                create: false,
            })
        }
        None => Target::on_server(&settings.database_url, &settings.database_name(service)),
    }
}

/// Connects to the target's database, creating it when it may and it does not exist, and
/// applies the platform's and then the service's migrations.
pub async fn connect(
    target: &Target,
    max_connections: u32,
    migrator: &Migrator,
) -> anyhow::Result<PgPool> {
    let database = target.database.as_str();
    if target.create {
        create_if_missing(&target.server, database).await?;
    }
    let options = target
        .options()
        .log_statements(tracing::log::LevelFilter::Debug);
    let pool = pool_options(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to database {database}"))?;
    let mut platform = Migrator {
        migrations: PLATFORM_MIGRATIONS.migrations.clone(),
        ..Migrator::DEFAULT
    };
    platform.dangerous_set_table_name("_motcua_platform_migrations");
    let service = Migrator {
        migrations: migrator.migrations.clone(),
        locking: migrator.locking,
        no_tx: migrator.no_tx,
        table_name: migrator.table_name.clone(),
        create_schemas: migrator.create_schemas.clone(),
        ..Migrator::DEFAULT
    };
    for (what, mut m) in [("platform", platform), ("service", service)] {
        tolerate_newer(&pool, &mut m, database, what).await?;
        m.run(&pool)
            .await
            .with_context(|| format!("applying {what} migrations"))?;
    }
    Ok(pool)
}

/// A rollback: the database carries migrations newer than this release knows (the release after
/// it ran them). This release serves on that schema — every migration keeps the previous release
/// working (README "Decisions worth knowing") — and says so, rather than refusing to start and
/// leaving the rolled-back pods NOT_SERVING. A migration it knows whose checksum differs is still
/// refused.
async fn tolerate_newer(
    pool: &PgPool,
    migrator: &mut Migrator,
    database: &str,
    what: &str,
) -> anyhow::Result<()> {
    let known = migrator
        .migrations
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let table = migrator.table_name.to_string();
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&table)
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(());
    }
    // The table name is the migrator's own constant, not input.
    let sql = format!("SELECT version FROM \"{table}\" WHERE version > $1 ORDER BY version");
    let newer: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(known)
        .fetch_all(pool)
        .await?;
    if !newer.is_empty() {
        tracing::warn!(
            database,
            migrations = what,
            newer = ?newer,
            newest_known = known,
            "the database has migrations newer than this release (a rollback?): serving on its schema"
        );
        migrator.set_ignore_missing(true);
    }
    Ok(())
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

/// The server's connection options (no database chosen).
pub fn options(url: &ServerUrl) -> anyhow::Result<PgConnectOptions> {
    PgConnectOptions::from_str(url.expose())
        .with_context(|| format!("MOTCUA_DATABASE_URL {url} is not a PostgreSQL URL"))
}

/// Whether an error means the database cannot be reached right now (down, restarting, failing
/// over, out of connections), as opposed to a problem with the statement or the data. Callers
/// wait and retry the first kind; the second is a bug or bad data.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|code| {
            // 08: connection exception; 57P01-03: admin shutdown, crash shutdown, cannot connect
            // now (starting, recovering); 53: insufficient resources; 40001/40P01: serialization
            // failure and deadlock, which succeed when tried again.
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "40001" | "40P01"
                )
        }),
        _ => false,
    }
}

/// Drops a database (tests clean up after themselves).
pub async fn drop_database(url: &ServerUrl, database: &str) -> anyhow::Result<()> {
    let server = options(url)?;
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

/// A LISTEN connection of its own, outside `pool`, so that listening never takes one of the
/// connections requests need.
pub async fn listener(pool: &PgPool, channel: &str) -> sqlx::Result<sqlx::postgres::PgListener> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
