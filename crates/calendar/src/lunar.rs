//! Vietnamese lunar calendar (âm lịch), computed for UTC+7.
//!
//! The astronomy is Hồ Ngọc Đức's published algorithm (new moons and solar longitudes after Jean
//! Meeus, "Astronomical Algorithms"), the one Vietnamese calendars are printed from. The time zone
//! matters: a new moon that falls just after midnight in Hà Nội (UTC+7) but before midnight in
//! Beijing (UTC+8 is *later*, so the reverse) starts the month on a different day, which is why the
//! Vietnamese Tết differs from the Chinese one in years such as 1985 and 2007.
//!
//! Dates are handled as Julian day numbers internally; the public API speaks `chrono::NaiveDate`.

use chrono::{Datelike, NaiveDate};
use std::f64::consts::PI;
use std::fmt;

/// Vietnam's offset from UTC in hours, used for the astronomy.
const TIME_ZONE: f64 = 7.0;
/// First and last solar years this module converts.
pub const FIRST_YEAR: i32 = 1900;
pub const LAST_YEAR: i32 = 2199;

/// A date in the Vietnamese lunar calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LunarDate {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    /// True in a leap (intercalary, nhuận) month.
    pub leap: bool,
}

impl fmt::Display for LunarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)?;
        if self.leap {
            f.write_str(" leap")?;
        }
        Ok(())
    }
}

/// Why a conversion could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LunarError {
    #[error("year {0} is outside the supported range {FIRST_YEAR}–{LAST_YEAR}")]
    OutOfRange(i32),
    #[error("lunar year {year} has no leap month {month}")]
    NoSuchLeapMonth { year: i32, month: u32 },
    #[error("lunar month {month} must be between 1 and 12")]
    BadMonth { month: u32 },
    #[error("lunar month {year}-{month:02}{leap} has {len} days, not {day}", leap = if *leap { " leap" } else { "" })]
    BadDay {
        year: i32,
        month: u32,
        leap: bool,
        day: u32,
        len: u32,
    },
}

fn jd_from_date(date: NaiveDate) -> i64 {
    // 0001-01-01 (proleptic Gregorian) is Julian day 1_721_426.
    i64::from(date.num_days_from_ce()) + 1_721_425
}

fn date_from_jd(jd: i64) -> NaiveDate {
    let days = i32::try_from(jd - 1_721_425).expect("julian day within chrono's range");
    NaiveDate::from_num_days_from_ce_opt(days).expect("julian day within chrono's range")
}

/// Julian day (with fraction, UT) of the k-th new moon after 1900-01-01.
fn new_moon(k: i64) -> f64 {
    let k = k as f64;
    let t = k / 1236.85;
    let t2 = t * t;
    let t3 = t2 * t;
    let dr = PI / 180.0;
    let mut jd1 = 2_415_020.759_33 + 29.530_588_68 * k + 0.000_117_8 * t2 - 0.000_000_155 * t3;
    jd1 += 0.000_33 * ((166.56 + 132.87 * t - 0.009_173 * t2) * dr).sin();
    let m = 359.2242 + 29.105_356_08 * k - 0.000_033_3 * t2 - 0.000_003_47 * t3;
    let mpr = 306.0253 + 385.816_918_06 * k + 0.010_730_6 * t2 + 0.000_012_36 * t3;
    let f = 21.2964 + 390.670_506_46 * k - 0.001_652_8 * t2 - 0.000_002_39 * t3;
    let mut c1 = (0.1734 - 0.000_393 * t) * (m * dr).sin() + 0.0021 * (2.0 * dr * m).sin();
    c1 = c1 - 0.4068 * (mpr * dr).sin() + 0.0161 * (dr * 2.0 * mpr).sin();
    c1 -= 0.0004 * (dr * 3.0 * mpr).sin();
    c1 = c1 + 0.0104 * (dr * 2.0 * f).sin() - 0.0051 * (dr * (m + mpr)).sin();
    c1 = c1 - 0.0074 * (dr * (m - mpr)).sin() + 0.0004 * (dr * (2.0 * f + m)).sin();
    c1 = c1 - 0.0004 * (dr * (2.0 * f - m)).sin() - 0.0006 * (dr * (2.0 * f + mpr)).sin();
    c1 = c1 + 0.0010 * (dr * (2.0 * f - mpr)).sin() + 0.0005 * (dr * (2.0 * mpr + m)).sin();
    let deltat = if t < -11.0 {
        0.001 + 0.000_839 * t + 0.000_226_1 * t2 - 0.000_008_45 * t3 - 0.000_000_081 * t * t3
    } else {
        -0.000_278 + 0.000_265 * t + 0.000_262 * t2
    };
    jd1 + c1 - deltat
}

/// Sun's apparent longitude in radians at a Julian day (UT).
fn sun_longitude(jdn: f64) -> f64 {
    let t = (jdn - 2_451_545.0) / 36_525.0;
    let t2 = t * t;
    let dr = PI / 180.0;
    let m = 357.529_10 + 35_999.050_30 * t - 0.000_155_9 * t2 - 0.000_000_48 * t * t2;
    let l0 = 280.466_45 + 36_000.769_83 * t + 0.000_303_2 * t2;
    let mut dl = (1.914_600 - 0.004_817 * t - 0.000_014 * t2) * (dr * m).sin();
    dl += (0.019_993 - 0.000_101 * t) * (dr * 2.0 * m).sin() + 0.000_290 * (dr * 3.0 * m).sin();
    let l = (l0 + dl) * dr;
    l - 2.0 * PI * (l / (2.0 * PI)).floor()
}

/// The solar term sector (0..12, 30° each) the sun is in at the start of a local day.
fn sun_sector(day: i64) -> i64 {
    (sun_longitude(day as f64 - 0.5 - TIME_ZONE / 24.0) / PI * 6.0).floor() as i64
}

/// Local (UTC+7) day number of the k-th new moon.
fn new_moon_day(k: i64) -> i64 {
    (new_moon(k) + 0.5 + TIME_ZONE / 24.0).floor() as i64
}

/// Start of the lunar month that contains the winter solstice of solar year `yy` (month 11).
fn lunar_month_11(yy: i32) -> i64 {
    let dec31 = NaiveDate::from_ymd_opt(yy, 12, 31).expect("31 December exists");
    let off = jd_from_date(dec31) - 2_415_021;
    let k = (off as f64 / 29.530_588_853).floor() as i64;
    let nm = new_moon_day(k);
    if sun_sector(nm) >= 9 {
        new_moon_day(k - 1)
    } else {
        nm
    }
}

/// In a 13-month lunar year starting at month 11 `a11`, the offset of the leap month: the first
/// month that contains no major solar term.
fn leap_month_offset(a11: i64) -> i64 {
    let k = ((a11 as f64 - 2_415_021.076_998_695) / 29.530_588_853 + 0.5).floor() as i64;
    let mut i = 1;
    let mut arc = sun_sector(new_moon_day(k + i));
    loop {
        let last = arc;
        i += 1;
        arc = sun_sector(new_moon_day(k + i));
        if arc == last || i >= 14 {
            break;
        }
    }
    i - 1
}

fn check_year(year: i32) -> Result<(), LunarError> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&year) {
        Ok(())
    } else {
        Err(LunarError::OutOfRange(year))
    }
}

/// Converts a solar (Gregorian) date to the Vietnamese lunar date.
pub fn solar_to_lunar(date: NaiveDate) -> Result<LunarDate, LunarError> {
    check_year(date.year())?;
    let day_number = jd_from_date(date);
    // The mean lunation only estimates which new moon starts the month; the true new moon can
    // fall either side of the estimate (e.g. 2062-04-09), so step until it brackets the day.
    let mut k = ((day_number as f64 - 2_415_021.076_998_695) / 29.530_588_853).floor() as i64;
    while new_moon_day(k + 1) <= day_number {
        k += 1;
    }
    while new_moon_day(k) > day_number {
        k -= 1;
    }
    let month_start = new_moon_day(k);
    let yy = date.year();
    let mut a11 = lunar_month_11(yy);
    let mut b11 = a11;
    let mut lunar_year;
    if a11 >= month_start {
        lunar_year = yy;
        a11 = lunar_month_11(yy - 1);
    } else {
        lunar_year = yy + 1;
        b11 = lunar_month_11(yy + 1);
    }
    let lunar_day = day_number - month_start + 1;
    let diff = (month_start - a11) / 29;
    let mut leap = false;
    let mut lunar_month = diff + 11;
    if b11 - a11 > 365 {
        let leap_diff = leap_month_offset(a11);
        if diff >= leap_diff {
            lunar_month = diff + 10;
            leap = diff == leap_diff;
        }
    }
    if lunar_month > 12 {
        lunar_month -= 12;
    }
    if lunar_month >= 11 && diff < 4 {
        lunar_year -= 1;
    }
    Ok(LunarDate {
        year: lunar_year,
        month: lunar_month as u32,
        day: lunar_day as u32,
        leap,
    })
}

/// Converts a Vietnamese lunar date to the solar date, rejecting months and days that do not exist
/// (a leap month the year does not have, day 30 of a 29-day month).
pub fn lunar_to_solar(lunar: LunarDate) -> Result<NaiveDate, LunarError> {
    let LunarDate {
        year,
        month,
        day,
        leap,
    } = lunar;
    // Lunar year 1899's last month already lies in solar 1900, so one year earlier is allowed
    // here; the solar result is checked against the range below.
    if !(FIRST_YEAR - 1..=LAST_YEAR).contains(&year) {
        return Err(LunarError::OutOfRange(year));
    }
    if !(1..=12).contains(&month) {
        return Err(LunarError::BadMonth { month });
    }
    let (a11, b11) = if month < 11 {
        (lunar_month_11(year - 1), lunar_month_11(year))
    } else {
        (lunar_month_11(year), lunar_month_11(year + 1))
    };
    let k = (0.5 + (a11 as f64 - 2_415_021.076_998_695) / 29.530_588_853).floor() as i64;
    let mut off = i64::from(month) - 11;
    if off < 0 {
        off += 12;
    }
    let mut has_leap_here = false;
    if b11 - a11 > 365 {
        let leap_off = leap_month_offset(a11);
        let mut leap_month = leap_off - 2;
        if leap_month < 0 {
            leap_month += 12;
        }
        has_leap_here = leap_month == i64::from(month);
        if leap || off >= leap_off {
            off += 1;
        }
    }
    if leap && !has_leap_here {
        return Err(LunarError::NoSuchLeapMonth { year, month });
    }
    let month_start = new_moon_day(k + off);
    let len = (new_moon_day(k + off + 1) - month_start) as u32;
    if day == 0 || day > len {
        return Err(LunarError::BadDay {
            year,
            month,
            leap,
            day,
            len,
        });
    }
    let solar = date_from_jd(month_start + i64::from(day) - 1);
    check_year(solar.year())?;
    Ok(solar)
}

/// Number of days in a lunar month (29 or 30).
pub fn month_length(year: i32, month: u32, leap: bool) -> Result<u32, LunarError> {
    let first = lunar_to_solar(LunarDate {
        year,
        month,
        day: 1,
        leap,
    })?;
    let next = first + chrono::Days::new(29);
    Ok(if solar_to_lunar(next)?.day == 30 {
        30
    } else {
        29
    })
}

/// First day of the lunar year (mùng 1 Tết) as a solar date.
pub fn tet(year: i32) -> Result<NaiveDate, LunarError> {
    lunar_to_solar(LunarDate {
        year,
        month: 1,
        day: 1,
        leap: false,
    })
}
