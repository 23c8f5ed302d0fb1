//! Officers' queues: open cases ordered by their current step's due time, in pages.

use crate::settings::WorkflowSettings;
use chrono::{DateTime, Utc};
use motcua_domain::calendars::Calendars;
use motcua_domain::time::from_ts;
use motcua_platform::ServiceError;
use motcua_platform::auth::{Caller, Role};
use motcua_proto::workflow::{Case, ListQueueRequest, QueueScope};
use prost::Message;
use sqlx::{PgPool, Row};

fn invalid(m: impl Into<String>) -> ServiceError {
    ServiceError::InvalidArgument(m.into())
}

/// "<step due, µs>|<dossier code>" of the last case of a page.
fn parse_token(token: &str) -> Result<Option<(DateTime<Utc>, String)>, ServiceError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        invalid(
            "page_token không hợp lệ; dùng next_page_token của trang trước (use the previous page's next_page_token)",
        )
    };
    let (micros, code) = token.split_once('|').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .filter(|t| (1970..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or_else(bad)?;
    Ok(Some((at, code.to_owned())))
}

pub async fn list(
    pool: &PgPool,
    who: &Caller,
    r: &ListQueueRequest,
    now: DateTime<Utc>,
    calendars: &Calendars,
    settings: &WorkflowSettings,
) -> Result<(Vec<Case>, String), ServiceError> {
    let limit = match r.page_size {
        0 => 50,
        n if n > 200 => return Err(invalid("page_size tối đa 200 (at most 200)")),
        n => n,
    };
    let scope = QueueScope::try_from(r.scope).unwrap_or(QueueScope::Unspecified);
    let leader = who.has(Role::Leader);
    let (assignee, unassigned, department) = match scope {
        QueueScope::Unspecified => {
            return Err(invalid(
                "thiếu scope: MINE, UNASSIGNED, DEPARTMENT, OFFICER hoặc AGENCY (scope is required)",
            ));
        }
        QueueScope::Mine => (Some(who.subject.clone()), false, None),
        QueueScope::Unassigned => (None, true, Some(who.department.clone())),
        QueueScope::Department => {
            if who.department.is_empty() {
                return Err(ServiceError::FailedPrecondition(
                    "mã xác thực không nêu phòng của cán bộ (your token names no department)"
                        .into(),
                ));
            }
            (None, false, Some(who.department.clone()))
        }
        QueueScope::Officer => {
            if !leader {
                return Err(ServiceError::PermissionDenied(
                    "xem hàng việc của cán bộ khác cần vai trò leader (needs role leader)".into(),
                ));
            }
            if r.officer.trim().is_empty() {
                return Err(invalid(
                    "thiếu officer (officer is required for scope OFFICER)",
                ));
            }
            (Some(r.officer.trim().to_owned()), false, None)
        }
        QueueScope::Agency => {
            if !leader {
                return Err(ServiceError::PermissionDenied(
                    "xem mọi hồ sơ của cơ quan cần vai trò leader (needs role leader)".into(),
                ));
            }
            (None, false, None)
        }
    };
    let roles: Vec<String> = who.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let due_before = r
        .due_before
        .as_ref()
        .map(|t| from_ts(t, "due_before"))
        .transpose()?;
    // "Due soon": due within the reminder window of working time from now.
    let soon = if r.due_soon_only {
        let cal = calendars.for_agency(&who.agency);
        Some(
            cal.due(
                now.with_timezone(&motcua_calendar::vietnam()),
                settings.due_soon,
                None,
                &[],
            )
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("calendar: {e}")))?
            .with_timezone(&Utc),
        )
    } else {
        None
    };
    let after = parse_token(&r.page_token)?;
    let (after_due, after_code) = after.map_or((None, String::new()), |(t, c)| (Some(t), c));
    let rows = sqlx::query(
        "SELECT record FROM cases
         WHERE open AND competent_agency = $1
           AND ($2::text IS NULL OR assignee_subject = $2)
           AND (NOT $3 OR (assignee_subject IS NULL AND step_role = ANY($4)
                           AND (step_department = '' OR step_department = $5)))
           AND ($3 OR $5::text IS NULL OR step_department = $5)
           AND ($6 = '' OR field = $6)
           AND ($7 = '' OR procedure_code = $7)
           AND ($8 = 0 OR status = $8)
           AND ($9::timestamptz IS NULL OR step_due_at < $9)
           AND (NOT $10 OR step_due_at < $11)
           AND ($12::timestamptz IS NULL OR (step_due_at >= $11 AND step_due_at <= $12))
           AND ($13::timestamptz IS NULL OR (step_due_at, dossier_code) > ($13, $14))
         ORDER BY step_due_at, dossier_code LIMIT $15",
    )
    .bind(&who.agency)
    .bind(&assignee)
    .bind(unassigned)
    .bind(&roles)
    .bind(&department)
    .bind(r.field.trim())
    .bind(r.procedure_code.trim())
    .bind(r.status as i16)
    .bind(due_before)
    .bind(r.overdue_only)
    .bind(now)
    .bind(soon)
    .bind(after_due)
    .bind(after_code)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let cases: Vec<Case> = rows
        .iter()
        .map(|row| {
            Case::decode(row.get::<&[u8], _>("record"))
                .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored case: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let next = if cases.len() == limit as usize {
        cases
            .last()
            .and_then(|c| {
                let t = from_ts(c.step_due_at.as_ref()?, "step_due_at").ok()?;
                Some(format!("{}|{}", t.timestamp_micros(), c.dossier_code))
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok((cases, next))
}
