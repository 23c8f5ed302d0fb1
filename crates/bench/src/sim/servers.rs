//! A NATS and a PostgreSQL of the run's own, on free loopback ports in a temporary folder, so that
//! the chaos run can restart them without touching the machine's shared ones. Both are removed
//! when dropped. PostgreSQL refuses to run as root: as root, its commands run as the `postgres`
//! user that Debian's package makes.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free TCP port on 127.0.0.1 (bound and released: a race only with another process picking
/// the same port in the same instant).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn scratch_dir(what: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "motcua-sim-{what}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn wait_port(port: u16, what: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{what} did not listen on 127.0.0.1:{port} within 30 s")
}

/// nats-server with JetStream, its store in a folder of its own.
#[derive(Debug)]
pub struct OwnNats {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnNats {
    pub async fn start() -> anyhow::Result<Self> {
        let mut nats = Self {
            port: free_port()?,
            dir: scratch_dir("nats")?,
            child: None,
        };
        nats.spawn().await?;
        Ok(nats)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = [
            "nats-server",
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
        ]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
        .context("nats-server is not installed (deploy/deps.sh installs it)")?;
        self.child = Some(
            Command::new(bin)
                .args([
                    "-js",
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-sd",
                ])
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting nats-server")?,
        );
        wait_port(self.port, "nats-server").await
    }

    /// Killed outright and started again on the same store.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn().await
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster made with initdb, trust on loopback, durability at its defaults.
#[derive(Debug)]
pub struct OwnPostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl OwnPostgres {
    pub async fn start() -> anyhow::Result<Self> {
        let bin = postgres_bindir()?;
        let dir = scratch_dir("postgres")?;
        let pg = Self {
            port: free_port()?,
            dir,
            bin,
        };
        if is_root() {
            pg.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&pg.dir),
            )?;
        }
        let data = pg.data();
        pg.run(
            pg.as_owner("initdb")
                .args(["-A", "trust", "-U", "postgres", "-D"])
                .arg(&data),
        )?;
        pg.pg_ctl("start")?;
        wait_port(pg.port, "PostgreSQL").await?;
        Ok(pg)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn as_owner(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn pg_ctl(&self, what: &str) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let mut c = self.as_owner("pg_ctl");
        c.args(["-D"])
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.join("log"));
        match what {
            "start" => c.args(["-w", "start"]),
            // A crash, not a shutdown: committed transactions must survive it.
            "restart" => c.args(["-w", "-m", "immediate", "restart"]),
            _ => c.args(["-w", "-m", "immediate", "stop"]),
        };
        self.run(&mut c)
    }

    fn run(&self, c: &mut Command) -> anyhow::Result<()> {
        let out = c.output().with_context(|| format!("{c:?}"))?;
        if !out.status.success() {
            bail!("{c:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Crashed (immediate stop) and started again.
    pub async fn restart(&self) -> anyhow::Result<()> {
        self.pg_ctl("restart")?;
        wait_port(self.port, "PostgreSQL").await
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Debian's PostgreSQL programs (`pg_config --bindir`, or the newest /usr/lib/postgresql/*/bin).
fn postgres_bindir() -> anyhow::Result<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
        .into_iter()
        .rev()
        .find(|d| Path::new(d).join("initdb").exists())
        .context("PostgreSQL's initdb was not found (deploy/deps.sh installs PostgreSQL)")
}
