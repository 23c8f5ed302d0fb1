//! Who may see a dossier: the code plus a secret the applicant holds (DESIGN.md "Personal data"),
//! checked so that codes cannot be enumerated.
//!
//! - The same work whatever the answer: both secrets (the receipt's token and the ID number) are
//!   always checked, against the stored hashes when the code exists and against a stand-in when it
//!   does not or has no ID hash. An unknown code and a wrong secret then differ by nothing a
//!   stopwatch can see beyond the noise of one indexed read, and they get the same answer.
//! - Guessing is slowed per code, for every caller: after MOTCUA_LOOKUP_FAILURES_PER_CODE wrong
//!   ID numbers for one code, one more try per MOTCUA_LOOKUP_FAILURE_COOLDOWN_SECS. A try takes
//!   its place in the budget before its secret is checked, so tries sent at the same moment cannot
//!   outrun the count. Codes that do not exist are counted and held alike, so "held back" tells
//!   nothing. Only ID numbers are held back: they are guessable (12 digits with a known structure),
//!   while the receipt's token (10 characters of 31, ~50 bits) is not, so a secret shaped like a
//!   token is always checked — which also means no one can lock the rightful holder of a receipt
//!   out of their dossier by failing on purpose. The counts live in each replica's memory (as the
//!   per-client limits do): N replicas allow N times the tries.

use crate::settings::LookupSettings;
use motcua_domain::secrets::SecretHasher;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Codes tracked at once at most: past it, room is made as [`Guard::make_room`] says.
const MAX_TRACKED_CODES: usize = 100_000;

/// A 32-byte hash that no secret has (hex), for the checks that must cost the same.
pub const STAND_IN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The secret hashes stored for a dossier.
#[derive(Debug, Clone)]
pub struct StoredSecrets {
    pub lookup_token_hmac: String,
    pub applicant_id_hmac: String,
    pub secret_key_id: String,
}

/// One code's budget of wrong ID numbers.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// Wrong tries it may still take now (refilled one per cooldown, up to the burst).
    left: f64,
    refilled: Instant,
    /// Tries whose secret is being checked.
    in_flight: u32,
    held_until: Option<Instant>,
    /// When the last wrong try was settled (when tracking began, before any).
    last_failed: Instant,
}

pub struct Guard {
    hasher: SecretHasher,
    burst: f64,
    cooldown: Duration,
    budgets: Mutex<HashMap<String, Budget>>,
    /// Codes tracked at once at most ([`MAX_TRACKED_CODES`]; smaller in tests).
    max_tracked: usize,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

/// A try at a code, holding its place in the code's budget until it is settled.
#[derive(Debug)]
pub struct Attempt<'g> {
    guard: &'g Guard,
    /// The code whose budget it holds a place in (None: not counted, a token-shaped secret).
    code: Option<String>,
}

impl Attempt<'_> {
    /// The secret was wrong (or the code unknown).
    pub fn failed(mut self) {
        metrics::counter!("motcua_lookup_wrong_secrets_total").increment(1);
        if let Some(code) = self.code.take() {
            self.guard.settle(&code, true);
        }
    }

    /// The secret opened the dossier.
    pub fn succeeded(mut self) {
        if let Some(code) = self.code.take() {
            self.guard.settle(&code, false);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        // Neither (the database did not answer): the place is given back, nothing counted.
        if let Some(code) = self.code.take() {
            self.guard.settle(&code, false);
        }
    }
}

impl Guard {
    pub fn new(settings: &LookupSettings) -> Self {
        Self {
            hasher: settings.secrets.clone(),
            burst: f64::from(settings.failures_per_code.max(1)),
            cooldown: settings.failure_cooldown.max(Duration::from_secs(1)),
            budgets: Mutex::new(HashMap::new()),
            max_tracked: MAX_TRACKED_CODES,
        }
    }

    fn refill(&self, b: &mut Budget, now: Instant) {
        let gained = now.duration_since(b.refilled).as_secs_f64() / self.cooldown.as_secs_f64();
        b.left = (b.left + gained).min(self.burst);
        b.refilled = now;
        if b.held_until.is_some_and(|t| t <= now) {
            b.held_until = None;
        }
    }

    fn idle(&self, b: &Budget) -> bool {
        b.in_flight == 0 && b.held_until.is_none() && b.left >= self.burst
    }

    /// Starts a try at `code` with `secret`: its place in the code's budget, or how long the code
    /// is held back.
    pub fn attempt(&self, code: &str, secret: &str) -> Result<Attempt<'_>, Duration> {
        if motcua_domain::secrets::is_token_shaped(secret) {
            return Ok(Attempt {
                guard: self,
                code: None,
            });
        }
        let now = Instant::now();
        let mut budgets = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        if !budgets.contains_key(code) && budgets.len() >= self.max_tracked {
            self.make_room(&mut budgets, now);
        }
        let b = budgets.entry(code.to_owned()).or_insert(Budget {
            left: self.burst,
            refilled: now,
            in_flight: 0,
            held_until: None,
            last_failed: now,
        });
        self.refill(b, now);
        if let Some(until) = b.held_until {
            return Err(until - now);
        }
        let free = b.left - f64::from(b.in_flight);
        if free < 1.0 {
            metrics::counter!("motcua_lookup_held_back_total").increment(1);
            return Err(self.cooldown.mul_f64((1.0 - free).max(0.0)));
        }
        b.in_flight += 1;
        Ok(Attempt {
            guard: self,
            code: Some(code.to_owned()),
        })
    }

    /// The map is full: forgets the codes whose budget is whole, and if that is not enough, a tenth
    /// of the rest — those not held back first, then those whose last wrong try is oldest; never
    /// a code with a try in flight. A tenth at once, so that a map kept full (someone failing on
    /// code after code) is swept once per tenth of its size, not once per new code; held-back
    /// codes last, so that failing on other codes does not buy fresh tries at one (it would take
    /// holding back every tracked code first: five wrong tries each, at the defaults).
    fn make_room(&self, budgets: &mut HashMap<String, Budget>, now: Instant) {
        budgets.retain(|_, b| {
            self.refill(b, now);
            !self.idle(b)
        });
        let target = self.max_tracked - self.max_tracked.div_ceil(10);
        if budgets.len() <= target {
            return;
        }
        let mut candidates: Vec<(bool, Instant, String)> = budgets
            .iter()
            .filter(|(_, b)| b.in_flight == 0)
            .map(|(c, b)| (b.held_until.is_some(), b.last_failed, c.clone()))
            .collect();
        let n = (budgets.len() - target).min(candidates.len());
        if n == 0 {
            return;
        }
        candidates.select_nth_unstable_by(n - 1, |a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, code) in candidates.into_iter().take(n) {
            budgets.remove(&code);
        }
    }

    fn settle(&self, code: &str, failed: bool) {
        let now = Instant::now();
        let mut budgets = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = budgets.get_mut(code) else {
            return;
        };
        self.refill(b, now);
        b.in_flight = b.in_flight.saturating_sub(1);
        if failed {
            b.last_failed = now;
            b.left = (b.left - 1.0).max(0.0);
            if b.left < 1.0 {
                b.held_until = Some(now + self.cooldown.mul_f64(1.0 - b.left));
                metrics::counter!("motcua_lookup_codes_held_back_total").increment(1);
            }
        } else if self.idle(b) {
            // A whole budget is what an untracked code gets: only codes with failures stay, so
            // the map does not fill with everyone who looked up their dossier by ID number (a
            // full map makes each new code sweep it).
            budgets.remove(code);
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

    /// Codes whose budget is being tracked.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.budgets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Forgets codes whose budget is whole again (called now and then).
    pub fn forget_idle(&self) {
        let now = Instant::now();
        self.budgets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, b| {
                self.refill(b, now);
                !self.idle(b)
            });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use motcua_platform::config::Vars;

    fn guard() -> (Guard, SecretHasher) {
        let mut s = LookupSettings::from_vars(&Vars::default()).unwrap();
        s.failures_per_code = 3;
        s.failure_cooldown = Duration::from_secs(60);
        let hasher = s.secrets.clone();
        (Guard::new(&s), hasher)
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
        for _ in 0..3 {
            g.attempt(code, "038085001234").unwrap().failed();
        }
        let wait = g
            .attempt(code, "038085001234")
            .expect_err("held back after the burst");
        assert!(
            wait <= Duration::from_secs(60) && wait > Duration::from_secs(50),
            "{wait:?}"
        );
        assert!(
            g.attempt("000.00.06.H56-261127-0003", "038085001234")
                .is_ok(),
            "another code is not"
        );
        // The receipt's token is never held back (it cannot be guessed).
        g.attempt(code, "K7M2P9Q4RX").unwrap().failed();
    }

    #[test]
    fn tries_at_the_same_moment_cannot_outrun_the_budget() {
        let (g, _) = guard();
        let code = "000.00.06.H56-261127-0004";
        let tries: Vec<_> = (0..10)
            .filter_map(|_| g.attempt(code, "038085001234").ok())
            .collect();
        assert_eq!(
            tries.len(),
            3,
            "only the budget's worth are checked at once"
        );
        drop(tries); // unsettled (say, the database failed): places given back, nothing counted
        let right = g.attempt(code, "038085001234").unwrap();
        right.succeeded();
        assert!(
            g.attempt(code, "038085001234").is_ok(),
            "successes cost nothing"
        );
    }

    #[test]
    fn only_codes_with_wrong_tries_are_tracked() {
        let (g, _) = guard();
        for i in 0..100 {
            let code = format!("000.00.06.H56-261127-{i:04}");
            g.attempt(&code, "038085001234").unwrap().succeeded();
            drop(g.attempt(&code, "038085001234").unwrap());
        }
        assert_eq!(
            g.tracked(),
            0,
            "right ID numbers and unanswered tries leave nothing"
        );
        let code = "000.00.06.H56-261127-0001";
        g.attempt(code, "038085001234").unwrap().failed();
        g.attempt(code, "038085001234").unwrap().succeeded();
        assert_eq!(g.tracked(), 1, "a wrong try is remembered past a right one");
    }

    #[test]
    fn a_held_back_code_stays_held_when_the_map_fills_with_other_codes() {
        let (mut g, _) = guard();
        g.max_tracked = 100;
        let target = "000.00.06.H56-261127-0001";
        for _ in 0..3 {
            g.attempt(target, "038085001234").unwrap().failed();
        }
        // Someone fails once on many other codes, to push the target out of the map and get a
        // fresh budget for it.
        for i in 0..1000 {
            let code = format!("000.00.06.H56-261128-{i:06}");
            g.attempt(&code, "038085001234").unwrap().failed();
            assert!(g.tracked() <= 100);
        }
        assert!(
            g.attempt(target, "038085001234").is_err(),
            "still held back"
        );
    }
}
