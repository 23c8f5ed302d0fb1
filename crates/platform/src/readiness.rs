//! Readiness: whether a host may take calls, and why not.
//!
//! The host's watcher sets it from what it checks (PostgreSQL through a connection of its own, so a
//! busy pool is not mistaken for a database that is down; the NATS connection; the relay keeping
//! up; supervised tasks running). Busy is not down: a saturated pool or a flood of calls never
//! flips readiness — that is load shedding's job (RESOURCE_EXHAUSTED), not an outage.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A handle to wait on readiness; cheap to clone.
#[derive(Debug, Clone)]
pub struct Readiness {
    rx: watch::Receiver<bool>,
    /// Keeps the channel open for [`Readiness::always`], which has no host behind it.
    _fixed: Option<Arc<watch::Sender<bool>>>,
}

impl Readiness {
    /// Always ready (tests of parts that run without a host).
    pub fn always() -> Self {
        let tx = Arc::new(watch::Sender::new(true));
        Self {
            rx: tx.subscribe(),
            _fixed: Some(tx),
        }
    }

    pub fn is_ready(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when ready (at once if it is).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|ready| *ready).await.is_err() {
            // The host is gone; its shutdown ends the waiter's work.
            futures::future::pending::<()>().await;
        }
    }
}

/// The writer side, held by the host.
#[derive(Debug, Clone)]
pub struct ReadinessSource {
    tx: Arc<watch::Sender<bool>>,
    /// Problems reported by parts of the host (a task that panicked, …): name → why.
    problems: Arc<Mutex<BTreeMap<String, String>>>,
    /// Why the host is not ready, as the watcher last found it.
    why: Arc<Mutex<Vec<String>>>,
    /// Health details that do not stop it serving: "publishing is behind", "NATS is away, data
    /// may be behind", "the development key" — name → what.
    notes: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Default for ReadinessSource {
    fn default() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(false)),
            problems: Arc::default(),
            why: Arc::default(),
            notes: Arc::default(),
        }
    }
}

impl ReadinessSource {
    pub fn handle(&self) -> Readiness {
        Readiness {
            rx: self.tx.subscribe(),
            _fixed: None,
        }
    }

    /// The watcher's verdict: ready, or not and why.
    pub fn set(&self, why: Vec<String>) {
        let ready = why.is_empty();
        *self.why.lock().unwrap_or_else(|p| p.into_inner()) = why;
        self.tx.send_if_modified(|r| {
            let changed = *r != ready;
            *r = ready;
            changed
        });
    }

    pub fn is_ready(&self) -> bool {
        *self.tx.borrow()
    }

    /// A part reports a problem that keeps the host from serving until it is cleared.
    pub fn report(&self, part: &str, why: String) {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(part.to_owned(), why);
    }

    pub fn clear(&self, part: &str) {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(part);
    }

    /// Why the host is not ready (empty when it is).
    pub fn why(&self) -> Vec<String> {
        self.why.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets a health detail that does not stop the host serving (see `notes`).
    pub fn note(&self, part: &str, what: String) {
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(part.to_owned(), what);
    }

    pub fn unnote(&self, part: &str) {
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(part);
    }

    /// The health details now: part → what.
    pub fn notes(&self) -> BTreeMap<String, String> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The problems parts have reported, as "part: why" lines.
    pub fn reported(&self) -> Vec<String> {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect()
    }
}

/// Every service of a process with its readiness and health details: what `GET /status` on the
/// metrics port shows an operator (the public ports show only ready or not, and which part).
#[derive(Debug, Clone, Default)]
pub struct StatusBoard(Arc<Mutex<Vec<(String, ReadinessSource)>>>);

impl StatusBoard {
    pub fn register(&self, service: &str, source: ReadinessSource) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((service.to_owned(), source));
    }

    /// `{"<service>": {"ready": bool, "not_ready_because": [...], "details": {part: what}}}`.
    pub fn render(&self) -> serde_json::Value {
        let services = self.0.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::Value::Object(
            services
                .iter()
                .map(|(name, s)| {
                    (
                        name.clone(),
                        serde_json::json!({
                            "ready": s.is_ready(),
                            "not_ready_because": s.why(),
                            "details": s.notes(),
                        }),
                    )
                })
                .collect(),
        )
    }

    /// One service's health details (tests, `motcua serve`'s log).
    pub fn notes(&self, service: &str) -> BTreeMap<String, String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(name, _)| name == service)
            .map(|(_, s)| s.notes())
            .unwrap_or_default()
    }
}
