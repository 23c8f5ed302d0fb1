//! Who may see a dossier: the code plus a secret the applicant holds (DESIGN.md "Personal data"),
//! checked so that codes cannot be enumerated.
//!
//! - The same work whatever the answer: both secrets (the receipt's token and the ID number) are
//!   always checked, against the stored hashes when the code exists and against a stand-in when it
//!   does not or has no ID hash. An unknown code and a wrong secret then differ by nothing a
//!   stopwatch can see beyond the noise of one indexed read, and they get the same answer.
//! - Wrong ID numbers are counted three ways, and each holds tries back once its budget is spent
//!   (then one more try per MOTCUA_LOOKUP_FAILURE_COOLDOWN_SECS):
//!   - per dossier code, for every caller (MOTCUA_LOOKUP_FAILURES_PER_CODE): guessing the ID
//!     number of one dossier from many addresses is as slow as from one;
//!   - per ID number, across codes and callers (MOTCUA_LOOKUP_FAILURES_PER_ID_NUMBER): codes are
//!     sequential by law and an ID number is known to neighbours and employers, so sweeping the
//!     day's codes with a victim's ID number is held back after a few codes;
//!   - per client (MOTCUA_LOOKUP_FAILURES_PER_CLIENT; its address as the per-client rate limit
//!     counts it, systems with an integration token aside): one address trying many codes with
//!     many ID numbers.
//!
//!   A try is held back when any of its three is; it takes its place in all three before its
//!   secret is checked, so tries sent at the same moment cannot outrun the count. Codes that do
//!   not exist are counted and held alike, so "held back" tells nothing about a code.
//! - Only ID numbers are counted and held back: they are guessable (12 digits with a known
//!   structure), while the receipt's token (10 characters of 31, ~50 bits) is not, so a secret
//!   shaped like a token is neither counted nor held — which also means no one can lock the
//!   rightful holder of a receipt out of their dossier by failing on purpose (the ID number of a
//!   victim can be held back that way; the receipt still opens the dossier).
//! - ID numbers are kept only as a hash under a key each replica draws at start, never as typed.
//!   The counts live in each replica's memory (as the per-client limits do): N replicas allow N
//!   times the tries.

use crate::settings::LookupSettings;
use motcua_domain::secrets::SecretHasher;
use motcua_platform::limiter::PublicClient;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Budgets tracked at once at most (codes, ID numbers and clients together): past it, room is
/// made as [`Guard::make_room`] says.
const MAX_TRACKED: usize = 100_000;

/// A 32-byte hash that no secret has (hex), for the checks that must cost the same.
pub const STAND_IN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The secret hashes stored for a dossier.
#[derive(Debug, Clone)]
pub struct StoredSecrets {
    pub lookup_token_hmac: String,
    pub applicant_id_hmac: String,
    pub secret_key_id: String,
}

/// What a budget of wrong tries belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Code(String),
    /// An ID number as typed (spaces and case aside), hashed under this replica's key.
    IdNumber(u64),
    Client(IpAddr),
}

impl Subject {
    fn kind(&self) -> &'static str {
        match self {
            Subject::Code(_) => "code",
            Subject::IdNumber(_) => "id_number",
            Subject::Client(_) => "client",
        }
    }
}

/// One subject's budget of wrong ID numbers.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// Wrong tries it may still take now (refilled one per cooldown, up to its burst).
    left: f64,
    burst: f64,
    refilled: Instant,
    /// Tries whose secret is being checked.
    in_flight: u32,
    held_until: Option<Instant>,
    /// When the last wrong try was settled (when tracking began, before any).
    last_failed: Instant,
}

impl Budget {
    fn whole(&self) -> bool {
        self.in_flight == 0 && self.held_until.is_none() && self.left >= self.burst
    }
}

pub struct Guard {
    hasher: SecretHasher,
    /// Bursts per code, per ID number and per client.
    per_code: f64,
    per_id_number: f64,
    per_client: f64,
    cooldown: Duration,
    /// The key ID numbers are hashed under (drawn at start, never stored).
    id_key: RandomState,
    budgets: Mutex<HashMap<Subject, Budget>>,
    /// Budgets tracked at once at most ([`MAX_TRACKED`]; smaller in tests).
    max_tracked: usize,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

/// A try at a code, holding its place in its budgets until it is settled.
#[derive(Debug)]
pub struct Attempt<'g> {
    guard: &'g Guard,
    /// The budgets it holds a place in (none: not counted, a token-shaped secret).
    subjects: Vec<Subject>,
}

impl Attempt<'_> {
    /// The secret was wrong (or the code unknown).
    pub fn failed(mut self) {
        metrics::counter!("motcua_lookup_wrong_secrets_total").increment(1);
        self.guard.settle(std::mem::take(&mut self.subjects), true);
    }

    /// The secret opened the dossier.
    pub fn succeeded(mut self) {
        self.guard.settle(std::mem::take(&mut self.subjects), false);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        // Neither (the database did not answer): the places are given back, nothing counted.
        if !self.subjects.is_empty() {
            self.guard.settle(std::mem::take(&mut self.subjects), false);
        }
    }
}

impl Guard {
    pub fn new(settings: &LookupSettings) -> Self {
        let burst = |n: u32| f64::from(n.max(1));
        Self {
            hasher: settings.secrets.clone(),
            per_code: burst(settings.failures_per_code),
            per_id_number: burst(settings.failures_per_id_number),
            per_client: burst(settings.failures_per_client),
            cooldown: settings.failure_cooldown.max(Duration::from_secs(1)),
            id_key: RandomState::new(),
            budgets: Mutex::new(HashMap::new()),
            max_tracked: MAX_TRACKED,
        }
    }

    fn refill(&self, b: &mut Budget, now: Instant) {
        let gained = now.duration_since(b.refilled).as_secs_f64() / self.cooldown.as_secs_f64();
        b.left = (b.left + gained).min(b.burst);
        b.refilled = now;
        if b.held_until.is_some_and(|t| t <= now) {
            b.held_until = None;
        }
    }

    /// The budgets a try at `code` with the ID-number-shaped `secret` from `client` counts in.
    fn subjects(&self, code: &str, secret: &str, client: Option<PublicClient>) -> Vec<Subject> {
        let id = motcua_domain::secrets::normalise(secret);
        let mut subjects = vec![
            Subject::Code(code.to_owned()),
            Subject::IdNumber(self.id_key.hash_one(id)),
        ];
        if let Some(PublicClient {
            bucket: Some(ip),
            exempt: false,
        }) = client
        {
            subjects.push(Subject::Client(ip));
        }
        subjects
    }

    fn burst(&self, subject: &Subject) -> f64 {
        match subject {
            Subject::Code(_) => self.per_code,
            Subject::IdNumber(_) => self.per_id_number,
            Subject::Client(_) => self.per_client,
        }
    }

    /// Starts a try at `code` with `secret` from `client` (None: not known, not counted per
    /// client): its place in each budget, or how long it is held back.
    pub fn attempt(
        &self,
        code: &str,
        secret: &str,
        client: Option<PublicClient>,
    ) -> Result<Attempt<'_>, Duration> {
        if motcua_domain::secrets::is_token_shaped(secret) {
            return Ok(Attempt {
                guard: self,
                subjects: Vec::new(),
            });
        }
        let subjects = self.subjects(code, secret, client);
        let now = Instant::now();
        let mut budgets = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for subject in &subjects {
            let Some(b) = budgets.get_mut(subject) else {
                continue; // untracked: a whole budget
            };
            self.refill(b, now);
            let held = match b.held_until {
                Some(until) => until - now,
                None => {
                    let free = b.left - f64::from(b.in_flight);
                    if free >= 1.0 {
                        continue;
                    }
                    self.cooldown.mul_f64((1.0 - free).max(0.0))
                }
            };
            metrics::counter!("motcua_lookup_held_back_total", "by" => subject.kind()).increment(1);
            wait = wait.max(held);
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        let new = subjects
            .iter()
            .filter(|s| !budgets.contains_key(*s))
            .count();
        if new > 0 && budgets.len() + new > self.max_tracked {
            self.make_room(&mut budgets, now);
        }
        for subject in &subjects {
            let burst = self.burst(subject);
            budgets
                .entry(subject.clone())
                .or_insert(Budget {
                    left: burst,
                    burst,
                    refilled: now,
                    in_flight: 0,
                    held_until: None,
                    last_failed: now,
                })
                .in_flight += 1;
        }
        Ok(Attempt {
            guard: self,
            subjects,
        })
    }

    /// The map is full: forgets the budgets that are whole, and if that is not enough, a tenth
    /// of the rest — those not held back first, then those whose last wrong try is oldest; never
    /// one with a try in flight. A tenth at once, so that a map kept full (someone failing on
    /// code after code) is swept once per tenth of its size, not once per new code; held-back
    /// budgets last, so that failing on other codes does not buy fresh tries at one (it would
    /// take holding back every tracked budget first).
    fn make_room(&self, budgets: &mut HashMap<Subject, Budget>, now: Instant) {
        budgets.retain(|_, b| {
            self.refill(b, now);
            !b.whole()
        });
        let target = self.max_tracked - self.max_tracked.div_ceil(10);
        if budgets.len() <= target {
            return;
        }
        let mut candidates: Vec<(bool, Instant, Subject)> = budgets
            .iter()
            .filter(|(_, b)| b.in_flight == 0)
            .map(|(s, b)| (b.held_until.is_some(), b.last_failed, s.clone()))
            .collect();
        let n = (budgets.len() - target).min(candidates.len());
        if n == 0 {
            return;
        }
        candidates.select_nth_unstable_by(n - 1, |a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, subject) in candidates.into_iter().take(n) {
            budgets.remove(&subject);
        }
    }

    fn settle(&self, subjects: Vec<Subject>, failed: bool) {
        let now = Instant::now();
        let mut budgets = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        for subject in subjects {
            let Some(b) = budgets.get_mut(&subject) else {
                continue;
            };
            self.refill(b, now);
            b.in_flight = b.in_flight.saturating_sub(1);
            if failed {
                b.last_failed = now;
                b.left = (b.left - 1.0).max(0.0);
                if b.left < 1.0 {
                    b.held_until = Some(now + self.cooldown.mul_f64(1.0 - b.left));
                    metrics::counter!("motcua_lookup_codes_held_back_total", "by" => subject.kind())
                        .increment(1);
                }
            } else if b.whole() {
                // A whole budget is what an untracked subject gets: only those with failures
                // stay, so the map does not fill with everyone who looked up their dossier by ID
                // number (a full map makes each new subject sweep it).
                budgets.remove(&subject);
            }
        }
    }

    /// Whether `secret` opens the dossier `code` whose stored hashes are `stored` (None: no such
    /// dossier). Always two keyed hashes, whatever the answer.
    pub fn opens(&self, code: &str, secret: &str, stored: Option<&StoredSecrets>) -> bool {
        let stand_in = StoredSecrets {
            lookup_token_hmac: STAND_IN.to_owned(),
            applicant_id_hmac: STAND_IN.to_owned(),
            secret_key_id: self.hasher.current_key_id().to_owned(),
        };
        let s = stored.unwrap_or(&stand_in);
        let id_hash = if s.applicant_id_hmac.is_empty() {
            STAND_IN
        } else {
            s.applicant_id_hmac.as_str()
        };
        let token = self
            .hasher
            .verify(code, secret, &s.secret_key_id, &s.lookup_token_hmac);
        let id = self.hasher.verify(code, secret, &s.secret_key_id, id_hash);
        // `&`, not `&&`: both checks run whatever the first says.
        stored.is_some() & (token | id)
    }

    /// Budgets being tracked.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.budgets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Forgets budgets that are whole again (called now and then).
    pub fn forget_idle(&self) {
        let now = Instant::now();
        self.budgets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, b| {
                self.refill(b, now);
                !b.whole()
            });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use motcua_platform::config::Vars;

    fn guard() -> (Guard, SecretHasher) {
        let mut s =
            LookupSettings::from_vars(&Vars::from_pairs([("MOTCUA_DEVELOPMENT", "true")])).unwrap();
        s.failures_per_code = 3;
        s.failures_per_id_number = 4;
        s.failures_per_client = 6;
        s.failure_cooldown = Duration::from_secs(60);
        let hasher = s.secrets.clone();
        (Guard::new(&s), hasher)
    }

    fn id(n: u32) -> String {
        format!("0380850{n:05}")
    }

    fn client(last: u8) -> Option<PublicClient> {
        Some(PublicClient {
            bucket: Some(IpAddr::from([203, 0, 113, last])),
            exempt: false,
        })
    }

    #[test]
    fn either_secret_opens_and_nothing_opens_an_unknown_code() {
        let (g, h) = guard();
        let code = "000.00.06.H56-261127-0001";
        let (key, token) = h.hash(code, "ABCDEFGHJK");
        let stored = StoredSecrets {
            lookup_token_hmac: token,
            applicant_id_hmac: h.hash(code, "038085001234").1,
            secret_key_id: key,
        };
        assert!(g.opens(code, "abcdefghjk", Some(&stored)));
        assert!(g.opens(code, "0380 8500 1234", Some(&stored)));
        assert!(!g.opens(code, "ABCDEFGHJX", Some(&stored)));
        assert!(!g.opens(code, "ABCDEFGHJK", None));
        let no_id = StoredSecrets {
            applicant_id_hmac: String::new(),
            ..stored
        };
        assert!(!g.opens(code, "", Some(&no_id)), "an empty ID never opens");
    }

    #[test]
    fn a_code_is_held_back_after_its_burst_of_wrong_id_numbers_whoever_sent_them() {
        let (g, _) = guard();
        let code = "000.00.06.H56-261127-0002";
        for i in 0..3 {
            g.attempt(code, &id(i), client(i as u8)).unwrap().failed();
        }
        let wait = g
            .attempt(code, &id(9), client(9))
            .expect_err("held back after the burst");
        assert!(
            wait <= Duration::from_secs(60) && wait > Duration::from_secs(50),
            "{wait:?}"
        );
        assert!(
            g.attempt("000.00.06.H56-261127-0003", &id(10), client(10))
                .is_ok(),
            "another code is not"
        );
        // The receipt's token is never held back (it cannot be guessed).
        g.attempt(code, "K7M2P9Q4RX", client(1)).unwrap().failed();
    }

    #[test]
    fn an_id_number_is_held_back_across_codes_and_clients() {
        let (g, _) = guard();
        let victim = "0380 8500 1234";
        for n in 0..4 {
            let code = format!("000.00.06.H56-261127-{n:04}");
            g.attempt(&code, victim, client(n)).unwrap().failed();
        }
        let next = "000.00.06.H56-261127-0004";
        assert!(
            g.attempt(next, "038085001234", client(50)).is_err(),
            "spaces aside"
        );
        assert!(
            g.attempt(next, &id(1), client(51)).is_ok(),
            "another ID is not"
        );
    }

    #[test]
    fn a_client_is_held_back_across_codes_and_id_numbers_unless_exempt() {
        let (g, _) = guard();
        for n in 0..6 {
            let code = format!("000.00.06.H56-261127-{n:04}");
            g.attempt(&code, &id(n), client(7)).unwrap().failed();
        }
        let fresh = "000.00.06.H56-261127-0099";
        assert!(g.attempt(fresh, &id(99), client(7)).is_err());
        assert!(
            g.attempt(fresh, &id(99), client(8)).is_ok(),
            "another client"
        );
        let system = Some(PublicClient {
            bucket: client(7).unwrap().bucket,
            exempt: true,
        });
        assert!(
            g.attempt(fresh, &id(98), system).is_ok(),
            "an integrating system is not counted per client"
        );
    }

    #[test]
    fn tries_at_the_same_moment_cannot_outrun_the_budget() {
        let (g, _) = guard();
        let code = "000.00.06.H56-261127-0004";
        let tries: Vec<_> = (0..10)
            .filter_map(|i| g.attempt(code, &id(i), None).ok())
            .collect();
        assert_eq!(
            tries.len(),
            3,
            "only the budget's worth are checked at once"
        );
        drop(tries); // unsettled (say, the database failed): places given back, nothing counted
        let right = g.attempt(code, "038085001234", None).unwrap();
        right.succeeded();
        assert!(
            g.attempt(code, "038085001234", None).is_ok(),
            "successes cost nothing"
        );
    }

    #[test]
    fn only_budgets_with_wrong_tries_are_tracked() {
        let (g, _) = guard();
        for i in 0..100 {
            let code = format!("000.00.06.H56-261127-{i:04}");
            g.attempt(&code, "038085001234", client(1))
                .unwrap()
                .succeeded();
            drop(g.attempt(&code, "038085001234", client(1)).unwrap());
        }
        assert_eq!(
            g.tracked(),
            0,
            "right ID numbers and unanswered tries leave nothing"
        );
        let code = "000.00.06.H56-261127-0001";
        g.attempt(code, "038085001234", client(1)).unwrap().failed();
        g.attempt(code, "038085001234", client(1))
            .unwrap()
            .succeeded();
        assert_eq!(
            g.tracked(),
            3,
            "a wrong try is remembered past a right one: its code, ID number and client"
        );
    }

    #[test]
    fn a_held_back_code_stays_held_when_the_map_fills_with_other_codes() {
        let (mut g, _) = guard();
        g.max_tracked = 100;
        let target = "000.00.06.H56-261127-0001";
        for i in 0..3 {
            g.attempt(target, &id(i), None).unwrap().failed();
        }
        // Someone fails once on many other codes with other ID numbers, to push the target out
        // of the map and get a fresh budget for it.
        for i in 0..1000 {
            let code = format!("000.00.06.H56-261128-{i:06}");
            g.attempt(&code, &id(1000 + i), None).unwrap().failed();
            assert!(g.tracked() <= 100);
        }
        assert!(
            g.attempt(target, &id(5000), None).is_err(),
            "still held back"
        );
    }
}
