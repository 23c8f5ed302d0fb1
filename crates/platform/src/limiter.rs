//! Per-client rate limits for public routes (no token): public pages and APIs, a gateway's
//! inbound endpoint, public gRPC services. One limiter per host serves its gRPC and HTTP sides, so a
//! client's calls on both count together. Limits are per replica.
//!
//! Systems that call with a bearer token carrying the `integration` role (a service answering
//! citizens' SMS on their behalf, a portal) are not counted: they act for many citizens from one address, and their
//! token already says who they are.
//!
//! Who the client is: the TCP peer's address (IPv6 counted per /64, which one subscriber is
//! usually given whole). `X-Forwarded-For` is believed only when the peer is
//! one of MOTCUA_TRUSTED_PROXIES (the ingress), and then the client is the right-most address in
//! it that is not itself a trusted proxy: anything left of that was written by the client and can
//! be forged. (tower_governor's SmartIpKeyExtractor trusts the header from anyone, which is why
//! this is ours; the counting itself is governor's.)

use crate::auth::{Role, Verifier};
use crate::config::PublicSettings;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Who called a public route, as the per-client limit counted them: put in the request's
/// extensions (HTTP and gRPC alike) for a service that counts something of its own per client
/// (wrong secrets, for example).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicClient {
    /// The client's bucket (an IPv4 address, or an IPv6 /64); None without a TCP peer.
    pub bucket: Option<IpAddr>,
    /// An integrating system (a bearer token with the `integration` role): not counted.
    pub exempt: bool,
}

#[derive(Clone)]
pub struct PublicLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trusted: Arc<Vec<IpNet>>,
    verifier: Option<Verifier>,
}

impl std::fmt::Debug for PublicLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicLimiter")
            .field("trusted", &self.trusted)
            .finish()
    }
}

impl PublicLimiter {
    pub fn new(settings: &PublicSettings) -> Self {
        let rate = NonZeroU32::new(settings.rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.burst).unwrap_or(rate);
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
            trusted: Arc::new(settings.trusted_proxies.clone()),
            verifier: None,
        }
    }

    /// Lets callers whose bearer token carries the `integration` role through uncounted.
    pub fn with_verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Whether the request's `authorization` header names an integrating system.
    pub fn exempt(&self, authorization: Option<&str>) -> bool {
        let (Some(verifier), Some(header)) = (&self.verifier, authorization) else {
            return false;
        };
        verifier
            .verify_header(Some(header))
            .is_ok_and(|c| c.roles.contains(&Role::Integration))
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client's address, given the TCP peer and the request's `X-Forwarded-For`.
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = peer?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let Some(list) = forwarded_for else {
            return Some(peer);
        };
        let mut hops = list.split(',').map(str::trim).rev();
        let mut last = peer;
        for hop in hops.by_ref() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                // Unreadable: do not believe anything left of it.
                return Some(last);
            };
            if !self.is_trusted(ip) {
                return Some(ip);
            }
            last = ip;
        }
        Some(last)
    }

    /// The client of a request with TCP peer `peer` and these headers, as it is counted.
    pub fn identify(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
        authorization: Option<&str>,
    ) -> PublicClient {
        PublicClient {
            bucket: self.client(peer, forwarded_for).map(bucket),
            exempt: self.exempt(authorization),
        }
    }

    /// Counts a request of `client` (nothing for an exempt one): Ok, or how long to wait.
    pub fn admit(&self, client: PublicClient) -> Result<(), Duration> {
        if client.exempt {
            return Ok(());
        }
        self.check(client.bucket)
    }

    /// Ok, or how long the client must wait.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        // A request without a peer address (not TCP) shares one bucket.
        let key = bucket(client.unwrap_or(IpAddr::from([0, 0, 0, 0])));
        self.limiter.check_key(&key).map_err(|not_until| {
            metrics::counter!("motcua_public_rate_limited_total").increment(1);
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }

    /// Forgets clients that have been quiet (call now and then to bound memory).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

/// The bucket of an address: itself for IPv4, its /64 for IPv6.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
        },
    }
}

/// Whole seconds to put in Retry-After (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(trusted: &[&str]) -> PublicLimiter {
        PublicLimiter::new(&PublicSettings {
            rate_per_second: 1,
            burst: 3,
            trusted_proxies: trusted.iter().map(|s| s.parse().unwrap()).collect(),
            trusted_proxies_named: true,
        })
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let l = limiter(&["10.0.0.0/8"]);
        // Straight from the internet: the header is the client's own words.
        assert_eq!(
            l.client(Some(ip("203.0.113.7")), Some("1.2.3.4")),
            Some(ip("203.0.113.7"))
        );
        // Through the ingress: the right-most untrusted hop; the forged left part is ignored.
        assert_eq!(
            l.client(
                Some(ip("10.1.2.3")),
                Some("6.6.6.6, 198.51.100.9, 10.0.0.5")
            ),
            Some(ip("198.51.100.9"))
        );
        assert_eq!(l.client(Some(ip("10.1.2.3")), None), Some(ip("10.1.2.3")));
        assert_eq!(
            l.client(Some(ip("10.1.2.3")), Some("garbage")),
            Some(ip("10.1.2.3"))
        );
    }

    #[test]
    fn a_burst_then_the_rate() {
        let l = limiter(&[]);
        let a = Some("198.51.100.1".parse().unwrap());
        let b = Some("198.51.100.2".parse().unwrap());
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        let wait = l.check(a).expect_err("burst used up");
        assert!(wait <= Duration::from_secs(1));
        assert_eq!(retry_after_secs(wait), 1);
        assert!(l.check(b).is_ok(), "another client has its own bucket");
    }

    #[test]
    fn an_ipv6_subscriber_is_one_client_however_many_addresses_it_takes() {
        let l = limiter(&[]);
        for i in 0..3 {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            assert!(l.check(Some(ip)).is_ok());
        }
        let rotated: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!(l.check(Some(rotated)).is_err(), "same /64, same bucket");
        let neighbour: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(l.check(Some(neighbour)).is_ok());
    }
}
