//! How times, money and procedures read on the page and in the JSON: Vietnam time (UTC+7),
//! dd/mm/yyyy, đồng with dots between thousands.

use motcua_domain::time::instant;
use motcua_proto::common::{Channel, FeeStatus, Procedure};

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

/// "1.250.000 đồng".
pub fn money(vnd: i64) -> String {
    motcua_domain::text::dong(vnd)
}

/// Fee notes that say the procedure is free and nothing else (folded: no marks, lower case).
const FREE_NOTES: &[&str] = &[
    "mien phi",
    "mien le phi",
    "mien phi le phi",
    "khong thu phi",
    "khong thu le phi",
    "khong thu phi le phi",
    "khong",
];

/// Whether a procedure costs nothing: no amount, and either no fee note or one that says it is
/// free and nothing more. A note such as "Lệ phí theo Nghị quyết của HĐND tỉnh" beside a 0 means
/// the amount is set elsewhere (a provincial resolution), not that there is none.
///
/// A version that says what its source gives of the fee (`fee_status`) is read by it: free only
/// when the source says there is no fee; an unknown fee is never shown as free.
pub fn is_free(p: &Procedure) -> bool {
    match FeeStatus::try_from(p.fee_status).unwrap_or(FeeStatus::Unspecified) {
        FeeStatus::None => true,
        FeeStatus::Fixed | FeeStatus::Schedule | FeeStatus::Unknown => false,
        FeeStatus::Unspecified => {
            p.fee_vnd == 0 && {
                let note = motcua_domain::text::fold(&p.fee_note);
                note.is_empty() || FREE_NOTES.contains(&note.as_str())
            }
        }
    }
}

/// The fee as the catalog gives it: the amount when there is one, then the note as written;
/// "Miễn phí" only for a free procedure, "Chưa có thông tin" for one whose fee no source gave.
pub fn fee_text(p: &Procedure) -> String {
    let note = p.fee_note.trim();
    match (p.fee_vnd, note.is_empty()) {
        (0, true) if is_free(p) => "Miễn phí".into(),
        (0, true) => "Chưa có thông tin về phí, lệ phí".into(),
        (0, false) => note.to_owned(),
        (vnd, true) => money(vnd),
        (vnd, false) => format!("{}. {note}", money(vnd)),
    }
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

    #[test]
    fn free_only_when_nothing_says_otherwise() {
        let p = |fee_vnd: i64, fee_note: &str| Procedure {
            fee_vnd,
            fee_note: fee_note.into(),
            ..Default::default()
        };
        for (fee, note, free) in [
            (0, "", true),
            (0, "Không thu phí", true),
            (0, "Miễn phí.", true),
            (0, "Lệ phí theo Nghị quyết của HĐND tỉnh", false),
            (
                0,
                "Miễn lệ phí cho hộ nghèo; hộ khác theo Nghị quyết",
                false,
            ),
            (0, "Phí thẩm định theo quy định của Bộ Tài chính", false),
            (150_000, "", false),
        ] {
            assert_eq!(is_free(&p(fee, note)), free, "{fee} {note:?}");
        }
        assert_eq!(fee_text(&p(0, "")), "Miễn phí");
        assert_eq!(
            fee_text(&p(0, " Lệ phí theo Nghị quyết ")),
            "Lệ phí theo Nghị quyết"
        );
        assert_eq!(fee_text(&p(25_000, "")), "25.000 đồng");
        // What the source said, when the version says it.
        let status = |fee_status: FeeStatus, fee_note: &str| Procedure {
            fee_status: fee_status as i32,
            fee_note: fee_note.into(),
            ..Default::default()
        };
        assert!(is_free(&status(FeeStatus::None, "")));
        assert!(!is_free(&status(FeeStatus::Unknown, "")));
        assert_eq!(
            fee_text(&status(FeeStatus::Unknown, "")),
            "Chưa có thông tin về phí, lệ phí"
        );
        assert_eq!(
            fee_text(&status(FeeStatus::Unknown, "Chưa có nguồn về phí, lệ phí.")),
            "Chưa có nguồn về phí, lệ phí."
        );
        assert!(!is_free(&status(
            FeeStatus::Schedule,
            "Theo Nghị quyết 289"
        )));
        assert_eq!(fee_text(&status(FeeStatus::None, "")), "Miễn phí");
        assert_eq!(
            fee_text(&status(FeeStatus::Schedule, "")),
            "Chưa có thông tin về phí, lệ phí"
        );
    }
}
