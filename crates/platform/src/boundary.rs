//! The gRPC boundary: what every call passes before any service code runs, the same way for every
//! service and every field.
//!
//! - Only the services this port serves answer; any other gets UNIMPLEMENTED saying which are here.
//! - Load shedding: at most MOTCUA_MAX_IN_FLIGHT calls at once, and at most
//!   MOTCUA_REQUEST_MEMORY_BYTES of request bodies held at once. Past either, the call is refused
//!   at once with RESOURCE_EXHAUSTED ("busy, retry") instead of queueing until the pod runs out of
//!   memory. Health checks are exempt, so readiness tells "down" from "busy".
//! - Public services (no token): a per-client rate limit, RESOURCE_EXHAUSTED with `retry-after`.
//! - The request is read and decoded against the contract: unreadable bytes, invalid UTF-8, an
//!   oversized message, a control character (NUL included) in any text field, a text longer than
//!   its field's limit, an enum number the contract does not define, a timestamp out of range — each
//!   is INVALID_ARGUMENT naming the field, before the service sees it. Nothing a caller sends can
//!   reach PostgreSQL as a NUL or come back as INTERNAL.
//!
//! Per-field limits and the fields that may hold line breaks come from the service
//! ([`TextRules`]); everything else is common.

use crate::limiter::{PublicLimiter, retry_after_secs};
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use http::{Request, Response};
use http_body_util::BodyExt;
use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind, MessageDescriptor, ReflectMessage, Value,
};
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tonic::transport::server::TcpConnectInfo;
use tonic::{Code, Status};
use tower::{Layer, Service};

const HEALTH: &str = "grpc.health.v1.Health";
const REFLECTION: [&str; 2] = [
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// How long a text field may be and whether it may hold line breaks: the service's table.
#[derive(Debug, Clone)]
pub struct TextRules {
    /// Characters allowed in a field not named in `limits`.
    pub default_max_chars: usize,
    /// Field name → most characters (proto field names, e.g. `dossier_code`).
    pub limits: &'static [(&'static str, usize)],
    /// Fields that may hold `\n` (and `\r\n`, `\t`); in every other field any control character
    /// is refused.
    pub multiline: &'static [&'static str],
}

impl Default for TextRules {
    fn default() -> Self {
        Self {
            default_max_chars: 1000,
            limits: &[],
            multiline: &[],
        }
    }
}

impl TextRules {
    fn max_chars(&self, field: &str) -> usize {
        self.limits
            .iter()
            .find(|(name, _)| *name == field)
            .map_or(self.default_max_chars, |(_, n)| *n)
    }
}

/// The boundary's configuration for one gRPC port.
#[derive(Debug, Clone)]
pub struct BoundaryConfig {
    /// Fully qualified names of the services this port serves (health and reflection are added).
    pub services: Vec<String>,
    /// Those of them that take no token.
    pub public: Vec<String>,
    pub rules: TextRules,
    /// The contracts of the services served, for decoding requests by their method's input type.
    pub contracts: DescriptorPool,
    pub max_message_bytes: usize,
    pub max_in_flight: usize,
    pub memory_bytes: usize,
    pub limiter: PublicLimiter,
}

#[derive(Debug, Clone)]
pub struct BoundaryLayer(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    served: HashSet<String>,
    public: HashSet<String>,
    rules: TextRules,
    contracts: DescriptorPool,
    max_message_bytes: usize,
    in_flight: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    limiter: PublicLimiter,
}

impl BoundaryLayer {
    pub fn new(config: BoundaryConfig) -> Self {
        let mut served: HashSet<String> = config.services.iter().cloned().collect();
        served.insert(HEALTH.to_owned());
        served.extend(REFLECTION.iter().map(|s| (*s).to_owned()));
        Self(Arc::new(Shared {
            served,
            public: config.public.into_iter().collect(),
            rules: config.rules,
            contracts: config.contracts,
            max_message_bytes: config.max_message_bytes,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            memory: Arc::new(Semaphore::new(config.memory_bytes)),
            limiter: config.limiter,
        }))
    }
}

impl<S> Layer<S> for BoundaryLayer {
    type Service = Boundary<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Boundary {
            inner,
            shared: self.0.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Boundary<S> {
    inner: S,
    shared: Arc<Shared>,
}

fn refuse(status: Status) -> Response<Body> {
    metrics::counter!("motcua_grpc_refused_total", "code" => format!("{:?}", status.code()))
        .increment(1);
    status.into_http()
}

fn invalid(message: String) -> Status {
    Status::new(Code::InvalidArgument, message)
}

fn busy() -> Status {
    Status::new(
        Code::ResourceExhausted,
        "máy chủ đang bận, vui lòng thử lại sau giây lát (server busy: too many calls at once; retry with backoff)",
    )
}

/// What the call holds while it runs: released when it ends.
struct Held {
    _call: Option<OwnedSemaphorePermit>,
    _bytes: Vec<OwnedSemaphorePermit>,
}

impl<S> Service<Request<Body>> for Boundary<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        // The ready clone goes with this call; a fresh clone stays for the next (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let path = req.uri().path().to_owned();
            let (service, method) = path
                .trim_start_matches('/')
                .split_once('/')
                .unwrap_or((path.as_str(), ""));
            if !shared.served.contains(service) {
                let mut here: Vec<&str> = shared
                    .served
                    .iter()
                    .map(String::as_str)
                    .filter(|s| s.starts_with("motcua."))
                    .collect();
                here.sort();
                return Ok(refuse(Status::new(
                    Code::Unimplemented,
                    format!(
                        "dịch vụ {} không chạy ở cổng này; ở đây có: {} (service not served on this port)",
                        crate::text::quote(service),
                        here.join(", ")
                    ),
                )));
            }
            if service == HEALTH || REFLECTION.contains(&service) {
                return inner.call(req).await;
            }
            if shared.public.contains(service) {
                let peer = req
                    .extensions()
                    .get::<TcpConnectInfo>()
                    .and_then(|c| c.remote_addr)
                    .map(|a| a.ip());
                let client = {
                    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
                    shared.limiter.identify(
                        peer,
                        header("x-forwarded-for"),
                        header("authorization"),
                    )
                };
                if let Err(wait) = shared.limiter.admit(client) {
                    let secs = retry_after_secs(wait);
                    let mut status = Status::new(
                        Code::ResourceExhausted,
                        format!(
                            "quá nhiều yêu cầu, thử lại sau {secs} giây (rate limited; retry after {secs} s)"
                        ),
                    );
                    if let Ok(v) = secs.to_string().parse() {
                        status.metadata_mut().insert("retry-after", v);
                    }
                    return Ok(refuse(status));
                }
                req.extensions_mut().insert(client);
            }
            let Ok(call) = shared.in_flight.clone().try_acquire_owned() else {
                return Ok(refuse(busy()));
            };
            let input = match input_of(&shared.contracts, service, method) {
                Input::Unary(input) => input,
                // Streams are read by the service as they come (none of ours takes one yet).
                Input::Streaming => {
                    let response = inner.call(req).await;
                    drop(call);
                    return response;
                }
                Input::Missing => {
                    return Ok(refuse(Status::new(
                        Code::Unimplemented,
                        format!(
                            "dịch vụ {service} không có phương thức {} (no such method)",
                            crate::text::quote(method)
                        ),
                    )));
                }
            };
            let (parts, body) = req.into_parts();
            let (bytes, held) = match read_body(&shared, body, call).await {
                Ok(read) => read,
                Err(status) => return Ok(refuse(status)),
            };
            if let Err(status) = check_frame(&shared.rules, &input, &bytes) {
                return Ok(refuse(status));
            }
            let req = Request::from_parts(parts, Body::new(http_body_util::Full::new(bytes)));
            let response = inner.call(req).await;
            drop(held);
            response
        })
    }
}

/// What a method takes, by the contract.
enum Input {
    Unary(MessageDescriptor),
    Streaming,
    Missing,
}

fn input_of(contracts: &DescriptorPool, service: &str, method: &str) -> Input {
    let Some(m) = contracts
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == method))
    else {
        return Input::Missing;
    };
    if m.is_client_streaming() {
        Input::Streaming
    } else {
        Input::Unary(m.input())
    }
}

/// Reads the body, holding memory permits for its bytes; refuses past the limits.
async fn read_body(
    shared: &Shared,
    mut body: Body,
    call: OwnedSemaphorePermit,
) -> Result<(Bytes, Held), Status> {
    let mut buf = BytesMut::new();
    let mut held = Held {
        _call: Some(call),
        _bytes: Vec::new(),
    };
    // The 5-byte gRPC frame header comes on top of the message.
    let limit = shared.max_message_bytes + 5;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            invalid(format!(
                "yêu cầu không đọc được (request cannot be read): {e}"
            ))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            return Err(invalid(format!(
                "yêu cầu lớn hơn {} byte (request too large: the limit is {} bytes)",
                shared.max_message_bytes, shared.max_message_bytes
            )));
        }
        let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
        match shared.memory.clone().try_acquire_many_owned(n) {
            Ok(permit) => held._bytes.push(permit),
            Err(_) => return Err(busy()),
        }
        buf.extend_from_slice(&data);
    }
    Ok((buf.freeze(), held))
}

/// Checks the one length-prefixed message of a unary call.
fn check_frame(rules: &TextRules, input: &MessageDescriptor, bytes: &[u8]) -> Result<(), Status> {
    if bytes.len() < 5 {
        return Err(invalid(
            "yêu cầu không đọc được: thiếu khung gRPC (request cannot be read: no gRPC frame)"
                .into(),
        ));
    }
    match bytes[0] {
        0 => {}
        // The server accepts no compression: say so, rather than let the bytes through unchecked.
        1 => {
            return Err(Status::new(
                Code::Unimplemented,
                "yêu cầu nén không được hỗ trợ; gửi không nén (compressed requests are not accepted; send them uncompressed)",
            ));
        }
        flag => {
            return Err(invalid(format!(
                "yêu cầu không đọc được: cờ khung gRPC {flag} không hợp lệ (request cannot be read: bad frame flag)"
            )));
        }
    }
    let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
    if bytes.len() != 5 + len {
        return Err(invalid(
            "yêu cầu không đọc được: độ dài khung sai (request cannot be read: frame length does not match)".into(),
        ));
    }
    let message = DynamicMessage::decode(input.clone(), &bytes[5..]).map_err(|e| {
        invalid(format!(
            "yêu cầu không đọc được (request cannot be read: failed to decode Protobuf message): {e}"
        ))
    })?;
    check_message(rules, &message, "")
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn check_message(rules: &TextRules, message: &DynamicMessage, prefix: &str) -> Result<(), Status> {
    if message.descriptor().full_name() == "google.protobuf.Timestamp" {
        return check_timestamp(message, prefix);
    }
    for (field, value) in message.fields() {
        let path = join(prefix, field.name());
        match value {
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_value(
                        rules,
                        &field.kind(),
                        field.name(),
                        item,
                        &format!("{path}[{i}]"),
                    )?;
                }
            }
            Value::Map(entries) => {
                for (key, item) in entries {
                    if let prost_reflect::MapKey::String(k) = key {
                        check_text(rules, field.name(), k, &format!("{path} (key)"))?;
                    }
                    let value_kind = match field.kind() {
                        Kind::Message(entry) => entry.map_entry_value_field().kind(),
                        other => other,
                    };
                    check_value(rules, &value_kind, field.name(), item, &path)?;
                }
            }
            single => check_value(rules, &field.kind(), field.name(), single, &path)?,
        }
    }
    Ok(())
}

fn check_value(
    rules: &TextRules,
    kind: &Kind,
    name: &str,
    value: &Value,
    path: &str,
) -> Result<(), Status> {
    match (kind, value) {
        (_, Value::String(s)) => check_text(rules, name, s, path),
        (Kind::Enum(e), Value::EnumNumber(n)) if e.get_value(*n).is_none() => {
            let known: Vec<String> = e
                .values()
                .filter(|v| v.number() != 0)
                .map(|v| format!("{} = {}", v.name(), v.number()))
                .collect();
            Err(invalid(format!(
                "{path}: giá trị {n} không có trong {} (unknown value; use one of {})",
                e.name(),
                known.join(", ")
            )))
        }
        (_, Value::Message(m)) => check_message(rules, m, path),
        _ => Ok(()),
    }
}

fn check_text(rules: &TextRules, name: &str, text: &str, path: &str) -> Result<(), Status> {
    let multiline = rules.multiline.contains(&name);
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(invalid(format!(
            "{path}: chứa ký tự điều khiển U+{:04X} (contains a control character)",
            c as u32
        )));
    }
    let max = rules.max_chars(name);
    let count = text.chars().count();
    if count > max {
        return Err(invalid(format!(
            "{path}: dài {count} ký tự, tối đa {max} (longer than {max} characters)"
        )));
    }
    Ok(())
}

/// RFC 3339's range, as protobuf's Timestamp defines it: years 0001–9999, nanos below 1e9.
fn check_timestamp(message: &DynamicMessage, path: &str) -> Result<(), Status> {
    let get = |name: &str| {
        message
            .get_field_by_name(name)
            .map(|v| match v.as_ref() {
                Value::I64(n) => *n,
                Value::I32(n) => i64::from(*n),
                _ => 0,
            })
            .unwrap_or(0)
    };
    let (seconds, nanos) = (get("seconds"), get("nanos"));
    if !(-62_135_596_800..=253_402_300_799).contains(&seconds)
        || !(0..1_000_000_000).contains(&nanos)
    {
        return Err(invalid(format!(
            "{path}: thời điểm không hợp lệ (timestamp out of range: years 0001–9999, nanos 0–999999999)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
