//! Working-time calendars per agency: one table of days for the province (the built-in or the
//! MOTCUA_HOLIDAYS_FILE overrides), and each agency's own hours where the catalog file gives them.
//! A due date runs on the hours of the competent agency, which does the work.

use crate::catalog::FileAgency;
use motcua_calendar::{Calendar, DayTable, WorkingHours};
use motcua_platform::config::Settings;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Calendars {
    default: Calendar,
    by_agency: HashMap<String, Calendar>,
}

impl Calendars {
    pub fn new(settings: &Settings, agencies: &[FileAgency]) -> anyhow::Result<Self> {
        let days = Arc::new(DayTable::new(&settings.holidays)?);
        let mut by_agency = HashMap::new();
        for a in agencies {
            if let Some(hours) = &a.working_hours {
                by_agency.insert(
                    a.code.clone(),
                    Calendar::new(days.clone(), WorkingHours::parse(hours)?),
                );
            }
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
    use motcua_platform::config::Vars;

    fn due(cal: &Calendar, received: &str) -> String {
        let t = DateTime::parse_from_rfc3339(received).unwrap();
        cal.due(t, Span::Hours(1), None, &[]).unwrap().to_rfc3339()
    }

    #[test]
    fn an_agency_runs_on_its_own_hours_and_others_on_the_default() {
        let settings = Settings::from_vars(&Vars::default()).unwrap();
        let own = FileAgency {
            code: "000.20.06.H56".into(),
            name: "Văn phòng đăng ký đất đai".into(),
            working_hours: Some("07:30-11:30,13:00-17:00".into()),
        };
        let cals = Calendars::new(&settings, &[own]).unwrap();
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
        let vars = Vars::from_pairs([
            ("MOTCUA_HOLIDAYS_FILE", file.display().to_string()),
            ("MOTCUA_WORKING_HOURS", "08:00-12:00,13:00-17:00".to_owned()),
        ]);
        let cals = Calendars::new(&Settings::from_vars(&vars).unwrap(), &[]).unwrap();
        // Monday 3/3 is off: received that day, the clock starts Tuesday 08:00.
        assert_eq!(
            due(
                cals.for_agency("000.00.06.H56"),
                "2025-03-03T09:00:00+07:00"
            ),
            "2025-03-04T09:00:00+07:00"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
