//! The leaders' dashboard on reporting's HTTP port: Biểu 06 for a chosen period and agency, a
//! chart of early / on time / late per field, the trend, the backlog now, and the XLSX / CSV
//! downloads. Server-rendered Vietnamese pages; charts are SVG drawn here with titles and
//! descriptions (text alternatives). Never an open page: every page and download needs a session.
//!
//! Signing in: `POST /dang-nhap` with a bearer token the identity provider issued (in
//! development, one minted by `motcua token --role leader`), checked like any gRPC call's, opens a
//! session ([`crate::sessions`]: 8 hours at most, never past the token's expiry) named by the
//! cookie `__Host-motcua_phien` (HttpOnly, Secure, SameSite=Strict); the token itself is kept
//! nowhere. An identity provider's redirect sign-in ends the same way: with the token handed to
//! this endpoint. `POST /dang-xuat` ends the session.

use crate::charts;
use crate::export;
use crate::form06;
use crate::grpc::{Api, REPORT_READERS, Resolved};
use crate::views;
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use motcua_platform::ServiceError;
use motcua_platform::auth::{Caller, Verifier};
use motcua_proto::reporting::{BacklogRow, Period, PeriodKind, TrendBucket};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `__Host-`: the browser keeps it only if Secure, for this host and path `/` (no subdomain can
/// set or read it).
const COOKIE: &str = "__Host-motcua_phien";

#[derive(Debug, Clone)]
pub struct Web {
    pub api: Api,
    pub verifier: Verifier,
    pub departments: Arc<BTreeMap<String, String>>,
}

/// (public routes: sign-in and style; routes that check the session themselves).
pub fn routes(web: Web) -> (axum::Router, axum::Router) {
    let web = Arc::new(web);
    let public = axum::Router::new()
        .route("/dang-nhap", get(sign_in_page).post(sign_in))
        .route("/dang-xuat", post(sign_out))
        .route("/static/bang-dieu-khien.css", get(css))
        .with_state(web.clone());
    let private = axum::Router::new()
        .route("/", get(dashboard))
        .route("/bieu-06.xlsx", get(download_xlsx))
        .route("/bieu-06.csv", get(download_csv))
        .with_state(web);
    (public, private)
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/bang-dieu-khien.css"),
    )
        .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "sign_in.html")]
struct SignIn {
    error: Option<String>,
}

async fn sign_in_page() -> SignIn {
    SignIn { error: None }
}

#[derive(Debug, Deserialize)]
struct Token {
    token: String,
}

/// The session id the request's cookie carries.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .find_map(|c| c.strip_prefix(COOKIE)?.strip_prefix('='))
}

/// The caller a session cookie names, if the session is open and may see reports. A database
/// that does not answer is no session (the page asks to sign in again; the log says why).
async fn session(web: &Web, headers: &HeaderMap) -> Option<Caller> {
    let id = cookie(headers)?;
    let caller = match crate::sessions::find(&web.api.pool, id, web.api.clock.now()).await {
        Ok(c) => c?,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: reading the session");
            return None;
        }
    };
    caller.require(REPORT_READERS).is_ok().then_some(caller)
}

/// Whether a form post comes from this site's own pages: browsers say where a request comes from
/// (`Sec-Fetch-Site`, `Origin`); a post from another site (login CSRF, a forced sign-out) is
/// refused. Clients that say neither (scripts, curl) are not browsers and carry no victim's cookie.
fn same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

fn cross_site() -> Response {
    (
        StatusCode::FORBIDDEN,
        "Yêu cầu không đến từ trang của hệ thống. (Cross-site form posts are refused.)",
    )
        .into_response()
}

async fn sign_in(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<Token>,
) -> Response {
    if !same_site(&headers) {
        return cross_site();
    }
    let token = form.token.trim();
    let refused = |m: &str| {
        (
            StatusCode::UNAUTHORIZED,
            SignIn {
                error: Some(m.to_owned()),
            },
        )
            .into_response()
    };
    let Ok(caller) = web.verifier.verify_header(Some(&format!("Bearer {token}"))) else {
        return refused("Mã truy cập không hợp lệ hoặc đã hết hạn.");
    };
    if caller.require(REPORT_READERS).is_err() {
        return refused("Trang báo cáo dành cho lãnh đạo và quản trị viên.");
    }
    let (id, lasts) = match crate::sessions::open(&web.api.pool, &caller, web.api.clock.now()).await
    {
        Ok(s) => s,
        Err(e) => return error_page(e.into()),
    };
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        lasts.as_secs()
    );
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn sign_out(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if !same_site(&headers) {
        return cross_site();
    }
    if let Some(id) = cookie(&headers)
        && let Err(e) = crate::sessions::close(&web.api.pool, id).await
    {
        return error_page(e.into());
    }
    let mut r = Redirect::to("/dang-nhap").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "__Host-motcua_phien=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

/// The dashboard's query: `ky` (thang, quy, nua-nam, chin-thang, nam, tuy-chon), `nam`, `so`,
/// `tu` and `den` (YYYY-MM-DD), `co-quan`.
#[derive(Debug, Clone, Default, Deserialize)]
struct Params {
    ky: Option<String>,
    nam: Option<String>,
    so: Option<String>,
    tu: Option<String>,
    den: Option<String>,
    #[serde(rename = "co-quan")]
    co_quan: Option<String>,
}

const KINDS: [(&str, &str); 6] = [
    ("thang", "Tháng (15 tháng trước – 14)"),
    ("quy", "Quý"),
    ("nua-nam", "6 tháng"),
    ("chin-thang", "9 tháng"),
    ("nam", "Năm"),
    ("tuy-chon", "Tùy chọn (từ ngày, đến ngày)"),
];

impl Params {
    /// With the current month (by the 15th-to-14th convention) where nothing is chosen.
    fn filled(mut self, today: chrono::NaiveDate) -> Self {
        use chrono::Datelike;
        let (mut y, mut m) = (today.year(), today.month());
        if today.day() >= 15 {
            if m == 12 {
                y += 1;
                m = 1;
            } else {
                m += 1;
            }
        }
        let blank = |o: &Option<String>| o.as_deref().is_none_or(|s| s.trim().is_empty());
        if blank(&self.ky) {
            self.ky = Some("thang".into());
        }
        if blank(&self.nam) {
            self.nam = Some(y.to_string());
        }
        if blank(&self.so) && self.ky.as_deref() == Some("thang") {
            self.so = Some(m.to_string());
        }
        self
    }

    fn period(&self) -> Result<Period, String> {
        let kind = match self.ky.as_deref().unwrap_or("thang") {
            "thang" => PeriodKind::Month,
            "quy" => PeriodKind::Quarter,
            "nua-nam" => PeriodKind::HalfYear,
            "chin-thang" => PeriodKind::NineMonths,
            "nam" => PeriodKind::Year,
            "tuy-chon" => PeriodKind::Custom,
            other => return Err(format!("Kỳ báo cáo \"{other}\" không có.")),
        };
        let number = |s: &Option<String>, what: &str| -> Result<i64, String> {
            match s.as_deref().map(str::trim) {
                None | Some("") => Ok(0),
                Some(t) => t
                    .parse::<i64>()
                    .map_err(|_| format!("{what} phải là một số (\"{t}\").")),
            }
        };
        Ok(Period {
            kind: kind as i32,
            year: i32::try_from(number(&self.nam, "Năm")?)
                .map_err(|_| "Năm quá lớn.".to_owned())?,
            number: u32::try_from(number(&self.so, "Tháng / quý / nửa năm")?)
                .map_err(|_| "Tháng / quý / nửa năm không hợp lệ.".to_owned())?,
            from: self.tu.clone().unwrap_or_default(),
            to: self.den.clone().unwrap_or_default(),
        })
    }

    /// The period and agency asked for, checked as a gRPC request's are.
    async fn resolve(&self, api: &Api, who: &Caller) -> Result<Resolved, ServiceError> {
        let period = self.period().map_err(ServiceError::InvalidArgument)?;
        api.resolve(
            who,
            Some(&period),
            self.co_quan.as_deref().unwrap_or(""),
            false,
        )
        .await
    }

    fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("ky", &self.ky),
            ("nam", &self.nam),
            ("so", &self.so),
            ("tu", &self.tu),
            ("den", &self.den),
            ("co-quan", &self.co_quan),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

struct Line {
    label: String,
    cells: [u64; 11],
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct Dashboard {
    who: String,
    /// A province admin chooses an agency of the province (empty: all of them); everyone else
    /// sees their own agency.
    choose_agency: bool,
    kinds: Vec<(&'static str, &'static str)>,
    kind: String,
    year: String,
    number: String,
    from_input: String,
    to_input: String,
    agency_input: String,
    error: Option<String>,
    period_line: String,
    agency_line: String,
    taken_at: String,
    query: String,
    rows: Vec<Line>,
    total: [u64; 11],
    percentages: String,
    unclassified: String,
    outcome_height: u32,
    outcome_desc: String,
    outcome_bars: Vec<charts::OutcomeBar>,
    trend_desc: String,
    trend_bars: Vec<charts::TrendBar>,
    backlog: Vec<BacklogRow>,
}

async fn dashboard(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    let Some(who) = session(&web, &headers).await else {
        return Redirect::to("/dang-nhap").into_response();
    };
    let now = web.api.clock.now();
    let params = params.filled(motcua_domain::time::vietnam_day(now));
    let mut page = Dashboard {
        who: format!("{} ({})", who.name, who.agency),
        choose_agency: who.province_scope().is_some(),
        kinds: KINDS.to_vec(),
        kind: params.ky.clone().unwrap_or_default(),
        year: params.nam.clone().unwrap_or_default(),
        number: params.so.clone().unwrap_or_default(),
        from_input: params.tu.clone().unwrap_or_default(),
        to_input: params.den.clone().unwrap_or_default(),
        agency_input: params.co_quan.clone().unwrap_or_default(),
        error: None,
        period_line: String::new(),
        agency_line: String::new(),
        taken_at: String::new(),
        query: params.query(),
        rows: Vec::new(),
        total: [0; 11],
        percentages: String::new(),
        unclassified: String::new(),
        outcome_height: 40,
        outcome_desc: String::new(),
        outcome_bars: Vec::new(),
        trend_desc: String::new(),
        trend_bars: Vec::new(),
        backlog: Vec::new(),
    };
    let resolved = params.resolve(&web.api, &who).await;
    let q: Resolved = match resolved {
        Ok(q) => q,
        Err(ServiceError::InvalidArgument(m) | ServiceError::PermissionDenied(m)) => {
            page.error = Some(m);
            return (StatusCode::BAD_REQUEST, page).into_response();
        }
        Err(e) => return error_page(e),
    };
    let (rows, total, taken_at) = match form06::compute(&web.api.pool, q.days, now, &q.scope).await
    {
        Ok(r) => r,
        Err(e) => return error_page(e.into()),
    };
    let agencies = &q.scope.agencies;
    let trend = match views::trend(&web.api.pool, q.days, agencies, TrendBucket::Month).await {
        Ok(t) => t,
        Err(e) => return error_page(e.into()),
    };
    let (backlog, _) =
        match views::backlog(&web.api.pool, agencies, now, chrono::Duration::hours(24)).await {
            Ok(b) => b,
            Err(e) => return error_page(e.into()),
        };
    let heading = export::Heading {
        days: q.days,
        agency: q.agency_name,
    };
    page.period_line = heading.period_line();
    page.agency_line = heading.agency_line();
    page.taken_at = taken_at
        .with_timezone(&motcua_calendar::vietnam())
        .format("%H:%M ngày %d/%m/%Y")
        .to_string();
    page.percentages = export::percentages_line(&total);
    page.total = form06::columns(&total);
    page.unclassified = export::unclassified_note(&total);
    page.rows = rows
        .iter()
        .map(|r| Line {
            label: r.field_name.clone(),
            cells: form06::columns(r),
        })
        .collect();
    (page.outcome_bars, page.outcome_height, page.outcome_desc) = charts::outcomes(&rows);
    (page.trend_bars, page.trend_desc) = charts::trend(&trend);
    page.backlog = backlog
        .into_iter()
        .map(|mut b| {
            if let Some(name) = web.departments.get(&b.department) {
                b.department = name.clone();
            }
            if b.officer.is_empty() {
                b.officer = "Chưa phân công".into();
            }
            b
        })
        .collect();
    let mut r = page.into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error_page(e: ServiceError) -> Response {
    tracing::warn!(error = %e, "dashboard");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Dịch vụ báo cáo tạm thời không sẵn sàng, vui lòng thử lại.",
    )
        .into_response()
}

async fn download(web: &Web, headers: &HeaderMap, params: Params, xlsx: bool) -> Response {
    let Some(who) = session(web, headers).await else {
        return (StatusCode::UNAUTHORIZED, "Cần đăng nhập.").into_response();
    };
    let now = web.api.clock.now();
    let params = params.filled(motcua_domain::time::vietnam_day(now));
    let resolved = params.resolve(&web.api, &who).await;
    let q = match resolved {
        Ok(q) => q,
        Err(ServiceError::InvalidArgument(m) | ServiceError::PermissionDenied(m)) => {
            return (StatusCode::BAD_REQUEST, m).into_response();
        }
        Err(e) => return error_page(e),
    };
    let (rows, total, _) = match form06::compute(&web.api.pool, q.days, now, &q.scope).await {
        Ok(r) => r,
        Err(e) => return error_page(e.into()),
    };
    let heading = export::Heading {
        days: q.days,
        agency: q.agency_name,
    };
    let (bytes, ext, media) = if xlsx {
        match export::xlsx(&heading, &rows, &total) {
            Ok(b) => (
                b,
                "xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            Err(e) => return error_page(ServiceError::Internal(anyhow::anyhow!("xlsx: {e}"))),
        }
    } else {
        match export::csv(&heading, &rows, &total) {
            Ok(b) => (b, "csv", "text/csv; charset=utf-8"),
            Err(e) => return error_page(ServiceError::Internal(anyhow::anyhow!("csv: {e}"))),
        }
    };
    let disposition = format!("attachment; filename=\"{}\"", heading.file_name(ext));
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn download_xlsx(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    download(&web, &headers, params, true).await
}

async fn download_csv(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Response {
    download(&web, &headers, params, false).await
}
