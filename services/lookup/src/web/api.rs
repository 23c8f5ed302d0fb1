//! The JSON API under `/api/v1/` (README "Lookup" documents it): the same answers as gRPC, for
//! portals and apps that speak HTTP. Times are RFC 3339 in Vietnam time; errors are
//! `{"error": {"code": "...", "message": "..."}}` with the HTTP status saying the rest.

use super::AppState;
use super::format::{channel_name, channels, fee_text, is_free, processing_time_text_of, rfc3339};
use crate::error::LookupError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use motcua_platform::limiter::PublicClient;
use motcua_proto::common::{DossierStatus, PauseReason, Procedure, StopKind};
use motcua_proto::lookup::PublicDossier;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

/// An error as JSON, with Retry-After where the answer has one.
pub fn error(e: &LookupError) -> Response {
    e.log();
    let code = match e {
        LookupError::Invalid(_) => "invalid_argument",
        LookupError::NoDossier | LookupError::NoProcedure(_) => "not_found",
        LookupError::HeldBack(_) => "resource_exhausted",
        LookupError::Unavailable(_) => "unavailable",
        LookupError::Internal(_) => "internal",
    };
    json_error(e.http_status(), code, e.to_string(), e.retry_after())
}

pub fn json_error(
    status: StatusCode,
    code: &str,
    message: String,
    retry_after: Option<u64>,
) -> Response {
    let mut r = (
        status,
        Json(ErrorBody {
            error: ErrorDetail { code, message },
        }),
    )
        .into_response();
    if let Some(v) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn invalid(message: String) -> Response {
    json_error(StatusCode::BAD_REQUEST, "invalid_argument", message, None)
}

#[derive(Debug, Serialize)]
pub struct DocumentJson {
    key: String,
    name: String,
    form: &'static str,
    copies: u32,
    mandatory: bool,
}

#[derive(Debug, Serialize)]
pub struct ProcedureJson {
    code: String,
    version: u32,
    name: String,
    field: String,
    field_name: String,
    competent_agency: String,
    competent_agency_name: String,
    level: &'static str,
    channels: Vec<&'static str>,
    accepts_online: bool,
    accepts_postal: bool,
    processing_time: String,
    working_days: Option<u32>,
    working_hours: Option<u32>,
    cutoff: String,
    documents: Vec<DocumentJson>,
    fee_vnd: i64,
    /// The fee as the catalog gives it ("Miễn phí" only when `free`).
    fee: String,
    fee_note: String,
    /// No amount, and no note saying one is set elsewhere ([`super::format::is_free`]).
    free: bool,
    effective_from: String,
    legal_basis: String,
}

pub fn procedure_json(p: &Procedure, agency_name: String) -> ProcedureJson {
    use motcua_proto::common::processing_time::Span;
    let span = p.processing_time.as_ref().and_then(|t| t.span.as_ref());
    ProcedureJson {
        code: p.code.clone(),
        version: p.version,
        name: p.name.clone(),
        field: p.field.clone(),
        field_name: motcua_domain::fields::name(&p.field).to_owned(),
        competent_agency: p.competent_agency.clone(),
        competent_agency_name: agency_name,
        level: motcua_domain::catalog::level_name(p.level),
        channels: channels(p),
        accepts_online: motcua_domain::catalog::accepts_online(p.level),
        accepts_postal: p.accepts_postal,
        processing_time: processing_time_text_of(p),
        working_days: match span {
            Some(Span::WorkingDays(d)) => Some(*d),
            _ => None,
        },
        working_hours: match span {
            Some(Span::WorkingHours(h)) => Some(*h),
            _ => None,
        },
        cutoff: p.cutoff.clone(),
        documents: p
            .documents
            .iter()
            .map(|d| DocumentJson {
                key: d.key.clone(),
                name: d.name.clone(),
                form: motcua_domain::catalog::form_name(d.form),
                copies: d.copies,
                mandatory: d.mandatory,
            })
            .collect(),
        fee_vnd: p.fee_vnd,
        fee: fee_text(p),
        fee_note: p.fee_note.clone(),
        free: is_free(p),
        effective_from: p.effective_from.clone(),
        legal_basis: p.legal_basis.clone(),
    }
}

#[derive(Debug, Serialize)]
pub struct ChangeJson {
    at: Option<String>,
    label: String,
    status_label: &'static str,
    /// National portal status code 1–10 of the status after the change.
    national_code: u32,
}

#[derive(Debug, Serialize)]
pub struct DossierJson {
    dossier_code: String,
    version: u64,
    procedure_code: String,
    procedure_name: String,
    field: String,
    channel: &'static str,
    applicant_name_masked: String,
    status_label: String,
    /// National portal status code 1–10.
    national_code: u32,
    public_note: String,
    competent_agency: String,
    competent_agency_name: String,
    received_at: Option<String>,
    /// The due time moved by pauses (the legal one; an apology does not move it).
    due_at: Option<String>,
    /// The return date promised now: the apology's new date when there is one, else `due_at`.
    promised_due_at: Option<String>,
    /// The due time on the receipt, before any pause or apology.
    original_due_at: Option<String>,
    current_step: String,
    current_department: String,
    current_department_name: String,
    field_name: String,
    paused: Option<&'static str>,
    paused_since: Option<String>,
    missing_documents: Vec<String>,
    obligation_vnd: i64,
    obligation_note: String,
    /// Whether the obligation was paid, when, and the voucher's number.
    obligation_paid: bool,
    obligation_paid_at: Option<String>,
    obligation_payment_reference: String,
    apology_reason: String,
    apology_due_at: Option<String>,
    finished_at: Option<String>,
    outcome: String,
    returned_at: Option<String>,
    stopped_at: Option<String>,
    stop: Option<&'static str>,
    stop_reason: String,
    /// Why the desk refused to take it (rejected at intake), as written.
    rejection_reasons: Vec<String>,
    history: Vec<ChangeJson>,
}

pub fn dossier_json(d: &PublicDossier) -> DossierJson {
    let paused = PauseReason::try_from(d.paused).unwrap_or_default();
    let stop = StopKind::try_from(d.stop_kind).unwrap_or_default();
    DossierJson {
        dossier_code: d.dossier_code.clone(),
        version: d.version,
        procedure_code: d.procedure_code.clone(),
        procedure_name: d.procedure_name.clone(),
        field: d.field.clone(),
        channel: channel_name(d.channel),
        applicant_name_masked: d.applicant_name_masked.clone(),
        status_label: d.status_label.clone(),
        national_code: d.national_code,
        public_note: d.public_note.clone(),
        competent_agency: d.competent_agency.clone(),
        competent_agency_name: d.competent_agency_name.clone(),
        received_at: rfc3339(d.received_at.as_ref()),
        due_at: rfc3339(d.due_at.as_ref()),
        promised_due_at: rfc3339(d.promised_due_at.as_ref()),
        original_due_at: rfc3339(d.original_due_at.as_ref()),
        current_step: d.current_step_name.clone(),
        current_department: d.current_department.clone(),
        current_department_name: d.current_department_name.clone(),
        field_name: motcua_domain::fields::name(&d.field).to_owned(),
        paused: (paused != PauseReason::Unspecified)
            .then(|| motcua_domain::status::pause_label(paused)),
        paused_since: rfc3339(d.paused_since.as_ref()),
        missing_documents: d.missing_documents.clone(),
        obligation_vnd: d.obligation_vnd,
        obligation_note: d.obligation_note.clone(),
        obligation_paid: d.obligation_paid_at.is_some(),
        obligation_paid_at: rfc3339(d.obligation_paid_at.as_ref()),
        obligation_payment_reference: d.obligation_payment_reference.clone(),
        apology_reason: d.apology_reason.clone(),
        apology_due_at: rfc3339(d.apology_due_at.as_ref()),
        finished_at: rfc3339(d.finished_at.as_ref()),
        outcome: d.outcome_label.clone(),
        returned_at: rfc3339(d.returned_at.as_ref()),
        stopped_at: rfc3339(d.stopped_at.as_ref()),
        stop: (stop != StopKind::Unspecified).then(|| motcua_domain::status::stop_label(stop)),
        stop_reason: d.stop_reason.clone(),
        rejection_reasons: d.rejection_reasons.clone(),
        history: d
            .history
            .iter()
            .map(|c| {
                let status = DossierStatus::try_from(c.status).unwrap_or_default();
                ChangeJson {
                    at: rfc3339(c.at.as_ref()),
                    label: c.label.clone(),
                    status_label: motcua_domain::status::label(status),
                    national_code: motcua_domain::status::national_code(status),
                }
            })
            .collect(),
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    page_size: u32,
    #[serde(default)]
    page_token: String,
}

#[derive(Debug, Serialize)]
struct SearchJson {
    procedures: Vec<ProcedureJson>,
    next_page_token: String,
}

/// `GET /api/v1/procedures?q=&field=&page_size=&page_token=`
pub async fn search(
    State(app): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    let Query(p) = match params {
        Ok(p) => p,
        Err(e) => return invalid(format!("tham số không hợp lệ (bad query parameters): {e}")),
    };
    match app
        .queries
        .search(&p.q, &p.field, p.page_size, &p.page_token)
        .await
    {
        Ok(page) => Json(SearchJson {
            procedures: page
                .procedures
                .iter()
                .map(|p| procedure_json(p, app.queries.agency_name(&p.competent_agency)))
                .collect(),
            next_page_token: page.next_page_token,
        })
        .into_response(),
        Err(e) => error(&e),
    }
}

/// `GET /api/v1/procedures/{code}`
pub async fn procedure(
    State(app): State<AppState>,
    code: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(code)) = code else {
        return invalid(
            "mã thủ tục trong địa chỉ không đọc được (UTF-8, ví dụ 1.013831) (unreadable procedure code in the path)".into(),
        );
    };
    match app.queries.procedure(&code).await {
        Ok(p) => Json(procedure_json(
            &p,
            app.queries.agency_name(&p.competent_agency),
        ))
        .into_response(),
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
pub struct LookupBody {
    #[serde(default)]
    dossier_code: String,
    #[serde(default)]
    secret: String,
}

/// `POST /api/v1/dossiers/lookup` with `{"dossier_code": "...", "secret": "..."}`: a POST, so the
/// secret stays out of URLs, logs and referrers.
pub async fn lookup(
    State(app): State<AppState>,
    client: Option<Extension<PublicClient>>,
    body: Result<Json<LookupBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => {
            // A body of the wrong shape (422 by axum's reckoning) is a bad request like any other.
            let status = match e.status() {
                StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                other => other,
            };
            return json_error(
                status,
                "invalid_argument",
                format!(
                    "thân yêu cầu phải là JSON {{\"dossier_code\": \"...\", \"secret\": \"...\"}} với Content-Type: application/json, tối đa {} byte (bad JSON body): {}",
                    super::MAX_BODY_BYTES,
                    e.body_text()
                ),
                None,
            );
        }
    };
    let client = client.map(|Extension(c)| c);
    match app
        .queries
        .dossier(&body.dossier_code, &body.secret, client)
        .await
    {
        Ok(d) => {
            let mut r = Json(dossier_json(&d)).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => error(&e),
    }
}
