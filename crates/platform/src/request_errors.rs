//! Requests the server cannot read are the caller's mistake, so they get INVALID_ARGUMENT.
//!
//! tonic answers a body that is not valid protobuf (including invalid UTF-8 in a string field)
//! with INTERNAL, and a message over the size limit with OUT_OF_RANGE, before our code runs. This
//! wrapper rewrites those two answers, keeping tonic's description of what was wrong.

use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response};
use std::convert::Infallible;
use std::task::{Context, Poll};
use tonic::server::NamedService;
use tower::Service;

#[derive(Debug, Clone)]
pub struct UnreadableIsInvalid<S>(pub S);

impl<S: NamedService> NamedService for UnreadableIsInvalid<S> {
    const NAME: &'static str = S::NAME;
}

fn rewrite(headers: &mut http::HeaderMap) {
    let status = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .replace("%20", " ");
    let unreadable = (status == "13" && message.contains("failed to decode Protobuf message"))
        || (status == "11" && message.contains("decoded message length too large"));
    if unreadable {
        headers.insert("grpc-status", HeaderValue::from_static("3"));
        let text = format!("yêu cầu không đọc được (request cannot be read): {message}");
        let encoded: String = text
            .bytes()
            .map(|b| {
                if (0x20..0x7f).contains(&b) && b != b'%' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&encoded) {
            headers.insert("grpc-message", v);
        }
    }
}

impl<S, B, RB> Service<Request<B>> for UnreadableIsInvalid<S>
where
    S: Service<Request<B>, Response = Response<RB>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<RB>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<RB>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let fut = self.0.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            rewrite(resp.headers_mut());
            Ok(resp)
        })
    }
}
