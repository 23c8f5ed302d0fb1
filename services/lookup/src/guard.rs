//! Who may see a dossier: the code plus a secret the applicant holds (DESIGN.md "Personal data"),
//! checked so that codes cannot be enumerated.
//!
//! - The same work whatever the answer: both secrets (the receipt's token and the ID number) are
//!   always checked, against the stored hashes when the code exists and against a stand-in when it
//!   does not or has no ID hash. An unknown code and a wrong secret then differ by nothing a
//!   stopwatch can see beyond the noise of one indexed read, and they get the same answer.
//! - Repeated wrong secrets for one code slow that code down for every caller: after
//!   MOTCUA_LOOKUP_FAILURES_PER_CODE wrong tries, one more per MOTCUA_LOOKUP_FAILURE_COOLDOWN_SECS.
//!   Wrong tries count for codes that do not exist too, so "slowed down" tells nothing either.
//!   The counts live in each replica's memory (as the per-client limits do): N replicas allow N
//!   times the tries, still far too few to guess a 50-bit token.

use crate::settings::LookupSettings;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use motcua_domain::secrets::SecretHasher;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Codes held back at once at most; past it the oldest expired ones go first, and when none has
/// expired a new one is not held (the per-client limits still bound every caller).
const MAX_HELD_CODES: usize = 100_000;

/// A 32-byte hash that no secret has (hex), for the checks that must cost the same.
pub const STAND_IN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The secret hashes stored for a dossier.
#[derive(Debug, Clone)]
pub struct StoredSecrets {
    pub lookup_token_hmac: String,
    pub applicant_id_hmac: String,
    pub secret_key_id: String,
}

pub struct Guard {
    hasher: SecretHasher,
    failures: DefaultKeyedRateLimiter<String>,
    held: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

impl Guard {
    pub fn new(settings: &LookupSettings) -> Self {
        let burst = NonZeroU32::new(settings.failures_per_code).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(settings.failure_cooldown)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            hasher: settings.secrets.clone(),
            failures: RateLimiter::keyed(quota),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// How long `code` is still held back after too many wrong secrets, if it is.
    pub fn held_back(&self, code: &str) -> Option<Duration> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let until = *held.get(code)?;
        until.checked_duration_since(Instant::now())
    }

    /// Counts a wrong secret (or an unknown code) against `code`.
    pub fn failed(&self, code: &str) {
        metrics::counter!("motcua_lookup_wrong_secrets_total").increment(1);
        let key = code.to_owned();
        if let Err(not_until) = self.failures.check_key(&key) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let now = Instant::now();
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if held.len() >= MAX_HELD_CODES {
                held.retain(|_, until| *until > now);
            }
            if held.len() < MAX_HELD_CODES {
                held.insert(key, now + wait);
                metrics::counter!("motcua_lookup_codes_held_back_total").increment(1);
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

    /// Forgets codes whose hold has passed and quiet counters (called now and then).
    pub fn forget_idle(&self) {
        let now = Instant::now();
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, until| *until > now);
        self.failures.retain_recent();
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
    fn a_code_is_held_back_after_its_burst_of_failures_whoever_sent_them() {
        let (g, _) = guard();
        let code = "000.00.06.H56-261127-0002";
        for _ in 0..3 {
            assert!(g.held_back(code).is_none());
            g.failed(code);
        }
        assert!(g.held_back(code).is_none(), "the burst is allowed");
        g.failed(code);
        let wait = g.held_back(code).expect("held back after the burst");
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(
            g.held_back("000.00.06.H56-261127-0003").is_none(),
            "another code is not"
        );
    }
}
