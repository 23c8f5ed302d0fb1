//! The lookup benchmark's load: clients over gRPC and HTTP, their figures, the refusals' answer
//! times, and lookup's own counters.

use super::*;

#[derive(Debug)]
pub(super) struct Figures {
    pub(super) rate: f64,
    p50: Duration,
    p99: Duration,
}

impl Figures {
    pub(super) fn from(mut latencies: Vec<Duration>, elapsed: Duration) -> Self {
        latencies.sort();
        Self {
            rate: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: quantile(&latencies, 0.5),
            p99: quantile(&latencies, 0.99),
        }
    }
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Which dossier each lookup asks for.
#[derive(Debug, Clone)]
pub(super) enum Pick {
    /// At random among the first `n`: each asked many times.
    Hot(usize),
    /// Each of `next..end` once, in turn: none asked twice.
    Fresh(Arc<AtomicUsize>, usize),
}

impl Pick {
    pub(super) fn fresh(from: usize, to: usize) -> Self {
        Pick::Fresh(Arc::new(AtomicUsize::new(from)), to)
    }

    pub(super) fn next(&self) -> Option<usize> {
        match self {
            Pick::Hot(n) => Some(rand::rng().random_range(0..*n)),
            Pick::Fresh(next, end) => {
                Some(next.fetch_add(1, Ordering::Relaxed)).filter(|i| i < end)
            }
        }
    }
}

/// `concurrency` gRPC clients asking for dossiers for `seconds` (or until `pick` runs out).
pub(super) async fn grpc_load(
    addr: SocketAddr,
    args: &LookupArgs,
    pick: Pick,
) -> anyhow::Result<Figures> {
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let channel = GrpcChannel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        let pick = pick.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = LookupServiceClient::new(channel);
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let Some(i) = pick.next() else { break };
                let t = Instant::now();
                let r = client
                    .lookup_dossier(LookupDossierRequest {
                        dossier_code: code(i),
                        secret: secret(i, latencies.len()),
                    })
                    .await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(r.into_inner().dossier.is_some(), "no dossier in the answer");
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(Figures::from(all, start.elapsed()))
}

/// `concurrency` HTTP clients posting lookups for `seconds` (or until `pick` runs out).
pub(super) async fn http_load(
    addr: SocketAddr,
    args: &LookupArgs,
    pick: Pick,
) -> anyhow::Result<Figures> {
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let client = motcua_platform::http::client(Duration::from_secs(10))?;
        let pick = pick.clone();
        tasks.push(tokio::spawn(async move {
            let url = format!("http://{addr}/api/v1/dossiers/lookup");
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let Some(i) = pick.next() else { break };
                let body =
                    serde_json::json!({"dossier_code": code(i), "secret": secret(i, latencies.len())})
                        .to_string();
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                let ok = r.status().is_success();
                let _ = r.bytes().await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(ok, "HTTP lookup failed");
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(Figures::from(all, start.elapsed()))
}

/// One client, alternating a wrong secret and an unknown code: the p50 of each.
pub(super) async fn refusals(
    addr: SocketAddr,
    args: &LookupArgs,
) -> anyhow::Result<(Duration, Duration)> {
    let channel = GrpcChannel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = LookupServiceClient::new(channel);
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for k in 0..4000 {
        let i = rand::rng().random_range(0..args.dossiers);
        let (c, into) = if k % 2 == 0 {
            (code(i), &mut wrong)
        } else {
            (code(args.dossiers + args.fresh + 10_000 + i), &mut unknown)
        };
        let t = Instant::now();
        let r = client
            .lookup_dossier(LookupDossierRequest {
                dossier_code: c,
                // Shaped like a receipt's token (its alphabet): a wrong token is refused with the
                // same work and is not held back, as a wrong ID number from one client would be
                // after a few tries (the guard's per-client budget).
                secret: "SAUSAUSAU2".into(),
            })
            .await;
        into.push(t.elapsed());
        anyhow::ensure!(
            r.as_ref().is_err_and(|s| s.code() == tonic::Code::NotFound),
            "a refusal was expected: {r:?}"
        );
    }
    wrong.sort();
    unknown.sort();
    Ok((quantile(&wrong, 0.5), quantile(&unknown, 0.5)))
}

/// What lookup's own counters say so far: where answers came from and how its database reads went.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Answers {
    pub(super) kept: f64,
    pub(super) read: f64,
    /// Queries reading dossier rows, the lookups they carried, and their seconds in all.
    pub(super) queries: f64,
    pub(super) batched: f64,
    pub(super) query_seconds: f64,
}

impl Answers {
    pub(super) fn now() -> Self {
        let text = motcua_platform::metrics::render();
        let value = |series: &str| motcua_platform::metrics::counter_value(&text, series);
        Self {
            kept: value("motcua_lookup_answers_total{from=\"cache\"}"),
            read: value("motcua_lookup_answers_total{from=\"database\"}"),
            queries: value("motcua_lookup_read_batch_size_count"),
            batched: value("motcua_lookup_read_batch_size_sum"),
            query_seconds: value("motcua_lookup_read_seconds_sum"),
        }
    }

    pub(super) fn since(self, before: Self) -> Self {
        Self {
            kept: self.kept - before.kept,
            read: self.read - before.read,
            queries: self.queries - before.queries,
            batched: self.batched - before.batched,
            query_seconds: self.query_seconds - before.query_seconds,
        }
    }
}

/// `answers`: how the service answered during the measurement. `judged`: whether the issue's
/// target applies (the results-day mix); the fresh case is the floor printed beside it.
pub(super) fn print(
    what: &str,
    service: &Figures,
    ceiling: &Figures,
    answers: Answers,
    judged: bool,
) {
    let Answers {
        kept,
        read,
        queries,
        batched,
        query_seconds,
    } = answers;
    let reads = if queries > 0.0 {
        format!(
            "; {:.1} lookups a query, {:.2} ms a query",
            batched / queries,
            1000.0 * query_seconds / queries
        )
    } else {
        String::new()
    };
    let ok = service.rate / ceiling.rate >= 0.5 && service.p99 < Duration::from_millis(5);
    let verdict = if judged {
        format!("target ≥ 0.5 and p99 < 5 ms: {}", met(ok))
    } else {
        "the worst case, no target: every lookup a database read".to_owned()
    };
    motcua_bench::figures::record(motcua_bench::figures::Figure {
        bench: "lookup",
        figure: what,
        value: service.rate,
        unit: "lookups/s",
        baseline: ceiling.rate,
        target: judged
            .then_some(0.5)
            .or(what.contains("gRPC").then_some(0.6)),
        lower_is_better: false,
    });
    println!(
        "{what}: lookup {:.0} lookups/s, p50 {:.2} ms, p99 {:.2} ms ({:.0}% answered from rows kept in memory, {:.0}% read from PostgreSQL{reads}) | no-op on the same stack {:.0}/s, p50 {:.2} ms, p99 {:.2} ms | ratio {:.3} ({verdict})",
        service.rate,
        ms(service.p50),
        ms(service.p99),
        100.0 * kept / (kept + read).max(1.0),
        100.0 * read / (kept + read).max(1.0),
        ceiling.rate,
        ms(ceiling.p50),
        ms(ceiling.p99),
        service.rate / ceiling.rate,
    );
}

pub(super) fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}
