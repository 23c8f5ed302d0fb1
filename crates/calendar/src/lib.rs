//! Working time for Vietnamese administrative procedures.
//!
//! - [`lunar`]: Vietnamese lunar ↔ solar dates (UTC+7), 1900–2199.
//! - [`holidays`]: the statutory days off of a year (Labour Code 2019 art. 112).
//! - [`overrides`]: the yearly notices' changes, read from TOML (shipped: deploy/calendar/holidays.toml).
//! - [`DayTable`]: working days for the whole range, built once.
//! - [`WorkingHours`]: an agency's shifts.
//! - [`Calendar`]: `due`, pauses and `classify` (early / on time / late).
//!
//! Build one [`DayTable`] per process (it takes a few milliseconds) and share it; computations on
//! it do no I/O and allocate nothing but the sorted pause list.

mod days;
mod error;
pub mod holidays;
mod hours;
pub mod lunar;
pub mod overrides;
mod working_time;

pub use days::DayTable;
pub use error::CalendarError;
pub use hours::WorkingHours;
pub use lunar::{LunarDate, LunarError};
pub use overrides::Overrides;
pub use working_time::{Calendar, Outcome, Pause, Span, vietnam};

use std::sync::Arc;

/// The calendar most callers want: the shipped overrides and the default working hours.
pub fn standard() -> Result<Calendar, CalendarError> {
    let days = DayTable::new(&Overrides::shipped()?)?;
    Ok(Calendar::new(Arc::new(days), WorkingHours::default()))
}
