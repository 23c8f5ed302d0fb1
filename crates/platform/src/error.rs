//! The small error vocabulary every service maps its domain errors into, and its one mapping to
//! gRPC status codes. Messages are for the caller and say what to fix; internal errors are logged
//! with their cause and reach the caller only as a generic message, so no database text leaks.

use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request itself is wrong (a field missing, malformed, out of range).
    #[error("{0}")]
    InvalidArgument(String),
    /// The request is well formed but the system's state refuses it (wrong channel for the
    /// procedure, a stale version, a dossier in the wrong status).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The caller acted on a version of the record that is no longer current (a concurrent change
    /// won): read it again and decide again. The current version travels in the
    /// `motcua-current-version` trailer.
    #[error("{message}")]
    Aborted {
        message: String,
        current_version: u64,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// A dependency (PostgreSQL, NATS) is not answering; the caller may retry. The text is the
    /// dependency's own (logged, never sent).
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// A part of what was asked depends on another service that is away; the message is for the
    /// caller and says what still works (UNAVAILABLE, so the caller may retry).
    #[error("{0}")]
    PartlyUnavailable(String),
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl From<ServiceError> for Status {
    fn from(e: ServiceError) -> Status {
        match e {
            ServiceError::InvalidArgument(m) => Status::new(Code::InvalidArgument, m),
            ServiceError::FailedPrecondition(m) => Status::new(Code::FailedPrecondition, m),
            ServiceError::NotFound(m) => Status::new(Code::NotFound, m),
            ServiceError::AlreadyExists(m) => Status::new(Code::AlreadyExists, m),
            ServiceError::Aborted {
                message,
                current_version,
            } => {
                let mut status = Status::new(Code::Aborted, message);
                if let Ok(v) = current_version.to_string().parse() {
                    status.metadata_mut().insert("motcua-current-version", v);
                }
                status
            }
            ServiceError::Unauthenticated(m) => Status::new(Code::Unauthenticated, m),
            ServiceError::PermissionDenied(m) => Status::new(Code::PermissionDenied, m),
            ServiceError::Unavailable(m) => {
                tracing::warn!(error = %m, "dependency unavailable");
                Status::new(
                    Code::Unavailable,
                    "dịch vụ tạm thời không sẵn sàng, vui lòng thử lại (service temporarily unavailable, retry)",
                )
            }
            ServiceError::PartlyUnavailable(m) => Status::new(Code::Unavailable, m),
            ServiceError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                Status::new(Code::Internal, "lỗi nội bộ (internal error)")
            }
        }
    }
}

/// A caller's value refused by the text rules (or any check that says what to fix).
impl From<motcua_text::Invalid> for ServiceError {
    fn from(e: motcua_text::Invalid) -> Self {
        ServiceError::InvalidArgument(e.0)
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolTimedOut) {
            // Either every pooled connection is busy, or PostgreSQL refuses new ones (sqlx retries
            // a refused connect silently until its deadline): the host's watcher asks the server
            // and says which in the health detail `postgres-connections`.
            crate::db::POOL_TIMEOUTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            metrics::counter!("motcua_db_pool_timeouts_total").increment(1);
        }
        if crate::db::is_unavailable(&e) {
            ServiceError::Unavailable(e.to_string())
        } else {
            ServiceError::Internal(e.into())
        }
    }
}
