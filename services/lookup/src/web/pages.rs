//! The pages for citizens: server-rendered HTML from compiled templates (`templates/`), in
//! Vietnamese, working without JavaScript. Each page struct carries the strings its template
//! prints, already formatted, so the templates hold no logic beyond "show this if set".

use super::AppState;
use super::format::{channels, date_time, fee_text, money, processing_time_text_of};
use crate::error::LookupError;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use motcua_platform::limiter::PublicClient;
use motcua_proto::common::{PauseReason, Procedure, StopKind};
use motcua_proto::lookup::PublicDossier;
use serde::Deserialize;

/// The lookup form's values (only the code is ever printed back; never the secret).
#[derive(Debug, Default)]
pub struct LookupFormView {
    pub code: String,
}

#[derive(Debug)]
pub struct FieldOption {
    pub slug: &'static str,
    pub name: &'static str,
    pub selected: bool,
}

/// The search form's values.
#[derive(Debug)]
pub struct SearchFormView {
    pub query: String,
    pub fields: Vec<FieldOption>,
}

impl SearchFormView {
    fn new(query: &str, field: &str) -> Self {
        Self {
            query: query.to_owned(),
            fields: motcua_domain::fields::FIELDS
                .iter()
                .map(|slug| FieldOption {
                    slug,
                    name: motcua_domain::fields::name(slug),
                    selected: *slug == field,
                })
                .collect(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    form: LookupFormView,
    search: SearchFormView,
}

#[derive(Template, WebTemplate)]
#[template(path = "lookup.html")]
struct LookupPage {
    form: LookupFormView,
    message: String,
}

#[derive(Debug)]
pub struct ResultView {
    code: String,
    name: String,
    field_name: String,
    processing_time: String,
    level: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "procedures.html")]
struct ProceduresPage {
    search: SearchFormView,
    message: String,
    results: Vec<ResultView>,
    first: u32,
    next_href: String,
}

#[derive(Debug)]
pub struct DocumentView {
    name: String,
    form: &'static str,
    copies: u32,
    mandatory: bool,
}

#[derive(Debug)]
pub struct ProcedureView {
    code: String,
    version: u32,
    name: String,
    field_name: String,
    agency: String,
    processing_time: String,
    cutoff: String,
    /// As the catalog gives it ([`super::format::fee_text`]).
    fee: String,
    level: &'static str,
    channels: Vec<&'static str>,
    effective_from: String,
    documents: Vec<DocumentView>,
    legal_basis: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "procedure.html")]
struct ProcedurePage {
    p: ProcedureView,
}

#[derive(Debug)]
pub struct ChangeView {
    at: String,
    /// The same instant for machines (`<time datetime>`).
    iso: String,
    label: String,
}

#[derive(Debug)]
pub struct DossierView {
    code: String,
    status_label: String,
    public_note: String,
    paused: &'static str,
    paused_since: String,
    missing: Vec<String>,
    obligation: String,
    obligation_note: String,
    /// When the obligation was paid (empty: still owed) and the voucher's number.
    obligation_paid: String,
    obligation_reference: String,
    rejection_reasons: Vec<String>,
    apology_due: String,
    apology_reason: String,
    stop: &'static str,
    stop_reason: String,
    procedure: String,
    procedure_code: String,
    applicant: String,
    agency: String,
    received: String,
    /// The return date promised now (empty: none, a dossier never taken).
    promised: String,
    /// The receipt's date, where it is not the promised one.
    original: String,
    /// The date before the apology, where it is neither of the above.
    before_apology: String,
    step: String,
    department: String,
    field: String,
    /// "Mã trạng thái 5: Chờ bổ sung hồ sơ".
    national: String,
    finished: String,
    outcome: String,
    returned: String,
    history: Vec<ChangeView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dossier.html")]
struct DossierPage {
    d: DossierView,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage {
    title: String,
    message: String,
}

/// A page that says what went wrong, with the right status (and Retry-After where it has one).
pub fn message(status: StatusCode, title: &str, message: String) -> Response {
    (
        status,
        MessagePage {
            title: title.to_owned(),
            message,
        },
    )
        .into_response()
}

/// How long to wait, as the page says it: "45 giây", "10 phút".
pub fn wait_text(secs: u64) -> String {
    if secs < 120 {
        format!("{secs} giây")
    } else {
        format!("{} phút", secs.div_ceil(60))
    }
}

/// The platform's 429 (too many requests from this client) and 503 (busy) as a page in
/// Vietnamese saying when to try again (see [`motcua_platform::http::RefusalPage`]).
pub fn refusal_page(status: StatusCode, platform_message: String, secs: u64) -> Response {
    let wait = wait_text(secs);
    match status {
        StatusCode::TOO_MANY_REQUESTS => message(
            status,
            "Quá nhiều yêu cầu",
            format!(
                "Anh/chị đã gửi quá nhiều yêu cầu trong thời gian ngắn. Vui lòng thử lại sau {wait}."
            ),
        ),
        StatusCode::SERVICE_UNAVAILABLE => message(
            status,
            "Máy chủ đang bận",
            format!("Máy chủ đang bận. Vui lòng thử lại sau {wait}."),
        ),
        _ => message(status, "Vui lòng thử lại sau", platform_message),
    }
}

fn error_page(e: &LookupError) -> Response {
    e.log();
    let title = match e {
        LookupError::Invalid(_) => "Yêu cầu không hợp lệ",
        LookupError::NoDossier => "Không tìm thấy hồ sơ",
        LookupError::NoProcedure(_) => "Không tìm thấy thủ tục",
        LookupError::HeldBack(_) => "Vui lòng thử lại sau",
        LookupError::Unavailable(_) | LookupError::Internal(_) => "Dịch vụ đang gặp sự cố",
    };
    let text = match (e, e.retry_after()) {
        (LookupError::HeldBack(_), Some(secs)) => format!(
            "Mã hồ sơ hoặc số giấy tờ tùy thân đã bị nhập sai nhiều lần. Vui lòng thử lại sau {}, hoặc tra cứu bằng mã tra cứu in trên giấy tiếp nhận (mã này không bị giới hạn).",
            wait_text(secs)
        ),
        _ => e.to_string(),
    };
    let mut r = message(e.http_status(), title, text);
    if let Some(v) = e
        .retry_after()
        .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// `GET /`
pub async fn home() -> Response {
    HomePage {
        form: LookupFormView::default(),
        search: SearchFormView::new("", ""),
    }
    .into_response()
}

/// `GET /tra-cuu`: the form (the QR link's fragment is read by the page's script).
pub async fn lookup_form() -> Response {
    LookupPage {
        form: LookupFormView::default(),
        message: String::new(),
    }
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct LookupForm {
    #[serde(rename = "ma-ho-so", default)]
    code: String,
    #[serde(rename = "ma-tra-cuu", default)]
    secret: String,
}

/// `POST /tra-cuu`: the status, or the form again saying what was wrong.
pub async fn lookup(
    State(app): State<AppState>,
    client: Option<Extension<PublicClient>>,
    form: Result<Form<LookupForm>, FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(f) => f,
        Err(e) => {
            let status = match e.status() {
                StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                other => other,
            };
            return message(
                status,
                "Yêu cầu không hợp lệ",
                format!(
                    "Biểu mẫu tra cứu không đọc được (unreadable form): {}",
                    e.body_text()
                ),
            );
        }
    };
    let client = client.map(|Extension(c)| c);
    let mut response = match app.queries.dossier(&form.code, &form.secret, client).await {
        Ok(d) => DossierPage {
            d: dossier_view(&d),
        }
        .into_response(),
        Err(e @ (LookupError::Invalid(_) | LookupError::NoDossier)) => {
            let status = e.http_status();
            let form_view = LookupFormView {
                code: form.code.chars().take(64).collect(),
            };
            (
                status,
                LookupPage {
                    form: form_view,
                    message: e.to_string(),
                },
            )
                .into_response()
        }
        Err(e) => error_page(&e),
    };
    // A dossier's state is personal: no cache keeps it.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(rename = "linh-vuc", default)]
    field: String,
    #[serde(default)]
    trang: String,
}

/// `GET /thu-tuc?q=&linh-vuc=&trang=`
pub async fn procedures(
    State(app): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    let Query(p) = match params {
        Ok(p) => p,
        Err(e) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Yêu cầu không hợp lệ",
                format!("Tham số tìm kiếm không đọc được (bad query parameters): {e}"),
            );
        }
    };
    let search = SearchFormView::new(&p.q, &p.field);
    let page = match app.queries.search(&p.q, &p.field, 0, &p.trang).await {
        Ok(page) => page,
        Err(e @ LookupError::Invalid(_)) => {
            return (
                e.http_status(),
                ProceduresPage {
                    search,
                    message: e.to_string(),
                    results: Vec::new(),
                    first: 1,
                    next_href: String::new(),
                },
            )
                .into_response();
        }
        Err(e) => return error_page(&e),
    };
    let first = p.trang.trim().parse::<u32>().unwrap_or(0) + 1;
    let next_href = if page.next_page_token.is_empty() {
        String::new()
    } else {
        let query = [
            ("q", p.q.as_str()),
            ("linh-vuc", p.field.as_str()),
            ("trang", page.next_page_token.as_str()),
        ];
        format!(
            "/thu-tuc?{}",
            serde_urlencoded::to_string(query).unwrap_or_default()
        )
    };
    ProceduresPage {
        search,
        message: String::new(),
        results: page
            .procedures
            .iter()
            .map(|p| ResultView {
                code: p.code.clone(),
                name: p.name.clone(),
                field_name: motcua_domain::fields::name(&p.field).to_owned(),
                processing_time: processing_time_text_of(p),
                level: motcua_domain::catalog::level_name(p.level),
            })
            .collect(),
        first,
        next_href,
    }
    .into_response()
}

fn procedure_view(p: &Procedure, agency_name: String) -> ProcedureView {
    ProcedureView {
        code: p.code.clone(),
        version: p.version,
        name: p.name.clone(),
        field_name: motcua_domain::fields::name(&p.field).to_owned(),
        agency: if agency_name.is_empty() {
            p.competent_agency.clone()
        } else {
            agency_name
        },
        processing_time: processing_time_text_of(p),
        cutoff: p.cutoff.clone(),
        fee: fee_text(p),
        level: motcua_domain::catalog::level_name(p.level),
        channels: channels(p),
        effective_from: chrono::NaiveDate::parse_from_str(&p.effective_from, "%Y-%m-%d")
            .map(|d| d.format("%d/%m/%Y").to_string())
            .unwrap_or_else(|_| p.effective_from.clone()),
        documents: p
            .documents
            .iter()
            .map(|d| DocumentView {
                name: d.name.clone(),
                form: motcua_domain::catalog::form_name(d.form),
                copies: d.copies,
                mandatory: d.mandatory,
            })
            .collect(),
        legal_basis: p.legal_basis.clone(),
    }
}

/// `GET /thu-tuc/{code}`
pub async fn procedure(
    State(app): State<AppState>,
    code: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(code)) = code else {
        return message(
            StatusCode::BAD_REQUEST,
            "Yêu cầu không hợp lệ",
            "Mã thủ tục trong địa chỉ không đọc được, ví dụ /thu-tuc/1.013831. (Unreadable procedure code in the path.)".into(),
        );
    };
    match app.queries.procedure(&code).await {
        Ok(p) => {
            let name = app.queries.agency_name(&p.competent_agency);
            ProcedurePage {
                p: procedure_view(&p, name),
            }
            .into_response()
        }
        Err(e) => error_page(&e),
    }
}

fn dossier_view(d: &PublicDossier) -> DossierView {
    let paused = PauseReason::try_from(d.paused).unwrap_or_default();
    let stop = StopKind::try_from(d.stop_kind).unwrap_or_default();
    let promised = date_time(d.promised_due_at.as_ref());
    let original = date_time(d.original_due_at.as_ref());
    let due = date_time(d.due_at.as_ref());
    // Each earlier date once, and only where it differs from what is promised now.
    let original = if promised.is_empty() || original == promised {
        String::new()
    } else {
        original
    };
    let before_apology = if d.apology_due_at.is_none() || due == promised || due == original {
        String::new()
    } else {
        due
    };
    DossierView {
        code: d.dossier_code.clone(),
        status_label: d.status_label.clone(),
        public_note: d.public_note.clone(),
        paused: motcua_domain::status::pause_label(paused),
        paused_since: date_time(d.paused_since.as_ref()),
        missing: d.missing_documents.clone(),
        obligation: if d.obligation_vnd > 0 {
            money(d.obligation_vnd)
        } else {
            String::new()
        },
        obligation_note: d.obligation_note.clone(),
        obligation_paid: date_time(d.obligation_paid_at.as_ref()),
        obligation_reference: d.obligation_payment_reference.clone(),
        rejection_reasons: d.rejection_reasons.clone(),
        apology_due: date_time(d.apology_due_at.as_ref()),
        apology_reason: d.apology_reason.clone(),
        stop: motcua_domain::status::stop_label(stop),
        stop_reason: d.stop_reason.clone(),
        procedure: d.procedure_name.clone(),
        procedure_code: d.procedure_code.clone(),
        applicant: d.applicant_name_masked.clone(),
        agency: if d.competent_agency_name.is_empty() {
            d.competent_agency.clone()
        } else {
            d.competent_agency_name.clone()
        },
        received: date_time(d.received_at.as_ref()),
        promised,
        original,
        before_apology,
        step: d.current_step_name.clone(),
        department: if d.current_department_name.is_empty() {
            d.current_department.clone()
        } else {
            d.current_department_name.clone()
        },
        field: motcua_domain::fields::name(&d.field).to_owned(),
        national: format!("Mã trạng thái {}: {}", d.national_code, d.status_label),
        finished: date_time(d.finished_at.as_ref()),
        outcome: d.outcome_label.clone(),
        returned: date_time(d.returned_at.as_ref()),
        history: d
            .history
            .iter()
            .map(|c| ChangeView {
                at: date_time(c.at.as_ref()),
                iso: super::format::rfc3339(c.at.as_ref()).unwrap_or_default(),
                label: c.label.clone(),
            })
            .collect(),
    }
}
