//! Typed configuration from `MOTCUA_*` environment variables, with defaults for a developer's
//! machine. A bad value stops the process at start with exit code 64 (EX_USAGE) and a message that
//! names the variable.
//!
//! [`Settings`] holds what the platform itself needs (database, bus, listeners, identity, limits,
//! retention). Each service parses its own settings from the same [`Vars`] (a service's own files
//! and peers live in its crate), so this module knows no service. Secrets ([`SecretString`],
//! [`ServerUrl`]) never print: Debug shows them redacted, so a settings dump in a log is safe.

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

mod servers;
pub use servers::{NatsAuth, ServerUrl};

/// Exit code for bad configuration (sysexits.h EX_USAGE), as linkerd does.
pub const EXIT_CONFIG: i32 = 64;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: &str, message: impl Into<String>) -> Self {
        Self {
            var: var.to_owned(),
            message: message.into(),
        }
    }
}

/// Where values come from: the process environment, or a map in tests.
#[derive(Clone, Default)]
pub struct Vars(HashMap<String, String>);

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: name the variables only.
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        f.debug_tuple("Vars").field(&names).finish()
    }
}

impl Vars {
    pub fn from_env() -> Self {
        Self(
            std::env::vars()
                .filter(|(k, _)| k.starts_with("MOTCUA_") || k.starts_with("OTEL_"))
                .collect(),
        )
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The names of the variables set.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_owned(), value.into());
    }

    /// The value, or None when unset or blank.
    pub fn raw(&self, var: &str) -> Option<&str> {
        self.0
            .get(var)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn string(&self, var: &str, default: &str) -> String {
        self.raw(var).unwrap_or(default).to_owned()
    }

    /// Parses the value, or gives `default` when unset; `what` says what a good value is.
    pub fn parse<T: FromStr>(&self, var: &str, default: T, what: &str) -> Result<T, ConfigError> {
        match self.raw(var) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ConfigError::new(var, format!("{v:?} is not {what}"))),
        }
    }

    pub fn seconds(&self, var: &str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.parse(
            var,
            default,
            "a whole number of seconds",
        )?))
    }

    /// A span of whole days, 1 to [`MAX_DAYS`].
    pub fn days(&self, var: &str, default: u64) -> Result<Duration, ConfigError> {
        let days = self.days_at_least(var, default as i64, 1)?;
        Ok(Duration::from_secs(days as u64 * 86_400))
    }

    /// Whole days from `at_least` to [`MAX_DAYS`] (beyond ten years is a typo, not a policy).
    pub fn days_at_least(
        &self,
        var: &str,
        default: i64,
        at_least: i64,
    ) -> Result<i64, ConfigError> {
        let what = format!("a whole number of days from {at_least} to {MAX_DAYS}");
        let days: i64 = self.parse(var, default, &what)?;
        if !(at_least..=MAX_DAYS).contains(&days) {
            return Err(ConfigError::new(var, format!("must be {what}, not {days}")));
        }
        Ok(days)
    }

    /// A positive whole number.
    pub fn count(&self, var: &str, default: u64) -> Result<u64, ConfigError> {
        match self.parse(var, default, "a positive whole number")? {
            0 => Err(ConfigError::new(var, "must be positive")),
            n => Ok(n),
        }
    }

    pub fn secret(&self, var: &str) -> Option<SecretString> {
        self.raw(var).map(|v| SecretString::from(v.to_owned()))
    }
}

/// The longest span a days setting takes: ten years.
pub const MAX_DAYS: i64 = 3650;

/// Where token keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// HS256 with a shared secret: development and tests.
    StaticKey { secret: SecretString },
    /// RS256/ES256 keys of an identity provider, from a JWKS document (mounted file).
    JwksFile { path: PathBuf },
    /// The identity provider's JWKS endpoint, fetched at start and refreshed.
    JwksUrl { url: String },
}

/// How bearer tokens are verified.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub keys: KeySource,
    /// The `iss` every token must carry (MOTCUA_JWT_ISSUER); unchecked when unset.
    pub issuer: Option<String>,
    /// One of the `aud` values every token must carry (MOTCUA_JWT_AUDIENCE); unchecked when unset.
    pub audience: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What one process lets in at once, so that a flood is refused (RESOURCE_EXHAUSTED) instead of
/// growing memory until the pod is killed.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest gRPC message.
    pub max_message_bytes: usize,
    /// Calls in progress at once per service (health checks are not counted).
    pub max_in_flight: usize,
    /// Bytes of request bodies held at once per service. A request also exists decoded while it
    /// runs (about twice more), so three times this must fit in the pod's memory.
    pub request_memory_bytes: usize,
    /// Per-request deadline (a client's shorter `grpc-timeout` wins).
    pub request_timeout: Duration,
}

/// How long events and their traces are kept (DESIGN.md "Secrets in events").
#[derive(Debug, Clone)]
pub struct Retention {
    /// DOSSIERS stream: by age and size (no event carries a phone or an e-mail; full, it refuses
    /// new events rather than drop old ones, see [`crate::bus`]).
    pub dossier_events_max_age: Duration,
    pub dossier_events_max_bytes: i64,
    /// CATALOG stream: every published procedure version, kept by size only (no personal data).
    pub catalog_events_max_bytes: i64,
    /// DEADLETTER stream: long enough for an operator to look and replay, and shorter than
    /// `processed_events`, so that every consumer still recognises a replayed event it handled.
    pub dead_letters_max_age: Duration,
    pub dead_letters_max_bytes: i64,
    /// Consumers' processed event ids; far beyond any redelivery (see [`crate::consumer`]).
    pub processed_events: Duration,
    /// Published outbox rows (kept a while for inspection).
    pub published_outbox: Duration,
    /// Jobs that failed for good (kept for an operator to look at).
    pub failed_jobs: Duration,
    /// Replicas of each stream on a JetStream cluster (MOTCUA_STREAM_REPLICAS, 1 to 5; unset: one).
    /// A service raises a stream to them and never lowers it (an operator who made it R3 is not
    /// reset to R1 by the next start).
    pub stream_replicas: Option<usize>,
}

/// Public (no-token) routes: per-client rate limits.
#[derive(Debug, Clone)]
pub struct PublicSettings {
    /// Sustained requests per second per client address.
    pub rate_per_second: u32,
    /// Requests a client may make at once before the rate applies.
    pub burst: u32,
    /// Proxies whose X-Forwarded-For is believed (CIDRs); others' are ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// Whether MOTCUA_TRUSTED_PROXIES was set at all (`none` sets it to no proxy): outside
    /// development it must be, see [`Settings::refuse_unsafe_defaults`].
    pub trusted_proxies_named: bool,
}

/// Settings shared by every service in a process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// PostgreSQL server URL without a database name; each service appends its own database.
    pub database_url: ServerUrl,
    /// Database name prefix: `<prefix>_<service>` (tests use a fresh prefix each).
    pub database_prefix: String,
    /// The connection budget (README "Operating → Database connections"): each replica of a
    /// service pools at most this many (MOTCUA_DATABASE_MAX_CONNECTIONS, 10), plus the health
    /// probe's and the relay's LISTEN connection (and a service's own readers).
    pub database_max_connections: u32,
    /// A pooled connection idle this long is closed (MOTCUA_DATABASE_IDLE_SECS, 60): a service at
    /// rest holds only its probe and LISTEN connections.
    pub database_idle: Duration,
    pub nats_url: ServerUrl,
    /// How the bus proves who it is and whom it trusts, beyond the URL (user and password may be
    /// in the URL too).
    pub nats_auth: NatsAuth,
    /// Prefix for JetStream stream names and subjects, so tests can share one NATS server.
    pub bus_prefix: String,
    /// Host of the default listen addresses (MOTCUA_HOST).
    pub host: std::net::IpAddr,
    /// Listen addresses set by `MOTCUA_<SERVICE>_GRPC_ADDR` / `_HTTP_ADDR` (port 0 picks a free
    /// port), by variable name; a service not named here listens on its declared default port.
    pub listen_addrs: HashMap<String, SocketAddr>,
    /// Each service's own database, set by `MOTCUA_<SERVICE>_DATABASE_URL` (a URL that names the
    /// database, for a role that owns only it), by variable name; a service not named here uses
    /// `<prefix>_<service>` on MOTCUA_DATABASE_URL's server. See [`crate::db::target`].
    pub database_urls: HashMap<String, ServerUrl>,
    /// Prometheus metrics endpoint; None disables it.
    pub metrics_addr: Option<SocketAddr>,
    pub auth: AuthSettings,
    pub limits: Limits,
    pub shutdown_grace: Duration,
    /// The relay may fail to publish this long before health details say publishing is behind
    /// (`motcua_outbox_relay_stalled`); the service goes on serving from its database.
    pub relay_stall: Duration,
    /// MOTCUA_DEVELOPMENT=true: the public development defaults (the token key) may be used. A
    /// service refuses to start on them otherwise (fail closed), and says so in its health details
    /// and in `motcua_development_key` when it runs on them.
    pub development: bool,
    /// MOTCUA_SIMULATED_CLOCK=true: time is the year simulator's, read from NATS
    /// ([`crate::clock::simulated`]); only with the development key, never beside a real issuer.
    pub simulated_clock: bool,
    pub retention: Retention,
    pub public: PublicSettings,
    pub log_format: LogFormat,
    /// OTLP endpoint (the standard OTEL_EXPORTER_OTLP_ENDPOINT); traces are exported when set.
    pub otlp_endpoint: Option<String>,
}

/// The development signing key: public on purpose, never for production.
pub const DEV_JWT_SECRET: &str = "motcua-development-key-do-not-use-in-production";

/// What a service tells the platform about itself, declared once in its own crate (`SERVICE` in
/// its lib.rs): the platform knows no service by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Its name: the database `<prefix>_<name>`, the variables `MOTCUA_<NAME>_…`, the logs.
    pub name: &'static str,
    /// Its gRPC port unless `MOTCUA_<NAME>_GRPC_ADDR` says otherwise.
    pub grpc_port: u16,
    /// Its HTTP port (services with an HTTP side) unless `MOTCUA_<NAME>_HTTP_ADDR` says otherwise.
    pub http_port: u16,
}

fn is_development_key(keys: &KeySource) -> bool {
    matches!(keys, KeySource::StaticKey { secret } if secret.expose_secret() == DEV_JWT_SECRET)
}

const GIB: i64 = 1024 * 1024 * 1024;

fn is_loopback_url(url: &str) -> bool {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn auth(v: &Vars) -> Result<AuthSettings, ConfigError> {
    let keys = match (
        v.raw("MOTCUA_JWT_JWKS_URL"),
        v.raw("MOTCUA_JWT_JWKS_FILE"),
        v.secret("MOTCUA_JWT_SECRET"),
    ) {
        (Some(url), _, _) => {
            let parsed = url::Url::parse(url).map_err(|_| {
                ConfigError::new("MOTCUA_JWT_JWKS_URL", format!("{url:?} is not a URL"))
            })?;
            match parsed.scheme() {
                "https" => {}
                // Plain http lets anyone on the path swap the keys; only a local endpoint may use it.
                "http" if is_loopback_url(url) => {}
                "http" => {
                    return Err(ConfigError::new(
                        "MOTCUA_JWT_JWKS_URL",
                        format!("{url:?}: use https (plain http is accepted for loopback only)"),
                    ));
                }
                _ => {
                    return Err(ConfigError::new(
                        "MOTCUA_JWT_JWKS_URL",
                        format!("{url:?} is not an https URL"),
                    ));
                }
            }
            KeySource::JwksUrl {
                url: url.to_owned(),
            }
        }
        (None, Some(path), _) => KeySource::JwksFile { path: path.into() },
        (None, None, Some(secret)) if secret.expose_secret().len() < 32 => {
            return Err(ConfigError::new(
                "MOTCUA_JWT_SECRET",
                "must be at least 32 characters",
            ));
        }
        (None, None, secret) => KeySource::StaticKey {
            secret: secret.unwrap_or_else(|| SecretString::from(DEV_JWT_SECRET)),
        },
    };
    Ok(AuthSettings {
        keys,
        issuer: v.raw("MOTCUA_JWT_ISSUER").map(str::to_owned),
        audience: v.raw("MOTCUA_JWT_AUDIENCE").map(str::to_owned),
    })
}

impl Settings {
    /// Tokens are checked with the public development key (no key setting was given).
    pub fn uses_development_key(&self) -> bool {
        is_development_key(&self.auth.keys)
    }

    /// Fail closed: without a token key setting (MOTCUA_JWT_JWKS_URL, MOTCUA_JWT_JWKS_FILE or
    /// MOTCUA_JWT_SECRET) a service runs only when MOTCUA_DEVELOPMENT=true says this is a
    /// developer's machine or a test; anyone can sign tokens with the public development key.
    pub fn refuse_unsafe_defaults(&self) -> Result<(), ConfigError> {
        if self.uses_development_key() && !self.development {
            return Err(ConfigError::new(
                "MOTCUA_JWT_JWKS_URL",
                "no token key is set: set MOTCUA_JWT_JWKS_URL (or MOTCUA_JWT_JWKS_FILE, MOTCUA_JWT_SECRET); on a developer's machine MOTCUA_DEVELOPMENT=true accepts the public development key",
            ));
        }
        // A guessed proxy range is worse than none: too narrow and every citizen behind the
        // ingress shares the controller's one rate-limit bucket; too wide and any pod names any
        // client it likes. So a deployment says which it is.
        if !self.public.trusted_proxies_named && !self.development {
            return Err(ConfigError::new(
                "MOTCUA_TRUSTED_PROXIES",
                "is required: the addresses of the proxies in front of the public pages (the ingress controller's pods, as CIDRs), or `none` when clients connect directly",
            ));
        }
        Ok(())
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(v: &Vars) -> Result<Self, ConfigError> {
        let database_url = v.string("MOTCUA_DATABASE_URL", "postgres://postgres@127.0.0.1:5432");
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError::new(
                "MOTCUA_DATABASE_URL",
                format!("{} is not a postgres:// URL", ServerUrl::new(&database_url)),
            ));
        }
        let database_prefix = v.string("MOTCUA_DATABASE_PREFIX", "motcua");
        if !database_prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(ConfigError::new(
                "MOTCUA_DATABASE_PREFIX",
                "use lowercase letters, digits and _ only",
            ));
        }
        let host = v.parse("MOTCUA_HOST", [127, 0, 0, 1].into(), "an IP address")?;
        // Every listen address set is checked here, whichever services this process runs.
        let mut listen_addrs = HashMap::new();
        for var in v
            .names()
            .filter(|n| n.ends_with("_GRPC_ADDR") || n.ends_with("_HTTP_ADDR"))
        {
            if v.raw(var).is_some() {
                let addr = v.parse(
                    var,
                    SocketAddr::new(host, 0),
                    "an address like 127.0.0.1:50051",
                )?;
                listen_addrs.insert(var.to_owned(), addr);
            }
        }
        let database_urls = servers::database_urls(v)?;
        let metrics_addr = match v.raw("MOTCUA_METRICS_ADDR") {
            Some("off") => None,
            _ => Some(v.parse(
                "MOTCUA_METRICS_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 9464)),
                "an address like 127.0.0.1:9464 or off",
            )?),
        };
        let log_format = match v.string("MOTCUA_LOG_FORMAT", "text").as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::new(
                    "MOTCUA_LOG_FORMAT",
                    format!("{other:?} is not text or json"),
                ));
            }
        };
        let max_message_bytes = v.count("MOTCUA_MAX_MESSAGE_BYTES", 16 * 1024 * 1024)? as usize;
        let request_memory_bytes =
            v.count("MOTCUA_REQUEST_MEMORY_BYTES", 128 * 1024 * 1024)? as usize;
        if request_memory_bytes < max_message_bytes {
            return Err(ConfigError::new(
                "MOTCUA_REQUEST_MEMORY_BYTES",
                format!(
                    "must be at least MOTCUA_MAX_MESSAGE_BYTES ({max_message_bytes}), or the largest message could never be read"
                ),
            ));
        }
        let trusted_proxies_named = v.raw("MOTCUA_TRUSTED_PROXIES").is_some();
        let trusted_proxies = match v.raw("MOTCUA_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) if list.trim() == "none" => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpNet>()
                        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                        .map_err(|_| {
                            ConfigError::new(
                                "MOTCUA_TRUSTED_PROXIES",
                                format!("{s:?} is not an address or CIDR like 10.0.0.0/8"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        let retention = Retention {
            dossier_events_max_age: v.days("MOTCUA_DOSSIER_EVENTS_MAX_AGE_DAYS", 400)?,
            dossier_events_max_bytes: v
                .count("MOTCUA_DOSSIER_EVENTS_MAX_BYTES", (10 * GIB) as u64)?
                as i64,
            catalog_events_max_bytes: v
                .count("MOTCUA_CATALOG_EVENTS_MAX_BYTES", (GIB / 4) as u64)?
                as i64,
            dead_letters_max_age: v.days("MOTCUA_DEAD_LETTERS_MAX_AGE_DAYS", 30)?,
            dead_letters_max_bytes: v.count("MOTCUA_DEAD_LETTERS_MAX_BYTES", GIB as u64)? as i64,
            processed_events: v.days("MOTCUA_PROCESSED_EVENTS_RETENTION_DAYS", 45)?,
            published_outbox: v.days("MOTCUA_PUBLISHED_OUTBOX_RETENTION_DAYS", 7)?,
            failed_jobs: v.days("MOTCUA_FAILED_JOBS_RETENTION_DAYS", 90)?,
            stream_replicas: match v.raw("MOTCUA_STREAM_REPLICAS") {
                None => None,
                Some(_) => match v.count("MOTCUA_STREAM_REPLICAS", 1)? {
                    n @ 1..=5 => Some(n as usize),
                    n => {
                        return Err(ConfigError::new(
                            "MOTCUA_STREAM_REPLICAS",
                            format!("must be 1 to 5 (JetStream's limit), not {n}"),
                        ));
                    }
                },
            },
        };
        if retention.processed_events <= retention.dead_letters_max_age {
            return Err(ConfigError::new(
                "MOTCUA_PROCESSED_EVENTS_RETENTION_DAYS",
                "must be longer than MOTCUA_DEAD_LETTERS_MAX_AGE_DAYS, or a replayed dead letter could be applied twice by consumers that already handled it",
            ));
        }
        let auth = auth(v)?;
        let simulated_clock = v.parse("MOTCUA_SIMULATED_CLOCK", false, "true or false")?;
        if simulated_clock && !is_development_key(&auth.keys) {
            return Err(ConfigError::new(
                "MOTCUA_SIMULATED_CLOCK",
                "is for the year simulator only and cannot run beside a real token issuer (MOTCUA_JWT_JWKS_URL, MOTCUA_JWT_JWKS_FILE or MOTCUA_JWT_SECRET): remove it in production",
            ));
        }
        Ok(Settings {
            database_url: ServerUrl::new(&database_url),
            database_prefix,
            database_max_connections: v.count("MOTCUA_DATABASE_MAX_CONNECTIONS", 10)? as u32,
            database_idle: v.seconds("MOTCUA_DATABASE_IDLE_SECS", 60)?,
            nats_url: ServerUrl::new(&v.string("MOTCUA_NATS_URL", "nats://127.0.0.1:4222")),
            nats_auth: NatsAuth::from_vars(v)?,
            bus_prefix: v.string("MOTCUA_BUS_PREFIX", ""),
            host,
            listen_addrs,
            database_urls,
            metrics_addr,
            auth,
            limits: Limits {
                max_message_bytes,
                max_in_flight: v.count("MOTCUA_MAX_IN_FLIGHT", 256)? as usize,
                request_memory_bytes,
                request_timeout: v.seconds("MOTCUA_REQUEST_TIMEOUT_SECS", 30)?,
            },
            shutdown_grace: v.seconds("MOTCUA_SHUTDOWN_GRACE_SECS", 20)?,
            relay_stall: v.seconds("MOTCUA_RELAY_STALL_SECS", 60)?,
            development: v.parse("MOTCUA_DEVELOPMENT", false, "true or false")?,
            simulated_clock,
            retention,
            public: PublicSettings {
                rate_per_second: v.count("MOTCUA_PUBLIC_RATE_PER_SECOND", 5)? as u32,
                burst: v.count("MOTCUA_PUBLIC_RATE_BURST", 20)? as u32,
                trusted_proxies,
                trusted_proxies_named,
            },
            log_format,
            otlp_endpoint: v.raw("OTEL_EXPORTER_OTLP_ENDPOINT").map(str::to_owned),
        })
    }

    /// The database of one service, `<prefix>_<service>`.
    pub fn database_name(&self, service: &str) -> String {
        format!("{}_{service}", self.database_prefix)
    }

    /// Where `service` listens for gRPC: MOTCUA_<NAME>_GRPC_ADDR, or MOTCUA_HOST and its port.
    pub fn grpc_addr(&self, service: &ServiceSpec) -> SocketAddr {
        self.listen_addr(service.name, "GRPC", service.grpc_port)
    }

    /// Where `service` serves HTTP: MOTCUA_<NAME>_HTTP_ADDR, or MOTCUA_HOST and its port.
    pub fn http_addr(&self, service: &ServiceSpec) -> SocketAddr {
        self.listen_addr(service.name, "HTTP", service.http_port)
    }

    fn listen_addr(&self, name: &str, kind: &str, default_port: u16) -> SocketAddr {
        let var = format!("MOTCUA_{}_{kind}_ADDR", name.to_uppercase());
        self.listen_addrs
            .get(&var)
            .copied()
            .unwrap_or(SocketAddr::new(self.host, default_port))
    }
}

#[cfg(test)]
mod tests;
