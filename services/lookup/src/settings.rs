//! Lookup's own settings, read from the same `MOTCUA_*` variables as the platform's.

use motcua_domain::secrets::SecretHasher;
use motcua_platform::config::{ConfigError, Vars};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct LookupSettings {
    /// Keys the events' secret hashes were made with (MOTCUA_SECRET_HASH_KEYS, as intake's).
    pub secrets: SecretHasher,
    /// Names of agencies, from MOTCUA_CATALOG_FILE's `[[agency]]` entries (the file intake loads).
    pub agency_names: HashMap<String, String>,
    /// Names of departments, from the same file's `[[department]]` entries.
    pub department_names: HashMap<String, String>,
    /// Wrong ID numbers one dossier code may take at once, from anyone
    /// (MOTCUA_LOOKUP_FAILURES_PER_CODE, 5) ...
    pub failures_per_code: u32,
    /// ... one ID number, on any codes (MOTCUA_LOOKUP_FAILURES_PER_ID_NUMBER, 5) ...
    pub failures_per_id_number: u32,
    /// ... one client, with any codes and ID numbers (MOTCUA_LOOKUP_FAILURES_PER_CLIENT, 20) ...
    pub failures_per_client: u32,
    /// ... and then each one more per this long (MOTCUA_LOOKUP_FAILURE_COOLDOWN_SECS, 60): see
    /// [`crate::guard`].
    pub failure_cooldown: Duration,
    /// Queries reading dossier rows at once (MOTCUA_LOOKUP_READERS, 1); each takes up to 64
    /// waiting lookups (see [`crate::store`]). One reader gathers the most lookups per query: on
    /// two cores shared with PostgreSQL it answered 18780 fresh lookups/s against 14742 with two
    /// (bench lookup, 2026-11-27); raise it where PostgreSQL has cores of its own. Each reader
    /// keeps one connection of its own beside the pool.
    pub readers: usize,
    /// Dossier rows kept in memory (MOTCUA_LOOKUP_CACHE_ROWS, 100000; 0 keeps none), each for
    /// at most 30 s and dropped when an event announces a newer version (see [`crate::cache`]).
    pub cache_rows: u64,
}

impl LookupSettings {
    pub fn from_vars(v: &Vars) -> Result<Self, ConfigError> {
        motcua_platform::retention::check(crate::retention::TABLES, v)?;
        let (agency_names, department_names) = match v.raw("MOTCUA_CATALOG_FILE") {
            None => (HashMap::new(), HashMap::new()),
            Some(path) => {
                let err =
                    |m: String| ConfigError::new("MOTCUA_CATALOG_FILE", format!("{path}: {m}"));
                let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
                (
                    motcua_domain::agency::names(&text)
                        .map_err(err)?
                        .into_iter()
                        .collect(),
                    motcua_domain::agency::department_names(&text)
                        .map_err(err)?
                        .into_iter()
                        .collect(),
                )
            }
        };
        Ok(Self {
            secrets: SecretHasher::from_vars(|n| v.raw(n))
                .map_err(|e| ConfigError::new(e.var, e.message))?,
            agency_names,
            department_names,
            failures_per_code: failures(v, "MOTCUA_LOOKUP_FAILURES_PER_CODE", 5)?,
            failures_per_id_number: failures(v, "MOTCUA_LOOKUP_FAILURES_PER_ID_NUMBER", 5)?,
            failures_per_client: failures(v, "MOTCUA_LOOKUP_FAILURES_PER_CLIENT", 20)?,
            failure_cooldown: Duration::from_secs(
                v.count("MOTCUA_LOOKUP_FAILURE_COOLDOWN_SECS", 60)?,
            ),
            readers: v.count("MOTCUA_LOOKUP_READERS", 1)? as usize,
            cache_rows: v.parse(
                "MOTCUA_LOOKUP_CACHE_ROWS",
                100_000,
                "a whole number of rows",
            )?,
        })
    }
}

/// A budget of wrong tries: a whole number from 1.
fn failures(v: &Vars, var: &str, default: u64) -> Result<u32, ConfigError> {
    u32::try_from(v.count(var, default)?).map_err(|_| ConfigError::new(var, "is too large"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("MOTCUA_LOOKUP_FAILURES_PER_CODE", "0"),
            ("MOTCUA_LOOKUP_FAILURES_PER_ID_NUMBER", "0"),
            ("MOTCUA_LOOKUP_FAILURES_PER_CLIENT", "99999999999"),
            ("MOTCUA_LOOKUP_FAILURE_COOLDOWN_SECS", "soon"),
            ("MOTCUA_LOOKUP_READERS", "0"),
            ("MOTCUA_LOOKUP_CACHE_ROWS", "many"),
            ("MOTCUA_CATALOG_FILE", "/nonexistent/catalog.toml"),
            ("MOTCUA_SECRET_HASH_KEYS", "k1:short"),
        ] {
            let err = LookupSettings::from_vars(&Vars::from_pairs([
                (var, value),
                ("MOTCUA_DEVELOPMENT", "true"),
            ]))
            .unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
        let catalog = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/catalog/tnmt.toml"
        );
        let s = LookupSettings::from_vars(&Vars::from_pairs([
            ("MOTCUA_CATALOG_FILE", catalog),
            ("MOTCUA_DEVELOPMENT", "true"),
        ]))
        .unwrap();
        assert!(
            s.agency_names["000.00.06.H56"].starts_with("Sở Nông nghiệp và Môi trường"),
            "{:?}",
            s.agency_names
        );
        assert_eq!(
            s.department_names["van-phong-dang-ky-dat-dai"],
            "Văn phòng Đăng ký đất đai"
        );
    }
}
