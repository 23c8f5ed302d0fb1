//! Due dates, pauses and classification: golden cases and properties.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, TimeZone, Timelike};
use motcua_calendar::{
    Calendar, CalendarError, DayTable, Outcome, Overrides, Pause, Span, WorkingHours, vietnam,
};
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("test instant")
}

/// Statutory defaults only, so the golden cases do not move when a year's notice is added.
fn plain() -> &'static Calendar {
    static CAL: OnceLock<Calendar> = OnceLock::new();
    CAL.get_or_init(|| {
        let days = DayTable::new(&Overrides::none()).expect("table");
        Calendar::new(Arc::new(days), WorkingHours::default())
    })
}

fn shipped() -> &'static Calendar {
    static CAL: OnceLock<Calendar> = OnceLock::new();
    CAL.get_or_init(|| motcua_calendar::standard().expect("shipped calendar"))
}

fn due(received: &str, span: Span) -> String {
    plain()
        .due(t(received), span, None, &[])
        .expect("due")
        .to_rfc3339()
}

#[test]
fn golden_due_dates() {
    // Within hours: one working day later at the same time.
    assert_eq!(
        due("2025-03-03T09:00:00+07:00", Span::Days(1)),
        "2025-03-04T09:00:00+07:00"
    );
    // Received on Saturday: counts from Monday 07:00; one day ends Monday 17:00, not Tuesday 07:00.
    assert_eq!(
        due("2025-03-01T10:00:00+07:00", Span::Days(1)),
        "2025-03-03T17:00:00+07:00"
    );
    assert_eq!(
        due("2025-03-03T07:00:00+07:00", Span::Days(1)),
        "2025-03-03T17:00:00+07:00"
    );
    // Friday afternoon over the weekend.
    assert_eq!(
        due("2025-03-07T16:00:00+07:00", Span::Days(1)),
        "2025-03-10T16:00:00+07:00"
    );
    // Received at lunch: the clock starts 13:30.
    assert_eq!(
        due("2025-03-03T12:00:00+07:00", Span::Hours(1)),
        "2025-03-03T14:30:00+07:00"
    );
    // Hours cross the lunch break and the night.
    assert_eq!(
        due("2025-03-03T10:00:00+07:00", Span::Hours(3)),
        "2025-03-03T15:00:00+07:00"
    );
    assert_eq!(
        due("2025-03-03T10:00:00+07:00", Span::Hours(8)),
        "2025-03-04T10:00:00+07:00"
    );
    // Zero duration: the next working moment.
    assert_eq!(
        due("2025-03-03T06:00:00+07:00", Span::Days(0)),
        "2025-03-03T07:00:00+07:00"
    );
    // A UTC input is converted to Vietnam time first (02:00Z = 09:00+07).
    assert_eq!(
        due("2025-03-03T02:00:00Z", Span::Days(1)),
        "2025-03-04T09:00:00+07:00"
    );
    // New Year's Day across the solar year boundary.
    assert_eq!(
        due("2025-12-31T14:00:00+07:00", Span::Days(1)),
        "2026-01-02T14:00:00+07:00"
    );
}

#[test]
fn golden_tet() {
    // Defaults: off 28/1–1/2 and 3/2; Monday 27/1 works.
    assert_eq!(
        due("2025-01-24T10:00:00+07:00", Span::Days(1)),
        "2025-01-27T10:00:00+07:00"
    );
    assert_eq!(
        due("2025-01-24T10:00:00+07:00", Span::Days(2)),
        "2025-02-04T10:00:00+07:00"
    );
    // With the 2025 notice: off 27/1–31/1, Monday 3/2 works.
    let d = shipped()
        .due(t("2025-01-24T10:00:00+07:00"), Span::Days(1), None, &[])
        .expect("due");
    assert_eq!(d.to_rfc3339(), "2025-02-03T10:00:00+07:00");
    // Received in late December, due after Tết: 1/1 and the nine days of Tết 2025 are skipped.
    // From Tue 2024-12-31 10:00, the working days that follow are 2–3/1, 6–10/1, 13–17/1, 20–24/1
    // (17 days), then 3/2, 4/2, 5/2: the 20th day ends on Wednesday 5/2 at 10:00.
    let d = shipped()
        .due(t("2024-12-31T10:00:00+07:00"), Span::Days(20), None, &[])
        .expect("due");
    assert_eq!(d.to_rfc3339(), "2025-02-05T10:00:00+07:00");
}

#[test]
fn golden_cutoff() {
    let cutoff = NaiveTime::from_hms_opt(15, 0, 0);
    let cal = plain();
    let after = cal
        .due(t("2025-03-03T15:30:00+07:00"), Span::Days(1), cutoff, &[])
        .expect("due");
    assert_eq!(after.to_rfc3339(), "2025-03-04T17:00:00+07:00");
    let at = cal
        .due(t("2025-03-03T15:00:00+07:00"), Span::Days(1), cutoff, &[])
        .expect("due");
    assert_eq!(at.to_rfc3339(), "2025-03-04T15:00:00+07:00");
    // After the cut-off on the Friday before 30/4–1/5 (2025: Wed, Thu): next working day is Mon 28/4.
    let fri = cal
        .due(t("2025-04-25T16:00:00+07:00"), Span::Days(3), cutoff, &[])
        .expect("due");
    assert_eq!(fri.to_rfc3339(), "2025-05-02T17:00:00+07:00");
}

#[test]
fn golden_pause_spanning_holidays() {
    // 2024: 30/4 Tue and 1/5 Wed off. Due without pause: Mon 29/4 08:00.
    let received = t("2024-04-22T08:00:00+07:00");
    assert_eq!(
        due("2024-04-22T08:00:00+07:00", Span::Days(5)),
        "2024-04-29T08:00:00+07:00"
    );
    // Paused Fri 26/4 08:00 → Thu 2/5 08:00: 7 h + 8 h + 1 h = 16 working hours = 2 days.
    let pause = Pause {
        from: t("2024-04-26T08:00:00+07:00"),
        to: t("2024-05-02T08:00:00+07:00"),
    };
    let d = plain()
        .due(received, Span::Days(5), None, &[pause])
        .expect("due");
    assert_eq!(d.to_rfc3339(), "2024-05-03T08:00:00+07:00");
    // A pause that begins after the due date changes nothing: the dossier is already late.
    let late = Pause {
        from: t("2024-05-06T08:00:00+07:00"),
        to: t("2024-05-08T08:00:00+07:00"),
    };
    let d = plain()
        .due(received, Span::Days(5), None, &[late])
        .expect("due");
    assert_eq!(d.to_rfc3339(), "2024-04-29T08:00:00+07:00");
    // Two pauses add up; the second starts before the once-extended due date.
    let p2 = Pause {
        from: t("2024-05-03T07:00:00+07:00"),
        to: t("2024-05-03T17:00:00+07:00"),
    };
    let d = plain()
        .due(received, Span::Days(5), None, &[p2, pause])
        .expect("due");
    assert_eq!(d.to_rfc3339(), "2024-05-06T08:00:00+07:00");
}

#[test]
fn bad_pauses_are_refused() {
    let received = t("2025-03-03T09:00:00+07:00");
    let backwards = Pause {
        from: t("2025-03-05T09:00:00+07:00"),
        to: t("2025-03-04T09:00:00+07:00"),
    };
    let err = plain()
        .due(received, Span::Days(3), None, &[backwards])
        .unwrap_err();
    assert!(
        matches!(err, CalendarError::PauseEndsBeforeStart { .. }),
        "{err}"
    );
    let a = Pause {
        from: t("2025-03-04T09:00:00+07:00"),
        to: t("2025-03-05T09:00:00+07:00"),
    };
    let b = Pause {
        from: t("2025-03-05T08:00:00+07:00"),
        to: t("2025-03-06T09:00:00+07:00"),
    };
    let err = plain()
        .due(received, Span::Days(3), None, &[b, a])
        .unwrap_err();
    assert!(matches!(err, CalendarError::PausesOverlap { .. }), "{err}");
    let far = t("2199-12-01T09:00:00+07:00");
    assert!(matches!(
        plain().due(far, Span::Days(100), None, &[]),
        Err(CalendarError::DueOutOfRange)
    ));
    assert!(matches!(
        plain().due(t("1899-06-01T09:00:00+07:00"), Span::Days(1), None, &[]),
        Err(CalendarError::OutOfRange(_))
    ));
}

#[test]
fn golden_classification() {
    let cal = plain();
    let c = |due: &str, finished: &str| cal.classify(t(due), t(finished)).expect("classify");
    // Due Tuesday 09:00, in the morning shift that starts 07:00.
    let due = "2025-03-04T09:00:00+07:00";
    assert_eq!(c(due, "2025-03-03T16:00:00+07:00"), Outcome::Early);
    assert_eq!(c(due, "2025-03-04T06:59:59+07:00"), Outcome::Early);
    assert_eq!(c(due, "2025-03-04T07:00:00+07:00"), Outcome::OnTime);
    assert_eq!(c(due, "2025-03-04T09:00:00+07:00"), Outcome::OnTime);
    assert_eq!(c(due, "2025-03-04T09:00:01+07:00"), Outcome::Late);
    // Due 16:00: its shift starts 13:30, so a result at noon is early.
    assert_eq!(
        c("2025-03-04T16:00:00+07:00", "2025-03-04T12:00:00+07:00"),
        Outcome::Early
    );
    assert_eq!(
        c("2025-03-04T16:00:00+07:00", "2025-03-04T13:30:00+07:00"),
        Outcome::OnTime
    );
    // A due time on a Sunday belongs to Friday afternoon's shift.
    assert_eq!(
        c("2025-03-09T10:00:00+07:00", "2025-03-07T13:00:00+07:00"),
        Outcome::Early
    );
    assert_eq!(
        c("2025-03-09T10:00:00+07:00", "2025-03-07T14:00:00+07:00"),
        Outcome::OnTime
    );
    assert_eq!(
        c("2025-03-09T10:00:00+07:00", "2025-03-10T07:00:00+07:00"),
        Outcome::Late
    );
}

fn instant() -> impl Strategy<Value = DateTime<FixedOffset>> {
    // 2000-01-01 … 2100-01-01, any second.
    (946_659_600i64..4_102_419_600).prop_map(|s| {
        vietnam()
            .timestamp_opt(s, 0)
            .single()
            .expect("valid timestamp")
    })
}

fn span() -> impl Strategy<Value = Span> {
    prop_oneof![
        (0u32..120).prop_map(Span::Days),
        (0u32..200).prop_map(Span::Hours)
    ]
}

fn is_working_moment(cal: &Calendar, at: DateTime<FixedOffset>) -> bool {
    let local = at.with_timezone(&vietnam());
    let tod = local.time().num_seconds_from_midnight();
    let in_shift = [(7 * 3600, 11 * 3600 + 1800), (13 * 3600 + 1800, 17 * 3600)]
        .iter()
        .any(|&(a, b)| (a..=b).contains(&tod));
    cal.days()
        .is_working_day(local.date_naive())
        .expect("in range")
        && in_shift
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn due_is_a_working_moment_not_before_receipt(r in instant(), s in span()) {
        let cal = shipped();
        let d = cal.due(r, s, None, &[]).expect("due");
        prop_assert!(is_working_moment(cal, d), "{d} is not a working moment");
        prop_assert!(d >= r);
    }

    #[test]
    fn due_is_monotonic_in_duration(r in instant(), n in 0u32..100) {
        let cal = shipped();
        let a = cal.due(r, Span::Days(n), None, &[]).expect("due");
        let b = cal.due(r, Span::Days(n + 1), None, &[]).expect("due");
        prop_assert!(a < b);
        let h = cal.due(r, Span::Hours(n), None, &[]).expect("due");
        prop_assert!(h <= cal.due(r, Span::Hours(n + 1), None, &[]).expect("due"));
    }

    #[test]
    fn due_is_monotonic_in_received(r in instant(), gap in 0i64..1_000_000, s in span()) {
        let cal = shipped();
        let later = r + Duration::seconds(gap);
        prop_assert!(cal.due(r, s, None, &[]).expect("due") <= cal.due(later, s, None, &[]).expect("due"));
    }

    #[test]
    fn due_is_additive(r in instant(), a in 0u32..60, b in 0u32..60) {
        let cal = shipped();
        let once = cal.due(r, Span::Days(a + b), None, &[]).expect("due");
        let first = cal.due(r, Span::Days(a), None, &[]).expect("due");
        prop_assert_eq!(once, cal.due(first, Span::Days(b), None, &[]).expect("due"));
    }

    #[test]
    fn zero_length_pause_changes_nothing(r in instant(), s in span(), off in 0i64..5_000_000) {
        let cal = shipped();
        let at = r + Duration::seconds(off);
        let p = Pause { from: at, to: at };
        prop_assert_eq!(cal.due(r, s, None, &[]).expect("due"), cal.due(r, s, None, &[p]).expect("due"));
    }

    #[test]
    fn pause_extends_by_its_working_time(r in instant(), n in 1u32..60, off in 0i64..200_000, len in 0i64..2_000_000) {
        let cal = shipped();
        let from = r + Duration::seconds(off);
        let p = Pause { from, to: from + Duration::seconds(len) };
        let plain_due = cal.due(r, Span::Days(n), None, &[]).expect("due");
        let paused = cal.due(r, Span::Days(n), None, &[p]).expect("due");
        if p.from < plain_due {
            let inside = cal.working_time_between(p.from.max(r), p.to).expect("in range");
            let span = cal.working_time_between(r, paused).expect("in range");
            let base = cal.working_time_between(r, plain_due).expect("in range");
            prop_assert_eq!(span, base + inside);
        } else {
            prop_assert_eq!(paused, plain_due);
        }
    }

    #[test]
    fn due_on_the_dot_is_on_time_and_a_second_later_is_late(r in instant(), s in span()) {
        let cal = shipped();
        let d = cal.due(r, s, None, &[]).expect("due");
        prop_assert_eq!(cal.classify(d, d).expect("classify"), Outcome::OnTime);
        prop_assert_eq!(cal.classify(d, d + Duration::seconds(1)).expect("classify"), Outcome::Late);
        prop_assert_eq!(cal.classify(d, d - Duration::hours(5)).expect("classify"), Outcome::Early);
    }
}

#[test]
fn before_steps_back_over_nights_and_days_off() {
    let cal = motcua_calendar::standard().unwrap();
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    // One working day before Monday 10:00 is the Friday before, 10:00.
    assert_eq!(
        cal.before(
            at("2025-03-10T10:00:00+07:00"),
            motcua_calendar::Span::Days(1)
        )
        .unwrap(),
        at("2025-03-07T10:00:00+07:00")
    );
    // Four working hours before Tuesday 08:00: one on Tuesday morning, three on Monday afternoon
    // (shifts 07:00-11:30, 13:30-17:00), so Monday 14:00.
    assert_eq!(
        cal.before(
            at("2025-03-11T08:00:00+07:00"),
            motcua_calendar::Span::Hours(4)
        )
        .unwrap(),
        at("2025-03-10T14:00:00+07:00")
    );
    // And it undoes `due`: due(before(t)) = t for a working moment t.
    let t = at("2025-05-06T15:00:00+07:00");
    let b = cal.before(t, motcua_calendar::Span::Days(3)).unwrap();
    assert_eq!(
        cal.due(b, motcua_calendar::Span::Days(3), None, &[])
            .unwrap(),
        t
    );
}

#[test]
fn a_working_moment_is_inside_a_shift_of_a_working_day_and_the_next_one_is_found() {
    let cal = plain();
    for (at, working) in [
        ("2025-03-17T07:00:00+07:00", true), // Monday, the morning shift opens
        ("2025-03-17T11:30:00+07:00", true), // its end, included
        ("2025-03-17T12:00:00+07:00", false), // lunch
        ("2025-03-17T17:00:00+07:00", true),
        ("2025-03-17T17:01:00+07:00", false),
        ("2025-03-15T09:00:00+07:00", false), // Saturday
        ("2025-09-02T09:00:00+07:00", false), // National Day
    ] {
        assert_eq!(cal.is_working_moment(t(at)).unwrap(), working, "{at}");
    }
    for (at, next) in [
        ("2025-03-17T12:00:00+07:00", "2025-03-17T13:30:00+07:00"),
        ("2025-03-14T18:00:00+07:00", "2025-03-17T07:00:00+07:00"),
        ("2025-03-17T09:15:00+07:00", "2025-03-17T09:15:00+07:00"),
    ] {
        assert_eq!(cal.next_working_moment(t(at)).unwrap(), t(next), "{at}");
    }
}
