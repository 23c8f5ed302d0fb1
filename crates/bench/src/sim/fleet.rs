//! The five services as separate processes, as in a cluster: each service's own binary
//! (`motcua-<service>`, found beside the simulator's), on loopback ports chosen here, with the
//! run's settings and the simulated clock in its environment. A service may run as several
//! replicas (`workflow`, `workflow-2`, ...) sharing its database and streams, as a Deployment's
//! pods do. The chaos run kills one outright (SIGKILL: no shutdown, no flush) and starts it again
//! on the same ports.

use anyhow::{Context, bail};
use motcua_platform::config::Vars;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Peers each service is told of: (service, peer, variable).
const PEERS: [(&str, &str, &str); 3] = [
    ("workflow", "intake", "MOTCUA_WORKFLOW_INTAKE_URL"),
    ("notification", "intake", "MOTCUA_NOTIFICATION_INTAKE_URL"),
    ("notification", "lookup", "MOTCUA_NOTIFICATION_LOOKUP_URL"),
];

#[derive(Debug)]
struct Member {
    service: &'static str,
    grpc: SocketAddr,
    http: SocketAddr,
    /// Its Prometheus endpoint: which replica did what is read there.
    metrics: SocketAddr,
    child: Option<Child>,
    /// The largest peak resident set of its processes so far (KiB; a killed one's is kept).
    peak_rss_kib: u64,
}

#[derive(Debug)]
pub struct Fleet {
    bin_dir: PathBuf,
    log_dir: PathBuf,
    vars: Vars,
    members: BTreeMap<String, Member>,
}

/// Where the service binaries are: beside this executable (target/<profile>/), or one folder up
/// for a test executable (target/<profile>/deps/).
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().context("no folder")?.to_path_buf();
    if !dir.join("motcua-intake").exists()
        && let Some(up) = dir.parent()
    {
        dir = up.to_path_buf();
    }
    if !dir.join("motcua-intake").exists() {
        bail!(
            "the service binaries are not beside {} (cargo build --workspace builds them)",
            exe.display()
        );
    }
    Ok(dir)
}

impl Fleet {
    /// Starts `services` in order with `vars` (the run's settings), each as many replicas as
    /// given, each waiting until it serves; their standard error goes to `<log_dir>/<name>.log`.
    pub async fn start(
        vars: &Vars,
        services: &[(&'static str, usize)],
        log_dir: PathBuf,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&log_dir)?;
        let mut fleet = Self {
            bin_dir: bin_dir()?,
            log_dir,
            vars: vars.clone(),
            members: BTreeMap::new(),
        };
        let mut names = Vec::new();
        for &(service, replicas) in services {
            for n in 1..=replicas.max(1) {
                let name = replica_name(service, n);
                let port = || -> anyhow::Result<SocketAddr> {
                    Ok(SocketAddr::from((
                        [127, 0, 0, 1],
                        super::servers::free_port()?,
                    )))
                };
                let member = Member {
                    service,
                    grpc: port()?,
                    http: port()?,
                    metrics: port()?,
                    child: None,
                    peak_rss_kib: 0,
                };
                fleet.members.insert(name.clone(), member);
                names.push(name);
            }
        }
        for name in names {
            fleet.spawn(&name).await?;
        }
        Ok(fleet)
    }

    /// The first replica's gRPC address.
    pub fn grpc(&self, service: &str) -> anyhow::Result<SocketAddr> {
        Ok(self.members.get(service).context("no such service")?.grpc)
    }

    /// Every replica of `service`: (name, gRPC address, metrics address).
    pub fn replicas(&self, service: &str) -> Vec<(String, SocketAddr, SocketAddr)> {
        self.members
            .iter()
            .filter(|(_, m)| m.service == service)
            .map(|(name, m)| (name.clone(), m.grpc, m.metrics))
            .collect()
    }

    /// Each member's peak resident set (KiB), its live process's or the largest of its earlier
    /// ones (killed by chaos), whichever is more.
    pub fn peak_rss(&mut self) -> Vec<(String, u64)> {
        for m in self.members.values_mut() {
            if let Some(c) = &m.child {
                m.peak_rss_kib = m.peak_rss_kib.max(peak_rss_kib(c.id()).unwrap_or(0));
            }
        }
        self.members
            .iter()
            .map(|(name, m)| (name.clone(), m.peak_rss_kib))
            .collect()
    }

    pub fn http(&self, service: &str) -> anyhow::Result<SocketAddr> {
        Ok(self.members.get(service).context("no such service")?.http)
    }

    async fn spawn(&mut self, name: &str) -> anyhow::Result<()> {
        let m = self.members.get(name).context("no such service")?;
        let service = m.service;
        let upper = service.to_uppercase();
        let mut c = Command::new(self.bin_dir.join(format!("motcua-{service}")));
        c.env_clear();
        for (k, v) in std::env::vars() {
            // The environment's own settings do not leak into the run's.
            if !k.starts_with("MOTCUA_") {
                c.env(k, v);
            }
        }
        for name in self.vars.names() {
            if let Some(v) = self.vars.raw(name) {
                c.env(name, v);
            }
        }
        c.env(format!("MOTCUA_{upper}_GRPC_ADDR"), m.grpc.to_string())
            .env(format!("MOTCUA_{upper}_HTTP_ADDR"), m.http.to_string())
            .env("MOTCUA_METRICS_ADDR", m.metrics.to_string())
            .env("RUST_LOG", "warn");
        for (who, peer, var) in PEERS {
            if who == service
                && let Some(p) = self.members.get(peer)
            {
                c.env(var, format!("http://{}", p.grpc));
            }
        }
        let grpc = m.grpc;
        // Its warnings and errors, kept beside the run's files for whoever investigates.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(format!("{name}.log")))?;
        let child = c
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting motcua-{service}"))?;
        if let Some(m) = self.members.get_mut(name) {
            m.child = Some(child);
        }
        let channel =
            tonic::transport::Channel::from_shared(format!("http://{grpc}"))?.connect_lazy();
        crate::wait_ready(
            channel,
            &format!("motcua-{service} ({name}) on {grpc}"),
            Duration::from_secs(60),
        )
        .await
    }

    /// SIGKILL: the process ends at once, as when its node dies.
    pub fn kill(&mut self, service: &str) -> anyhow::Result<()> {
        let m = self.members.get_mut(service).context("no such service")?;
        if let Some(mut c) = m.child.take() {
            m.peak_rss_kib = m.peak_rss_kib.max(peak_rss_kib(c.id()).unwrap_or(0));
            c.kill()
                .with_context(|| format!("killing motcua-{service}"))?;
            let _ = c.wait();
        }
        Ok(())
    }

    /// Starts a killed service again; returns how long until it served.
    pub async fn restart(&mut self, service: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.spawn(service).await?;
        Ok(started.elapsed())
    }
}

/// `service` for the first replica, `service-<n>` for the others.
pub fn replica_name(service: &str, n: usize) -> String {
    if n <= 1 {
        service.to_owned()
    } else {
        format!("{service}-{n}")
    }
}

/// A live process's peak resident set (VmHWM in /proc/<pid>/status), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for m in self.members.values_mut() {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
