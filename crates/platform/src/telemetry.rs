//! Logs, traces and the W3C trace context that follows a dossier across gRPC and NATS.
//!
//! A tracer provider is always installed, so spans have trace ids and `traceparent` is always
//! propagated; spans are exported over OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use crate::config::{LogFormat, Settings};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use std::sync::OnceLock;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs logging and tracing for the process; later calls do nothing (tests start many
/// services in one process).
pub fn init(service: &str, settings: &Settings) -> anyhow::Result<()> {
    if PROVIDER.get().is_some() {
        return Ok(());
    }
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = &settings.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    } else {
        // Nothing exports: spans need ids (for traceparent) but not their recording, which would
        // cost every call for nothing. A caller's sampled trace is still followed.
        builder = builder.with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
            opentelemetry_sdk::trace::Sampler::AlwaysOff,
        )));
    }
    let provider = builder.build();
    let tracer = provider.tracer("motcua");
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let _ = PROVIDER.set(provider);

    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let fmt = match settings.log_format {
        // Logs go to stderr, so stdout stays for what a command prints (addresses, tokens).
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init();
    Ok(())
}

/// Flushes and stops the exporter (on shutdown).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.force_flush() {
            tracing::warn!(error = %e, "flushing traces");
        }
        let _ = provider.shutdown();
    }
}

struct MapInjector<'a>(&'a mut HashMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

/// The current span's trace context as headers (`traceparent`, `tracestate`).
pub fn current_context_headers() -> HashMap<String, String> {
    let mut map = HashMap::new();
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut MapInjector(&mut map));
    map
}

struct NatsExtractor<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

struct HttpExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HttpExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` a child of the trace context in NATS message headers, and names its trace in
/// the span's `trace_id` field.
pub fn set_parent_from_nats(span: &tracing::Span, headers: Option<&async_nats::HeaderMap>) {
    if let Some(h) = headers {
        let cx = TraceContextPropagator::new().extract(&NatsExtractor(h));
        let _ = span.set_parent(cx);
    }
    record_trace_id(span);
}

/// A span for an incoming gRPC request, child of the caller's `traceparent` if it sent one; its
/// `trace_id` field names the trace.
pub fn grpc_request_span(req: &http::Request<()>) -> tracing::Span {
    let span =
        tracing::info_span!("grpc", path = %req.uri().path(), trace_id = tracing::field::Empty);
    let cx = TraceContextPropagator::new().extract(&HttpExtractor(req.headers()));
    let _ = span.set_parent(cx);
    record_trace_id(&span);
    span
}

/// Writes the span's trace id into its `trace_id` field (declared empty when it was made): every
/// log line within the span then carries it (in JSON under `span` and `spans`, in text in the
/// span's prefix), so an operator goes from a log line to the trace and back.
pub fn record_trace_id(span: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt;
    let id = span.context().span().span_context().trace_id();
    if id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Log lines written to memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_log_line_within_a_call_names_the_callers_trace() {
        let lines = Lines::default();
        let writer = lines.clone();
        let provider = SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                opentelemetry_sdk::trace::Sampler::AlwaysOff,
            )))
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(move || writer.clone()),
            )
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        tracing::subscriber::with_default(subscriber, || {
            let req = http::Request::builder()
                .uri("/example.v1.Example/Submit")
                .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
                .body(())
                .unwrap_or_default();
            let span = grpc_request_span(&req);
            span.in_scope(|| tracing::info!("dossier received"));
            // A call without a caller's trace gets one of its own, named the same way.
            let req = http::Request::builder()
                .uri("/x/Y")
                .body(())
                .unwrap_or_default();
            grpc_request_span(&req).in_scope(|| tracing::info!("another"));
        });
        let text = String::from_utf8(lines.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default();
        let logged: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_default())
            .collect();
        assert_eq!(logged.len(), 2, "{text}");
        assert_eq!(logged[0]["span"]["trace_id"], trace, "{text}");
        let own = logged[1]["span"]["trace_id"].as_str().unwrap_or_default();
        assert_eq!(own.len(), 32, "{text}");
        assert_ne!(own, trace);
    }
}
