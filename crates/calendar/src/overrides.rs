//! Yearly overrides of the default days off, read from a TOML file.
//!
//! Each year the government (the Ministry of Labour until 2025, the Ministry of Home Affairs since)
//! announces the real Tết days, the day adjacent to 2/9 and any swap of a weekday off against a
//! Saturday worked. The file records those decisions, each entry with its source:
//!
//! ```toml
//! [[day_off]]                 # an extra day off (a weekday given off, a compensatory day moved)
//! date = "2024-02-08"
//! reason = "Tết Nguyên đán (nghỉ bù)"
//! source = "…the notice or decision…"
//!
//! [[workday]]                 # a Saturday or Sunday worked in exchange
//! date = "2024-05-04"
//! source = "…"
//!
//! [[remove]]                  # a default day off the notice does not give
//! date = "2024-02-15"
//! source = "…"
//! ```
//!
//! Unknown keys, impossible dates, a `workday` on a weekday, a `remove` that removes nothing and
//! the same date listed twice are all refused with a message naming the entry.

use crate::error::CalendarError;
use crate::holidays::YearDays;
use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The overrides the project ships (deploy/calendar/holidays.toml), built into the binary so that
/// every service computes the same due dates without reading a file at run time.
pub const SHIPPED: &str = include_str!("../../../deploy/calendar/holidays.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    day_off: Vec<DayOffEntry>,
    #[serde(default)]
    workday: Vec<Entry>,
    #[serde(default)]
    remove: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DayOffEntry {
    date: String,
    reason: String,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    date: String,
    source: String,
    #[serde(default)]
    #[allow(dead_code)] // documentation for the reader of the file
    reason: Option<String>,
}

/// Overrides for one year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YearOverrides {
    pub days_off: BTreeMap<NaiveDate, String>,
    pub workdays: Vec<NaiveDate>,
    pub removed: Vec<NaiveDate>,
}

/// Parsed and checked overrides, by year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    years: BTreeMap<i32, YearOverrides>,
}

/// A TOML error on one line: "line 3: unknown field `mood`, expected one of …".
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", e.message().trim())
        }
        None => e.message().trim().to_owned(),
    }
}

fn parse_date(kind: &str, i: usize, text: &str) -> Result<NaiveDate, CalendarError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        CalendarError::Overrides(format!(
            "{kind}[{i}].date {text:?} is not a calendar date; write YYYY-MM-DD"
        ))
    })
}

fn need_source(kind: &str, i: usize, source: &str) -> Result<(), CalendarError> {
    if source.trim().is_empty() {
        return Err(CalendarError::Overrides(format!(
            "{kind}[{i}] has an empty source; name the notice that decided it"
        )));
    }
    Ok(())
}

impl Overrides {
    /// No overrides: the statutory defaults alone.
    pub fn none() -> Self {
        Self::default()
    }

    /// The overrides shipped with motcua.
    pub fn shipped() -> Result<Self, CalendarError> {
        Self::parse(SHIPPED)
    }

    /// Parses and checks an overrides file's text.
    pub fn parse(text: &str) -> Result<Self, CalendarError> {
        let file: File =
            toml::from_str(text).map_err(|e| CalendarError::Overrides(toml_error(text, &e)))?;
        let mut out = Overrides::default();
        let mut seen = BTreeMap::new();
        let mut once = |date: NaiveDate, what: String| match seen.insert(date, what.clone()) {
            Some(prev) => Err(CalendarError::Overrides(format!(
                "{date} is listed twice ({prev} and {what}); keep one"
            ))),
            None => Ok(()),
        };
        for (i, e) in file.day_off.iter().enumerate() {
            let date = parse_date("day_off", i, &e.date)?;
            need_source("day_off", i, &e.source)?;
            if e.reason.trim().is_empty() {
                return Err(CalendarError::Overrides(format!(
                    "day_off[{i}] has an empty reason"
                )));
            }
            once(date, format!("day_off[{i}]"))?;
            out.year(date)
                .days_off
                .insert(date, e.reason.trim().to_owned());
        }
        for (i, e) in file.workday.iter().enumerate() {
            let date = parse_date("workday", i, &e.date)?;
            need_source("workday", i, &e.source)?;
            if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
                return Err(CalendarError::Overrides(format!(
                    "workday[{i}] {date} is a {:?}, already a working day; a make-up day is a Saturday or Sunday",
                    date.weekday()
                )));
            }
            once(date, format!("workday[{i}]"))?;
            out.year(date).workdays.push(date);
        }
        for (i, e) in file.remove.iter().enumerate() {
            let date = parse_date("remove", i, &e.date)?;
            need_source("remove", i, &e.source)?;
            once(date, format!("remove[{i}]"))?;
            out.year(date).removed.push(date);
        }
        Ok(out)
    }

    fn year(&mut self, date: NaiveDate) -> &mut YearOverrides {
        self.years.entry(date.year()).or_default()
    }

    /// Applies this year's overrides to its default days.
    pub(crate) fn apply(&self, year: i32, days: &mut YearDays) -> Result<(), CalendarError> {
        let Some(o) = self.years.get(&year) else {
            return Ok(());
        };
        for date in &o.removed {
            if days.days_off.remove(date).is_none() {
                return Err(CalendarError::Overrides(format!(
                    "remove {date}: it is not a default day off, so there is nothing to remove"
                )));
            }
        }
        for (date, reason) in &o.days_off {
            days.days_off.insert(*date, reason.clone());
        }
        for date in &o.workdays {
            if let Some(reason) = days.days_off.get(date) {
                return Err(CalendarError::Overrides(format!(
                    "workday {date} is also a day off ({reason}); remove that day off first"
                )));
            }
            days.workdays.insert(*date);
        }
        Ok(())
    }

    /// Years that have overrides.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }
}
