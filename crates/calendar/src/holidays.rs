//! Days off: the statutory defaults of the Labour Code 2019 (art. 112) and the yearly overrides
//! that the government's notices decide.
//!
//! The defaults are what the law alone fixes; each year's notice then swaps days (a weekday off
//! against a Saturday worked) and places Tết's compensatory days. Those decisions live in the
//! overrides file (see [`crate::overrides`]), never in code.

use crate::lunar::{self, LunarDate, LunarError};
use chrono::{Datelike, Days, NaiveDate, Weekday};
use std::collections::{BTreeMap, BTreeSet};

/// The days off and make-up working days of one year, as applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YearDays {
    /// Weekdays and weekend days declared off, with the reason shown to users.
    pub days_off: BTreeMap<NaiveDate, String>,
    /// Saturdays or Sundays worked in exchange for a day off.
    pub workdays: BTreeSet<NaiveDate>,
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("fixed holiday dates exist every year")
}

/// The statutory holidays of a year, before compensation: (date, reason).
fn statutory(year: i32) -> Result<Vec<(NaiveDate, String)>, LunarError> {
    let mut days = vec![(ymd(year, 1, 1), "Tết Dương lịch".to_owned())];

    // Tết: the last day of the old lunar year and the first four days of the new one. The lunar
    // year that starts in solar `year` carries the same number.
    let tet = lunar::tet(year)?;
    days.push((
        tet - Days::new(1),
        "Tết Nguyên đán (ngày cuối năm âm lịch)".to_owned(),
    ));
    for i in 0..4 {
        days.push((
            tet + Days::new(i),
            format!("Tết Nguyên đán (mùng {})", i + 1),
        ));
    }

    let hung = lunar::lunar_to_solar(LunarDate {
        year,
        month: 3,
        day: 10,
        leap: false,
    })?;
    days.push((hung, "Giỗ Tổ Hùng Vương (10/3 âm lịch)".to_owned()));
    days.push((ymd(year, 4, 30), "Ngày Chiến thắng (30/4)".to_owned()));
    days.push((ymd(year, 5, 1), "Ngày Quốc tế Lao động (1/5)".to_owned()));

    // 2/9 and one adjacent day, which the yearly plan chooses. Default: the weekday that joins 2/9
    // to a weekend (Fri 2/9 → Thu 1/9, Sat → Fri 1/9, Tue → Mon 1/9, Mon → Tue 3/9 as in the 2024
    // plan, Thu → Fri 3/9); Wednesday takes 1/9 as in the 2026 plan, Sunday 3/9. A plan that
    // differs goes into the overrides file.
    let national = ymd(year, 9, 2);
    days.push((national, "Quốc khánh (2/9)".to_owned()));
    let adjacent = match national.weekday() {
        Weekday::Tue | Weekday::Wed | Weekday::Fri | Weekday::Sat => ymd(year, 9, 1),
        Weekday::Mon | Weekday::Thu | Weekday::Sun => ymd(year, 9, 3),
    };
    days.push((adjacent, "Quốc khánh (ngày liền kề)".to_owned()));
    days.sort();
    Ok(days)
}

/// Default days off for `year`: statutory holidays plus, for each one that falls on a Saturday
/// or Sunday, a compensatory day off on the next working day (Labour Code 2019 art. 111(3)).
pub fn default_year(year: i32) -> Result<YearDays, LunarError> {
    let mut out = YearDays::default();
    let days = statutory(year)?;
    for (date, reason) in &days {
        out.days_off.insert(*date, reason.clone());
    }
    for (date, reason) in days {
        if !is_weekend(date) {
            continue;
        }
        let mut next = date + Days::new(1);
        while is_weekend(next) || out.days_off.contains_key(&next) {
            next = next + Days::new(1);
        }
        out.days_off.insert(
            next,
            format!("Nghỉ bù {} ({})", reason, date.format("%d/%m")),
        );
    }
    Ok(out)
}
