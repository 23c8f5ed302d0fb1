//! A procedure's sources in the catalog file (`[[procedure.source]]`): where its values were read,
//! checked and written into the published legal basis.

use super::UNKNOWN;
use serde::Deserialize;

/// Where a procedure's values were read: the decision that published it and the page read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSource {
    /// Number of the decision (quyết định công bố), e.g. "2228/QĐ-UBND"; or "unknown".
    decision: String,
    /// Its date: YYYY-MM-DD, YYYY-MM or YYYY; or "unknown".
    date: String,
    /// Who issued it, e.g. "UBND tỉnh Đồng Nai"; or "unknown".
    issuer: String,
    /// The page or document it was read from (an address, or the document's name).
    page: String,
    /// What this source gave (thời hạn, phí, hồ sơ …), for whoever checks it again.
    gave: String,
}

fn date_or_unknown(text: &str) -> bool {
    use chrono::NaiveDate;
    let parses = |t: &str| NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok();
    text == UNKNOWN
        || parses(text)
        || parses(&format!("{text}-01"))
        || parses(&format!("{text}-01-01"))
}

/// Checks each source and returns how the legal basis cites it; an error is (Vietnamese, English),
/// the caller names the procedure.
pub(super) fn cite(sources: &[FileSource]) -> Result<Vec<String>, (String, String)> {
    let e = |vi: String, en: String| (vi, en);
    let mut cited = Vec::new();
    if sources.is_empty() {
        return Err(e(
            "thiếu nguồn: mỗi thủ tục cần ít nhất một [[procedure.source]] (quyết định công bố, ngày, cơ quan ban hành, trang đã đọc)".into(),
            "no citation: every procedure needs a [[procedure.source]] (decision, date, issuer, page read)".into(),
        ));
    }
    for (i, s) in sources.iter().enumerate() {
        let n = i + 1;
        for (key, value) in [
            ("decision", &s.decision),
            ("issuer", &s.issuer),
            ("date", &s.date),
        ] {
            if value.trim().is_empty() {
                return Err(e(
                    format!("nguồn {n}: {key} trống; ghi giá trị hoặc \"unknown\""),
                    format!("source {n}: {key} is empty; give it or write \"unknown\""),
                ));
            }
        }
        if !date_or_unknown(&s.date) {
            return Err(e(
                format!(
                    "nguồn {n}: date {:?} phải có dạng YYYY-MM-DD, YYYY-MM, YYYY hoặc \"unknown\"",
                    s.date
                ),
                format!(
                    "source {n}: date {:?} is not YYYY-MM-DD, YYYY-MM, YYYY or \"unknown\"",
                    s.date
                ),
            ));
        }
        if s.gave.trim().is_empty() {
            return Err(e(
                format!(
                    "nguồn {n}: thiếu gave (nguồn này cho giá trị nào: thời hạn, phí, hồ sơ …)"
                ),
                format!("source {n}: gave (which values this source gave) is required"),
            ));
        }
        if s.page.trim().is_empty() || s.page == UNKNOWN {
            return Err(e(
                format!("nguồn {n}: thiếu page (địa chỉ hoặc tên tài liệu đã đọc)"),
                format!("source {n}: page (the address or document read) is required"),
            ));
        }
        cited.push(format!(
            "{} ({}, {}), {}",
            if s.decision == UNKNOWN {
                "quyết định công bố: chưa rõ"
            } else {
                &s.decision
            },
            if s.issuer == UNKNOWN {
                "cơ quan ban hành: chưa rõ"
            } else {
                &s.issuer
            },
            if s.date == UNKNOWN {
                "ngày: chưa rõ"
            } else {
                &s.date
            },
            s.page
        ));
    }
    Ok(cited)
}
