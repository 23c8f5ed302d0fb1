//! Notification's HTTP side for SMS gateways: inbound SMS lookups and delivery receipts.
//!
//! - `POST /sms/inbound` — `{"from": "0912345678", "text": "HS <code> <secret>", "message_id": "…"}`
//!   (JSON, or the same fields form-encoded). The text is read by [`crate::keyword`]; lookup is
//!   asked over gRPC; the answer goes back by SMS as a delivery like any other. A message id seen
//!   before is answered once; one sender gets at most MOTCUA_SMS_REPLIES_PER_HOUR replies an hour.
//!   The message's record and its reply are written in one transaction: when lookup cannot
//!   answer (503) or the reply cannot be written (500), nothing is recorded, so the gateway's
//!   retry (same message id) is answered in full, once.
//! - `POST /sms/receipt` — `{"id": "<our delivery id or the gateway's message id>", "status":
//!   "delivered" | "failed", "error": "…"}`.
//!
//! Both need the header `x-gateway-secret` equal to MOTCUA_SMS_INBOUND_SECRET (compared in
//! constant time, as digests of equal length: [`same_secret`]) and take at most 8 KiB. Errors are
//! JSON `{"error": "…"}` saying what to fix.

use crate::consume::SmsShape;
use crate::deliveries::{self, NewDelivery, RecipientKind};
use crate::keyword::{self, Parsed};
use crate::rules::Channel;
use crate::template_store;
use crate::triggers::{Facts, Trigger};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use motcua_domain::secrets::SecretHasher;
use motcua_platform::SharedClock;
use motcua_proto::lookup::LookupDossierRequest;
use motcua_proto::lookup::lookup_service_client::LookupServiceClient;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::PgPool;
use std::sync::Arc;
use tonic::transport::Channel as GrpcChannel;
use uuid::Uuid;

pub const MAX_BODY_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone)]
pub struct Gateway {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub secret: Option<SecretString>,
    pub keywords: Arc<Vec<String>>,
    pub replies_per_hour: i64,
    pub hasher: SecretHasher,
    pub lookup: LookupServiceClient<GrpcChannel>,
    pub lookup_token: Option<motcua_platform::auth::outgoing::TokenSource>,
    pub sms: SmsShape,
    pub retry_for: chrono::Duration,
}

pub fn routes(gateway: Gateway) -> axum::Router {
    axum::Router::new()
        .route("/sms/inbound", post(inbound))
        .route("/sms/receipt", post(receipt))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(gateway))
}

/// A refusal: its status and what to fix, as JSON `{"error": …}`.
#[derive(Debug)]
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    Refusal(status, message.to_owned()).into_response()
}

/// Whether the secret the gateway sent is the one configured, in constant time. Both are digested
/// first: the digests have one length whatever was sent, so neither a length check nor where the
/// first difference lies can show in the time taken; `subtle` compares them without branching on
/// their bytes. A missing header is compared like any wrong value.
pub fn same_secret(given: &[u8], want: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let (given, want) = (Sha256::digest(given), Sha256::digest(want));
    given.as_slice().ct_eq(want.as_slice()).into()
}

/// The request carries the gateway's secret.
fn authentic(gateway: &Gateway, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(secret) = &gateway.secret else {
        return Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "inbound SMS is not configured: set MOTCUA_SMS_INBOUND_SECRET".into(),
        ));
    };
    let given = headers
        .get("x-gateway-secret")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if same_secret(given, secret.expose_secret().as_bytes()) {
        Ok(())
    } else {
        Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "x-gateway-secret is missing or wrong".into(),
        ))
    }
}

/// JSON or form-encoded, by the content type.
fn decode<T: for<'de> Deserialize<'de>>(headers: &HeaderMap, body: &Bytes) -> Result<T, Refusal> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let decoded = if form {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    decoded.map_err(|e| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {e}"),
        )
    })
}

#[derive(Debug, Deserialize)]
struct InboundSms {
    from: String,
    text: String,
    message_id: String,
}

/// A Vietnamese phone as the gateway sends it ("84912345678", "+84 912…", "0912…") → "0912345678".
pub fn normalise_sender(from: &str) -> Option<String> {
    let digits: String = from
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let local = match digits.strip_prefix("84") {
        Some(rest) if digits.len() >= 11 => format!("0{rest}"),
        _ => digits.to_owned(),
    };
    (local.starts_with('0') && (10..=11).contains(&local.len())).then_some(local)
}

/// The body, or the JSON refusal of one too large (413) or unreadable.
fn body_or_refusal(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Refusal> {
    body.map_err(|e| {
        Refusal(
            e.status(),
            format!("cannot read the body ({e}); at most {MAX_BODY_BYTES} bytes"),
        )
    })
}

async fn inbound(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = authentic(&g, &headers) {
        return r.into_response();
    }
    let body = match body_or_refusal(body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let sms: InboundSms = match decode(&headers, &body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let message_id = sms.message_id.trim();
    if message_id.is_empty()
        || message_id.chars().count() > 128
        || message_id.chars().any(char::is_control)
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "message_id must be 1 to 128 printable characters",
        );
    }
    let Some(phone) = normalise_sender(&sms.from) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "from must be a Vietnamese phone number, e.g. 84912345678 or 0912345678",
        );
    };
    if sms.text.chars().count() > 1000 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "text is longer than 1000 characters",
        );
    }
    match answer(&g, message_id, &phone, &sms.text).await {
        Ok(outcome) => (StatusCode::OK, Json(outcome)).into_response(),
        Err(AnswerError::Unavailable(why)) => {
            tracing::warn!(%why, "inbound SMS: cannot answer now; the gateway will retry");
            let mut r = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot answer now; retry with the same message_id",
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
            r
        }
        Err(AnswerError::Internal(e)) => {
            tracing::error!(error = %e, "inbound SMS: internal error");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

#[derive(Debug)]
enum AnswerError {
    Unavailable(String),
    Internal(String),
}

impl From<sqlx::Error> for AnswerError {
    fn from(e: sqlx::Error) -> Self {
        if motcua_platform::db::is_unavailable(&e) {
            AnswerError::Unavailable(e.to_string())
        } else {
            AnswerError::Internal(e.to_string())
        }
    }
}

async fn answer(
    g: &Gateway,
    message_id: &str,
    phone: &str,
    text: &str,
) -> Result<serde_json::Value, AnswerError> {
    let now = g.clock.now();
    let (_, sender_hmac) = g.hasher.hash("sms-sender", phone);
    // One transaction from the message's record to its reply: a step that fails (lookup away,
    // the reply not written) leaves nothing behind, and the gateway's retry is answered in full.
    // The sender's lock is held throughout, so parallel messages from one number cannot all pass
    // the limit, and a duplicate arriving meanwhile waits and then finds the answer (never asking
    // lookup twice: each wrong secret costs the citizen a try). Lookup's call is bounded (5 s).
    let mut tx = g.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(&sender_hmac)
        .execute(&mut *tx)
        .await?;
    let seen: Option<String> =
        sqlx::query_scalar("SELECT outcome FROM inbound_sms WHERE provider_message_id = $1")
            .bind(message_id)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(outcome) = seen {
        return Ok(serde_json::json!({ "status": "duplicate", "outcome": outcome }));
    }
    let replied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inbound_sms WHERE sender_hmac = $1 AND received_at > $2 AND outcome <> 'limited'",
    )
    .bind(&sender_hmac)
    .bind(now - chrono::Duration::hours(1))
    .fetch_one(&mut *tx)
    .await?;
    let record = async |tx: &mut sqlx::PgConnection, outcome: &str, delivery: Option<Uuid>| {
        sqlx::query(
            "INSERT INTO inbound_sms (provider_message_id, sender_hmac, received_at, outcome, delivery_id)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(message_id)
        .bind(&sender_hmac)
        .bind(now)
        .bind(outcome)
        .bind(delivery)
        .execute(tx)
        .await
    };
    if replied >= g.replies_per_hour {
        record(&mut tx, "limited", None).await?;
        tx.commit().await?;
        metrics::counter!("motcua_notification_inbound_sms_total", "outcome" => "limited")
            .increment(1);
        return Ok(serde_json::json!({ "status": "limited" }));
    }
    // Read it, and ask lookup.
    let (trigger, facts, outcome) = match keyword::parse(text, &g.keywords) {
        Parsed::Help => {
            let keyword = g.keywords.first().cloned().unwrap_or_default();
            let facts = Facts {
                example: format!("{keyword} 000.00.06.H56-261127-0001 K7Q2M9XA3B"),
                keyword,
                ..Facts::default()
            };
            (Trigger::SmsHelp, facts, "help")
        }
        Parsed::Lookup { code, secret } => {
            let (facts, outcome) = ask_lookup(g, &code, &secret).await?;
            (Trigger::SmsReply, facts, outcome)
        }
    };
    // The reply, as a delivery like any other, worded by the template of the agency the code
    // names, and seen by that agency's officers.
    let agencies = if facts.code.is_empty() {
        Vec::new()
    } else {
        crate::triggers::dossier_agencies(&facts.code, &[])
    };
    let agency = agencies.first().map_or("", String::as_str);
    let template = template_store::in_use(&mut tx, trigger, Channel::Sms, agency)
        .await?
        .ok_or_else(|| AnswerError::Internal(format!("no template for {}", trigger.as_str())))?;
    let rendered = template
        .render(&facts)
        .map_err(|e| AnswerError::Internal(format!("template {}: {e}", trigger.as_str())))?;
    let (body, parts) = g.sms.shape(&rendered.body);
    let event_id = Uuid::now_v7();
    deliveries::insert(
        &mut tx,
        &[NewDelivery {
            event_id,
            dossier_code: facts.code.clone(),
            agencies: agencies.clone(),
            trigger: trigger.as_str().into(),
            channel: Channel::Sms,
            kind: RecipientKind::Sender,
            recipient_ref: message_id.into(),
            recipient_masked: crate::mask::address(phone),
            reply_to: Some(phone.into()),
            template_version: template.version,
            subject: String::new(),
            body,
            html_body: String::new(),
            sms_parts: parts as i32,
            quiet_hours: false,
            not_before: now,
        }],
        now,
        g.retry_for,
    )
    .await?;
    let delivery_id: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM deliveries WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&mut *tx)
            .await?;
    record(&mut tx, outcome, delivery_id).await?;
    tx.commit().await?;
    metrics::counter!("motcua_notification_inbound_sms_total", "outcome" => outcome).increment(1);
    Ok(serde_json::json!({
        "status": outcome,
        "delivery_id": delivery_id.map(|d| d.to_string()),
    }))
}

/// Asks lookup; the reply's facts and the outcome's name. Lookup's "not found" and "held back"
/// are answers for the citizen; its being down is not.
async fn ask_lookup(
    g: &Gateway,
    code: &str,
    secret: &str,
) -> Result<(Facts, &'static str), AnswerError> {
    let mut request = tonic::Request::new(LookupDossierRequest {
        dossier_code: code.into(),
        secret: secret.into(),
    });
    request.set_timeout(std::time::Duration::from_secs(5));
    if let Some(token) = &g.lookup_token {
        token.authorize(&mut request).await;
    }
    let mut client = g.lookup.clone();
    match client.lookup_dossier(request).await {
        Ok(r) => {
            let d = r.into_inner().dossier.unwrap_or_default();
            let due = d.apology_due_at.as_ref().or(d.due_at.as_ref());
            let finished = d.finished_at.is_some() || d.stopped_at.is_some();
            Ok((
                Facts {
                    code: d.dossier_code.clone(),
                    procedure: d.procedure_name.clone(),
                    status: d.status_label.clone(),
                    due_date: if finished {
                        String::new()
                    } else {
                        crate::triggers::date(due)
                    },
                    ..Facts::default()
                },
                "answered",
            ))
        }
        Err(s) if s.code() == tonic::Code::NotFound => Ok((
            Facts {
                code: code.into(),
                status: "không tìm thấy hồ sơ với mã và mã tra cứu này, vui lòng kiểm tra lại giấy tiếp nhận".into(),
                ..Facts::default()
            },
            "not-found",
        )),
        Err(s) if s.code() == tonic::Code::ResourceExhausted => Ok((
            Facts {
                code: code.into(),
                status: "mã hồ sơ này tạm khóa do nhập sai nhiều lần, vui lòng thử lại sau".into(),
                ..Facts::default()
            },
            "held-back",
        )),
        Err(s) if s.code() == tonic::Code::InvalidArgument => Ok((
            Facts {
                code: code.into(),
                status: "mã hồ sơ hoặc mã tra cứu không đúng định dạng".into(),
                ..Facts::default()
            },
            "invalid",
        )),
        Err(s) => Err(AnswerError::Unavailable(format!(
            "lookup: {} {}",
            s.code(),
            s.message()
        ))),
    }
}

#[derive(Debug, Deserialize)]
struct Receipt {
    id: String,
    status: String,
    #[serde(default)]
    error: String,
}

async fn receipt(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = authentic(&g, &headers) {
        return r.into_response();
    }
    let body = match body_or_refusal(body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let r: Receipt = match decode(&headers, &body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let delivered = match r.status.as_str() {
        "delivered" => true,
        "failed" => false,
        other => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("status {other:?}: use delivered or failed"),
            );
        }
    };
    if r.id.trim().is_empty() || r.id.len() > 128 {
        return refuse(StatusCode::BAD_REQUEST, "id must be 1 to 128 characters");
    }
    let error = crate::mask::scrub(&r.error.chars().take(500).collect::<String>());
    match deliveries::receipt(&g.pool, r.id.trim(), delivered, &error, g.clock.now()).await {
        Ok(true) => (StatusCode::OK, Json(serde_json::json!({ "matched": true }))).into_response(),
        Ok(false) => refuse(StatusCode::NOT_FOUND, "no sent SMS has this id"),
        Err(e) if motcua_platform::db::is_unavailable(&e) => {
            refuse(StatusCode::SERVICE_UNAVAILABLE, "retry later")
        }
        Err(e) => {
            tracing::error!(error = %e, "delivery receipt: internal error");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_secret_is_compared_as_equal_length_digests() {
        let want = b"gateway-shared-secret-for-tests";
        assert!(same_secret(want, want));
        // Wrong at the first byte, at the last, a prefix, longer, empty (no header): all "no",
        // by the same comparison of two 32-byte digests.
        for given in [
            &b"Xateway-shared-secret-for-tests"[..],
            b"gateway-shared-secret-for-testX",
            b"gateway-shared",
            b"gateway-shared-secret-for-tests-and-more",
            b"",
        ] {
            assert!(!same_secret(given, want), "{given:?}");
        }
    }

    #[test]
    fn senders_are_read_as_gateways_write_them() {
        assert_eq!(
            normalise_sender("84912345678").as_deref(),
            Some("0912345678")
        );
        assert_eq!(
            normalise_sender("+84 912 345 678").as_deref(),
            Some("0912345678")
        );
        assert_eq!(
            normalise_sender("0912345678").as_deref(),
            Some("0912345678")
        );
        assert_eq!(normalise_sender("VIETTEL"), None);
        assert_eq!(normalise_sender("12345"), None);
    }
}
