//! The HTTP side of a host (axum), for services that serve pages, JSON or webhooks: lookup's public
//! page and API, notification's inbound SMS and delivery receipts, reporting's dashboard.
//!
//! Every HTTP side has `GET /healthz` (the process answers) and `GET /readyz` (200 when the host is
//! ready, 503 with the reasons when not), and counts its requests per route and status in
//! `motcua_http_requests_total` on the metrics endpoint (which stays on MOTCUA_METRICS_ADDR, never
//! on a public port). Public routes get the per-client rate limit of [`crate::limiter`] (429 with
//! Retry-After) and baseline security headers; a service sets stricter ones itself.

use crate::limiter::{PublicLimiter, retry_after_secs};
use crate::readiness::ReadinessSource;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;

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

async fn rate_limit(State(limiter): State<PublicLimiter>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let client = limiter.client(peer, forwarded);
    if let Err(wait) = limiter.check(client) {
        let secs = retry_after_secs(wait);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Quá nhiều yêu cầu, vui lòng thử lại sau {secs} giây.\nToo many requests; retry after {secs} s.\n"),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return with_security_headers(response);
    }
    with_security_headers(next.run(req).await)
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

/// The HTTP side's router: health and readiness, the service's private routes, and its public
/// routes behind the rate limit and security headers.
pub fn router(
    service: &'static str,
    readiness: ReadinessSource,
    limiter: PublicLimiter,
    public: axum::Router,
    private: axum::Router,
) -> axum::Router {
    let ready = readiness.clone();
    let public = public.layer(middleware::from_fn_with_state(limiter, rate_limit));
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
                        let mut why = ready.why();
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
        .merge(private)
        .merge(public)
        .layer(middleware::from_fn(move |req, next| {
            count(service, req, next)
        }))
}

/// An HTTP(S) client for calls to other systems (identity provider, gateways, webhooks): rustls
/// on ring, the process's one crypto provider.
pub fn client(timeout: std::time::Duration) -> anyhow::Result<reqwest::Client> {
    // A second install is refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()?)
}
