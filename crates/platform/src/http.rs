//! The HTTP side of a host (axum), for services that serve pages, JSON or webhooks: public pages and
//! APIs, a gateway's callbacks, a dashboard.
//!
//! Every HTTP side has `GET /healthz` (the process answers) and `GET /readyz` (200 when the host is
//! ready, 503 naming the parts that are not — never their error texts, as the port may be public),
//! and counts its requests per route and status in `motcua_http_requests_total` on the metrics
//! endpoint (which stays on MOTCUA_METRICS_ADDR, never on a public port). Past MOTCUA_MAX_IN_FLIGHT
//! requests at once, more get 503 with Retry-After at once. Public routes get the per-client rate
//! limit of [`crate::limiter`] (429 with Retry-After) and baseline security headers; a service sets
//! stricter ones itself. Authenticated routes need the same bearer token as gRPC (401 without),
//! and find the [`Caller`] in the request's extensions.

use crate::auth::{Caller, Verifier};
use crate::limiter::{PublicLimiter, retry_after_secs};
use crate::readiness::ReadinessSource;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Headers every public response carries unless the route set its own.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("strict-transport-security", "max-age=31536000"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// How a service shows the platform's refusals on its pages (routes outside `/api/`): the 429
/// of the per-client limit and the 503 of load shedding, given the status, the platform's message
/// and the seconds to wait. The platform adds Retry-After and the security headers. Without one,
/// pages get the message as plain text; `/api/` routes always get JSON.
pub type RefusalPage = fn(StatusCode, String, u64) -> Response;

#[derive(Clone)]
struct Limits {
    limiter: PublicLimiter,
    page: Option<RefusalPage>,
}

async fn rate_limit(State(limits): State<Limits>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        limits.limiter.identify(
            peer,
            header(HeaderName::from_static("x-forwarded-for")),
            header(header::AUTHORIZATION),
        )
    };
    if let Err(wait) = limits.limiter.admit(client) {
        let secs = retry_after_secs(wait);
        let message = format!(
            "Quá nhiều yêu cầu, vui lòng thử lại sau {secs} giây. (Too many requests; retry after {secs} s.)"
        );
        let response = refusal(
            req.uri().path(),
            StatusCode::TOO_MANY_REQUESTS,
            "resource_exhausted",
            message,
            secs,
            limits.page,
        );
        return with_security_headers(response);
    }
    req.extensions_mut().insert(client);
    with_security_headers(next.run(req).await)
}

/// A refusal from the platform's layers, in the shape the route speaks: JSON
/// (`{"error": {"code", "message"}}`) under `/api/`, the service's page (or plain text)
/// elsewhere; with Retry-After.
fn refusal(
    path: &str,
    status: StatusCode,
    code: &str,
    message: String,
    retry_after: u64,
    page: Option<RefusalPage>,
) -> Response {
    let mut response = if path.starts_with("/api/") {
        let body = serde_json::json!({"error": {"code": code, "message": message}});
        (status, axum::Json(body)).into_response()
    } else if let Some(page) = page {
        page(status, message, retry_after)
    } else {
        (status, format!("{message}\n")).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

async fn authenticate(State(verifier): State<Verifier>, mut req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match verifier.verify_header(header) {
        Ok(caller) => {
            req.extensions_mut().insert::<Caller>(caller);
            next.run(req).await
        }
        Err(e) => {
            let mut response = (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// Sheds load: past the limit, 503 at once instead of a queue that grows until memory runs out.
async fn shed(
    State((slots, page)): State<(Arc<Semaphore>, Option<RefusalPage>)>,
    req: Request,
    next: Next,
) -> Response {
    let Ok(_slot) = slots.try_acquire() else {
        metrics::counter!("motcua_http_shed_total").increment(1);
        return refusal(
            req.uri().path(),
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Máy chủ đang bận, vui lòng thử lại sau giây lát. (Server busy; retry shortly.)".into(),
            1,
            page,
        );
    };
    next.run(req).await
}

async fn count(service: &'static str, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    metrics::counter!(
        "motcua_http_requests_total",
        "service" => service,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}

/// What an HTTP side is built from.
#[derive(Debug)]
pub struct HttpSide {
    pub service: &'static str,
    pub readiness: ReadinessSource,
    pub limiter: PublicLimiter,
    pub verifier: Verifier,
    pub max_in_flight: usize,
    /// Routes anyone may call: rate limited per client, with security headers.
    pub public: axum::Router,
    /// Routes for officers and systems: bearer token required.
    pub authenticated: axum::Router,
    /// Routes that check their caller themselves (an SMS gateway's shared secret, a dashboard's
    /// session cookie): not limited per client, since one gateway speaks for every citizen; load
    /// shedding and the baseline security headers still apply.
    pub self_authenticated: axum::Router,
    /// How the service's pages show a 429 or 503 of these layers (None: plain text).
    pub refusal_page: Option<RefusalPage>,
}

/// The HTTP side's router: health and readiness, then the service's routes behind load shedding.
pub fn router(side: HttpSide) -> axum::Router {
    let HttpSide {
        service,
        readiness,
        limiter,
        verifier,
        max_in_flight,
        public,
        authenticated,
        self_authenticated,
        refusal_page,
    } = side;
    let ready = readiness.clone();
    let public = public.layer(middleware::from_fn_with_state(
        Limits {
            limiter,
            page: refusal_page,
        },
        rate_limit,
    ));
    let authenticated = authenticated.layer(middleware::from_fn_with_state(verifier, authenticate));
    // Routes that check their caller themselves may serve browsers (a dashboard behind its own
    // session): they get the same baseline headers as public ones.
    let self_authenticated =
        self_authenticated.layer(middleware::map_response(|response: Response| async move {
            with_security_headers(response)
        }));
    let routes = public.merge(authenticated).merge(self_authenticated).layer(
        middleware::from_fn_with_state(
            (Arc::new(Semaphore::new(max_in_flight)), refusal_page),
            shed,
        ),
    );
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.is_ready() {
                        (StatusCode::OK, "ready\n".to_owned())
                    } else {
                        // Which parts, not their errors: the port may face the public.
                        let mut why: Vec<String> = ready
                            .why()
                            .iter()
                            .map(|w| w.split(':').next().unwrap_or_default().to_owned())
                            .collect();
                        if why.is_empty() {
                            why.push("dependencies not ready".into());
                        }
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready\n{}\n", why.join("\n")),
                        )
                    }
                }
            }),
        )
        .merge(routes)
        .layer(middleware::from_fn(move |req, next| {
            count(service, req, next)
        }))
}

pub use crate::client::client;
