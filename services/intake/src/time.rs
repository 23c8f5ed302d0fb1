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
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).ok_or_else(|| {
        ServiceError::InvalidArgument(format!(
            "{field}: thời điểm không hợp lệ (invalid timestamp)"
        ))
    })
}

pub fn invalid(m: impl Into<String>) -> ServiceError {
    ServiceError::InvalidArgument(m.into())
}

pub fn vietnam_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&motcua_calendar::vietnam()).date_naive()
}
