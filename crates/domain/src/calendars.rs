//! Working-time calendars per agency: one table of days for the province (the built-in yearly
//! notices or MOTCUA_HOLIDAYS_FILE), and each agency's own hours where the catalog gives them
//! (MOTCUA_WORKING_HOURS for the others). A due date runs on the hours of the competent agency,
//! which does the work. Due dates are computed with it at receipt and moved by pauses.

use crate::settings::SettingError;
use motcua_calendar::{Calendar, DayTable, Overrides, WorkingHours};
use std::collections::HashMap;
use std::sync::Arc;

/// The calendar settings: holiday overrides and default working hours.
#[derive(Debug, Clone)]
pub struct CalendarSettings {
    pub holidays: Overrides,
    pub working_hours: WorkingHours,
}

impl CalendarSettings {
    pub fn from_vars<'a>(var: impl Fn(&str) -> Option<&'a str>) -> Result<Self, SettingError> {
        let holidays = match var("MOTCUA_HOLIDAYS_FILE") {
            None => Overrides::shipped().map_err(|e| {
                SettingError::new(
                    "MOTCUA_HOLIDAYS_FILE",
                    format!("the built-in overrides do not parse: {e}"),
                )
            })?,
            Some(path) => {
                let err = |m: String| SettingError::new("MOTCUA_HOLIDAYS_FILE", m);
                let text =
                    std::fs::read_to_string(path).map_err(|e| err(format!("{path}: {e}")))?;
                Overrides::parse(&text).map_err(|e| err(format!("{path}: {e}")))?
            }
        };
        let working_hours = match var("MOTCUA_WORKING_HOURS") {
            None => WorkingHours::default(),
            Some(text) => WorkingHours::parse(text)
                .map_err(|e| SettingError::new("MOTCUA_WORKING_HOURS", e.to_string()))?,
        };
        Ok(Self {
            holidays,
            working_hours,
        })
    }
}

/// The agencies whose working hours differ from the default, as a catalog file lists them
/// (`[[agency]]` with `working_hours`): every service that counts working time reads the same file.
pub fn agency_hours(catalog: &str) -> Result<Vec<(String, String)>, String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        agency: Vec<Agency>,
    }
    #[derive(serde::Deserialize)]
    struct Agency {
        code: String,
        #[serde(default)]
        working_hours: Option<String>,
    }
    let file: File = toml::from_str(catalog).map_err(|e| e.to_string())?;
    file.agency
        .into_iter()
        .filter_map(|a| Some((a.code, a.working_hours?)))
        .map(|(code, hours)| {
            WorkingHours::parse(&hours).map_err(|e| format!("agency {code}: {e}"))?;
            Ok((code, hours))
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct Calendars {
    default: Calendar,
    by_agency: HashMap<String, Calendar>,
}

impl Calendars {
    /// `agency_hours`: agencies whose hours differ from the default (code, "HH:MM-HH:MM,…").
    pub fn new(
        settings: &CalendarSettings,
        agency_hours: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let days = Arc::new(DayTable::new(&settings.holidays)?);
        let mut by_agency = HashMap::new();
        for (code, hours) in agency_hours {
            by_agency.insert(
                code.clone(),
                Calendar::new(days.clone(), WorkingHours::parse(hours)?),
            );
        }
        Ok(Self {
            default: Calendar::new(days, settings.working_hours.clone()),
            by_agency,
        })
    }

    pub fn for_agency(&self, code: &str) -> &Calendar {
        self.by_agency.get(code).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use motcua_calendar::Span;

    fn due(cal: &Calendar, received: &str) -> String {
        let t = DateTime::parse_from_rfc3339(received).unwrap();
        cal.due(t, Span::Hours(1), None, &[]).unwrap().to_rfc3339()
    }

    #[test]
    fn an_agency_runs_on_its_own_hours_and_others_on_the_default() {
        let settings = CalendarSettings::from_vars(|_| None).unwrap();
        let own = [(
            "000.20.06.H56".to_owned(),
            "07:30-11:30,13:00-17:00".to_owned(),
        )];
        let cals = Calendars::new(&settings, &own).unwrap();
        // Received at lunch on a Monday: the clock starts when the afternoon shift does.
        assert_eq!(
            due(
                cals.for_agency("000.20.06.H56"),
                "2025-03-03T12:00:00+07:00"
            ),
            "2025-03-03T14:00:00+07:00"
        );
        assert_eq!(
            due(
                cals.for_agency("000.00.06.H56"),
                "2025-03-03T12:00:00+07:00"
            ),
            "2025-03-03T14:30:00+07:00"
        );
    }

    #[test]
    fn operator_holidays_and_default_hours_come_from_settings() {
        let dir = std::env::temp_dir().join(format!("motcua-holidays-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("holidays.toml");
        std::fs::write(
            &file,
            "[[day_off]]\ndate = \"2025-03-03\"\nreason = \"Nghỉ đột xuất\"\nsource = \"test\"\n",
        )
        .unwrap();
        let file = file.display().to_string();
        let vars = [
            ("MOTCUA_HOLIDAYS_FILE", file.as_str()),
            ("MOTCUA_WORKING_HOURS", "08:00-12:00,13:00-17:00"),
        ];
        let cals = Calendars::new(
            &CalendarSettings::from_vars(crate::settings::from_pairs(&vars)).unwrap(),
            &[],
        )
        .unwrap();
        // Monday 3/3 is off: received that day, the clock starts Tuesday 08:00.
        assert_eq!(
            due(
                cals.for_agency("000.00.06.H56"),
                "2025-03-04T09:00:00+07:00"
                    .replace("04T09", "03T09")
                    .as_str()
            ),
            "2025-03-04T09:00:00+07:00"
        );
        std::fs::remove_dir_all(&dir).ok();
        for (var, value) in [
            ("MOTCUA_WORKING_HOURS", "8-17"),
            ("MOTCUA_HOLIDAYS_FILE", "/nonexistent/holidays.toml"),
        ] {
            let e = CalendarSettings::from_vars(crate::settings::from_pairs(&[(var, value)]))
                .unwrap_err();
            assert_eq!(e.var, var);
        }
    }
}
