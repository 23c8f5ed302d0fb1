//! How times, money and procedures read on the page and in the JSON: Vietnam time (UTC+7),
//! dd/mm/yyyy, đồng with dots between thousands.

use motcua_domain::time::instant;
use motcua_proto::common::{Channel, Procedure};

/// "14:30 ngày 05/03/2026" (empty when unset).
pub fn date_time(t: Option<&prost_types::Timestamp>) -> String {
    instant(t)
        .map(|t| {
            t.with_timezone(&motcua_calendar::vietnam())
                .format("%H:%M ngày %d/%m/%Y")
                .to_string()
        })
        .unwrap_or_default()
}

/// RFC 3339 in Vietnam time, for JSON: "2026-03-05T14:30:00+07:00" (None when unset).
pub fn rfc3339(t: Option<&prost_types::Timestamp>) -> Option<String> {
    instant(t).map(|t| {
        t.with_timezone(&motcua_calendar::vietnam())
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    })
}

/// "1.250.000 đồng"; "Miễn phí" for 0.
pub fn money(vnd: i64) -> String {
    if vnd == 0 {
        return "Miễn phí".into();
    }
    motcua_domain::text::dong(vnd)
}

/// The channels a procedure version takes, in words.
pub fn channels(p: &Procedure) -> Vec<&'static str> {
    let mut c = vec!["Trực tiếp tại Bộ phận một cửa"];
    if motcua_domain::catalog::accepts_online(p.level) {
        c.push("Trực tuyến");
    }
    if p.accepts_postal {
        c.push("Qua dịch vụ bưu chính công ích");
    }
    c
}

/// "8 ngày làm việc".
pub fn processing_time_text_of(p: &Procedure) -> String {
    motcua_domain::catalog::processing_time_text(p.processing_time.as_ref())
}

pub fn channel_name(channel: i32) -> &'static str {
    match Channel::try_from(channel) {
        Ok(Channel::Counter) => "Trực tiếp",
        Ok(Channel::Online) => "Trực tuyến",
        Ok(Channel::Postal) => "Bưu chính công ích",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_times_read_the_vietnamese_way() {
        assert_eq!(money(0), "Miễn phí");
        assert_eq!(money(500), "500 đồng");
        assert_eq!(money(1_250_000), "1.250.000 đồng");
        let t = prost_types::Timestamp {
            seconds: 1_772_695_800, // 2026-03-05 07:30 UTC
            nanos: 0,
        };
        assert_eq!(date_time(Some(&t)), "14:30 ngày 05/03/2026");
        assert_eq!(rfc3339(Some(&t)).unwrap(), "2026-03-05T14:30:00+07:00");
        assert_eq!(date_time(None), "");
    }
}
