//! Typed configuration from `MOTCUA_*` environment variables, with defaults for a developer's
//! machine. A bad value stops the process at start with exit code 64 (EX_USAGE) and a message that
//! names the variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Exit code for bad configuration (sysexits.h EX_USAGE), as linkerd does.
pub const EXIT_CONFIG: i32 = 64;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

/// Where values come from: the process environment, or a map in tests.
#[derive(Debug, Clone, Default)]
pub struct Vars(HashMap<String, String>);

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

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_owned(), value.into());
    }

    fn raw(&self, var: &str) -> Option<&str> {
        self.0
            .get(var)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn string(&self, var: &str, default: &str) -> String {
        self.raw(var).unwrap_or(default).to_owned()
    }

    fn parse<T: std::str::FromStr>(
        &self,
        var: &str,
        default: T,
        what: &str,
    ) -> Result<T, ConfigError> {
        match self.raw(var) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| ConfigError {
                var: var.to_owned(),
                message: format!("{v:?} is not {what}"),
            }),
        }
    }
}

/// Settings shared by every service in a process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// PostgreSQL server URL without a database name; each service appends its own database.
    pub database_url: String,
    /// Database name prefix: `<prefix>_intake`, … (tests use a fresh prefix each).
    pub database_prefix: String,
    pub database_max_connections: u32,
    pub nats_url: String,
    /// Prefix for JetStream stream names and subjects, so tests can share one NATS server.
    pub bus_prefix: String,
    /// gRPC listen addresses per service; port 0 picks a free port.
    pub grpc_addrs: HashMap<&'static str, SocketAddr>,
    /// Prometheus metrics endpoint; None disables it.
    pub metrics_addr: Option<SocketAddr>,
    pub auth: AuthSettings,
    pub max_message_bytes: usize,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    /// OTLP endpoint (the standard OTEL_EXPORTER_OTLP_ENDPOINT); traces are exported when set.
    pub otlp_endpoint: Option<String>,
    pub attachments_dir: PathBuf,
    pub max_attachment_bytes: usize,
    /// Catalog file loaded by intake at start (TOML).
    pub catalog_file: Option<PathBuf>,
    /// Yearly holiday overrides replacing the ones built in (a new year's notice without a rebuild).
    pub holidays: motcua_calendar::Overrides,
    /// Default working hours of agencies; the catalog file may set an agency's own.
    pub working_hours: motcua_calendar::WorkingHours,
}

#[derive(Debug, Clone)]
pub enum AuthSettings {
    /// HS256 with a shared secret: development and tests.
    StaticKey { secret: String },
    /// RS256/ES256 keys of an identity provider, from a JWKS document (mounted file).
    JwksFile { path: PathBuf },
    /// The identity provider's JWKS endpoint, fetched at start and refreshed.
    JwksUrl { url: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The development signing key: public on purpose, never for production.
pub const DEV_JWT_SECRET: &str = "motcua-development-key-do-not-use-in-production";

/// Default gRPC ports of the five services.
pub const SERVICES: [(&str, u16); 5] = [
    ("intake", 50051),
    ("workflow", 50052),
    ("notification", 50053),
    ("lookup", 50054),
    ("reporting", 50055),
];

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(v: &Vars) -> Result<Self, ConfigError> {
        let database_url = v.string("MOTCUA_DATABASE_URL", "postgres://postgres@127.0.0.1:5432");
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError {
                var: "MOTCUA_DATABASE_URL".into(),
                message: format!("{database_url:?} is not a postgres:// URL"),
            });
        }
        let database_prefix = v.string("MOTCUA_DATABASE_PREFIX", "motcua");
        if !database_prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(ConfigError {
                var: "MOTCUA_DATABASE_PREFIX".into(),
                message: "use lowercase letters, digits and _ only".into(),
            });
        }
        let host = v.string("MOTCUA_HOST", "127.0.0.1");
        let mut grpc_addrs = HashMap::new();
        for (name, port) in SERVICES {
            let var = format!("MOTCUA_{}_GRPC_ADDR", name.to_uppercase());
            let default = format!("{host}:{port}").parse().map_err(|_| ConfigError {
                var: "MOTCUA_HOST".into(),
                message: format!("{host:?} is not an IP address"),
            })?;
            grpc_addrs.insert(
                name,
                v.parse(&var, default, "an address like 127.0.0.1:50051")?,
            );
        }
        let metrics_addr = match v.raw("MOTCUA_METRICS_ADDR") {
            Some("off") => None,
            _ => Some(v.parse(
                "MOTCUA_METRICS_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 9464)),
                "an address like 127.0.0.1:9464 or off",
            )?),
        };
        let auth = match (
            v.raw("MOTCUA_JWT_JWKS_URL"),
            v.raw("MOTCUA_JWT_JWKS_FILE"),
            v.raw("MOTCUA_JWT_SECRET"),
        ) {
            (Some(url), _, _) if url.starts_with("https://") || url.starts_with("http://") => {
                AuthSettings::JwksUrl {
                    url: url.to_owned(),
                }
            }
            (Some(url), _, _) => {
                return Err(ConfigError {
                    var: "MOTCUA_JWT_JWKS_URL".into(),
                    message: format!("{url:?} is not an http(s) URL"),
                });
            }
            (None, Some(path), _) => AuthSettings::JwksFile { path: path.into() },
            (None, None, Some(secret)) if secret.len() < 32 => {
                return Err(ConfigError {
                    var: "MOTCUA_JWT_SECRET".into(),
                    message: "must be at least 32 characters".into(),
                });
            }
            (None, None, secret) => AuthSettings::StaticKey {
                secret: secret.unwrap_or(DEV_JWT_SECRET).to_owned(),
            },
        };
        let log_format = match v.string("MOTCUA_LOG_FORMAT", "text").as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError {
                    var: "MOTCUA_LOG_FORMAT".into(),
                    message: format!("{other:?} is not text or json"),
                });
            }
        };
        let secs = |var: &str, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(v.parse(
                var,
                default,
                "a whole number of seconds",
            )?))
        };
        Ok(Settings {
            database_url,
            database_prefix,
            database_max_connections: v.parse(
                "MOTCUA_DATABASE_MAX_CONNECTIONS",
                16,
                "a whole number",
            )?,
            nats_url: v.string("MOTCUA_NATS_URL", "nats://127.0.0.1:4222"),
            bus_prefix: v.string("MOTCUA_BUS_PREFIX", ""),
            grpc_addrs,
            metrics_addr,
            auth,
            max_message_bytes: v.parse(
                "MOTCUA_MAX_MESSAGE_BYTES",
                16 * 1024 * 1024,
                "a number of bytes",
            )?,
            request_timeout: secs("MOTCUA_REQUEST_TIMEOUT_SECS", 30)?,
            shutdown_grace: secs("MOTCUA_SHUTDOWN_GRACE_SECS", 20)?,
            log_format,
            otlp_endpoint: v.raw("OTEL_EXPORTER_OTLP_ENDPOINT").map(str::to_owned),
            attachments_dir: v
                .string("MOTCUA_ATTACHMENTS_DIR", ".local/attachments")
                .into(),
            max_attachment_bytes: v.parse(
                "MOTCUA_MAX_ATTACHMENT_BYTES",
                10 * 1024 * 1024,
                "a number of bytes",
            )?,
            catalog_file: v.raw("MOTCUA_CATALOG_FILE").map(PathBuf::from),
            holidays: match v.raw("MOTCUA_HOLIDAYS_FILE") {
                None => motcua_calendar::Overrides::shipped().map_err(|e| ConfigError {
                    var: "MOTCUA_HOLIDAYS_FILE".into(),
                    message: format!("the built-in overrides do not parse: {e}"),
                })?,
                Some(path) => {
                    let err = |message: String| ConfigError {
                        var: "MOTCUA_HOLIDAYS_FILE".into(),
                        message,
                    };
                    let text =
                        std::fs::read_to_string(path).map_err(|e| err(format!("{path}: {e}")))?;
                    motcua_calendar::Overrides::parse(&text)
                        .map_err(|e| err(format!("{path}: {e}")))?
                }
            },
            working_hours: match v.raw("MOTCUA_WORKING_HOURS") {
                None => motcua_calendar::WorkingHours::default(),
                Some(text) => {
                    motcua_calendar::WorkingHours::parse(text).map_err(|e| ConfigError {
                        var: "MOTCUA_WORKING_HOURS".into(),
                        message: e.to_string(),
                    })?
                }
            },
        })
    }

    /// The database of one service, e.g. `motcua_intake`.
    pub fn database_name(&self, service: &str) -> String {
        format!("{}_{service}", self.database_prefix)
    }

    pub fn grpc_addr(&self, service: &str) -> SocketAddr {
        self.grpc_addrs
            .get(service)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_suit_a_developer_machine() {
        let s = Settings::from_vars(&Vars::default()).unwrap();
        assert_eq!(s.database_name("intake"), "motcua_intake");
        assert_eq!(s.grpc_addr("intake"), "127.0.0.1:50051".parse().unwrap());
        assert_eq!(s.grpc_addr("reporting"), "127.0.0.1:50055".parse().unwrap());
        assert!(
            matches!(s.auth, AuthSettings::StaticKey { ref secret } if secret == DEV_JWT_SECRET)
        );
        assert_eq!(s.otlp_endpoint, None);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("MOTCUA_INTAKE_GRPC_ADDR", "localhost"),
            ("MOTCUA_SHUTDOWN_GRACE_SECS", "-1"),
            ("MOTCUA_JWT_SECRET", "short"),
            ("MOTCUA_DATABASE_PREFIX", "Bad-Prefix"),
            ("MOTCUA_METRICS_ADDR", "nowhere"),
            ("MOTCUA_WORKING_HOURS", "8-17"),
            ("MOTCUA_JWT_JWKS_URL", "idp.example/jwks"),
            ("MOTCUA_HOLIDAYS_FILE", "/nonexistent/holidays.toml"),
        ] {
            let err = Settings::from_vars(&Vars::from_pairs([(var, value)])).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }
}
