//! Reporting periods as practised (DESIGN.md §2): a month runs from the 15th of the previous month
//! to the 14th, and the quarter, half-year, nine months and year likewise from 15/12 of the
//! previous year; or any range of days. Days are Vietnam's (UTC+7); both ends are included.

use chrono::{DateTime, NaiveDate, Utc};
use motcua_proto::reporting::{Period, PeriodKind};

/// Years a report may cover.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// A period's first and last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Days {
    /// The instants that bound it: the first day's midnight and the midnight after the last day.
    pub fn instants(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let zone = motcua_calendar::vietnam();
        let at = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(zone).single())
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        };
        (at(self.from), at(self.to.succ_opt().unwrap_or(self.to)))
    }
}

fn day(y: i32, m: u32, d: u32) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("{y}-{m}-{d} is not a day"))
}

/// The 15th of month `m` of year `y` counted from the previous year's December (m = 0).
fn fifteenth(y: i32, m: u32) -> Result<NaiveDate, String> {
    if m == 0 {
        day(y - 1, 12, 15)
    } else {
        day(y, m, 15)
    }
}

/// The days of a period, or what to fix.
pub fn days(p: &Period) -> Result<Days, String> {
    let kind = PeriodKind::try_from(p.kind).unwrap_or_default();
    if kind == PeriodKind::Custom {
        let parse = |s: &str, name: &str| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| format!("{name} {s:?} must be a day written YYYY-MM-DD"))
        };
        let (from, to) = (parse(&p.from, "from")?, parse(&p.to, "to")?);
        if to < from {
            return Err(format!("the period ends ({to}) before it starts ({from})"));
        }
        for d in [from, to] {
            if !YEARS.contains(&chrono::Datelike::year(&d)) {
                return Err(format!(
                    "{d} is outside the years reports cover ({}–{})",
                    YEARS.start(),
                    YEARS.end()
                ));
            }
        }
        return Ok(Days { from, to });
    }
    let y = p.year;
    if !YEARS.contains(&y) {
        return Err(format!(
            "year {y} is outside the years reports cover ({}–{})",
            YEARS.start(),
            YEARS.end()
        ));
    }
    let n = p.number;
    let (first_month, last_month) = match kind {
        PeriodKind::Month if (1..=12).contains(&n) => (n - 1, n),
        PeriodKind::Quarter if (1..=4).contains(&n) => (3 * n - 3, 3 * n),
        PeriodKind::HalfYear if (1..=2).contains(&n) => (6 * n - 6, 6 * n),
        PeriodKind::NineMonths => (0, 9),
        PeriodKind::Year => (0, 12),
        PeriodKind::Month => return Err(format!("month {n} must be 1 to 12")),
        PeriodKind::Quarter => return Err(format!("quarter {n} must be 1 to 4")),
        PeriodKind::HalfYear => return Err(format!("half {n} must be 1 or 2")),
        PeriodKind::Unspecified | PeriodKind::Custom => {
            return Err(
                "period.kind is required: MONTH, QUARTER, HALF_YEAR, NINE_MONTHS, YEAR or CUSTOM"
                    .into(),
            );
        }
    };
    Ok(Days {
        from: fifteenth(y, first_month)?,
        to: day(y, last_month, 14)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(kind: PeriodKind, year: i32, number: u32) -> Period {
        Period {
            kind: kind as i32,
            year,
            number,
            ..Default::default()
        }
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn presets_follow_the_15th_to_14th_convention() {
        for (period, from, to) in [
            (p(PeriodKind::Month, 2017, 1), "2016-12-15", "2017-01-14"),
            (p(PeriodKind::Month, 2017, 3), "2017-02-15", "2017-03-14"),
            (p(PeriodKind::Quarter, 2017, 1), "2016-12-15", "2017-03-14"),
            (p(PeriodKind::Quarter, 2017, 4), "2017-09-15", "2017-12-14"),
            (p(PeriodKind::HalfYear, 2017, 2), "2017-06-15", "2017-12-14"),
            (
                p(PeriodKind::NineMonths, 2017, 0),
                "2016-12-15",
                "2017-09-14",
            ),
            (p(PeriodKind::Year, 2017, 0), "2016-12-15", "2017-12-14"),
        ] {
            assert_eq!(
                days(&period).unwrap(),
                Days {
                    from: d(from),
                    to: d(to)
                },
                "{period:?}"
            );
        }
        let (start, end) = days(&p(PeriodKind::Year, 2017, 0)).unwrap().instants();
        assert_eq!(start.to_rfc3339(), "2016-12-14T17:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2017-12-14T17:00:00+00:00");
    }

    #[test]
    fn bad_periods_say_what_to_fix() {
        for (period, says) in [
            (p(PeriodKind::Month, 2017, 13), "month 13"),
            (p(PeriodKind::Quarter, 2017, 0), "quarter 0"),
            (p(PeriodKind::Year, 1999, 0), "year 1999"),
            (
                p(PeriodKind::Unspecified, 2017, 0),
                "period.kind is required",
            ),
            (
                Period {
                    kind: PeriodKind::Custom as i32,
                    from: "2017-03-01".into(),
                    to: "2017-02-01".into(),
                    ..Default::default()
                },
                "ends (2017-02-01) before it starts",
            ),
            (
                Period {
                    kind: PeriodKind::Custom as i32,
                    from: "1/3/2017".into(),
                    to: "2017-02-01".into(),
                    ..Default::default()
                },
                "YYYY-MM-DD",
            ),
        ] {
            let e = days(&period).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
