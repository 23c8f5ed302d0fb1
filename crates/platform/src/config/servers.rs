//! Where the servers are: URLs that may carry credentials ([`ServerUrl`]), each service's own
//! database URL, and how the bus proves who it is to NATS ([`NatsAuth`]).

use super::{ConfigError, Vars};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A server URL that may carry credentials (`postgres://user:password@host`,
/// `nats://token@host`). Debug and Display hide the user info; [`ServerUrl::expose`] gives the
/// whole URL to the client library that connects with it.
#[derive(Clone)]
pub struct ServerUrl(SecretString);

impl ServerUrl {
    pub fn new(url: &str) -> Self {
        Self(SecretString::from(url.to_owned()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with any user name and password replaced by `***`, and its query (which may
    /// carry `password=` or `token=`) left out.
    pub fn redacted(&self) -> String {
        let url = self.expose();
        let (base, query) = match url.split_once('?') {
            Some((base, _)) => (base, "?***"),
            None => (url, ""),
        };
        match base.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{query}"),
                None => format!("{base}{query}"),
            },
            None => "***".to_owned(),
        }
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A cluster's NATS asks who connects and speaks TLS with its own CA. Files, as Kubernetes mounts
/// Secrets: MOTCUA_NATS_CREDENTIALS_FILE (a `.creds` file: the user's JWT and NKey seed, as an
/// operator-mode NATS issues them) or MOTCUA_NATS_NKEY_FILE (an NKey seed alone), and
/// MOTCUA_NATS_CA_FILE (PEM: the CA that signed the server's certificate; TLS is then required).
#[derive(Debug, Clone, Default)]
pub struct NatsAuth {
    pub credentials_file: Option<PathBuf>,
    pub nkey_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
}

impl NatsAuth {
    pub(super) fn from_vars(v: &Vars) -> Result<Self, ConfigError> {
        let file = |var: &str| -> Result<Option<PathBuf>, ConfigError> {
            match v.raw(var) {
                None => Ok(None),
                Some(path) if std::path::Path::new(path).is_file() => Ok(Some(PathBuf::from(path))),
                Some(path) => Err(ConfigError::new(var, format!("{path}: no such file"))),
            }
        };
        let auth = Self {
            credentials_file: file("MOTCUA_NATS_CREDENTIALS_FILE")?,
            nkey_file: file("MOTCUA_NATS_NKEY_FILE")?,
            ca_file: file("MOTCUA_NATS_CA_FILE")?,
        };
        if auth.credentials_file.is_some() && auth.nkey_file.is_some() {
            return Err(ConfigError::new(
                "MOTCUA_NATS_NKEY_FILE",
                "set it or MOTCUA_NATS_CREDENTIALS_FILE, not both",
            ));
        }
        Ok(auth)
    }
}

/// Each service's own database, from `MOTCUA_<SERVICE>_DATABASE_URL` (a URL that names the
/// database), by variable name; checked to be a PostgreSQL URL with a database in it.
pub(super) fn database_urls(v: &Vars) -> Result<HashMap<String, ServerUrl>, ConfigError> {
    let mut database_urls = HashMap::new();
    for var in v
        .names()
        .filter(|n| n.ends_with("_DATABASE_URL") && *n != "MOTCUA_DATABASE_URL")
    {
        if let Some(url) = v.raw(var) {
            let shown = ServerUrl::new(url).redacted();
            let parsed = sqlx::postgres::PgConnectOptions::from_str(url)
                .map_err(|_| ConfigError::new(var, format!("{shown} is not a postgres:// URL")))?;
            if parsed.get_database().is_none() {
                return Err(ConfigError::new(
                    var,
                    format!(
                        "{shown} names no database: add it to the path (postgres://role@host/database)"
                    ),
                ));
            }
            database_urls.insert(var.to_owned(), ServerUrl::new(url));
        }
    }
    Ok(database_urls)
}
