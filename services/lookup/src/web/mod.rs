//! Lookup's HTTP side: the only port of motcua meant to face the public internet. The platform
//! puts health, readiness, load shedding, per-client rate limits (429 + Retry-After) and the
//! security headers around these routes ([`motcua_platform::http`]); the content security
//! policy allows scripts and styles from this origin only, and the referrer policy sends none.
//!
//! Pages (Vietnamese, no JavaScript needed): `/` (both forms), `/tra-cuu` (GET: the lookup form;
//! POST: the status), `/thu-tuc` (search), `/thu-tuc/{code}` (a procedure).
//! JSON: `GET /api/v1/procedures`, `GET /api/v1/procedures/{code}`, `POST /api/v1/dossiers/lookup`.
//!
//! Bad input gets a 4xx that says what to fix: URLs longer than [`MAX_URI_BYTES`] get 414, bodies
//! larger than [`MAX_BODY_BYTES`] 413, unknown paths 404, wrong methods 405, unreadable forms,
//! queries and JSON 400.

pub mod api;
pub mod format;
pub mod pages;

use crate::queries::Queries;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// Longest URL accepted (path and query).
pub const MAX_URI_BYTES: usize = 2048;
/// Largest request body accepted: a lookup is two short fields.
pub const MAX_BODY_BYTES: usize = 4096;

/// What every handler gets: one reference count to clone per request (axum clones the state for
/// each), not one per field of [`Queries`].
#[derive(Debug, Clone)]
pub struct AppState {
    pub queries: std::sync::Arc<Queries>,
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

async fn limit_uri(req: Request, next: Next) -> Response {
    let len = req.uri().path().len() + req.uri().query().map_or(0, str::len);
    if len > MAX_URI_BYTES {
        let message = format!(
            "Địa chỉ dài quá {MAX_URI_BYTES} byte (URL longer than {MAX_URI_BYTES} bytes)."
        );
        return if is_api(req.uri().path()) {
            api::json_error(StatusCode::URI_TOO_LONG, "uri_too_long", message, None)
        } else {
            pages::message(StatusCode::URI_TOO_LONG, "Địa chỉ quá dài", message)
        };
    }
    next.run(req).await
}

async fn not_found(req: Request) -> Response {
    let message = "Không có trang này. (No such page.)".to_owned();
    if is_api(req.uri().path()) {
        api::json_error(StatusCode::NOT_FOUND, "not_found", message, None)
    } else {
        pages::message(StatusCode::NOT_FOUND, "Không tìm thấy trang", message)
    }
}

async fn method_not_allowed(req: Request) -> Response {
    let message = format!(
        "Phương thức {} không dùng được ở địa chỉ này. (Method not allowed here.)",
        req.method()
    );
    if is_api(req.uri().path()) {
        api::json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
            None,
        )
    } else {
        pages::message(
            StatusCode::METHOD_NOT_ALLOWED,
            "Phương thức không hợp lệ",
            message,
        )
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

async fn css() -> Response {
    asset(
        include_str!("../../static/site.css"),
        "text/css; charset=utf-8",
    )
}

async fn script() -> Response {
    asset(
        include_str!("../../static/tra-cuu.js"),
        "text/javascript; charset=utf-8",
    )
}

/// The public routes (the platform adds its layers around them).
pub fn routes(queries: Queries) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/tra-cuu", get(pages::lookup_form).post(pages::lookup))
        .route("/thu-tuc", get(pages::procedures))
        .route("/thu-tuc/{code}", get(pages::procedure))
        .route("/static/site.css", get(css))
        .route("/static/tra-cuu.js", get(script))
        .route("/api/v1/procedures", get(api::search))
        .route("/api/v1/procedures/{code}", get(api::procedure))
        .route("/api/v1/dossiers/lookup", post(api::lookup))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(limit_uri))
        .with_state(AppState {
            queries: std::sync::Arc::new(queries),
        })
}
