//! Lunar dates checked against published Vietnamese calendars.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use chrono::NaiveDate;
use motcua_calendar::lunar::{self, LunarDate};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

#[test]
fn tet_dates_match_vietnamese_tables() {
    // Mùng 1 Tết as published in Vietnam.
    for (year, tet) in [
        (1900, "1900-01-31"),
        (1968, "1968-01-29"),
        (1985, "1985-01-21"),
        (2000, "2000-02-05"),
        (2007, "2007-02-17"),
        (2010, "2010-02-14"),
        (2014, "2014-01-31"),
        (2015, "2015-02-19"),
        (2016, "2016-02-08"),
        (2017, "2017-01-28"),
        (2018, "2018-02-16"),
        (2019, "2019-02-05"),
        (2020, "2020-01-25"),
        (2021, "2021-02-12"),
        (2022, "2022-02-01"),
        (2023, "2023-01-22"),
        (2024, "2024-02-10"),
        (2025, "2025-01-29"),
        (2026, "2026-02-17"),
        (2027, "2027-02-06"),
        (2028, "2028-01-26"),
    ] {
        assert_eq!(lunar::tet(year).expect("in range"), d(tet), "Tết {year}");
    }
}

#[test]
fn vietnamese_not_chinese_where_they_differ() {
    // The Chinese calendar (UTC+8) puts these new years one day or one month later.
    for (solar, chinese_tet) in [
        ("1968-01-29", "1968-01-30"),
        ("1985-01-21", "1985-02-20"),
        ("2007-02-17", "2007-02-18"),
    ] {
        let l = lunar::solar_to_lunar(d(solar)).expect("in range");
        assert_eq!(
            (l.month, l.day, l.leap),
            (1, 1, false),
            "{solar} is mùng 1 Tết in Vietnam"
        );
        let there = lunar::solar_to_lunar(d(chinese_tet)).expect("in range");
        assert_ne!(
            (there.month, there.day),
            (1, 1),
            "{chinese_tet} is not Tết in Vietnam"
        );
    }
}

#[test]
fn hung_kings_and_leap_months() {
    for (year, date) in [
        (2019, "2019-04-14"),
        (2020, "2020-04-02"),
        (2021, "2021-04-21"),
        (2022, "2022-04-10"),
        (2023, "2023-04-29"),
        (2024, "2024-04-18"),
        (2025, "2025-04-07"),
    ] {
        let hung = LunarDate {
            year,
            month: 3,
            day: 10,
            leap: false,
        };
        assert_eq!(
            lunar::lunar_to_solar(hung).expect("exists"),
            d(date),
            "10/3 of {year}"
        );
    }
    // (first day of the leap month, lunar year, month)
    for (start, year, month) in [
        ("2012-05-21", 2012, 4),
        ("2017-07-23", 2017, 6),
        ("2020-05-23", 2020, 4),
        ("2023-03-22", 2023, 2),
        ("2025-07-25", 2025, 6),
        ("2033-12-22", 2033, 11),
    ] {
        let leap = LunarDate {
            year,
            month,
            day: 1,
            leap: true,
        };
        assert_eq!(lunar::solar_to_lunar(d(start)).expect("in range"), leap);
        assert_eq!(lunar::lunar_to_solar(leap).expect("exists"), d(start));
    }
    // Mid-autumn (15/8).
    assert_eq!(
        lunar::solar_to_lunar(d("2024-09-17"))
            .expect("ok")
            .to_string(),
        "2024-08-15"
    );
    assert_eq!(
        lunar::solar_to_lunar(d("2023-03-22"))
            .expect("ok")
            .to_string(),
        "2023-02-01 leap"
    );
}

#[test]
fn round_trip_over_the_whole_range() {
    let mut date = d("1900-01-01");
    let end = d("2199-12-31");
    while date <= end {
        let l = lunar::solar_to_lunar(date).expect("in range");
        assert!(
            (1..=30).contains(&l.day) && (1..=12).contains(&l.month),
            "{date}: {l}"
        );
        assert_eq!(
            lunar::lunar_to_solar(l).expect("exists"),
            date,
            "round trip of {date} via {l}"
        );
        date = date + chrono::Days::new(1);
    }
}

#[test]
fn impossible_lunar_dates_are_refused() {
    let no_leap = LunarDate {
        year: 2024,
        month: 3,
        day: 1,
        leap: true,
    };
    assert!(
        lunar::lunar_to_solar(no_leap)
            .unwrap_err()
            .to_string()
            .contains("no leap month 3")
    );
    let bad_month = LunarDate {
        year: 2024,
        month: 13,
        day: 1,
        leap: false,
    };
    assert!(lunar::lunar_to_solar(bad_month).is_err());
    // A 29-day month has no day 30.
    let short = (1..=12)
        .find(|&m| lunar::month_length(2024, m, false).expect("exists") == 29)
        .expect("some month of 2024 has 29 days");
    let err = lunar::lunar_to_solar(LunarDate {
        year: 2024,
        month: short,
        day: 30,
        leap: false,
    });
    assert!(err.unwrap_err().to_string().contains("has 29 days"));
    assert!(lunar::solar_to_lunar(d("1899-12-31")).is_err());
    assert!(lunar::solar_to_lunar(d("2200-01-01")).is_err());
}
