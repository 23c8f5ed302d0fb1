//! Every way a calendar computation can refuse its input.

use crate::lunar::LunarError;
use chrono::{DateTime, FixedOffset, NaiveDate};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error(transparent)]
    Lunar(#[from] LunarError),
    #[error("{0} is outside the calendar's range 1900-01-01 … 2199-12-31")]
    OutOfRange(NaiveDate),
    #[error("the due date would fall after 2199-12-31")]
    DueOutOfRange,
    #[error("working hours: {0}")]
    BadHours(String),
    #[error("pause {from} / {to} ends before it starts")]
    PauseEndsBeforeStart {
        from: DateTime<FixedOffset>,
        to: DateTime<FixedOffset>,
    },
    #[error(
        "pauses overlap: the one starting {second} begins before the one ending {first_end} ends"
    )]
    PausesOverlap {
        first_end: DateTime<FixedOffset>,
        second: DateTime<FixedOffset>,
    },
    #[error("overrides: {0}")]
    Overrides(String),
}
