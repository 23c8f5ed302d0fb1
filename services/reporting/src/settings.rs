//! Reporting's own settings, read from the same `MOTCUA_*` variables as the platform's.

use motcua_platform::config::{ConfigError, Vars};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct ReportingSettings {
    /// Agencies and their names, from MOTCUA_CATALOG_FILE's `[[agency]]` entries (the file intake
    /// loads): a report for an agency not listed is refused. Empty when no catalog is set (every
    /// agency code is then accepted).
    pub agencies: BTreeMap<String, String>,
    /// Departments' names, from the same file's `[[department]]` entries (the dashboard shows
    /// names, not keys).
    pub departments: BTreeMap<String, String>,
}

impl ReportingSettings {
    pub fn from_vars(v: &Vars) -> Result<Self, ConfigError> {
        motcua_platform::retention::check(crate::retention::TABLES, v)?;
        let (agencies, departments) = match v.raw("MOTCUA_CATALOG_FILE") {
            None => (BTreeMap::new(), BTreeMap::new()),
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
            agencies,
            departments,
        })
    }
}
