//! Workflow's own settings, read from the same `MOTCUA_*` variables as the platform's.

use motcua_calendar::Span;
use motcua_domain::calendars::CalendarSettings;
use motcua_platform::config::{ConfigError, Vars};

/// Intake as workflow finds it when MOTCUA_WORKFLOW_INTAKE_URL is unset: the name and ports intake
/// declares (`motcua_intake::SERVICE`; a test of crates/cli checks that the two agree).
pub const INTAKE: motcua_platform::config::ServiceSpec = motcua_platform::config::ServiceSpec {
    name: "intake",
    grpc_port: 50051,
    http_port: 8081,
};

#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    /// The fields whose dossiers this instance takes from the stream (MOTCUA_WORKFLOW_FIELDS):
    /// `all`, a list such as `dat-dai`, or `all-except:dat-dai`. One durable consumer per field, so
    /// a land instance and an instance for the rest together take every dossier exactly once.
    pub fields: Vec<&'static str>,
    /// How long before a due time a "due soon" reminder goes out (MOTCUA_WORKFLOW_DUE_SOON_HOURS,
    /// working hours; 8 = one working day).
    pub due_soon: Span,
    /// How far past the current due time an apology may promise (MOTCUA_WORKFLOW_MAX_APOLOGY_DAYS,
    /// calendar days).
    pub max_apology_days: i64,
    pub calendar: CalendarSettings,
    /// Agencies with their own working hours (from MOTCUA_CATALOG_FILE's `[[agency]]` entries).
    pub agency_hours: Vec<(String, String)>,
    /// Intake's gRPC endpoint (MOTCUA_WORKFLOW_INTAKE_URL; default: intake's address in this
    /// process's settings), asked when an officer searches a queue by an applicant's name or phone.
    pub intake_endpoint: String,
}

impl WorkflowSettings {
    pub fn from_vars(v: &Vars) -> Result<Self, ConfigError> {
        motcua_platform::retention::check(crate::retention::TABLES, v)?;
        let fields =
            motcua_domain::fields::parse_selection(&v.string("MOTCUA_WORKFLOW_FIELDS", "all"))
                .map_err(|m| ConfigError::new("MOTCUA_WORKFLOW_FIELDS", m))?;
        let agency_hours = match v.raw("MOTCUA_CATALOG_FILE") {
            None => Vec::new(),
            Some(path) => {
                let err =
                    |m: String| ConfigError::new("MOTCUA_CATALOG_FILE", format!("{path}: {m}"));
                let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
                motcua_domain::calendars::agency_hours(&text).map_err(err)?
            }
        };
        let platform = motcua_platform::config::Settings::from_vars(v)?;
        let intake_endpoint = v.string(
            "MOTCUA_WORKFLOW_INTAKE_URL",
            &format!("http://{}", platform.grpc_addr(&INTAKE)),
        );
        Ok(Self {
            intake_endpoint,
            fields,
            due_soon: Span::Hours(v.count("MOTCUA_WORKFLOW_DUE_SOON_HOURS", 8)? as u32),
            max_apology_days: v.count("MOTCUA_WORKFLOW_MAX_APOLOGY_DAYS", 30)? as i64,
            calendar: CalendarSettings::from_vars(|n| v.raw(n))
                .map_err(|e| ConfigError::new(e.var, e.message))?,
            agency_hours,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("MOTCUA_WORKFLOW_FIELDS", "dat dai"),
            ("MOTCUA_WORKFLOW_DUE_SOON_HOURS", "0"),
            ("MOTCUA_WORKFLOW_MAX_APOLOGY_DAYS", "soon"),
            ("MOTCUA_CATALOG_FILE", "/nonexistent/catalog.toml"),
            ("MOTCUA_IDEMPOTENCY_RETENTION_DAYS", "0"),
            ("MOTCUA_IDEMPOTENCY_RETENTION_DAYS", "36500"),
        ] {
            let err = WorkflowSettings::from_vars(&Vars::from_pairs([(var, value)])).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
        let land =
            WorkflowSettings::from_vars(&Vars::from_pairs([("MOTCUA_WORKFLOW_FIELDS", "dat-dai")]))
                .unwrap();
        assert_eq!(land.fields, ["dat-dai"]);
    }
}
