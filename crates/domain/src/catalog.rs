//! Words of the catalog (DESIGN.md §2 "Levels and channels"): which channels a level allows, and
//! how levels, document forms and processing times read in Vietnamese.

use motcua_proto::common::processing_time::Span;
use motcua_proto::common::{DocumentForm, ProcessingTime, ServiceLevel};

/// Whether a procedure at this level may be submitted online.
pub fn accepts_online(level: i32) -> bool {
    matches!(
        ServiceLevel::try_from(level),
        Ok(ServiceLevel::ServiceLevel3
            | ServiceLevel::ServiceLevel4
            | ServiceLevel::FullOnline
            | ServiceLevel::Partial)
    )
}

pub fn level_name(level: i32) -> &'static str {
    match ServiceLevel::try_from(level) {
        Ok(ServiceLevel::ServiceLevel2) => "Mức độ 2",
        Ok(ServiceLevel::ServiceLevel3) => "Mức độ 3",
        Ok(ServiceLevel::ServiceLevel4) => "Mức độ 4",
        Ok(ServiceLevel::FullOnline) => "Dịch vụ công trực tuyến toàn trình",
        Ok(ServiceLevel::Partial) => "Dịch vụ công trực tuyến một phần",
        _ => "",
    }
}

pub fn form_name(form: i32) -> &'static str {
    match DocumentForm::try_from(form) {
        Ok(DocumentForm::Original) => "Bản chính",
        Ok(DocumentForm::CertifiedCopy) => "Bản sao có chứng thực",
        Ok(DocumentForm::Copy) => "Bản sao",
        _ => "",
    }
}

/// "8 ngày làm việc", "4 giờ làm việc".
pub fn processing_time_text(t: Option<&ProcessingTime>) -> String {
    match t.and_then(|t| t.span.as_ref()) {
        Some(Span::WorkingDays(d)) => format!("{d} ngày làm việc"),
        Some(Span::WorkingHours(h)) => format!("{h} giờ làm việc"),
        None => String::new(),
    }
}
