//! Intake's own settings, read from the same `MOTCUA_*` variables as the platform's.

use motcua_domain::calendars::CalendarSettings;
use motcua_domain::secrets::SecretHasher;
use motcua_platform::config::{ConfigError, Vars};
use std::path::PathBuf;

/// Where attachment content is kept.
#[derive(Debug, Clone)]
pub enum AttachmentStore {
    /// A folder (MOTCUA_ATTACHMENTS_DIR): one machine, or a volume every replica mounts.
    Dir(PathBuf),
    /// A bucket of S3 or an S3-compatible store (MinIO, Ceph, a provider's object storage):
    /// MOTCUA_ATTACHMENTS_S3_BUCKET, with MOTCUA_ATTACHMENTS_S3_ENDPOINT for a store that is not
    /// AWS's (path-style requests; `http://` allowed there), MOTCUA_ATTACHMENTS_S3_REGION, and
    /// MOTCUA_ATTACHMENTS_S3_ACCESS_KEY_ID / _SECRET_ACCESS_KEY (else AWS's own environment and
    /// web identity, as on EKS).
    S3 {
        bucket: String,
        endpoint: Option<String>,
        region: String,
        access_key_id: Option<secrecy::SecretString>,
        secret_access_key: Option<secrecy::SecretString>,
    },
}

impl AttachmentStore {
    fn from_vars(v: &Vars) -> Result<Self, ConfigError> {
        let Some(bucket) = v.raw("MOTCUA_ATTACHMENTS_S3_BUCKET") else {
            return Ok(Self::Dir(
                v.string("MOTCUA_ATTACHMENTS_DIR", ".local/attachments")
                    .into(),
            ));
        };
        let endpoint = v.raw("MOTCUA_ATTACHMENTS_S3_ENDPOINT").map(str::to_owned);
        if let Some(e) = &endpoint
            && !(e.starts_with("https://") || e.starts_with("http://"))
        {
            return Err(ConfigError::new(
                "MOTCUA_ATTACHMENTS_S3_ENDPOINT",
                format!("{e} is not an http(s):// URL"),
            ));
        }
        let access_key_id = v.secret("MOTCUA_ATTACHMENTS_S3_ACCESS_KEY_ID");
        let secret_access_key = v.secret("MOTCUA_ATTACHMENTS_S3_SECRET_ACCESS_KEY");
        if access_key_id.is_some() != secret_access_key.is_some() {
            return Err(ConfigError::new(
                "MOTCUA_ATTACHMENTS_S3_SECRET_ACCESS_KEY",
                "set both MOTCUA_ATTACHMENTS_S3_ACCESS_KEY_ID and MOTCUA_ATTACHMENTS_S3_SECRET_ACCESS_KEY, or neither",
            ));
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            endpoint,
            region: v.string("MOTCUA_ATTACHMENTS_S3_REGION", "us-east-1"),
            access_key_id,
            secret_access_key,
        })
    }
}

#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// Where attachment content is kept.
    pub attachments: AttachmentStore,
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
            attachments: AttachmentStore::from_vars(v)?,
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
