//! Due dates, clock pauses and the early / on time / late classification.
//!
//! Working time is measured as a position on a single axis: the working seconds elapsed since the
//! table's epoch. An instant maps to its position (time outside working hours maps to the next
//! working moment's position); a position maps back to an instant. Adding a duration, skipping a
//! pause or comparing with a due date are then plain integer arithmetic, and every property the
//! tests check (monotonic, never on a day off, additive) follows from the two maps being monotonic.

use crate::days::DayTable;
use crate::error::CalendarError;
use crate::hours::{Bias, WorkingHours};
use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Timelike};
use std::sync::Arc;

/// Vietnam's time, UTC+7 all year (no daylight saving since 1975). Every instant is converted to
/// it before counting, so nothing depends on the machine's time zone.
pub fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("valid offset")
}

/// A processing time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Span {
    /// Working days; one is the agency's whole working day (8 h by default).
    Days(u32),
    /// Working hours.
    Hours(u32),
}

/// A clock pause: supplement requested (`from`) until supplement received (`to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub from: DateTime<FixedOffset>,
    pub to: DateTime<FixedOffset>,
}

/// How a finished dossier stands against its due date (DESIGN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Finished before the working half-day that contains the due time began.
    Early,
    /// Finished within that half-day, up to the due time.
    OnTime,
    /// Finished after the due time.
    Late,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Early => "early",
            Outcome::OnTime => "on_time",
            Outcome::Late => "late",
        }
    }
}

/// A working-time calendar: the days of the province and the hours of one agency.
#[derive(Debug, Clone)]
pub struct Calendar {
    days: Arc<DayTable>,
    hours: WorkingHours,
}

impl Calendar {
    pub fn new(days: Arc<DayTable>, hours: WorkingHours) -> Self {
        Self { days, hours }
    }

    pub fn days(&self) -> &DayTable {
        &self.days
    }

    pub fn hours(&self) -> &WorkingHours {
        &self.hours
    }

    fn day_seconds(&self) -> i64 {
        i64::from(self.hours.day_seconds())
    }

    /// Position of an instant on the working-time axis.
    fn position(&self, t: DateTime<FixedOffset>) -> Result<(i64, usize, u32), CalendarError> {
        let local = t.with_timezone(&vietnam()).naive_local();
        let index = self.days.index(local.date())?;
        let tod = local.time().num_seconds_from_midnight();
        let mut pos = i64::from(self.days.working_before(index)) * self.day_seconds();
        if self.days.is_working_index(index) {
            pos += i64::from(self.hours.worked_by(tod));
        }
        Ok((pos, index, tod))
    }

    /// The instant at a position; `bias` chooses between the two readings of a shift boundary.
    fn instant(&self, pos: i64, bias: Bias) -> Result<DateTime<FixedOffset>, CalendarError> {
        let ds = self.day_seconds();
        let (mut k, mut r) = (pos.div_euclid(ds), pos.rem_euclid(ds));
        if bias == Bias::End && r == 0 && k > 0 {
            k -= 1;
            r = ds;
        }
        let k = u64::try_from(k).map_err(|_| CalendarError::DueOutOfRange)?;
        let index = self
            .days
            .nth_working(k)
            .ok_or(CalendarError::DueOutOfRange)?;
        let tod = self.hours.time_at(r as u32, bias);
        let time = NaiveTime::from_num_seconds_from_midnight_opt(tod, 0).expect("time of day");
        let local = self.days.date(index).and_time(time);
        Ok(local
            .and_local_timezone(vietnam())
            .single()
            .expect("fixed offset is unambiguous"))
    }

    /// Working time between two instants (zero if `to` is not after `from`).
    pub fn working_time_between(
        &self,
        from: DateTime<FixedOffset>,
        to: DateTime<FixedOffset>,
    ) -> Result<Duration, CalendarError> {
        let (a, _, _) = self.position(from)?;
        let (b, _, _) = self.position(to)?;
        Ok(Duration::seconds((b - a).max(0)))
    }

    /// The due date of a dossier received at `received` with processing time `span`.
    ///
    /// - Time received outside working hours counts from the next working moment.
    /// - With a `cutoff`, a dossier received on a working day after that time of day counts from
    ///   the start of the next working day.
    /// - Each pause that begins before the (already extended) due date moves it by the working
    ///   time inside the pause; a pause that begins after the due date changes nothing (the
    ///   dossier is already late). Pauses must not overlap and must not end before they start.
    /// - The result is a working moment; a boundary is read as the end of the earlier shift
    ///   ("due by 17:00 Friday", not "07:00 Monday").
    ///
    /// Sub-second parts of the inputs are dropped: working time is counted in whole seconds.
    pub fn due(
        &self,
        received: DateTime<FixedOffset>,
        span: Span,
        cutoff: Option<NaiveTime>,
        pauses: &[Pause],
    ) -> Result<DateTime<FixedOffset>, CalendarError> {
        let (mut start, index, tod) = self.position(received)?;
        if let Some(cutoff) = cutoff
            && self.days.is_working_index(index)
            && tod > cutoff.num_seconds_from_midnight()
        {
            start = i64::from(self.days.working_before(index) + 1) * self.day_seconds();
        }
        let length = match span {
            Span::Days(d) => i64::from(d) * self.day_seconds(),
            Span::Hours(h) => i64::from(h) * 3600,
        };
        let mut due = start + length;

        let mut sorted: Vec<&Pause> = pauses.iter().collect();
        sorted.sort_by_key(|p| p.from);
        let mut prev_end: Option<DateTime<FixedOffset>> = None;
        for p in sorted {
            if p.to < p.from {
                return Err(CalendarError::PauseEndsBeforeStart {
                    from: p.from,
                    to: p.to,
                });
            }
            if let Some(end) = prev_end
                && p.from < end
            {
                return Err(CalendarError::PausesOverlap {
                    first_end: end,
                    second: p.from,
                });
            }
            prev_end = Some(p.to);
            let (from, _, _) = self.position(p.from)?;
            let (to, _, _) = self.position(p.to)?;
            let from = from.max(start);
            if from < due && to > from {
                due += to - from;
            }
        }
        if due > start {
            return self.instant(due, Bias::End);
        }
        // Zero working time: the received instant itself when it is a working moment (17:00 on
        // the dot stays 17:00), otherwise the next working moment.
        let end_reading = self.instant(due, Bias::End)?;
        if end_reading.timestamp() >= received.timestamp() {
            Ok(end_reading)
        } else {
            self.instant(due, Bias::Start)
        }
    }

    /// The working moment `span` of working time before `at` (the start of the calendar's range
    /// at the earliest): e.g. "one working day before the due time", for reminders.
    pub fn before(
        &self,
        at: DateTime<FixedOffset>,
        span: Span,
    ) -> Result<DateTime<FixedOffset>, CalendarError> {
        let (pos, _, _) = self.position(at)?;
        let length = match span {
            Span::Days(d) => i64::from(d) * self.day_seconds(),
            Span::Hours(h) => i64::from(h) * 3600,
        };
        self.instant((pos - length).max(0), Bias::Start)
    }

    /// Whether `t` is a working moment: a working day, inside one of its shifts (ends included).
    /// An apology's new return date must be one (the citizen is told to come then).
    pub fn is_working_moment(&self, t: DateTime<FixedOffset>) -> Result<bool, CalendarError> {
        let local = t.with_timezone(&vietnam()).naive_local();
        let index = self.days.index(local.date())?;
        Ok(self.days.is_working_index(index)
            && self
                .hours
                .shift_containing(local.time().num_seconds_from_midnight())
                .is_some())
    }

    /// The first working moment at or after `t` (the start of the next shift when `t` is outside
    /// working hours): what to suggest when a given time is not a working moment.
    pub fn next_working_moment(
        &self,
        t: DateTime<FixedOffset>,
    ) -> Result<DateTime<FixedOffset>, CalendarError> {
        if self.is_working_moment(t)? {
            return Ok(t);
        }
        let (pos, _, _) = self.position(t)?;
        self.instant(pos, Bias::Start)
    }

    /// Early / on time / late for a dossier due at `due` and finished at `finished`.
    ///
    /// The working half-day (shift) containing the due time is found; when the due time is not
    /// itself a working moment, the last shift that ended before it is used.
    pub fn classify(
        &self,
        due: DateTime<FixedOffset>,
        finished: DateTime<FixedOffset>,
    ) -> Result<Outcome, CalendarError> {
        let (pos, index, tod) = self.position(due)?;
        let shift_start = match self.hours.shift_containing(tod) {
            Some(shift) if self.days.is_working_index(index) => {
                let local = due.with_timezone(&vietnam());
                local - Duration::seconds(i64::from(tod - shift.start))
            }
            _ => {
                // Not a working moment: step back to the end of the last shift before it.
                let end = self.instant(pos, Bias::End)?;
                let (_, _, end_tod) = self.position(end)?;
                let shift = self
                    .hours
                    .shift_containing(end_tod)
                    .expect("a working moment");
                end - Duration::seconds(i64::from(end_tod - shift.start))
            }
        };
        Ok(if finished < shift_start {
            Outcome::Early
        } else if finished <= due {
            Outcome::OnTime
        } else {
            Outcome::Late
        })
    }
}
