//! Conversions between protobuf timestamps and chrono, and the Vietnam calendar day.

use crate::text::Invalid;
use chrono::{DateTime, NaiveDate, Utc};

pub fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn from_ts(t: &prost_types::Timestamp, field: &str) -> Result<DateTime<Utc>, Invalid> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
        .ok_or_else(|| {
            Invalid(format!(
                "{field}: thời điểm không hợp lệ (invalid timestamp)"
            ))
        })
}

/// An optional protobuf timestamp as an instant (None when unset or out of range): for readers
/// of events, where an unset time is a fact, not an error.
pub fn instant(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// The calendar day in Vietnam (UTC+7) of an instant.
pub fn vietnam_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&motcua_calendar::vietnam()).date_naive()
}

/// An instant as a letter to a citizen writes it, in Vietnam's time: "14 giờ 00 phút, thứ Hai,
/// ngày 16 tháng 3 năm 2026" (the apology's new return date, a receipt's appointment).
pub fn letter_date_time(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike, Weekday};
    let local = t.with_timezone(&motcua_calendar::vietnam());
    let weekday = match local.weekday() {
        Weekday::Mon => "thứ Hai",
        Weekday::Tue => "thứ Ba",
        Weekday::Wed => "thứ Tư",
        Weekday::Thu => "thứ Năm",
        Weekday::Fri => "thứ Sáu",
        Weekday::Sat => "thứ Bảy",
        Weekday::Sun => "Chủ nhật",
    };
    format!(
        "{} giờ {:02} phút, {weekday}, ngày {} tháng {} năm {}",
        local.hour(),
        local.minute(),
        local.day(),
        local.month(),
        local.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letter_names_the_hour_the_weekday_and_the_date_in_vietnam() {
        // 07:30 UTC is 14:30 in Vietnam, on Monday 16 March 2026.
        let t = DateTime::parse_from_rfc3339("2026-03-16T07:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            letter_date_time(t),
            "14 giờ 30 phút, thứ Hai, ngày 16 tháng 3 năm 2026"
        );
        // 20:00 UTC on Saturday is 03:00 on Sunday in Vietnam.
        let t = DateTime::parse_from_rfc3339("2026-03-14T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(letter_date_time(t).contains("Chủ nhật, ngày 15 tháng 3"));
    }
}
