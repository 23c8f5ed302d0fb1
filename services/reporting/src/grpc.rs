//! `motcua.reporting.v1.ReportingService`: leaders and agency admins see their own agency, a
//! province admin any agency of the province or the whole province; nobody another province.

use crate::agencies::Known;
use crate::export;
use crate::form06::{self, Agencies, Scope};
use crate::periods;
use crate::views;
use motcua_platform::ServiceError;
use motcua_platform::SharedClock;
use motcua_platform::auth::{Caller, Role, caller};
use motcua_proto::reporting::reporting_service_server::ReportingService;
use motcua_proto::reporting::*;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct Api {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub agencies: Known,
}

/// A report's request, checked: its days, which rows, and the agency's name for titles.
pub(crate) struct Resolved {
    pub days: periods::Days,
    pub scope: Scope,
    pub agency_name: String,
}

/// Who may see reports, over gRPC and on the dashboard.
pub(crate) const REPORT_READERS: &[Role] = &[Role::Leader, Role::Admin];

impl Api {
    /// Whose dossiers a caller's report counts, with a title for them. An agency named must be in
    /// the caller's scope (PERMISSION_DENIED) and known (INVALID_ARGUMENT); none named is the
    /// caller's whole scope: their agency, or a province admin's province.
    pub(crate) async fn agency(
        &self,
        who: &Caller,
        asked: &str,
    ) -> Result<(Agencies, String), ServiceError> {
        who.require(REPORT_READERS)?;
        let asked = asked.trim();
        if asked.is_empty() {
            return Ok(match who.province_scope() {
                Some(p) => (
                    Agencies::Province(p.to_owned()),
                    format!("Các cơ quan của tỉnh (mã {p})"),
                ),
                None => (
                    Agencies::One(who.agency.clone()),
                    self.agencies.title(&who.agency),
                ),
            });
        }
        who.require_scope(asked)?;
        // The caller's own agency is known (its token says so); another must be in the catalog.
        if asked != who.agency && !self.agencies.contains(asked).await? {
            return Err(ServiceError::InvalidArgument(format!(
                "không có cơ quan {} (unknown agency: neither the catalog file nor a published procedure names it)",
                motcua_platform::text::quote(asked)
            )));
        }
        Ok((Agencies::One(asked.to_owned()), self.agencies.title(asked)))
    }

    pub(crate) async fn resolve(
        &self,
        who: &Caller,
        period: Option<&Period>,
        asked: &str,
        by_procedure: bool,
    ) -> Result<Resolved, ServiceError> {
        let (agencies, agency_name) = self.agency(who, asked).await?;
        let days = period_days(period)?;
        Ok(Resolved {
            days,
            scope: Scope {
                agencies,
                by_procedure,
            },
            agency_name,
        })
    }
}

fn period_days(period: Option<&Period>) -> Result<periods::Days, ServiceError> {
    let period = period.ok_or_else(|| {
        ServiceError::InvalidArgument("cần kỳ báo cáo (period is required)".into())
    })?;
    periods::days(period)
        .map_err(|e| ServiceError::InvalidArgument(format!("kỳ báo cáo không hợp lệ: {e}")))
}

fn vn_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&motcua_calendar::vietnam())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[tonic::async_trait]
impl ReportingService for Api {
    async fn get_form06(
        &self,
        req: Request<GetForm06Request>,
    ) -> Result<Response<GetForm06Response>, Status> {
        let who = caller(&req)?;
        let r = req.get_ref();
        let q = self
            .resolve(&who, r.period.as_ref(), &r.agency, r.by_procedure)
            .await?;
        let (rows, total, taken_at) =
            form06::compute(&self.pool, q.days, self.clock.now(), &q.scope)
                .await
                .map_err(ServiceError::from)?;
        let (early, on_time, late, rate) = form06::percentages(&total);
        Ok(Response::new(GetForm06Response {
            from: q.days.from.to_string(),
            to: q.days.to.to_string(),
            rows,
            total: Some(total),
            early_percent: early,
            on_time_percent: on_time,
            late_percent: late,
            on_time_rate_percent: rate,
            in_progress_at: vn_time(taken_at),
        }))
    }

    async fn export_form06(
        &self,
        req: Request<ExportForm06Request>,
    ) -> Result<Response<ExportForm06Response>, Status> {
        let who = caller(&req)?;
        let r = req.get_ref();
        let format = ExportFormat::try_from(r.format).unwrap_or_default();
        if format == ExportFormat::Unspecified {
            return Err(ServiceError::InvalidArgument(
                "cần định dạng tệp (format must be EXPORT_FORMAT_CSV or EXPORT_FORMAT_XLSX)".into(),
            )
            .into());
        }
        let q = self
            .resolve(&who, r.period.as_ref(), &r.agency, r.by_procedure)
            .await?;
        let (rows, total, _) = form06::compute(&self.pool, q.days, self.clock.now(), &q.scope)
            .await
            .map_err(ServiceError::from)?;
        let heading = export::Heading {
            days: q.days,
            agency: q.agency_name,
        };
        let (content, extension, media_type) = match format {
            ExportFormat::Csv => (
                export::csv(&heading, &rows, &total)
                    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("csv: {e}")))?,
                "csv",
                "text/csv; charset=utf-8",
            ),
            _ => (
                export::xlsx(&heading, &rows, &total)
                    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("xlsx: {e}")))?,
                "xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
        };
        Ok(Response::new(ExportForm06Response {
            file_name: heading.file_name(extension),
            media_type: media_type.into(),
            content,
        }))
    }

    async fn get_trend(
        &self,
        req: Request<GetTrendRequest>,
    ) -> Result<Response<GetTrendResponse>, Status> {
        let who = caller(&req)?;
        let r = req.get_ref();
        let q = self
            .resolve(&who, r.period.as_ref(), &r.agency, false)
            .await?;
        let bucket = match TrendBucket::try_from(r.bucket).unwrap_or_default() {
            TrendBucket::Unspecified => TrendBucket::Month,
            b => b,
        };
        let points = views::trend(&self.pool, q.days, &q.scope.agencies, bucket)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(GetTrendResponse {
            from: q.days.from.to_string(),
            to: q.days.to.to_string(),
            points,
        }))
    }

    async fn get_backlog(
        &self,
        req: Request<GetBacklogRequest>,
    ) -> Result<Response<GetBacklogResponse>, Status> {
        let who = caller(&req)?;
        let r = req.get_ref();
        let (agencies, _) = self.agency(&who, &r.agency).await?;
        let hours = match r.due_within_hours {
            0 => 24,
            h if h <= 24 * 60 => h,
            _ => {
                return Err(ServiceError::InvalidArgument(
                    "due_within_hours phải từ 1 đến 1440 (due_within_hours must be 1 to 1440)"
                        .into(),
                )
                .into());
            }
        };
        let now = self.clock.now();
        let (rows, total) = views::backlog(
            &self.pool,
            &agencies,
            now,
            chrono::Duration::hours(i64::from(hours)),
        )
        .await
        .map_err(ServiceError::from)?;
        Ok(Response::new(GetBacklogResponse {
            rows,
            total: Some(total),
            at: vn_time(now),
        }))
    }

    async fn list_repeated_supplements(
        &self,
        req: Request<ListRepeatedSupplementsRequest>,
    ) -> Result<Response<ListRepeatedSupplementsResponse>, Status> {
        let who = caller(&req)?;
        let r = req.get_ref();
        let q = self
            .resolve(&who, r.period.as_ref(), &r.agency, false)
            .await?;
        let (dossiers, total) = views::repeated_supplements(&self.pool, q.days, &q.scope.agencies)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ListRepeatedSupplementsResponse {
            dossiers,
            total,
        }))
    }

    async fn get_officer_performance(
        &self,
        req: Request<GetOfficerPerformanceRequest>,
    ) -> Result<Response<GetOfficerPerformanceResponse>, Status> {
        let who = caller(&req)?;
        let r = req.get_ref();
        let q = self
            .resolve(&who, r.period.as_ref(), &r.agency, false)
            .await?;
        let officers = views::officers(&self.pool, q.days, &q.scope.agencies)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(GetOfficerPerformanceResponse { officers }))
    }
}
