//! The table of working days for 1900–2199, built once from the defaults and the overrides.
//!
//! Everything on the hot path (`due`, `classify`) is array indexing into this table: `cum[i]`
//! counts the working days before day `i`, `working[k]` is the index of the k-th working day.

use crate::error::CalendarError;
use crate::holidays::{self, YearDays};
use crate::lunar::{FIRST_YEAR, LAST_YEAR};
use crate::overrides::Overrides;
use chrono::{Datelike, Days, NaiveDate, Weekday};

#[derive(Debug, Clone)]
pub struct DayTable {
    epoch: NaiveDate,
    /// Working days strictly before each day; one more entry than there are days.
    cum: Vec<u32>,
    /// Day index of each working day, in order.
    working: Vec<u32>,
    years: Vec<YearDays>,
}

impl DayTable {
    /// Builds the table with the given overrides applied on top of the statutory defaults.
    pub fn new(overrides: &Overrides) -> Result<Self, CalendarError> {
        let epoch = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).expect("valid epoch");
        let mut years = Vec::with_capacity((LAST_YEAR - FIRST_YEAR + 1) as usize);
        for year in FIRST_YEAR..=LAST_YEAR {
            let mut days = holidays::default_year(year)?;
            overrides.apply(year, &mut days)?;
            years.push(days);
        }
        if let Some(year) = overrides
            .years()
            .find(|y| !(FIRST_YEAR..=LAST_YEAR).contains(y))
        {
            return Err(CalendarError::Overrides(format!(
                "year {year} is outside the calendar's range {FIRST_YEAR}–{LAST_YEAR}"
            )));
        }
        let end = NaiveDate::from_ymd_opt(LAST_YEAR + 1, 1, 1).expect("valid end");
        let n = (end - epoch).num_days() as usize;
        let mut cum = Vec::with_capacity(n + 1);
        let mut working = Vec::new();
        let mut count = 0u32;
        let mut date = epoch;
        for i in 0..n {
            cum.push(count);
            let year = &years[(date.year() - FIRST_YEAR) as usize];
            let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
            let is_working = if year.days_off.contains_key(&date) {
                false
            } else {
                !weekend || year.workdays.contains(&date)
            };
            if is_working {
                working.push(i as u32);
                count += 1;
            }
            date = date + Days::new(1);
        }
        cum.push(count);
        Ok(Self {
            epoch,
            cum,
            working,
            years,
        })
    }

    /// Index of a date in the table.
    pub(crate) fn index(&self, date: NaiveDate) -> Result<usize, CalendarError> {
        let i = (date - self.epoch).num_days();
        if i < 0 || i as usize + 1 >= self.cum.len() {
            return Err(CalendarError::OutOfRange(date));
        }
        Ok(i as usize)
    }

    pub(crate) fn date(&self, index: u32) -> NaiveDate {
        self.epoch + Days::new(u64::from(index))
    }

    /// Working days before the day at `index`.
    pub(crate) fn working_before(&self, index: usize) -> u32 {
        self.cum[index]
    }

    pub(crate) fn is_working_index(&self, index: usize) -> bool {
        self.cum[index + 1] > self.cum[index]
    }

    /// Day index of the k-th working day (0-based), if the table reaches it.
    pub(crate) fn nth_working(&self, k: u64) -> Option<u32> {
        usize::try_from(k)
            .ok()
            .and_then(|k| self.working.get(k))
            .copied()
    }

    /// Whether a date is a working day.
    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        Ok(self.is_working_index(self.index(date)?))
    }

    /// The applied days off and make-up working days of a year.
    pub fn year(&self, year: i32) -> Result<&YearDays, CalendarError> {
        usize::try_from(year - FIRST_YEAR)
            .ok()
            .and_then(|i| self.years.get(i))
            .ok_or(CalendarError::Lunar(crate::lunar::LunarError::OutOfRange(
                year,
            )))
    }
}
