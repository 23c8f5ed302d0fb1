//! Days off: statutory defaults, weekend compensation and the shipped overrides.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use chrono::NaiveDate;
use motcua_calendar::{DayTable, Overrides};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

fn off(table: &DayTable, year: i32) -> Vec<String> {
    table
        .year(year)
        .expect("in range")
        .days_off
        .keys()
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn defaults_with_weekend_compensation() {
    let table = DayTable::new(&Overrides::none()).expect("table");
    // 2022: 1/1 is a Saturday → Monday 3/1 off; 30/4 Sat → Tue 3/5 (Mon 2/5 follows 1/5 Sun → 2/5).
    assert_eq!(
        off(&table, 2022),
        [
            "2022-01-01",
            "2022-01-03",
            "2022-01-31",
            "2022-02-01",
            "2022-02-02",
            "2022-02-03",
            "2022-02-04",
            "2022-04-10",
            "2022-04-11",
            "2022-04-30",
            "2022-05-01",
            "2022-05-02",
            "2022-05-03",
            "2022-09-01",
            "2022-09-02"
        ]
    );
    // Tết 2025 without the notice: 28/1–1/2, Saturday 1/2 compensated on Monday 3/2.
    let y = table.year(2025).expect("in range");
    assert!(y.days_off[&d("2025-02-03")].starts_with("Nghỉ bù"));
    assert!(!table.is_working_day(d("2025-02-03")).expect("in range"));
    assert!(table.is_working_day(d("2025-01-27")).expect("in range"));
}

#[test]
fn shipped_overrides_follow_the_notices() {
    let table = DayTable::new(&Overrides::shipped().expect("shipped file parses")).expect("table");
    // Tết 2025: off Monday 27/1 to Friday 31/1; Monday 3/2 is a working day.
    for day in ["2025-01-27", "2025-01-28", "2025-01-31"] {
        assert!(
            !table.is_working_day(d(day)).expect("in range"),
            "{day} is off"
        );
    }
    assert!(table.is_working_day(d("2025-02-03")).expect("in range"));
    // Tết 2024: 8/2 (Thu) to 14/2 (Wed); 15/2 works.
    assert!(!table.is_working_day(d("2024-02-08")).expect("in range"));
    assert!(!table.is_working_day(d("2024-02-14")).expect("in range"));
    assert!(table.is_working_day(d("2024-02-15")).expect("in range"));
    // Tết 2026 equals the defaults: Monday 16/2 to Friday 20/2.
    assert!(!table.is_working_day(d("2026-02-16")).expect("in range"));
    assert!(table.is_working_day(d("2026-02-23")).expect("in range"));
}

#[test]
fn tet_in_late_january_crosses_into_the_new_solar_year_cleanly() {
    // Tết 2023 (22/1, a Sunday): the last lunar day 21/1 is a Saturday; both weekend holidays are
    // compensated after mùng 4, on Thursday 26/1 and Friday 27/1.
    let table = DayTable::new(&Overrides::none()).expect("table");
    let y = table.year(2023).expect("in range");
    for day in [
        "2023-01-21",
        "2023-01-22",
        "2023-01-23",
        "2023-01-25",
        "2023-01-26",
        "2023-01-27",
    ] {
        assert!(y.days_off.contains_key(&d(day)), "{day} is off by default");
    }
    assert!(table.is_working_day(d("2023-01-30")).expect("in range"));
}

#[test]
fn make_up_saturday_is_a_working_day() {
    let text = r#"
        [[day_off]]
        date = "2024-04-29"
        reason = "Nghỉ hoán đổi"
        source = "test"
        [[workday]]
        date = "2024-05-04"
        source = "test"
    "#;
    let table = DayTable::new(&Overrides::parse(text).expect("valid")).expect("table");
    assert!(!table.is_working_day(d("2024-04-29")).expect("in range"));
    assert!(table.is_working_day(d("2024-05-04")).expect("in range"));
    assert!(
        table
            .year(2024)
            .expect("in range")
            .workdays
            .contains(&d("2024-05-04"))
    );
}

#[test]
fn bad_overrides_are_refused_with_the_entry_named() {
    let cases = [
        (
            "[[day_off]]\ndate = \"2024-02-30\"\nreason = \"x\"\nsource = \"s\"",
            "day_off[0].date",
        ),
        (
            "[[day_off]]\ndate = \"2024-02-08\"\nreason = \"x\"\nsource = \"s\"\ncolour = 1",
            "colour",
        ),
        ("[[holiday]]\ndate = \"2024-02-08\"", "holiday"),
        (
            "[[workday]]\ndate = \"2024-05-06\"\nsource = \"s\"",
            "already a working day",
        ),
        (
            "[[day_off]]\ndate = \"2024-02-08\"\nreason = \"x\"\nsource = \"\"",
            "empty source",
        ),
        (
            "[[day_off]]\ndate = \"2024-02-08\"\nreason = \"x\"\nsource = \"s\"\n[[remove]]\ndate = \"2024-02-08\"\nsource = \"s\"",
            "listed twice",
        ),
    ];
    for (text, expected) in cases {
        let err = Overrides::parse(text).expect_err(text).to_string();
        assert!(
            err.contains(expected),
            "{err:?} should mention {expected:?}"
        );
    }
    // Removing a day that is not off is caught when the table is built.
    let nothing =
        Overrides::parse("[[remove]]\ndate = \"2024-03-05\"\nsource = \"s\"").expect("parses");
    let err = DayTable::new(&nothing)
        .expect_err("nothing to remove")
        .to_string();
    assert!(err.contains("not a default day off"), "{err}");
}
