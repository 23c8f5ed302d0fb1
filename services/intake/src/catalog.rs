//! The catalog: the data file's format, and the rules every procedure version must satisfy,
//! whether it comes from the file or from PublishProcedure.

use chrono::{NaiveDate, NaiveTime};
use motcua_calendar::Span;
use motcua_platform::ServiceError;
use motcua_platform::text::quote;
use motcua_proto::common::{
    DocumentForm, Procedure, ProcessStep, ProcessingTime, RequiredDocument, ServiceLevel,
    processing_time::Span as ProtoSpan,
};
use serde::Deserialize;
use std::collections::HashSet;

/// The catalog file (deploy/catalog/*.toml).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default)]
    pub agency: Vec<FileAgency>,
    /// Departments' names as the public reads them (lookup shows them); when any are listed,
    /// every step's department must be one of them.
    #[serde(default)]
    pub department: Vec<FileDepartment>,
    #[serde(default)]
    pub procedure: Vec<FileProcedure>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDepartment {
    pub key: String,
    pub name: String,
}

/// An agency of the catalog: its name and, when they differ from the default, its working hours.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAgency {
    pub code: String,
    pub name: String,
    /// HH:MM-HH:MM,HH:MM-HH:MM
    #[serde(default)]
    pub working_hours: Option<String>,
}

/// The parsed catalog file.
#[derive(Debug, Default)]
pub struct Catalog {
    pub agencies: Vec<FileAgency>,
    pub procedures: Vec<Procedure>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProcedure {
    pub code: String,
    pub name: String,
    pub field: String,
    pub competent_agency: String,
    pub level: String,
    #[serde(default)]
    pub accepts_postal: bool,
    #[serde(default)]
    pub working_days: Option<u32>,
    #[serde(default)]
    pub working_hours: Option<u32>,
    #[serde(default)]
    pub cutoff: Option<String>,
    #[serde(default)]
    pub fee_vnd: i64,
    #[serde(default)]
    pub fee_note: String,
    pub effective_from: String,
    pub legal_basis: String,
    /// Words citizens search by besides the name (optional): lookup's search matches them.
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub documents: Vec<FileDocument>,
    #[serde(default)]
    pub steps: Vec<FileStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDocument {
    pub key: String,
    pub name: String,
    pub form: String,
    #[serde(default = "one")]
    pub copies: u32,
    #[serde(default = "yes")]
    pub mandatory: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStep {
    pub key: String,
    pub name: String,
    pub role: String,
    /// The department that performs the step (phòng chuyên môn), e.g. "van-phong-dang-ky-dat-dai".
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub working_days: Option<u32>,
    #[serde(default)]
    pub working_hours: Option<u32>,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

fn time(days: Option<u32>, hours: Option<u32>, what: &str) -> Result<ProcessingTime, String> {
    let span = match (days, hours) {
        (Some(d), None) => ProtoSpan::WorkingDays(d),
        (None, Some(h)) => ProtoSpan::WorkingHours(h),
        _ => {
            return Err(format!(
                "{what}: give exactly one of working_days or working_hours"
            ));
        }
    };
    Ok(ProcessingTime { span: Some(span) })
}

impl FileProcedure {
    pub fn into_proto(self) -> Result<Procedure, String> {
        let level = match self.level.as_str() {
            "2" => ServiceLevel::ServiceLevel2,
            "3" => ServiceLevel::ServiceLevel3,
            "4" => ServiceLevel::ServiceLevel4,
            "full-online" => ServiceLevel::FullOnline,
            "partial" => ServiceLevel::Partial,
            other => {
                return Err(format!(
                    "{}: level {other:?} is not 2, 3, 4, full-online or partial",
                    self.code
                ));
            }
        };
        let documents = self
            .documents
            .into_iter()
            .map(|d| {
                let form = match d.form.as_str() {
                    "original" => DocumentForm::Original,
                    "certified_copy" => DocumentForm::CertifiedCopy,
                    "copy" => DocumentForm::Copy,
                    other => return Err(format!("{}: document {}: form {other:?} is not original, certified_copy or copy", self.code, d.key)),
                };
                Ok(RequiredDocument { key: d.key, name: d.name, form: form as i32, copies: d.copies, mandatory: d.mandatory })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let steps = self
            .steps
            .into_iter()
            .map(|s| {
                let limit = time(
                    s.working_days,
                    s.working_hours,
                    &format!("{}: step {}", self.code, s.key),
                )?;
                Ok(ProcessStep {
                    key: s.key,
                    name: s.name,
                    role: s.role,
                    limit: Some(limit),
                    department: s.department,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Procedure {
            processing_time: Some(time(self.working_days, self.working_hours, &self.code)?),
            code: self.code,
            version: 0,
            name: self.name,
            field: self.field,
            competent_agency: self.competent_agency,
            level: level as i32,
            accepts_postal: self.accepts_postal,
            cutoff: self.cutoff.unwrap_or_default(),
            documents,
            fee_vnd: self.fee_vnd,
            fee_note: self.fee_note,
            steps,
            effective_from: self.effective_from,
            legal_basis: self.legal_basis,
            published_at: None,
            published_by: String::new(),
            keywords: self.keywords,
        })
    }
}

/// Parses a catalog file's text.
pub fn parse_file(text: &str) -> Result<Catalog, String> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| e.to_string())?;
    for a in &file.agency {
        motcua_domain::agency::check_agency_code(&a.code)?;
        if let Some(hours) = &a.working_hours {
            motcua_calendar::WorkingHours::parse(hours)
                .map_err(|e| format!("agency {}: {e}", a.code))?;
        }
    }
    let procedures: Vec<Procedure> = file
        .procedure
        .into_iter()
        .map(FileProcedure::into_proto)
        .collect::<Result<_, _>>()?;
    if !file.department.is_empty() {
        let known: HashSet<&str> = file.department.iter().map(|d| d.key.as_str()).collect();
        for p in &procedures {
            for step in p.steps.iter().filter(|s| !s.department.is_empty()) {
                if !known.contains(step.department.as_str()) {
                    return Err(format!(
                        "procedure {} step {}: department {} is not among the [[department]] entries",
                        p.code, step.key, step.department
                    ));
                }
            }
        }
    }
    Ok(Catalog {
        agencies: file.agency,
        procedures,
    })
}

pub use motcua_domain::fields::FIELDS;

pub const ROLES: &[&str] = &["desk", "specialist", "leader"];

/// Search keywords a procedure version may carry, and how long each may be (common.proto).
pub const MAX_KEYWORDS: usize = 30;
pub const MAX_KEYWORD_CHARS: usize = 100;

/// The rules a procedure version must satisfy before it is published.
pub fn validate(p: &Procedure) -> Result<(), ServiceError> {
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
    if p.fee_vnd < 0 {
        return bad(format!(
            "{}: lệ phí không được âm (fee_vnd must not be negative)",
            p.code
        ));
    }
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
    Ok(())
}

/// The calendar span of a processing time.
pub fn span(t: Option<&ProcessingTime>) -> Option<Span> {
    match t.and_then(|t| t.span.as_ref())? {
        ProtoSpan::WorkingDays(d) => Some(Span::Days(*d)),
        ProtoSpan::WorkingHours(h) => Some(Span::Hours(*h)),
    }
}

pub use motcua_domain::catalog::accepts_online;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SAMPLE: &str = include_str!("../../../deploy/catalog/tnmt.toml");

    #[test]
    fn the_sample_catalog_parses_and_a_step_of_an_unlisted_department_is_named() {
        let catalog = parse_file(SAMPLE).unwrap();
        assert_eq!(catalog.procedures.len(), 14);
        let typo = SAMPLE.replacen(
            "department = \"van-phong-dang-ky-dat-dai\"",
            "department = \"van-phong-dang-ky\"",
            1,
        );
        let e = parse_file(&typo).unwrap_err();
        assert!(
            e.contains("van-phong-dang-ky ") && e.contains("[[department]]"),
            "{e}"
        );
    }

    #[test]
    fn keywords_are_optional_and_bounded() {
        let with = SAMPLE.replacen(
            "fee_vnd = 0",
            "keywords = [\"sổ đỏ\", \"sang tên\"]\nfee_vnd = 0",
            1,
        );
        let catalog = parse_file(&with).unwrap();
        assert_eq!(catalog.procedures[0].keywords, ["sổ đỏ", "sang tên"]);
        assert!(
            parse_file(SAMPLE).unwrap().procedures[1]
                .keywords
                .is_empty()
        );
        let mut p = catalog.procedures[0].clone();
        validate(&p).unwrap();
        for bad in [
            vec![" ".to_owned()],
            vec!["a\nb".to_owned()],
            vec!["x".repeat(MAX_KEYWORD_CHARS + 1)],
            vec!["x".to_owned(); MAX_KEYWORDS + 1],
        ] {
            p.keywords = bad;
            let e = validate(&p).unwrap_err().to_string();
            assert!(e.contains("keywords"), "{e}");
        }
    }
}
