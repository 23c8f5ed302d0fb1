//! Lookup's answers that are not a result, and their one mapping to gRPC and to HTTP. Messages are
//! Vietnamese first and say what to fix; an unknown code and a wrong secret are one answer.

use axum::http::StatusCode;
use std::time::Duration;
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The request is malformed: say what to fix.
    #[error("{0}")]
    Invalid(String),
    /// No such dossier, or the secret does not open it: the same words for both.
    #[error("{}", NOT_FOUND_DOSSIER)]
    NoDossier,
    /// No procedure in force with this code.
    #[error("không tìm thấy thủ tục {0} (no procedure in force with this code)")]
    NoProcedure(String),
    /// Too many wrong ID numbers for this code, this ID number or from this client: wait (the
    /// receipt's token is never held back).
    #[error("mã hồ sơ hoặc số giấy tờ tùy thân đã bị nhập sai nhiều lần, vui lòng thử lại sau {} giây hoặc dùng mã tra cứu in trên giấy tiếp nhận (too many wrong ID numbers; retry after {} s, or use the receipt's lookup token)", secs(*.0), secs(*.0))]
    HeldBack(Duration),
    /// PostgreSQL is not answering.
    #[error(
        "dịch vụ tạm thời không sẵn sàng, vui lòng thử lại (service temporarily unavailable, retry)"
    )]
    Unavailable(String),
    #[error("lỗi nội bộ (internal error)")]
    Internal(anyhow::Error),
}

pub const NOT_FOUND_DOSSIER: &str = "Không tìm thấy hồ sơ với mã hồ sơ và mã tra cứu (hoặc số giấy tờ tùy thân) này. Vui lòng kiểm tra lại giấy tiếp nhận. (No dossier matches this code and secret.)";

/// Whole seconds to wait (at least 1), as Retry-After says it.
pub fn secs(wait: Duration) -> u64 {
    motcua_platform::limiter::retry_after_secs(wait)
}

impl From<sqlx::Error> for LookupError {
    fn from(e: sqlx::Error) -> Self {
        if motcua_platform::db::is_unavailable(&e) {
            LookupError::Unavailable(e.to_string())
        } else {
            LookupError::Internal(e.into())
        }
    }
}

impl LookupError {
    /// The HTTP status of this answer.
    pub fn http_status(&self) -> StatusCode {
        match self {
            LookupError::Invalid(_) => StatusCode::BAD_REQUEST,
            LookupError::NoDossier | LookupError::NoProcedure(_) => StatusCode::NOT_FOUND,
            LookupError::HeldBack(_) => StatusCode::TOO_MANY_REQUESTS,
            LookupError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            LookupError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds to put in Retry-After, for the answers that have one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            LookupError::HeldBack(wait) => Some(secs(*wait)),
            LookupError::Unavailable(_) => Some(1),
            _ => None,
        }
    }

    /// Logs what the caller does not see.
    pub fn log(&self) {
        match self {
            LookupError::Unavailable(e) => tracing::warn!(error = %e, "dependency unavailable"),
            LookupError::Internal(e) => tracing::error!(error = ?e, "internal error"),
            _ => {}
        }
    }
}

impl From<LookupError> for Status {
    fn from(e: LookupError) -> Status {
        e.log();
        let code = match &e {
            LookupError::Invalid(_) => Code::InvalidArgument,
            LookupError::NoDossier | LookupError::NoProcedure(_) => Code::NotFound,
            LookupError::HeldBack(_) => Code::ResourceExhausted,
            LookupError::Unavailable(_) => Code::Unavailable,
            LookupError::Internal(_) => Code::Internal,
        };
        let retry = e.retry_after();
        let mut status = Status::new(code, e.to_string());
        if let Some(v) = retry.and_then(|s| s.to_string().parse().ok()) {
            status.metadata_mut().insert("retry-after", v);
        }
        status
    }
}
