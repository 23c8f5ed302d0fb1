//! Intake's own settings, read from the same `MOTCUA_*` variables as the platform's.

use motcua_domain::calendars::CalendarSettings;
use motcua_domain::secrets::SecretHasher;
use motcua_platform::config::{ConfigError, Vars};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// Where attachment content is stored (MOTCUA_ATTACHMENTS_DIR).
    pub attachments_dir: PathBuf,
    pub max_attachment_bytes: usize,
    /// Catalog file loaded at start (MOTCUA_CATALOG_FILE, TOML).
    pub catalog_file: Option<PathBuf>,
    /// Holidays and default working hours for due dates.
    pub calendar: CalendarSettings,
    /// Keys for the hashes of lookup secrets in events (MOTCUA_SECRET_HASH_KEYS).
    pub secrets: SecretHasher,
    /// Lookup's public address (MOTCUA_LOOKUP_PUBLIC_URL), for the QR link on each receipt.
    pub lookup_url: Option<String>,
    /// How long after a dossier ends its applicant's phone and e-mail are kept
    /// (MOTCUA_CONTACT_RETENTION_DAYS, 30: the same setting notification erases its copy by).
    pub contact_retention: chrono::Duration,
}

impl IntakeSettings {
    pub fn from_vars(v: &Vars) -> Result<Self, ConfigError> {
        motcua_platform::retention::check(crate::retention::TABLES, v)?;
        Ok(Self {
            attachments_dir: v
                .string("MOTCUA_ATTACHMENTS_DIR", ".local/attachments")
                .into(),
            max_attachment_bytes: v.count("MOTCUA_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)?
                as usize,
            catalog_file: v.raw("MOTCUA_CATALOG_FILE").map(PathBuf::from),
            contact_retention: chrono::Duration::days(v.days_at_least(
                "MOTCUA_CONTACT_RETENTION_DAYS",
                30,
                1,
            )?),
            calendar: CalendarSettings::from_vars(|n| v.raw(n))
                .map_err(|e| ConfigError::new(e.var, e.message))?,
            secrets: SecretHasher::from_vars(|n| v.raw(n))
                .map_err(|e| ConfigError::new(e.var, e.message))?,
            lookup_url: match v.raw("MOTCUA_LOOKUP_PUBLIC_URL") {
                None => None,
                Some(base) => {
                    motcua_domain::links::check_base(base)
                        .map_err(|m| ConfigError::new("MOTCUA_LOOKUP_PUBLIC_URL", m))?;
                    Some(base.to_owned())
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("MOTCUA_MAX_ATTACHMENT_BYTES", "big"),
            ("MOTCUA_WORKING_HOURS", "8-17"),
            ("MOTCUA_SECRET_HASH_KEYS", "k1:short"),
            ("MOTCUA_LOOKUP_PUBLIC_URL", "tracuu.example.gov.vn"),
            // An integration may date a dossier 7 days back: that day's counter must still be there.
            ("MOTCUA_SEQUENCES_RETENTION_DAYS", "7"),
            ("MOTCUA_SEQUENCES_RETENTION_DAYS", "seven"),
            ("MOTCUA_CONTACT_RETENTION_DAYS", "0"),
            ("MOTCUA_CONTACT_RETENTION_DAYS", "99999999999999999"),
        ] {
            let err = IntakeSettings::from_vars(&Vars::from_pairs([
                (var, value),
                ("MOTCUA_DEVELOPMENT", "true"),
            ]))
            .unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }
}
