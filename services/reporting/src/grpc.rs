//! `motcua.reporting.v1.ReportingService`: leaders see their own agency, admins any or all.

use crate::form06::{self, Scope};
use crate::periods;
use motcua_platform::ServiceError;
use motcua_platform::SharedClock;
use motcua_platform::auth::{Role, caller};
use motcua_proto::reporting::reporting_service_server::ReportingService;
use motcua_proto::reporting::*;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct Api {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub agencies: Arc<BTreeMap<String, String>>,
}

#[tonic::async_trait]
impl ReportingService for Api {
    async fn get_form06(
        &self,
        req: Request<GetForm06Request>,
    ) -> Result<Response<GetForm06Response>, Status> {
        let who = caller(&req)?;
        who.require(&[Role::Leader, Role::Admin])?;
        let r = req.get_ref();
        let period = r.period.as_ref().ok_or_else(|| {
            ServiceError::InvalidArgument("cần kỳ báo cáo (period is required)".into())
        })?;
        let days = periods::days(period)
            .map_err(|e| ServiceError::InvalidArgument(format!("kỳ báo cáo không hợp lệ: {e}")))?;
        let asked = r.agency.trim();
        let agency = if who.has(Role::Admin) {
            if !asked.is_empty() && !self.agencies.is_empty() && !self.agencies.contains_key(asked)
            {
                return Err(ServiceError::InvalidArgument(format!(
                    "không có cơ quan {asked:?} (unknown agency; known: {})",
                    self.agencies.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
                .into());
            }
            (!asked.is_empty()).then(|| asked.to_owned())
        } else {
            // A leader reports on their own agency only.
            if !asked.is_empty() && asked != who.agency {
                return Err(ServiceError::PermissionDenied(format!(
                    "lãnh đạo chỉ xem báo cáo của cơ quan mình ({}) (a leader sees their own agency only)",
                    who.agency
                ))
                .into());
            }
            Some(who.agency.clone())
        };
        let scope = Scope {
            agency,
            by_procedure: r.by_procedure,
        };
        let (rows, total, taken_at) = form06::compute(&self.pool, days, self.clock.now(), &scope)
            .await
            .map_err(ServiceError::from)?;
        let (early, on_time, late, rate) = form06::percentages(&total);
        Ok(Response::new(GetForm06Response {
            from: days.from.to_string(),
            to: days.to.to_string(),
            rows,
            total: Some(total),
            early_percent: early,
            on_time_percent: on_time,
            late_percent: late,
            on_time_rate_percent: rate,
            in_progress_at: taken_at
                .with_timezone(&motcua_calendar::vietnam())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        }))
    }
}
