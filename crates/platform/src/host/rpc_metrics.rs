//! Per-RPC request counts and latency, for every gRPC call a service answers:
//! `motcua_grpc_requests_total{method, code}` and the histogram
//! `motcua_grpc_request_duration_seconds{method}` (buckets in `crate::metrics`), where `method` is
//! the call's path (`/<package>.<Service>/<Method>`) and `code` its gRPC status
//! code. A refused or failed call is answered trailers-only, its status in the response headers;
//! a call that succeeds carries none there and counts as OK (0). Latency runs until the response
//! headers, which for these unary calls is when the answer is ready.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

/// The counter of calls.
pub const REQUESTS: &str = "motcua_grpc_requests_total";
/// The latency histogram.
pub const DURATION: &str = "motcua_grpc_request_duration_seconds";

#[derive(Debug, Clone, Default)]
pub struct RpcMetricsLayer;

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for RpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = req.uri().path().to_owned();
        let started = Instant::now();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let result = answer.await;
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0")
                    .to_owned(),
                // The transport failed the call before any answer (14: UNAVAILABLE).
                Err(_) => "14".to_owned(),
            };
            metrics::histogram!(DURATION, "method" => method.clone())
                .record(started.elapsed().as_secs_f64());
            metrics::counter!(REQUESTS, "method" => method, "code" => code).increment(1);
            result
        })
    }
}
