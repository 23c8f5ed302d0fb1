//! `motcua calendar …`: plain, scriptable output of the working-time calendar.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat};
use clap::{Args, Subcommand};
use motcua_calendar::{
    Calendar, DayTable, LunarDate, Overrides, Pause, Span, WorkingHours, lunar, vietnam,
};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum CalendarCmd {
    /// Print the lunar date of a solar date: YYYY-MM-DD, with " leap" in a leap month.
    Lunar {
        #[arg(value_parser = parse_date)]
        date: NaiveDate,
    },
    /// Print the solar date of a lunar date.
    Solar {
        #[arg(value_parser = parse_date_parts)]
        date: (i32, u32, u32),
        /// The date is in the leap month.
        #[arg(long)]
        leap: bool,
    },
    /// Print each day off of a year (date<TAB>reason), then each make-up working day.
    Holidays {
        year: i32,
        #[command(flatten)]
        days: DaysArgs,
    },
    /// Print the due instant of a dossier (RFC 3339, +07:00).
    Due {
        /// When the dossier was received (RFC 3339).
        #[arg(long, value_parser = parse_instant)]
        received: DateTime<FixedOffset>,
        /// Processing time in working days.
        #[arg(long, value_parser = parse_count, allow_negative_numbers = true, conflicts_with = "hours", required_unless_present = "hours")]
        days: Option<u32>,
        /// Processing time in working hours.
        #[arg(long, value_parser = parse_count, allow_negative_numbers = true)]
        hours: Option<u32>,
        /// Received after this time of day (HH:MM) → counted from the next working day.
        #[arg(long, value_parser = parse_time)]
        cutoff: Option<NaiveTime>,
        /// A clock pause FROM/TO (RFC 3339 instants); repeatable.
        #[arg(long = "pause", value_parser = parse_pause)]
        pauses: Vec<Pause>,
        /// Working hours as HH:MM-HH:MM,HH:MM-HH:MM.
        #[arg(long = "working-hours", value_parser = parse_hours)]
        working_hours: Option<WorkingHours>,
        #[command(flatten)]
        days_args: DaysArgs,
    },
    /// Print early, on_time or late for a dossier due at --due and finished at --finished.
    Classify {
        #[arg(long, value_parser = parse_instant)]
        due: DateTime<FixedOffset>,
        #[arg(long, value_parser = parse_instant)]
        finished: DateTime<FixedOffset>,
        /// Working hours as HH:MM-HH:MM,HH:MM-HH:MM.
        #[arg(long = "working-hours", value_parser = parse_hours)]
        working_hours: Option<WorkingHours>,
        #[command(flatten)]
        days_args: DaysArgs,
    },
}

/// Which overrides to apply: the shipped ones unless told otherwise.
#[derive(Debug, Args)]
pub struct DaysArgs {
    /// Overrides file (TOML) instead of the shipped one.
    #[arg(long, conflicts_with = "no_overrides")]
    overrides: Option<PathBuf>,
    /// Statutory defaults only.
    #[arg(long)]
    no_overrides: bool,
}

impl DaysArgs {
    fn table(&self) -> Result<DayTable, String> {
        let overrides = if self.no_overrides {
            Overrides::none()
        } else if let Some(path) = &self.overrides {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--overrides {}: {e}", path.display()))?;
            Overrides::parse(&text).map_err(|e| format!("--overrides {}: {e}", path.display()))?
        } else {
            Overrides::shipped().map_err(|e| e.to_string())?
        };
        DayTable::new(&overrides).map_err(|e| format!("--overrides: {e}"))
    }

    fn calendar(&self, hours: Option<WorkingHours>) -> Result<Calendar, String> {
        Ok(Calendar::new(
            Arc::new(self.table()?),
            hours.unwrap_or_default(),
        ))
    }
}

pub fn run(cmd: CalendarCmd) -> Result<(), String> {
    match cmd {
        CalendarCmd::Lunar { date } => {
            let l = lunar::solar_to_lunar(date).map_err(|e| format!("DATE: {e}"))?;
            println!("{l}");
        }
        CalendarCmd::Solar {
            date: (year, month, day),
            leap,
        } => {
            let d = lunar::lunar_to_solar(LunarDate {
                year,
                month,
                day,
                leap,
            })
            .map_err(|e| format!("DATE: {e}"))?;
            println!("{d}");
        }
        CalendarCmd::Holidays { year, days } => {
            let table = days.table()?;
            let y = table.year(year).map_err(|e| format!("YEAR: {e}"))?;
            for (date, reason) in &y.days_off {
                println!("{date}\t{reason}");
            }
            for date in &y.workdays {
                println!("{date}\tworkday");
            }
        }
        CalendarCmd::Due {
            received,
            days,
            hours,
            cutoff,
            pauses,
            working_hours,
            days_args,
        } => {
            let span = match (days, hours) {
                (Some(d), _) => Span::Days(d),
                (None, Some(h)) => Span::Hours(h),
                (None, None) => return Err("give --days N or --hours N".into()),
            };
            let cal = days_args.calendar(working_hours)?;
            let due = cal
                .due(received, span, cutoff, &pauses)
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                due.with_timezone(&vietnam())
                    .to_rfc3339_opts(SecondsFormat::AutoSi, false)
            );
        }
        CalendarCmd::Classify {
            due,
            finished,
            working_hours,
            days_args,
        } => {
            let cal = days_args.calendar(working_hours)?;
            let outcome = cal
                .classify(due, finished)
                .map_err(|e| format!("--due: {e}"))?;
            println!("{}", outcome.as_str());
        }
    }
    Ok(())
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date; write YYYY-MM-DD"))
}

/// A lunar date is not a valid solar date (30/2 exists), so it is parsed as three numbers.
fn parse_date_parts(s: &str) -> Result<(i32, u32, u32), String> {
    let bad = || format!("{s:?} is not a date; write YYYY-MM-DD");
    let mut it = s.split('-');
    let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    Ok((
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    ))
}

fn parse_instant(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s).map_err(|e| {
        format!("{s:?} is not an RFC 3339 instant such as 2025-03-03T09:00:00+07:00 ({e})")
    })
}

fn parse_count(s: &str) -> Result<u32, String> {
    let n: i64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))?;
    if n < 0 {
        return Err(format!(
            "{n} is negative; a processing time is zero or more"
        ));
    }
    u32::try_from(n).map_err(|_| format!("{n} is too large"))
}

fn parse_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("{s:?} is not a time; write HH:MM"))
}

fn parse_pause(s: &str) -> Result<Pause, String> {
    let (a, b) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not a pause; write FROM/TO as two RFC 3339 instants"))?;
    Ok(Pause {
        from: parse_instant(a)?,
        to: parse_instant(b)?,
    })
}

fn parse_hours(s: &str) -> Result<WorkingHours, String> {
    WorkingHours::parse(s).map_err(|e| e.to_string())
}
