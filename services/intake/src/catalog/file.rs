//! The catalog file (deploy/catalog/*.toml): its format, what "unknown" means in it, and the checks
//! that refuse a file naming the procedure and the key to fix (README "Catalog").
//!
//! Every value the file gives is sourced: each procedure names the pages it was read from
//! (`[[procedure.source]]`). A value no source gave is written `"unknown"`, never guessed, and the
//! loader treats it so nothing reads it as a fact: an unknown fee is `FEE_STATUS_UNKNOWN` (not
//! free), an unknown level accepts no online submission, an unknown postal acceptance accepts none,
//! unknown documents list none; each unknown is named in the published legal basis. The processing
//! time is the one value that must be sourced: a procedure without a sourced time is left out of the
//! file, since no due date can be counted without it.

use super::sources;
use super::{DEFAULT_DAY_SECONDS, UNKNOWN, validate};
use motcua_proto::common::{
    DocumentForm, FeeStatus, Procedure, ProcessStep, ProcessingTime, RequiredDocument,
    ServiceLevel, processing_time::Span as ProtoSpan,
};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The most characters PublishProcedure allows in a text field (rules::TEXT_RULES): the file is held
/// to the same, so whatever it publishes could have been published through the API.
fn max_chars(field: &str) -> usize {
    let rules = &crate::bounds::TEXT_RULES;
    rules
        .limits
        .iter()
        .find(|(name, _)| *name == field)
        .map_or(rules.default_max_chars, |(_, n)| *n)
}

/// `value`, the file's `key` published as `field`, fits what PublishProcedure allows.
fn fits(code: &str, key: &str, value: &str, field: &str) -> Result<(), String> {
    let max = max_chars(field);
    if value.chars().count() <= max {
        return Ok(());
    }
    Err(err(
        code,
        format!("{key} dài quá {max} ký tự; rút gọn"),
        format!("{key} is over {max} characters"),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    agency: Vec<FileAgency>,
    /// Departments' names as the public reads them (lookup shows them); when any are listed,
    /// every step's department must be one of them.
    #[serde(default)]
    department: Vec<FileDepartment>,
    #[serde(default)]
    procedure: Vec<FileProcedure>,
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

/// Keys that may say `"unknown"` are read as TOML values, so a wrong one is named here rather than
/// in serde's words.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProcedure {
    code: String,
    /// Required when `code` is a local code: the national code, or "unknown".
    #[serde(default)]
    national_code: Option<String>,
    name: String,
    field: String,
    competent_agency: String,
    level: Option<String>,
    accepts_postal: Option<toml::Value>,
    #[serde(default)]
    working_days: Option<u32>,
    #[serde(default)]
    working_hours: Option<u32>,
    #[serde(default)]
    cutoff: Option<String>,
    fee: Option<toml::Value>,
    #[serde(default)]
    fee_note: String,
    effective_from: String,
    legal_basis: String,
    /// Words citizens search by besides the name (optional): lookup's search matches them.
    #[serde(default)]
    keywords: Vec<String>,
    documents: Option<toml::Value>,
    /// The department of the specialist step when the file gives no steps and the default split
    /// is used; "unknown" leaves that step to any specialist of the agency.
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    steps: Vec<FileStep>,
    #[serde(default)]
    source: Vec<sources::FileSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDocument {
    key: String,
    name: String,
    form: String,
    #[serde(default = "one")]
    copies: u32,
    #[serde(default = "yes")]
    mandatory: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStep {
    key: String,
    name: String,
    role: String,
    /// The department that performs the step (phòng chuyên môn), e.g. "van-phong-dang-ky-dat-dai".
    #[serde(default)]
    department: String,
    #[serde(default)]
    working_days: Option<u32>,
    #[serde(default)]
    working_hours: Option<u32>,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

/// "thủ tục X: <vi> (procedure X: <en>)".
fn err(code: &str, vi: impl std::fmt::Display, en: impl std::fmt::Display) -> String {
    format!("thủ tục {code}: {vi} (procedure {code}: {en})")
}

fn time(days: Option<u32>, hours: Option<u32>) -> Option<ProcessingTime> {
    let span = match (days, hours) {
        (Some(d), None) => ProtoSpan::WorkingDays(d),
        (None, Some(h)) => ProtoSpan::WorkingHours(h),
        _ => return None,
    };
    Some(ProcessingTime { span: Some(span) })
}

/// A national procedure code: "1.013831", "2.001938".
pub fn is_national_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 8
        && matches!(b[0], b'1' | b'2')
        && b[1] == b'.'
        && b[2..].iter().all(u8::is_ascii_digit)
}

/// The default split of a time into the four steps every procedure of the sample runs (receive,
/// appraise, approve, return), used when the file gives no steps: 4 h at the desk, 8 h for the
/// leader, 4 h to return and the rest to the specialist; under 3 working days, 1 h each and the rest
/// to the specialist. A source's own split, when it gives one, is written as `[[procedure.steps]]`.
fn default_steps(total_hours: u64, department: &str) -> Option<Vec<ProcessStep>> {
    let (desk, leader) = if total_hours >= 24 {
        (4, 8)
    } else if total_hours >= 4 {
        (1, 1)
    } else {
        return None;
    };
    let step = |key: &str, name: &str, role: &str, dept: &str, hours: u64| ProcessStep {
        key: key.into(),
        name: name.into(),
        role: role.into(),
        limit: Some(ProcessingTime {
            span: Some(ProtoSpan::WorkingHours(hours as u32)),
        }),
        department: dept.into(),
    };
    Some(vec![
        step(
            "tiep-nhan",
            "Tiếp nhận và chuyển hồ sơ",
            "desk",
            "bo-phan-mot-cua",
            desk,
        ),
        step(
            "tham-dinh",
            "Thẩm định, xử lý hồ sơ",
            "specialist",
            department,
            total_hours - 2 * desk - leader,
        ),
        step(
            "phe-duyet",
            "Lãnh đạo xem xét, ký duyệt",
            "leader",
            "ban-giam-doc",
            leader,
        ),
        step(
            "tra-ket-qua",
            "Trả kết quả",
            "desk",
            "bo-phan-mot-cua",
            desk,
        ),
    ])
}

impl FileProcedure {
    fn into_proto(self, day_seconds: u32) -> Result<Procedure, String> {
        let code = self.code.clone();
        let e = |vi: String, en: String| err(&code, vi, en);
        let mut unknown: Vec<&str> = Vec::new();

        match (&self.national_code, is_national_code(&self.code)) {
            (Some(_), true) => {
                return Err(e(
                    "mã đã là mã quốc gia, bỏ national_code".into(),
                    "code is already a national code; drop national_code".into(),
                ));
            }
            (None, false) => {
                return Err(e(
                    "mã địa phương cần national_code (mã quốc gia hoặc \"unknown\")".into(),
                    "a local code needs national_code: the national code or \"unknown\"".into(),
                ));
            }
            (Some(n), false) if n == UNKNOWN => unknown.push("mã thủ tục quốc gia"),
            (Some(n), false) if !is_national_code(n) => {
                return Err(e(
                    format!("national_code {n:?} không có dạng 1.012345"),
                    format!("national_code {n:?} is not of the form 1.012345"),
                ));
            }
            _ => {}
        }

        let level = match self.level.as_deref() {
            Some("2") => ServiceLevel::ServiceLevel2,
            Some("3") => ServiceLevel::ServiceLevel3,
            Some("4") => ServiceLevel::ServiceLevel4,
            Some("full-online") => ServiceLevel::FullOnline,
            Some("partial") => ServiceLevel::Partial,
            // Not sourced: taken at the desk and by post only, never online.
            Some(UNKNOWN) => {
                unknown.push("mức độ dịch vụ (chỉ nhận trực tiếp)");
                ServiceLevel::ServiceLevel2
            }
            other => {
                return Err(e(
                    format!(
                        "level {other:?} phải là 2, 3, 4, full-online, partial hoặc \"unknown\""
                    ),
                    format!("level {other:?} is not 2, 3, 4, full-online, partial or \"unknown\""),
                ));
            }
        };

        let accepts_postal = match &self.accepts_postal {
            Some(toml::Value::Boolean(b)) => *b,
            Some(toml::Value::String(s)) if s == UNKNOWN => {
                unknown.push("nhận qua bưu chính (không nhận)");
                false
            }
            other => {
                return Err(e(
                    format!("accepts_postal {other:?} phải là true, false hoặc \"unknown\""),
                    format!("accepts_postal {other:?} is not true, false or \"unknown\""),
                ));
            }
        };

        let (fee_status, fee_vnd) = match &self.fee {
            Some(toml::Value::Integer(n)) if *n > 0 => (FeeStatus::Fixed, *n),
            Some(toml::Value::String(s)) if s == "none" => (FeeStatus::None, 0),
            Some(toml::Value::String(s)) if s == "schedule" => (FeeStatus::Schedule, 0),
            Some(toml::Value::String(s)) if s == UNKNOWN => {
                unknown.push("phí, lệ phí");
                (FeeStatus::Unknown, 0)
            }
            other => {
                return Err(e(
                    format!(
                        "fee {other:?} phải là số tiền (đồng, lớn hơn 0), \"none\", \"schedule\" hoặc \"unknown\""
                    ),
                    format!(
                        "fee {other:?} is not an amount in đồng above 0, \"none\", \"schedule\" or \"unknown\""
                    ),
                ));
            }
        };

        let documents = match self.documents {
            Some(toml::Value::String(s)) if s == UNKNOWN => {
                unknown.push("thành phần hồ sơ");
                Vec::new()
            }
            Some(toml::Value::Array(items)) if !items.is_empty() => items
                .into_iter()
                .map(|item| {
                    let d: FileDocument = item.try_into().map_err(|x| {
                        e(format!("giấy tờ: {x}"), format!("documents: {x}"))
                    })?;
                    let form = match d.form.as_str() {
                        "original" => DocumentForm::Original,
                        "certified_copy" => DocumentForm::CertifiedCopy,
                        "copy" => DocumentForm::Copy,
                        other => {
                            return Err(e(
                                format!("giấy tờ {}: form {other:?} phải là original, certified_copy hoặc copy", d.key),
                                format!("document {}: form {other:?} is not original, certified_copy or copy", d.key),
                            ));
                        }
                    };
                    Ok(RequiredDocument {
                        key: d.key,
                        name: d.name,
                        form: form as i32,
                        copies: d.copies,
                        mandatory: d.mandatory,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?,
            _ => {
                return Err(e(
                    "thiếu thành phần hồ sơ: liệt kê [[procedure.documents]] hoặc ghi documents = \"unknown\"".into(),
                    "documents: list [[procedure.documents]] or write documents = \"unknown\"".into(),
                ));
            }
        };

        let processing_time = time(self.working_days, self.working_hours).ok_or_else(|| {
            e(
                "ghi đúng một trong working_days hoặc working_hours (thủ tục chưa có nguồn về thời hạn thì không đưa vào danh mục)".into(),
                "give exactly one of working_days or working_hours (a procedure without a sourced time is left out)".into(),
            )
        })?;

        let steps = if self.steps.is_empty() {
            let department = match self.department.as_deref() {
                Some(UNKNOWN) => "",
                Some(d) => d,
                None => {
                    return Err(e(
                        "không có [[procedure.steps]] thì cần department cho bước thẩm định của cách chia mặc định (hoặc \"unknown\")".into(),
                        "without [[procedure.steps]], department (or \"unknown\") is needed for the default split's appraisal step".into(),
                    ));
                }
            };
            let total_hours = match processing_time.span {
                Some(ProtoSpan::WorkingDays(d)) => u64::from(d) * u64::from(day_seconds) / 3600,
                Some(ProtoSpan::WorkingHours(h)) => u64::from(h),
                None => 0,
            };
            default_steps(total_hours, department).ok_or_else(|| {
                e(
                    "thời hạn dưới 4 giờ làm việc không chia mặc định được; ghi [[procedure.steps]]".into(),
                    "a time under 4 working hours has no default split; give [[procedure.steps]]".into(),
                )
            })?
        } else {
            if self.department.is_some() {
                return Err(e(
                    "department chỉ dùng cho cách chia mặc định; ghi phòng ở từng bước".into(),
                    "department is for the default split only; name each step's department".into(),
                ));
            }
            self.steps
                .into_iter()
                .map(|s| {
                    let limit = time(s.working_days, s.working_hours).ok_or_else(|| {
                        e(
                            format!(
                                "bước {}: ghi đúng một trong working_days hoặc working_hours",
                                s.key
                            ),
                            format!(
                                "step {}: give exactly one of working_days or working_hours",
                                s.key
                            ),
                        )
                    })?;
                    Ok(ProcessStep {
                        key: s.key,
                        name: s.name,
                        role: s.role,
                        limit: Some(limit),
                        department: s.department,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?
        };

        let cited = sources::cite(&self.source).map_err(|(vi, en)| e(vi, en))?;
        if self.legal_basis.trim().is_empty() {
            return Err(e(
                "thiếu legal_basis (căn cứ pháp lý)".into(),
                "legal_basis is required".into(),
            ));
        }
        let mut legal_basis = format!("{}\nNguồn: {}", self.legal_basis.trim(), cited.join("; "));
        if !unknown.is_empty() {
            legal_basis.push_str(&format!("\nChưa có nguồn: {}.", unknown.join(", ")));
        }
        fits(
            &code,
            "legal_basis (cùng các nguồn)",
            &legal_basis,
            "legal_basis",
        )?;
        fits(&code, "name", &self.name, "name")?;
        fits(&code, "fee_note", &self.fee_note, "fee_note")?;
        for d in &documents {
            fits(&code, &format!("giấy tờ {}: name", d.key), &d.name, "name")?;
        }
        for st in &steps {
            fits(&code, &format!("bước {}: name", st.key), &st.name, "name")?;
        }
        let fee_note = match fee_status {
            FeeStatus::Unknown if self.fee_note.trim().is_empty() => {
                "Chưa có nguồn về phí, lệ phí.".to_owned()
            }
            FeeStatus::Unknown => format!("Chưa có nguồn về phí, lệ phí. {}", self.fee_note.trim()),
            _ => self.fee_note,
        };

        Ok(Procedure {
            code: self.code,
            version: 0,
            name: self.name,
            field: self.field,
            competent_agency: self.competent_agency,
            level: level as i32,
            accepts_postal,
            processing_time: Some(processing_time),
            cutoff: self.cutoff.unwrap_or_default(),
            documents,
            fee_vnd,
            fee_note,
            steps,
            effective_from: self.effective_from,
            legal_basis,
            published_at: None,
            published_by: String::new(),
            fee_status: fee_status as i32,
            keywords: self.keywords,
        })
    }
}

/// Parses and checks a catalog file's text: every procedure is cited, its steps add up to its
/// time, its field is one of the catalog's, and no (code, effective_from) is listed twice.
pub fn parse_file(text: &str) -> Result<Catalog, String> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut day_seconds: HashMap<&str, u32> = HashMap::new();
    for a in &file.agency {
        motcua_domain::agency::check_agency_code(&a.code)?;
        if let Some(hours) = &a.working_hours {
            let hours = motcua_calendar::WorkingHours::parse(hours)
                .map_err(|e| format!("agency {}: {e}", a.code))?;
            day_seconds.insert(&a.code, hours.day_seconds());
        }
    }
    let known: HashSet<&str> = file.department.iter().map(|d| d.key.as_str()).collect();
    let mut seen = HashSet::new();
    let mut procedures = Vec::with_capacity(file.procedure.len());
    for fp in file.procedure {
        let day = day_seconds
            .get(fp.competent_agency.as_str())
            .copied()
            .unwrap_or(DEFAULT_DAY_SECONDS);
        let p = fp.into_proto(day)?;
        if !seen.insert((p.code.clone(), p.effective_from.clone())) {
            return Err(err(
                &p.code,
                format!(
                    "mã bị trùng: đã có một phiên bản cùng effective_from {}; phiên bản mới cần ngày hiệu lực sau",
                    p.effective_from
                ),
                format!(
                    "duplicate code: already listed with effective_from {}; a new version needs a later date",
                    p.effective_from
                ),
            ));
        }
        validate(&p, day).map_err(|e| e.to_string())?;
        if !known.is_empty() {
            for step in p.steps.iter().filter(|s| !s.department.is_empty()) {
                if !known.contains(step.department.as_str()) {
                    return Err(err(
                        &p.code,
                        format!(
                            "bước {}: phòng {} không có trong các mục [[department]]",
                            step.key, step.department
                        ),
                        format!(
                            "step {}: department {} is not among the [[department]] entries",
                            step.key, step.department
                        ),
                    ));
                }
            }
        }
        procedures.push(p);
    }
    Ok(Catalog {
        agencies: file.agency,
        procedures,
    })
}
