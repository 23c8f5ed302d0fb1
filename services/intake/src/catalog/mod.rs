//! The catalog: the rules every procedure version must satisfy, whether it comes from the catalog
//! file ([`file`], its citations in `sources`) or from PublishProcedure.

pub mod file;
mod sources;

pub use file::{Catalog, FileAgency, FileDepartment, parse_file};

/// The word the catalog file uses for a value no source gave.
pub const UNKNOWN: &str = "unknown";

use chrono::{NaiveDate, NaiveTime};
use motcua_calendar::Span;
use motcua_platform::ServiceError;
use motcua_platform::text::quote;
use motcua_proto::common::{
    DocumentForm, FeeStatus, Procedure, ProcessingTime, ServiceLevel,
    processing_time::Span as ProtoSpan,
};
use std::collections::HashSet;

pub use motcua_domain::fields::FIELDS;

pub const ROLES: &[&str] = &["desk", "specialist", "leader"];

/// A working day of the default hours (07:00-11:30, 13:30-17:00), in seconds: the catalog file
/// counts a step's working days and hours against its procedure's time with it unless the
/// competent agency's `[[agency]]` entry sets its own hours.
pub const DEFAULT_DAY_SECONDS: u32 = 8 * 3600;

/// Search keywords a procedure version may carry, and how long each may be (common.proto).
pub const MAX_KEYWORDS: usize = 30;
pub const MAX_KEYWORD_CHARS: usize = 100;

/// The rules a procedure version must satisfy before it is published. `day_seconds` is the length
/// of the competent agency's working day, which turns working days into hours when the steps'
/// limits are added up.
pub fn validate(p: &Procedure, day_seconds: u32) -> Result<(), ServiceError> {
    let bad = |m: String| Err(ServiceError::InvalidArgument(m));
    if p.code.is_empty()
        || p.code.len() > 64
        || !p
            .code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return bad(format!(
            "mã thủ tục {} không hợp lệ: dùng chữ, số, '.', '-' (procedure code: letters, digits, '.', '-')",
            quote(&p.code)
        ));
    }
    if p.name.trim().is_empty() {
        return bad(format!("{}: thiếu tên thủ tục (name is required)", p.code));
    }
    if !FIELDS.contains(&p.field.as_str()) {
        return bad(format!(
            "{}: lĩnh vực {} không có trong danh mục; dùng một trong {} (unknown field)",
            p.code,
            quote(&p.field),
            FIELDS.join(", ")
        ));
    }
    motcua_domain::agency::check_agency_code(&p.competent_agency)
        .map_err(|m| ServiceError::InvalidArgument(format!("{}: competent_agency: {m}", p.code)))?;
    if ServiceLevel::try_from(p.level).map_or(true, |l| l == ServiceLevel::Unspecified) {
        return bad(format!(
            "{}: thiếu mức độ dịch vụ (level is required)",
            p.code
        ));
    }
    if span(p.processing_time.as_ref()).is_none() {
        return bad(format!(
            "{}: thiếu thời hạn giải quyết (processing_time is required)",
            p.code
        ));
    }
    if !p.cutoff.is_empty() && NaiveTime::parse_from_str(&p.cutoff, "%H:%M").is_err() {
        return bad(format!(
            "{}: cutoff {} phải có dạng HH:MM (cutoff must be HH:MM)",
            p.code,
            quote(&p.cutoff)
        ));
    }
    if NaiveDate::parse_from_str(&p.effective_from, "%Y-%m-%d").is_err() {
        return bad(format!(
            "{}: effective_from {} phải có dạng YYYY-MM-DD",
            p.code,
            quote(&p.effective_from)
        ));
    }
    check_fee(p).map_err(ServiceError::InvalidArgument)?;
    if p.keywords.len() > MAX_KEYWORDS {
        return bad(format!(
            "{}: keywords: tối đa {MAX_KEYWORDS} từ khóa, có {} (at most {MAX_KEYWORDS} keywords)",
            p.code,
            p.keywords.len()
        ));
    }
    for k in &p.keywords {
        if k.trim().is_empty()
            || k.chars().count() > MAX_KEYWORD_CHARS
            || k.contains(char::is_control)
        {
            return bad(format!(
                "{}: keywords: từ khóa {} phải có chữ, một dòng, tối đa {MAX_KEYWORD_CHARS} ký tự (a keyword is one non-empty line of at most {MAX_KEYWORD_CHARS} characters)",
                p.code,
                quote(k)
            ));
        }
    }
    let mut keys = HashSet::new();
    for d in &p.documents {
        if d.key.is_empty() || !keys.insert(d.key.as_str()) {
            return bad(format!(
                "{}: giấy tờ {}: khóa trống hoặc trùng (document keys must be unique and non-empty)",
                p.code,
                quote(&d.key)
            ));
        }
        if DocumentForm::try_from(d.form).map_or(true, |f| f == DocumentForm::Unspecified) {
            return bad(format!(
                "{}: giấy tờ {}: thiếu hình thức (form is required)",
                p.code, d.key
            ));
        }
    }
    for s in &p.steps {
        if !ROLES.contains(&s.role.as_str()) {
            return bad(format!(
                "{}: bước {}: vai trò {} phải là desk, specialist hoặc leader",
                p.code,
                s.key,
                quote(&s.role)
            ));
        }
        if !s.department.is_empty()
            && (s.department.len() > 64
                || !s
                    .department
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return bad(format!(
                "{}: bước {}: phòng {} chỉ gồm chữ thường không dấu, số và '-' (department: lowercase letters, digits, '-')",
                p.code,
                s.key,
                quote(&s.department)
            ));
        }
        if span(s.limit.as_ref()).is_none() {
            return bad(format!(
                "{}: bước {}: thiếu thời hạn (limit is required)",
                p.code, s.key
            ));
        }
    }
    check_steps_add_up(p, day_seconds).map_err(ServiceError::InvalidArgument)
}

/// The fee agrees with what its status says: an amount only when the source sets one.
fn check_fee(p: &Procedure) -> Result<(), String> {
    if p.fee_vnd < 0 {
        return Err(format!(
            "{}: lệ phí không được âm (fee_vnd must not be negative)",
            p.code
        ));
    }
    let status = FeeStatus::try_from(p.fee_status).map_err(|_| {
        format!(
            "{}: fee_status {} không hợp lệ (unknown fee_status)",
            p.code, p.fee_status
        )
    })?;
    match status {
        FeeStatus::Fixed if p.fee_vnd == 0 => Err(format!(
            "{}: phí, lệ phí một mức cần số tiền lớn hơn 0 (fee_status FIXED needs fee_vnd > 0)",
            p.code
        )),
        FeeStatus::None | FeeStatus::Schedule | FeeStatus::Unknown if p.fee_vnd != 0 => {
            Err(format!(
                "{}: chỉ ghi số tiền khi phí, lệ phí là một mức (fee_vnd is only for fee_status FIXED)",
                p.code
            ))
        }
        FeeStatus::Schedule if p.fee_note.trim().is_empty() => Err(format!(
            "{}: phí, lệ phí theo biểu cần fee_note trích văn bản quy định biểu đó (fee_status SCHEDULE needs fee_note)",
            p.code
        )),
        _ => Ok(()),
    }
}

/// The steps' limits add up to the procedure's processing time (a procedure without steps runs as
/// one step of the whole time, see workflow).
pub fn check_steps_add_up(p: &Procedure, day_seconds: u32) -> Result<(), String> {
    if p.steps.is_empty() {
        return Ok(());
    }
    let seconds = |s: Span| match s {
        Span::Days(d) => u64::from(d) * u64::from(day_seconds),
        Span::Hours(h) => u64::from(h) * 3600,
    };
    let Some(total) = span(p.processing_time.as_ref()).map(seconds) else {
        return Ok(()); // reported as a missing processing time
    };
    let steps: u64 = p
        .steps
        .iter()
        .filter_map(|s| span(s.limit.as_ref()))
        .map(seconds)
        .sum();
    if steps == total {
        return Ok(());
    }
    let hours = |s: u64| s as f64 / 3600.0;
    Err(format!(
        "thủ tục {}: các bước ({}) cộng lại {} giờ làm việc, khác thời hạn giải quyết {} = {} giờ làm việc (một ngày làm việc tính {} giờ); sửa thời hạn của các bước hoặc của thủ tục (procedure {}: steps add up to {} working hours, not the {} hours of its processing time)",
        p.code,
        p.steps
            .iter()
            .map(|s| s.key.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        hours(steps),
        motcua_domain::catalog::processing_time_text(p.processing_time.as_ref()),
        hours(total),
        hours(u64::from(day_seconds)),
        p.code,
        hours(steps),
        hours(total),
    ))
}

/// The calendar span of a processing time.
pub fn span(t: Option<&ProcessingTime>) -> Option<Span> {
    match t.and_then(|t| t.span.as_ref())? {
        ProtoSpan::WorkingDays(d) => Some(Span::Days(*d)),
        ProtoSpan::WorkingHours(h) => Some(Span::Hours(*h)),
    }
}

pub use motcua_domain::catalog::accepts_online;
