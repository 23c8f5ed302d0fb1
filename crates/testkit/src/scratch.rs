//! What one test makes on the shared PostgreSQL and NATS, and the guarantee that it is removed.
//!
//! Every test makes databases (`t_<id>_<service>`) and streams (`T<ID>_DOSSIERS`, …) of its own, so
//! that tests run side by side and beside a running motcua. A [`Scratch`] names them and removes
//! them all when it is dropped: after a test that passed (the harness's `stop` removes them first
//! and the guard then has nothing to do), and after one that failed or panicked half-way, which
//! never reaches its `stop`.
//!
//! The id carries the test process's pid (`p<pid>r<random>`): a process killed outright (a
//! timeout's SIGKILL) runs no destructor, and [`sweep`] then recognises what it left behind as the
//! leftovers of a finished run, because no process has that pid any more. The sweep never touches
//! a resource of a process that is alive, nor a database somebody is connected to, so it is safe
//! beside tests running in parallel. `deploy/test.sh` sweeps before the run and then checks, with
//! [`leftovers`], that the run itself left nothing behind (the `motcua-test-leftovers` binary).

use futures::TryStreamExt;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The PostgreSQL the tests use (MOTCUA_DATABASE_URL overrides, as for the services).
pub fn database_url() -> String {
    std::env::var("MOTCUA_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// The NATS the tests use (MOTCUA_NATS_URL overrides).
pub fn nats_url() -> String {
    std::env::var("MOTCUA_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A new test id: `p<pid>r<8 hex>`, lowercase letters and digits (a database prefix may hold only
/// those and `_`).
pub fn new_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("p{}r{}", std::process::id(), &random[..8])
}

/// The guard of one test's databases and streams; see the module's documentation.
#[derive(Debug)]
pub struct Scratch {
    id: String,
    removed: AtomicBool,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    /// A new id, guarded.
    pub fn new() -> Self {
        Self::with_id(new_id())
    }

    /// Guards an id made by [`new_id`].
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            removed: AtomicBool::new(false),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// MOTCUA_DATABASE_PREFIX: the test's databases are `<prefix>_<service>`.
    pub fn database_prefix(&self) -> String {
        format!("t_{}", self.id)
    }

    /// MOTCUA_BUS_PREFIX: the test's streams are `T<ID>_<stream>`.
    pub fn bus_prefix(&self) -> String {
        format!("t{}.", self.id)
    }

    /// Removes every database and stream of this id now (what `stop` calls), and says what could
    /// not be removed.
    pub async fn remove(&self) -> anyhow::Result<()> {
        self.removed.store(true, Ordering::SeqCst);
        remove(&self.id).await
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.removed.load(Ordering::SeqCst) {
            return;
        }
        // A destructor cannot await, and the test's runtime may be the one unwinding: the removal
        // runs on a thread and runtime of its own, and the test waits for it.
        let id = self.id.clone();
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(remove(&id))
        })
        .join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!(
                "test {}: removing its databases and streams: {e:#}",
                self.id
            ),
            Err(_) => eprintln!(
                "test {}: removing its databases and streams panicked",
                self.id
            ),
        }
    }
}

/// Drops the databases `t_<id>` and `t_<id>_*` and deletes every stream whose name holds `<ID>_`
/// (`T<ID>_DOSSIERS`, and those of other prefixes a test made with its id).
pub async fn remove(id: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "not a test id: {id:?}"
    );
    let work = async {
        let mut conn = postgres().await?;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE datname = $1 OR datname LIKE $2",
        )
        .bind(format!("t_{id}"))
        .bind(format!("t\\_{id}\\_%"))
        .fetch_all(&mut conn)
        .await?;
        for name in names {
            drop_database(&mut conn, &name).await?;
        }
        let js = nats().await?;
        let marker = format!("{}_", id.to_ascii_uppercase());
        let streams: Vec<String> = js.stream_names().try_collect().await?;
        for name in streams.iter().filter(|n| n.contains(&marker)) {
            js.delete_stream(name)
                .await
                .map_err(|e| anyhow::anyhow!("deleting stream {name}: {e}"))?;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .map_err(|_| anyhow::anyhow!("PostgreSQL or NATS did not answer within 30 s"))?
}

/// The test resources on the servers now: databases named `t_*` and streams a test prefix made
/// (`T<id>_*`, `ELSEWHERE<id>_*`), each with whether it is in use by a running test.
#[derive(Debug, Default)]
pub struct Inventory {
    pub databases: Vec<(String, InUse)>,
    pub streams: Vec<(String, InUse)>,
}

/// Whether a resource may belong to a test that is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InUse {
    /// Its process (by the pid in its name) is alive, or somebody is connected to the database.
    Yes,
    /// Named by a process that has ended, and nobody is connected: a leftover.
    No,
    /// Named the old way (no pid), nobody connected now: cannot be told apart from one that is
    /// between two steps of a test, so it is only ever counted, never swept.
    Unknown,
}

/// Lists the test resources; see [`Inventory`].
pub async fn leftovers() -> anyhow::Result<Inventory> {
    let mut conn = postgres().await?;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.datname::text,
                (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname)
         FROM pg_database d WHERE d.datname LIKE 't\\_%' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await?;
    let connected: BTreeSet<String> = rows
        .iter()
        .filter(|(_, n)| *n > 0)
        .filter_map(|(name, _)| id_of_database(name))
        .collect();
    let databases = rows
        .iter()
        .map(|(name, sessions)| {
            let use_ = match (*sessions > 0, id_of_database(name)) {
                (true, _) => InUse::Yes,
                (false, Some(id)) => by_pid(&id),
                (false, None) => InUse::Unknown,
            };
            (name.clone(), use_)
        })
        .collect();
    let js = nats().await?;
    let mut names: Vec<String> = js.stream_names().try_collect().await?;
    names.sort();
    let streams = names
        .into_iter()
        .filter_map(|name| {
            let id = id_of_stream(&name)?;
            let use_ = if connected.contains(&id) {
                InUse::Yes
            } else {
                by_pid(&id)
            };
            Some((name, use_))
        })
        .collect();
    Ok(Inventory { databases, streams })
}

/// Removes what ended processes left behind ([`InUse::No`]); returns the names removed.
pub async fn sweep() -> anyhow::Result<Vec<String>> {
    let found = leftovers().await?;
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for (name, use_) in found.databases.iter() {
        if *use_ == InUse::No
            && let Some(id) = id_of_database(name)
        {
            ids.insert(id);
        }
    }
    for (name, use_) in found.streams.iter() {
        if *use_ == InUse::No
            && let Some(id) = id_of_stream(name)
        {
            ids.insert(id);
        }
    }
    for id in &ids {
        remove(id).await?;
    }
    Ok(found
        .databases
        .into_iter()
        .chain(found.streams)
        .filter(|(_, u)| *u == InUse::No)
        .map(|(n, _)| n)
        .collect())
}

/// The id in `t_<id>_<service>` (or `t_<id>`), old or new scheme.
fn id_of_database(name: &str) -> Option<String> {
    let rest = name.strip_prefix("t_")?;
    let id = rest.split('_').next()?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())).then(|| id.to_owned())
}

/// The id in a test stream's name: `T<ID>_…` or `ELSEWHERE<ID>_…`, lowercased as in databases.
fn id_of_stream(name: &str) -> Option<String> {
    let rest = name
        .strip_prefix("ELSEWHERE")
        .or_else(|| name.strip_prefix('T'))?;
    let (id, _) = rest.split_once('_')?;
    let is_id = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && (pid_of(&id.to_ascii_lowercase()).is_some()
            || (id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit())));
    is_id.then(|| id.to_ascii_lowercase())
}

/// The pid in a new-scheme id `p<pid>r<hex>`.
fn pid_of(id: &str) -> Option<u32> {
    let (pid, random) = id.strip_prefix('p')?.split_once('r')?;
    (!random.is_empty() && random.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| pid.parse().ok())
        .flatten()
}

fn by_pid(id: &str) -> InUse {
    match pid_of(id) {
        Some(pid) if std::path::Path::new(&format!("/proc/{pid}")).exists() => InUse::Yes,
        Some(_) => InUse::No,
        None => InUse::Unknown,
    }
}

async fn postgres() -> anyhow::Result<PgConnection> {
    let options = PgConnectOptions::from_str(&database_url())?.database("postgres");
    Ok(PgConnection::connect_with(&options).await?)
}

async fn nats() -> anyhow::Result<async_nats::jetstream::Context> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(nats_url())
        .await?;
    Ok(async_nats::jetstream::new(client))
}

async fn drop_database(conn: &mut PgConnection, name: &str) -> anyhow::Result<()> {
    let sql = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        name.replace('"', "")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map_err(|e| anyhow::anyhow!("dropping database {name}: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_back_from_database_and_stream_names() {
        let id = new_id();
        assert_eq!(pid_of(&id), Some(std::process::id()));
        let s = Scratch::with_id(id.clone());
        assert_eq!(
            id_of_database(&format!("{}_workflow", s.database_prefix())).as_deref(),
            Some(id.as_str())
        );
        assert_eq!(
            id_of_stream(&format!("T{}_DOSSIERS", id.to_ascii_uppercase())).as_deref(),
            Some(id.as_str())
        );
        assert_eq!(
            id_of_stream("T0A1B2C3D4E5F_DEADLETTER").as_deref(),
            Some("0a1b2c3d4e5f")
        );
        // Production streams and other prefixes are not a test's.
        assert_eq!(id_of_stream("DOSSIERS"), None);
        assert_eq!(id_of_stream("TRAINING_DOSSIERS"), None);
        assert_eq!(id_of_database("motcua_intake"), None);
        assert_eq!(by_pid(&id), InUse::Yes, "this process is alive");
        std::mem::forget(s);
    }
}
