//! Conversions between protobuf timestamps and chrono, and the Vietnam calendar day.

use chrono::{DateTime, NaiveDate, Utc};
use motcua_platform::ServiceError;

pub fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn from_ts(t: &prost_types::Timestamp, field: &str) -> Result<DateTime<Utc>, ServiceError> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
        .ok_or_else(|| {
            ServiceError::InvalidArgument(format!(
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
