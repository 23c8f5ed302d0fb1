//! What each service process did and took, read at the end of a run with the services as
//! processes: the gRPC calls it answered and the events it handled (its own Prometheus endpoint),
//! and its peak resident memory (/proc). With a service run as several replicas this proves that
//! each replica did work — the shared consumers and the balanced calls reached all of them — where
//! the end checks prove that nothing was done twice.

use super::checks::Check;
use super::fleet::Fleet;

/// One process of the fleet.
#[derive(Debug, Clone)]
pub struct Member {
    /// `workflow`, `workflow-2`, ...
    pub name: String,
    pub service: &'static str,
    /// gRPC calls answered, health checks left out.
    pub calls: u64,
    /// Events its consumers handled and committed.
    pub events: u64,
    pub peak_rss_kib: u64,
}

/// Reads every member's counters and memory. A member whose endpoint does not answer counts
/// nothing (the check then says so).
pub async fn survey(
    fleet: &mut Fleet,
    services: &[&'static str],
    http: &reqwest::Client,
) -> Vec<Member> {
    let rss: std::collections::HashMap<String, u64> = fleet.peak_rss().into_iter().collect();
    let mut members = Vec::new();
    for &service in services {
        for (name, _, metrics) in fleet.replicas(service) {
            let text = match http.get(format!("http://{metrics}/metrics")).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            members.push(Member {
                peak_rss_kib: rss.get(&name).copied().unwrap_or(0),
                calls: sum(&text, "motcua_grpc_requests_total", |labels| {
                    !labels.contains("grpc.health")
                }),
                events: sum(&text, "motcua_consumer_applied_total", |_| true),
                name,
                service,
            });
        }
    }
    members
}

/// The sum of a counter's series (in Prometheus' text format) whose labels pass `keep`.
fn sum(text: &str, metric: &str, keep: impl Fn(&str) -> bool) -> u64 {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(metric)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => r.split_once('}')?,
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            keep(labels).then(|| value.trim().parse::<f64>().ok())?
        })
        .sum::<f64>() as u64
}

/// For every service run as more than one replica: each replica answered calls and handled
/// events.
pub fn each_did_work(members: &[Member]) -> Option<Check> {
    let shared: Vec<&Member> = members
        .iter()
        .filter(|m| members.iter().filter(|o| o.service == m.service).count() > 1)
        .collect();
    if shared.is_empty() {
        return None;
    }
    Some(Check {
        what: "each replica of a service run as several answered calls and handled events".into(),
        checked: shared.len() as u64,
        mismatches: shared
            .iter()
            .filter(|m| m.calls == 0 || m.events == 0)
            .map(|m| format!("{}: {} calls, {} events handled", m.name, m.calls, m.events))
            .collect(),
    })
}

/// The figures' lines: one per process.
pub fn render(members: &[Member]) -> String {
    members
        .iter()
        .map(|m| {
            format!(
                "{}: {} gRPC calls, {} events handled, peak RSS {:.1} MiB\n",
                m.name,
                m.calls,
                m.events,
                m.peak_rss_kib as f64 / 1024.0
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_series_of_one_counter_only() {
        let text = "# TYPE motcua_grpc_requests_total counter\n\
            motcua_grpc_requests_total{method=\"/motcua.workflow.v1.WorkflowService/ClaimTask\",code=\"0\"} 12\n\
            motcua_grpc_requests_total{method=\"/grpc.health.v1.Health/Check\",code=\"0\"} 40\n\
            motcua_grpc_requests_total_other 5\n\
            motcua_consumer_applied_total{consumer=\"workflow\"} 7\n";
        assert_eq!(
            sum(text, "motcua_grpc_requests_total", |l| !l
                .contains("grpc.health")),
            12
        );
        assert_eq!(sum(text, "motcua_consumer_applied_total", |_| true), 7);
        assert_eq!(sum(text, "motcua_missing", |_| true), 0);
    }
}
