//! Where webhooks may go: public https receivers only. A subscription's URL is checked when it is
//! created (its name resolved, every address checked) and again at every attempt, and the
//! connection itself goes only to addresses that pass (a resolver that drops the others), so a
//! name that resolves differently later (DNS rebinding) still cannot reach inside. Redirects are
//! never followed (`providers::webhook::client`).
//!
//! Refused: loopback, private (RFC 1918), carrier-grade NAT, link-local (169.254.169.254, the
//! clouds' metadata service), unique-local and site-local IPv6, unspecified, broadcast, multicast
//! and reserved addresses, IPv4 written inside IPv6; and names that only mean something inside a
//! cluster or a host: `localhost`, single-label names (resolved through the pod's search domains),
//! `*.svc`, `*.cluster.local`, `*.local`, `*.internal`, `*.localhost`, `*.home.arpa`.
//! MOTCUA_WEBHOOK_ALLOWED_TARGETS names exceptions as written in URLs — host names, addresses or
//! CIDRs (development and tests: `127.0.0.1`) — and allows http to them.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The exceptions MOTCUA_WEBHOOK_ALLOWED_TARGETS names.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    names: Vec<String>,
    nets: Vec<IpNet>,
}

/// A host name as compared: lower case, without the root's trailing dot.
fn normal(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl Targets {
    /// `a.example.vn, 127.0.0.1, 10.0.0.0/8, ::1` (empty: none).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut t = Targets::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Ok(net) = item.parse::<IpNet>() {
                t.nets.push(net);
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                t.nets.push(IpNet::from(ip));
            } else if item
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            {
                t.names.push(normal(item));
            } else {
                return Err(format!(
                    "{item:?} is neither a host name, an address nor a CIDR"
                ));
            }
        }
        Ok(t)
    }

    fn allows_name(&self, host: &str) -> bool {
        self.names.contains(&normal(host))
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Checks a URL as written: scheme, host name, literal address. Names are resolved by
    /// [`Targets::check_resolved`] and, when connecting, by [`Guarded`].
    pub fn check_url(&self, url: &str) -> Result<url::Url, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("url {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("url {url:?} must be https"));
        }
        let allowed = match parsed.host() {
            None => return Err(format!("url {url:?} names no host")),
            Some(url::Host::Ipv4(ip)) => self.allows_ip(ip.into()) || refuse_ip(ip.into())?,
            Some(url::Host::Ipv6(ip)) => self.allows_ip(ip.into()) || refuse_ip(ip.into())?,
            Some(url::Host::Domain(d)) => self.allows_name(d) || refuse_name(d)?,
        };
        if parsed.scheme() == "http" && !allowed {
            return Err(format!(
                "url {url:?} must be https (http only to MOTCUA_WEBHOOK_ALLOWED_TARGETS)"
            ));
        }
        Ok(parsed)
    }

    /// Resolves a checked URL's host name and checks every address it has now.
    pub async fn check_resolved(&self, url: &url::Url) -> Result<(), String> {
        let Some(url::Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        if self.allows_name(host) {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("url: {host} does not resolve ({e})"))?
            .collect();
        self.check_addrs(host, &addrs)
    }

    /// Every address must be public (or allowed).
    fn check_addrs(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), String> {
        if addrs.is_empty() {
            return Err(format!("url: {host} resolves to no address"));
        }
        for a in addrs {
            if !self.allows_ip(a.ip()) && internal_ip(a.ip()) {
                return Err(format!(
                    "url: {host} resolves to {}, an internal address",
                    a.ip()
                ));
            }
        }
        Ok(())
    }
}

/// Err for an internal address; Ok(true) for a public one (so `allowed || refuse_ip(..)?` reads
/// as "allowed, or public").
fn refuse_ip(ip: IpAddr) -> Result<bool, String> {
    if internal_ip(ip) {
        Err(format!("url: {ip} is an internal address"))
    } else {
        Ok(false)
    }
}

fn refuse_name(host: &str) -> Result<bool, String> {
    if internal_name(host) {
        Err(format!(
            "url: {host} names a host inside the cluster or this machine (an internal address)"
        ))
    } else {
        Ok(false)
    }
}

/// Names that mean something only inside a host or a cluster.
pub fn internal_name(host: &str) -> bool {
    let h = normal(host);
    const SUFFIXES: [&str; 7] = [
        ".localhost",
        ".svc",
        ".cluster.local",
        ".local",
        ".internal",
        ".home.arpa",
        ".lan",
    ];
    h == "localhost" || !h.contains('.') || SUFFIXES.iter().any(|s| h.ends_with(s))
}

/// Addresses no public receiver has.
pub fn internal_ip(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, some clusters' pods
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique-local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        // NAT64 (64:ff9b::/96) and IPv4-compatible (::/96): the IPv4 inside decides.
        || ((s[0] == 0x64 && s[1] == 0xff9b || s[..6].iter().all(|x| *x == 0))
            && internal_v4(Ipv4Addr::new(
                (s[6] >> 8) as u8,
                s[6] as u8,
                (s[7] >> 8) as u8,
                s[7] as u8,
            )))
}

/// The webhook client's resolver: the system's, with internal addresses dropped unless the name
/// is allowed. What the connection may reach is decided here, at connect time.
#[derive(Debug, Clone)]
pub struct Guarded(pub Arc<Targets>);

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let targets = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !targets.allows_name(&host) {
                targets.check_addrs(&host, &addrs)?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use reqwest::dns::Resolve;

    #[test]
    fn internal_addresses_and_names_are_known_as_such() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(internal_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "203.162.4.190",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert!(!internal_ip(ip.parse().unwrap()), "{ip}");
        }
        for name in [
            "localhost",
            "LOCALHOST.",
            "redis",
            "kube-dns.kube-system.svc",
            "api.default.svc.cluster.local",
            "printer.local",
            "metadata.google.internal",
            "a.localhost",
        ] {
            assert!(internal_name(name), "{name}");
        }
        assert!(!internal_name("cong.example.gov.vn"));
    }

    #[test]
    fn the_allow_list_names_targets_as_written() {
        let t = Targets::parse("127.0.0.1, hook.test, 10.9.0.0/16").unwrap();
        assert!(t.check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(t.check_url("http://hook.test/x").is_ok());
        assert!(t.check_url("https://10.9.3.4/x").is_ok());
        assert!(t.check_url("https://10.8.3.4/x").is_err());
        assert!(t.check_url("http://[::1]/x").is_err(), "only what is named");
        assert!(Targets::parse("not a host!").is_err());
        let none = Targets::default();
        let e = none.check_url("http://127.0.0.1/x").unwrap_err();
        assert!(e.contains("internal address"), "{e}");
        assert!(none.check_url("https://cong.example.gov.vn/x").is_ok());
        assert!(none.check_url("http://cong.example.gov.vn/x").is_err());
    }

    /// The resolver webhooks connect through, against the system's real resolution: "localhost"
    /// and this machine's own name (in /etc/hosts) reach loopback, so they resolve to nothing
    /// usable unless allowed by name.
    #[tokio::test]
    async fn the_resolver_drops_internal_addresses_unless_the_name_is_allowed() {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        for name in ["localhost", host.trim()] {
            // Only names the system resolves to internal addresses here.
            let Ok(found) = tokio::net::lookup_host((name, 0)).await else {
                continue;
            };
            let found: Vec<SocketAddr> = found.collect();
            if name.is_empty() || found.is_empty() || !found.iter().all(|a| internal_ip(a.ip())) {
                continue;
            }
            let guarded = Guarded(Arc::new(Targets::default()));
            let e = match guarded.resolve(name.parse().unwrap()).await {
                Ok(a) => panic!("{name} resolved to {:?}", a.collect::<Vec<_>>()),
                Err(e) => e.to_string(),
            };
            assert!(e.contains("internal address"), "{name}: {e}");
            let allowed = Guarded(Arc::new(Targets::parse(name).unwrap()));
            assert!(
                allowed.resolve(name.parse().unwrap()).await.is_ok(),
                "{name}"
            );
        }
    }
}
