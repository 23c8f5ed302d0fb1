//! `motcua-bench sim`: a year of a province replayed through the five real services in simulated
//! time, checked at the end against the simulator's own records (issue "year replay").
//!
//! - [`profile`]: the year as data (deploy/sim/*.toml); [`plan`]: every dossier laid out by seed;
//! - [`drive`]: the acts in time order through the public gRPC APIs, as the desk, the portal and
//!   the officers with their own tokens; [`settle`]: waiting for the services between moments;
//! - [`truth`]: what the simulator knows and Biểu 06 from it; [`checks`]: each service against it.
//!
//! The services run on a fresh database and stream prefix (the test floor), each on its own
//! [`motcua_platform::SimulatedClock`] that follows the time this driver sets in NATS: in this
//! process, or ([`fleet`]) as five processes of their own binaries, as in a cluster. With chaos
//! ([`chaos`]) the processes are killed and restarted while the year runs, on a NATS and a
//! PostgreSQL of the run's own ([`servers`]) that are restarted too.

mod asides;
mod calls;
pub mod chaos;
pub mod checks;
mod citizens;
pub mod drive;
pub mod fleet;
pub mod lag;
pub mod officers;
pub mod plan;
pub mod profile;
pub mod replicas;
pub mod servers;
pub mod settle;
pub mod truth;
pub mod upkeep;

use chrono::{DateTime, Utc};
use motcua_platform::SimulatedTime;
use motcua_platform::config::Vars;
use motcua_testkit::floor::Floor;
use std::time::{Duration, Instant};

/// What to replay and how hard.
#[derive(Debug, Clone)]
pub struct Options {
    pub profile: profile::Profile,
    pub scale: f64,
    pub seed: u64,
    pub concurrency: usize,
    /// Print a progress line now and then (the binary does; tests do not).
    pub progress: bool,
    /// The services as processes of their own binaries instead of in this process.
    pub processes: bool,
    /// Kill and restart processes and servers while the year runs (implies `processes`, on a
    /// NATS and PostgreSQL of the run's own).
    pub chaos: Option<chaos::Pace>,
    /// With processes: services run as more than one replica (e.g. workflow: 2), sharing their
    /// database and streams; the driver's calls are balanced over them.
    pub replicas: std::collections::BTreeMap<&'static str, usize>,
}

/// What a run found and measured.
#[derive(Debug)]
pub struct Report {
    pub dossiers: usize,
    pub checks: Vec<checks::Check>,
    pub wall: Duration,
    pub moments: u64,
    pub acts: u64,
    pub latencies: Vec<(&'static str, Duration, Duration, usize)>,
    pub faults: Vec<chaos::Fault>,
    /// Wall time moving the clock, acting, and waiting for the services to settle.
    pub spent: [Duration; 3],
    /// What the driver waited for most while the services settled (checks that found it behind).
    pub waited_for: Vec<(String, u64)>,
    /// With processes: what each did and its peak memory; in one process, that process's peak
    /// resident set (KiB).
    pub processes: Vec<replicas::Member>,
    pub own_peak_rss_kib: Option<u64>,
    /// How long after an event was written lookup and reporting had applied it.
    pub lags: Vec<lag::ConsumerLag>,
    /// Raw PostgreSQL's rate of a submission's minimal write, measured at the end of the run
    /// with the run's concurrency (transactions/s), and that concurrency.
    pub raw_rate: (f64, usize),
    /// Rounds of VACUUM (ANALYZE) the simulator ran in autovacuum's stead (0: the server's own
    /// autovacuum is on).
    pub vacuum_rounds: u64,
}

impl Report {
    pub fn mismatches(&self) -> usize {
        self.checks.iter().map(|c| c.mismatches.len()).sum()
    }

    /// The table of checks, then the figures, then `sim: <dossiers> dossiers, <wall> s, <n>
    /// mismatches` as the last line.
    pub fn render(&self) -> String {
        let mut out = String::from("check | checked | mismatches\n---|---:|---:\n");
        for c in &self.checks {
            out += &format!("{} | {} | {}\n", c.what, c.checked, c.mismatches.len());
            for m in c.mismatches.iter().take(10) {
                out += &format!("  ✗ {m}\n");
            }
        }
        let secs = self.wall.as_secs_f64();
        out += &format!(
            "\nwall {secs:.1} s; {} dossiers ({:.1}/s); {} moments of simulated time; {} acts ({:.1}/s)\n",
            self.dossiers,
            self.dossiers as f64 / secs,
            self.moments,
            self.acts,
            self.acts as f64 / secs
        );
        let (raw, clients) = self.raw_rate;
        out += &format!(
            "machine limit, raw PostgreSQL in the same run (1 dossier row + 1 outbox row per transaction, {clients} clients): {raw:.0} transactions/s; acts/s to it: ratio {:.3}\n",
            self.acts as f64 / secs / raw
        );
        out += &lag::render(&self.lags);
        if self.vacuum_rounds > 0 {
            out += &format!(
                "autovacuum is off on this PostgreSQL: the simulator vacuumed and analysed the services' databases {} times, as autovacuum would\n",
                self.vacuum_rounds
            );
        }
        out += &format!(
            "wall time spent moving the clock {:.1} s, acting {:.1} s, waiting for the services to settle {:.1} s\n",
            self.spent[0].as_secs_f64(),
            self.spent[1].as_secs_f64(),
            self.spent[2].as_secs_f64()
        );
        for (what, n) in &self.waited_for {
            out += &format!("  settling, found behind {n} times: {what}\n");
        }
        for (rpc, p50, p99, n) in &self.latencies {
            out += &format!(
                "{rpc}: {n} calls, p50 {:.1} ms, p99 {:.1} ms\n",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
        }
        out += &replicas::render(&self.processes);
        if let Some(kib) = self.own_peak_rss_kib {
            out += &format!(
                "the five services in the simulator's process: peak RSS {:.1} MiB\n",
                kib as f64 / 1024.0
            );
        }
        if !self.faults.is_empty() {
            out += &chaos::render(&self.faults);
        }
        out += &format!(
            "sim: {} dossiers, {secs:.0} s, {} mismatches\n",
            self.dossiers,
            self.mismatches()
        );
        out
    }
}

/// The settings the simulated services run with, beside the floor's: the simulated clock, and
/// streams and retention sized for a year.
pub fn sim_vars(vars: &mut Vars, dossiers: usize) {
    vars.set("MOTCUA_SIMULATED_CLOCK", "true");
    vars.set("MOTCUA_SMS_INBOUND_SECRET", GATEWAY_SECRET);
    let events = (dossiers as u64 * 32 * 1024).max(64 << 20);
    vars.set("MOTCUA_DOSSIER_EVENTS_MAX_BYTES", events.to_string());
    // A year's deliveries are all checked at its end.
    vars.set("MOTCUA_DELIVERY_RETENTION_DAYS", "3650");
    // The providers' rates are the real gateways' limits in wall time (30 SMS a second): a
    // simulated day passes in a fraction of a wall second, and its morning's SMS (held through
    // quiet hours) would wait for the wall clock. The replay checks what is sent, not the
    // gateway's pace.
    for var in [
        "MOTCUA_SMS_RATE_PER_SECOND",
        "MOTCUA_EMAIL_RATE_PER_SECOND",
        "MOTCUA_WEBHOOK_RATE_PER_SECOND",
    ] {
        vars.set(var, "1000000");
    }
}

/// What the simulated SMS gateway sends in `x-gateway-secret`.
const GATEWAY_SECRET: &str = "sim-gateway-secret-0123456789abcdef";

/// The five services, in the order they depend on each other.
pub const SERVICES: [&str; 5] = ["intake", "workflow", "lookup", "notification", "reporting"];

/// The shipped catalog as if in force from the first day of `year`: the procedures of a past
/// year were earlier versions of today's, which is what the replay runs (written beside the
/// floor's attachments, removed with them).
pub fn catalog_in_force(year: i32, dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let text = std::fs::read_to_string(motcua_testkit::floor::catalog_file())?;
    let moved: String = text
        .lines()
        .map(|l| {
            if l.starts_with("effective_from = ") {
                format!("effective_from = \"{year}-01-01\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("catalog-{year}.toml"));
    std::fs::write(&path, moved)?;
    Ok(path)
}

/// Replays the year on a floor of its own (fresh databases and streams, removed afterwards).
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let fields = opts.profile.scaled_fields(opts.scale);
    let dossiers: u64 = fields.values().sum();
    let servers = match opts.chaos {
        Some(_) => Some((
            servers::OwnNats::start().await?,
            std::sync::Arc::new(servers::OwnPostgres::start().await?),
        )),
        None => None,
    };
    let mut floor = Floor::new(|v| {
        sim_vars(v, dossiers as usize);
        if let Some((nats, postgres)) = &servers {
            v.set("MOTCUA_NATS_URL", nats.url());
            v.set("MOTCUA_DATABASE_URL", postgres.url());
        }
    })
    .await;
    let result = run_on(&mut floor, &opts, servers).await;
    floor.stop().await;
    result
}

/// Replays the year on `floor`, starting its five services on the simulated clock (breaking
/// them and `servers` now and then, with chaos).
pub async fn run_on(
    floor: &mut Floor,
    opts: &Options,
    servers: Option<(servers::OwnNats, std::sync::Arc<servers::OwnPostgres>)>,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let cal = motcua_calendar::standard()?;
    let file = catalog_in_force(
        opts.profile.year,
        &motcua_testkit::floor::attachments_dir(&floor.id),
    )?;
    floor
        .vars
        .set("MOTCUA_CATALOG_FILE", file.display().to_string());
    let text = std::fs::read_to_string(&file)?;
    let catalog = motcua_intake::catalog::parse_file(&text).map_err(anyhow::Error::msg)?;
    let fields = opts.profile.scaled_fields(opts.scale);
    let plans = plan::year(&opts.profile, &fields, &catalog.procedures, &cal, opts.seed)?;
    let first = plans.first().map(|p| p.arrives).unwrap_or_default();
    let time = SimulatedTime::open(&floor.bus).await?;
    time.put(first - chrono::Duration::hours(1)).await?;
    let fleet = if opts.processes || opts.chaos.is_some() {
        let logs = motcua_testkit::floor::attachments_dir(&floor.id).join("logs");
        let members = SERVICES.map(|s| (s, opts.replicas.get(s).copied().unwrap_or(1)));
        let fleet = fleet::Fleet::start(&floor.vars, &members, logs).await?;
        Some(fleet)
    } else {
        for service in SERVICES {
            floor.start(service).await;
        }
        None
    };
    let instances = SERVICES.len()
        + match &fleet {
            Some(_) => opts.replicas.values().map(|n| n.saturating_sub(1)).sum(),
            None => 0,
        };
    time.wait_instances(instances, Duration::from_secs(30))
        .await?;
    let mut addrs = std::collections::HashMap::new();
    for s in SERVICES {
        let addr = match &fleet {
            Some(f) => f.grpc(s)?,
            None => floor.addr(s),
        };
        addrs.insert(s, addr);
    }
    let web_of = |s: &str| -> anyhow::Result<String> {
        Ok(match &fleet {
            Some(f) => format!("http://{}", f.http(s)?),
            None => floor.web(s),
        })
    };
    let web = officers::Web {
        http: motcua_platform::http::client(Duration::from_secs(30))?,
        lookup: web_of("lookup")?,
        notification: web_of("notification")?,
        gateway_secret: GATEWAY_SECRET.to_owned(),
    };
    // A service's calls go to all its replicas (balanced), as through a cluster's Service.
    let replica_addrs = |s: &str| match &fleet {
        Some(f) => f.replicas(s).into_iter().map(|(_, grpc, _)| grpc).collect(),
        None => vec![addrs[s]],
    };
    let channel = |s: &str| balanced(replica_addrs(s));
    let people = officers::People::new(
        &opts.profile.agency,
        opts.profile.officers.clone(),
        [
            channel("intake").await?,
            channel("workflow").await?,
            channel("reporting").await?,
            channel("lookup").await?,
        ],
        web,
    );
    let pools: Vec<(&'static str, sqlx::PgPool)> =
        SERVICES.iter().map(|s| (*s, floor.pool(s))).collect();
    let settle = settle::Settle {
        bus: floor.bus.clone(),
        pools: pools.clone(),
        within: Duration::from_secs(60),
        waited_for: Default::default(),
    };
    let total = plans.len();
    let last_print = std::sync::Mutex::new(Instant::now());
    let progress = |at: DateTime<Utc>, done: usize, acts: u64| {
        if !opts.progress {
            return;
        }
        let mut last = last_print.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= Duration::from_secs(2) {
            *last = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "[{}] simulated {} | {done}/{total} dossiers done | {:.0} acts/s",
                format_args!("{secs:>6.0} s"),
                at.with_timezone(&motcua_calendar::vietnam())
                    .format("%Y-%m-%d %H:%M"),
                acts as f64 / secs
            );
        }
    };
    let upkeep = upkeep::Upkeep::default();
    let stop_upkeep = motcua_platform::CancellationToken::new();
    upkeep.spawn(pools.clone(), stop_upkeep.clone());
    // Whichever way the run ends, the upkeep ends with it.
    let stop_upkeep = stop_upkeep.drop_guard();
    let stop_chaos = motcua_platform::CancellationToken::new();
    // The servers live until the checks are done, whoever else holds them.
    let servers = servers
        .map(|(nats, postgres)| (std::sync::Arc::new(tokio::sync::Mutex::new(nats)), postgres));
    let (fleet, chaos_task) = match (fleet, &servers, opts.chaos) {
        (Some(f), Some((nats, postgres)), Some(pace)) => {
            let fleet = std::sync::Arc::new(tokio::sync::Mutex::new(f));
            let targets = chaos::Targets {
                fleet: fleet.clone(),
                services: SERVICES.to_vec(),
                nats: nats.clone(),
                postgres: postgres.clone(),
            };
            let task = tokio::spawn(chaos::run(targets, opts.seed, pace, stop_chaos.clone()));
            (Some(fleet), Some(task))
        }
        (f, _, _) => (
            f.map(|f| std::sync::Arc::new(tokio::sync::Mutex::new(f))),
            None,
        ),
    };
    let driver = drive::Driver {
        faults: opts.chaos.is_some(),
        latencies: Default::default(),
        people: &people,
        time: &time,
        settle: &settle,
        cal: &cal,
        concurrency: opts.concurrency,
        seed: opts.seed,
        tick: chrono::Duration::minutes(i64::from(opts.profile.tick_minutes)),
        progress: &progress,
    };
    let driven = driver.run(plans).await;
    stop_chaos.cancel();
    let faults = match chaos_task {
        Some(t) => t.await??,
        None => Vec::new(),
    };
    let driven = driven?;
    // Notifications go out on their own schedule (quiet hours): let the clock run a day on.
    let end = time.now().await?.unwrap_or(first) + chrono::Duration::days(1);
    time.set(end, Duration::from_secs(60)).await?;
    settle.wait(end).await?;
    let mut all = checks::states(&people, &driven.truths).await?;
    all.push(checks::form06(&people, &driven.truths, opts.profile.year).await?);
    all.push(checks::Check {
        what: "the public page (HTTP) shows the status workflow has, during the year".into(),
        checked: driven.web_lookups,
        mismatches: driven.web_mismatches.clone(),
    });
    all.extend(checks::leftovers(&floor.bus, &pools, &driven.truths, driven.sms_lookups).await?);
    let processes = match &fleet {
        Some(f) => {
            let http = motcua_platform::http::client(Duration::from_secs(10))?;
            replicas::survey(&mut *f.lock().await, &SERVICES, &http).await
        }
        None => Vec::new(),
    };
    all.extend(replicas::each_did_work(&processes));
    let spent = [
        driven.spent_setting,
        driven.spent_acting,
        driven.spent_settling,
    ];
    let mut waited_for: Vec<(String, u64)> = settle
        .waited_for
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    waited_for.sort_by_key(|w| std::cmp::Reverse(w.1));
    waited_for.truncate(6);
    let mut latencies = Vec::new();
    for (rpc, mut samples) in driven.latencies {
        samples.sort();
        latencies.push((
            rpc,
            crate::quantile(&samples, 0.5),
            crate::quantile(&samples, 0.99),
            samples.len(),
        ));
    }
    drop(stop_upkeep);
    let lags = lag::measure(&pools, &["lookup", "reporting"]).await?;
    for (_, pool) in pools {
        pool.close().await;
    }
    // The baseline writes with as many connections as intake's own pool holds, so the figure
    // beside it is fair, and opens them only now that the checks' pools are closed.
    let raw_pool = floor.pool_of("intake", floor.settings().database_max_connections);
    let raw_rate = (
        crate::raw::submission_rate(&raw_pool, 3000, opts.concurrency).await?,
        opts.concurrency,
    );
    raw_pool.close().await;
    Ok(Report {
        dossiers: driven.truths.len(),
        checks: all,
        wall: started.elapsed(),
        moments: driven.moments,
        acts: driven.acts,
        latencies,
        faults,
        spent,
        waited_for,
        own_peak_rss_kib: processes
            .is_empty()
            .then(|| fleet::peak_rss_kib(std::process::id()))
            .flatten(),
        processes,
        lags,
        raw_rate,
        vacuum_rounds: upkeep.rounds(),
    })
}

/// A channel to every replica at `addrs`, balanced over them (one: a plain connection).
async fn balanced(addrs: Vec<std::net::SocketAddr>) -> anyhow::Result<tonic::transport::Channel> {
    let endpoints = addrs
        .iter()
        .map(|a| tonic::transport::Endpoint::from_shared(format!("http://{a}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match endpoints.as_slice() {
        [one] => one.connect().await?,
        _ => tonic::transport::Channel::balance_list(endpoints.into_iter()),
    })
}
