//! Working hours of an agency: the shifts of a working day.

use crate::error::CalendarError;
use chrono::{NaiveTime, Timelike};

/// A working shift, in seconds from local midnight, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shift {
    pub start: u32,
    pub end: u32,
}

/// Which of two equal readings of a boundary to take: the working-time position at 11:30 equals
/// the one at 13:30. A due date takes the earlier (`End`, "by 11:30"), a start the later (`Start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bias {
    Start,
    End,
}

/// The shifts of a working day. One working day is the sum of the shifts (8 h by default), so a
/// duration of N working days is N times that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    shifts: Vec<Shift>,
    day_seconds: u32,
}

fn secs(t: NaiveTime) -> u32 {
    t.num_seconds_from_midnight()
}

impl Default for WorkingHours {
    /// 07:00–11:30 and 13:30–17:00, the hours most Vietnamese agencies publish.
    fn default() -> Self {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("valid default hours");
        Self::new(&[(t(7, 0), t(11, 30)), (t(13, 30), t(17, 0))]).expect("valid default hours")
    }
}

impl WorkingHours {
    /// Shifts must be non-empty, each start before its end, in order and not overlapping.
    pub fn new(shifts: &[(NaiveTime, NaiveTime)]) -> Result<Self, CalendarError> {
        if shifts.is_empty() {
            return Err(CalendarError::BadHours(
                "at least one shift is needed".into(),
            ));
        }
        let mut out = Vec::with_capacity(shifts.len());
        let mut prev_end = 0;
        for (i, (start, end)) in shifts.iter().enumerate() {
            let (s, e) = (secs(*start), secs(*end));
            if s >= e {
                return Err(CalendarError::BadHours(format!(
                    "shift {start}–{end} must start before it ends"
                )));
            }
            if i > 0 && s < prev_end {
                return Err(CalendarError::BadHours(format!(
                    "shift {start}–{end} starts before the previous one ends; list shifts in order"
                )));
            }
            prev_end = e;
            out.push(Shift { start: s, end: e });
        }
        let day_seconds = out.iter().map(|s| s.end - s.start).sum();
        Ok(Self {
            shifts: out,
            day_seconds,
        })
    }

    /// Parses `HH:MM-HH:MM,HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Result<Self, CalendarError> {
        let bad = || {
            CalendarError::BadHours(format!(
                "{text:?} is not a list of shifts like 07:00-11:30,13:30-17:00"
            ))
        };
        let mut shifts = Vec::new();
        for part in text.split(',') {
            let (a, b) = part.trim().split_once('-').ok_or_else(bad)?;
            let a = NaiveTime::parse_from_str(a.trim(), "%H:%M").map_err(|_| bad())?;
            let b = NaiveTime::parse_from_str(b.trim(), "%H:%M").map_err(|_| bad())?;
            shifts.push((a, b));
        }
        Self::new(&shifts)
    }

    /// Working seconds in one working day.
    pub fn day_seconds(&self) -> u32 {
        self.day_seconds
    }

    /// Working seconds from the start of the day up to the time of day `tod`.
    pub(crate) fn worked_by(&self, tod: u32) -> u32 {
        let mut total = 0;
        for s in &self.shifts {
            if tod <= s.start {
                break;
            }
            total += tod.min(s.end) - s.start;
        }
        total
    }

    /// The time of day at which `offset` working seconds of the day have passed.
    pub(crate) fn time_at(&self, mut offset: u32, bias: Bias) -> u32 {
        for s in &self.shifts {
            let len = s.end - s.start;
            if offset < len || (offset == len && bias == Bias::End) {
                return s.start + offset;
            }
            offset -= len;
        }
        self.shifts.last().map_or(0, |s| s.end)
    }

    /// The shift that contains the time of day `tod`, ends included.
    pub(crate) fn shift_containing(&self, tod: u32) -> Option<Shift> {
        self.shifts
            .iter()
            .copied()
            .find(|s| s.start <= tod && tod <= s.end)
    }
}
