//! Officers' queues: open cases ordered by their current step's due time, in pages; found by a
//! part of the dossier code, or by the applicant's name or phone (asked of intake, which holds
//! them); each case with why it is in the caller's queue.

use crate::bounds;
use crate::settings::WorkflowSettings;
use chrono::{DateTime, Utc};
use motcua_domain::calendars::Calendars;
use motcua_domain::time::from_ts;
use motcua_platform::ServiceError;
use motcua_platform::auth::{Caller, Role};
use motcua_proto::intake::ListDossiersRequest;
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::workflow::{
    Case, ListQueueRequest, ListQueueResponse, QueueReason, QueueReasonKind, QueueScope,
};
use prost::Message;
use sqlx::{PgPool, Row};
use tonic::transport::Channel;

fn invalid(m: impl Into<String>) -> ServiceError {
    ServiceError::InvalidArgument(m.into())
}

/// Intake's API, asked for the dossiers of an applicant (name or phone) with the officer's own
/// token, so intake applies the officer's scope. Connected lazily: workflow starts and serves
/// without intake; only a name or phone search needs it.
#[derive(Debug, Clone)]
pub struct IntakeSearch(IntakeServiceClient<Channel>);

impl IntakeSearch {
    pub fn new(endpoint: &str) -> anyhow::Result<Self> {
        let channel = motcua_platform::client::grpc_channel(
            "MOTCUA_WORKFLOW_INTAKE_URL",
            endpoint,
            Some(std::time::Duration::from_secs(5)),
        )?;
        Ok(Self(IntakeServiceClient::new(channel)))
    }

    /// The codes of the dossiers intake finds for `applicant` (at most 500), within the caller's
    /// scope.
    async fn codes(
        &self,
        bearer: Option<&str>,
        applicant: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let mut req = tonic::Request::new(ListDossiersRequest {
            applicant: applicant.to_owned(),
            // A queue holds open cases only: an applicant's many old dossiers must not crowd the
            // open ones out of the 500.
            open_only: true,
            page_size: 500,
            ..Default::default()
        });
        if let Some(b) = bearer.and_then(|b| b.parse().ok()) {
            req.metadata_mut().insert("authorization", b);
        }
        let answer = self.0.clone().list_dossiers(req).await.map_err(|s| {
            match s.code() {
                tonic::Code::InvalidArgument => invalid(format!("query: {}", s.message())),
                _ => {
                    tracing::warn!(status = %s, "queue search: intake did not answer");
                    ServiceError::PartlyUnavailable(
                        "tạm không tìm được theo tên hoặc số điện thoại vì dịch vụ tiếp nhận không trả lời; tìm theo mã hồ sơ vẫn được (intake, which holds applicants' names and phones, did not answer; a search by dossier code still works)".into(),
                    )
                }
            }
        })?;
        Ok(answer
            .into_inner()
            .dossiers
            .into_iter()
            .filter_map(|d| d.receipt.map(|r| r.dossier_code))
            .collect())
    }
}

/// What a queue search means.
#[derive(Debug, PartialEq)]
enum Query {
    None,
    /// A part of a dossier code ("0361", "H56-260302").
    Code(String),
    /// A phone number or a name: intake holds them.
    Applicant(String),
}

/// Reads the officer's `query`: digits only and 9 or more of them is a phone; anything with a
/// digit, a dot or a dash is a part of a code (at least 4 characters); the rest is a name (at
/// least 2 letters).
fn parse_query(q: &str) -> Result<Query, ServiceError> {
    let q = bounds::line(q, "query", bounds::QUERY)?;
    if q.is_empty() {
        return Ok(Query::None);
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let phone_like = q
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '+' | '-'));
    if phone_like && digits.len() >= 9 {
        return Ok(Query::Applicant(q));
    }
    if q.chars()
        .any(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        if q.chars().count() < 4 {
            return Err(invalid(
                "query: phần mã hồ sơ cần ít nhất 4 ký tự (a part of a dossier code needs at least 4 characters)",
            ));
        }
        return Ok(Query::Code(q.to_uppercase()));
    }
    if q.chars().filter(|c| c.is_alphabetic()).count() < 2 {
        return Err(invalid(
            "query: tên người nộp cần ít nhất 2 chữ cái (a name needs at least 2 letters)",
        ));
    }
    Ok(Query::Applicant(q))
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

/// Why `c` is in the caller's queue (see `QueueReasonKind`).
fn reasons(
    c: &Case,
    who: &Caller,
    scope: QueueScope,
    now: DateTime<Utc>,
    soon: DateTime<Utc>,
) -> Vec<i32> {
    let mut kinds = Vec::new();
    if c.assignee
        .as_ref()
        .is_some_and(|a| a.subject == who.subject)
    {
        kinds.push(QueueReasonKind::AssignedToMe);
    }
    let step = crate::rules::current(c);
    if let Some(s) = step
        && Role::parse(&s.role).is_some_and(|r| who.has(r))
        && (s.department.is_empty() || s.department == who.department)
    {
        kinds.push(QueueReasonKind::MyDepartmentStep);
    }
    if let Some(due) = c
        .step_due_at
        .as_ref()
        .and_then(|t| from_ts(t, "step_due_at").ok())
    {
        if due < now {
            kinds.push(QueueReasonKind::Overdue);
        } else if due <= soon {
            kinds.push(QueueReasonKind::DueSoon);
        }
    }
    if returned_to(c, who) {
        kinds.push(QueueReasonKind::ReturnedToMe);
    }
    if matches!(scope, QueueScope::Officer | QueueScope::Agency) {
        kinds.push(QueueReasonKind::LeaderView);
    }
    kinds.into_iter().map(|k| k as i32).collect()
}

/// The current step came back by a send-back, to a step the caller had held before.
fn returned_to(c: &Case, who: &Caller) -> bool {
    let sheet = &c.control_sheet;
    let (Some(current), Some(previous)) = (sheet.last(), sheet.len().checked_sub(2)) else {
        return false;
    };
    let key = current.step.as_ref().map(|s| s.key.as_str());
    sheet[previous].ended_by == "sent-back"
        && sheet[..sheet.len() - 1].iter().any(|e| {
            e.step.as_ref().map(|s| s.key.as_str()) == key
                && e.assignee
                    .as_ref()
                    .is_some_and(|a| a.subject == who.subject)
        })
}

/// What a queue needs besides the request.
#[derive(Debug)]
pub struct Queues<'a> {
    pub pool: &'a PgPool,
    pub calendars: &'a Calendars,
    pub settings: &'a WorkflowSettings,
    pub intake: &'a IntakeSearch,
}

pub async fn list(
    q: &Queues<'_>,
    who: &Caller,
    bearer: Option<&str>,
    r: &ListQueueRequest,
    now: DateTime<Utc>,
) -> Result<ListQueueResponse, ServiceError> {
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
            let officer = bounds::key(&r.officer, "officer", bounds::SUBJECT)?;
            if officer.is_empty() {
                return Err(invalid(
                    "thiếu officer (officer is required for scope OFFICER)",
                ));
            }
            (Some(officer.to_owned()), false, None)
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
    let field = bounds::key(&r.field, "field", bounds::KEY)?;
    let procedure = bounds::key(&r.procedure_code, "procedure_code", bounds::KEY)?;
    let (code_part, applicant_codes) = match parse_query(&r.query)? {
        Query::None => (None, None),
        Query::Code(part) => (Some(part), None),
        Query::Applicant(a) => (None, Some(q.intake.codes(bearer, &a).await?)),
    };
    let roles: Vec<String> = who.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let due_before = r
        .due_before
        .as_ref()
        .map(|t| from_ts(t, "due_before"))
        .transpose()?;
    // "Due soon": due within the reminder window of working time from now.
    let soon = q
        .calendars
        .for_agency(&who.agency)
        .due(
            now.with_timezone(&motcua_calendar::vietnam()),
            q.settings.due_soon,
            None,
            &[],
        )
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("calendar: {e}")))?
        .with_timezone(&Utc);
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
           AND (NOT $12 OR (step_due_at >= $11 AND step_due_at <= $13))
           AND ($14::timestamptz IS NULL OR (step_due_at, dossier_code) > ($14, $15))
           AND ($17::text IS NULL OR strpos(upper(dossier_code), $17) > 0)
           AND ($18::text[] IS NULL OR dossier_code = ANY($18))
         ORDER BY step_due_at, dossier_code LIMIT $16",
    )
    .bind(&who.agency)
    .bind(&assignee)
    .bind(unassigned)
    .bind(&roles)
    .bind(&department)
    .bind(field)
    .bind(procedure)
    .bind(r.status as i16)
    .bind(due_before)
    .bind(r.overdue_only)
    .bind(now)
    .bind(r.due_soon_only)
    .bind(soon)
    .bind(after_due)
    .bind(after_code)
    .bind(i64::from(limit))
    .bind(&code_part)
    .bind(&applicant_codes)
    .fetch_all(q.pool)
    .await?;
    let cases: Vec<Case> = rows
        .iter()
        .map(|row| {
            Case::decode(row.get::<&[u8], _>("record"))
                .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored case: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let next_page_token = if cases.len() == limit as usize {
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
    let reasons = cases
        .iter()
        .map(|c| QueueReason {
            dossier_code: c.dossier_code.clone(),
            kinds: reasons(c, who, scope, now, soon),
        })
        .collect();
    Ok(ListQueueResponse {
        cases,
        next_page_token,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_a_phone_a_part_of_a_code_or_a_name() {
        assert_eq!(
            parse_query("0912 345 678").unwrap(),
            Query::Applicant("0912 345 678".into())
        );
        assert_eq!(parse_query("0361").unwrap(), Query::Code("0361".into()));
        assert_eq!(
            parse_query("h56-260302").unwrap(),
            Query::Code("H56-260302".into())
        );
        assert_eq!(
            parse_query("Nguyễn Văn An").unwrap(),
            Query::Applicant("Nguyễn Văn An".into())
        );
        assert_eq!(parse_query("  ").unwrap(), Query::None);
        for (bad, why) in [
            ("036", "4"),
            ("a", "2"),
            (&"x".repeat(101) as &str, "query"),
        ] {
            let e = parse_query(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }
}
