//! Changes to a received dossier at intake (supplement, withdrawal request) and what a caller may
//! see of a dossier.

use crate::store;
use crate::submission::check_key;
use crate::{Intake, invalid};
use motcua_platform::ServiceError;
use motcua_platform::auth::Caller;
use motcua_platform::outbox::{OutboxEvent, enqueue};
use motcua_platform::text::quote;
use motcua_proto::common::{DossierStatus, Procedure};
use motcua_proto::intake::{Dossier, Receipt};

/// What a change does: the action's detail, the dossier's new status at intake (if any), and the
/// event.
#[derive(Debug)]
pub(crate) struct Change {
    pub detail: serde_json::Value,
    pub status: Option<DossierStatus>,
    pub event: OutboxEvent,
}

fn not_found(code: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "không tìm thấy hồ sơ {} (dossier not found)",
        quote(code)
    ))
}

/// A dossier code as the caller sent it, checked for shape.
fn checked_code(code: &str) -> Result<&str, ServiceError> {
    motcua_domain::dossier_code::check(code).map_err(invalid)?;
    Ok(code.trim())
}

/// The caller's scope (its agency, or its province for a province admin or portal) covers the
/// agency that received the dossier or the one competent to decide it.
fn may_see(caller: &Caller, receiving: &str, competent: &str) -> bool {
    caller.covers(receiving) || caller.covers(competent)
}

impl Intake {
    /// A dossier the caller may see: received by or routed to an agency in its scope.
    pub(crate) async fn visible_dossier(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<Dossier, ServiceError> {
        let code = checked_code(code)?;
        let mut conn = self.pool.acquire().await?;
        match store::get_dossier(&mut conn, code, false).await? {
            Some((d, receiving, competent)) if may_see(caller, &receiving, &competent) => Ok(d),
            _ => Err(not_found(code)),
        }
    }

    /// Supplement and withdrawal share this shape: lock the dossier, record the action once per
    /// idempotency key (a retry is answered with the dossier as it is), check it may change
    /// (and, with `expects`, that workflow last said it is in that status), publish the event —
    /// all on one connection, in one transaction.
    pub(crate) async fn dossier_action(
        &self,
        caller: &Caller,
        code: &str,
        action: &str,
        key: &str,
        expects: Option<(DossierStatus, &str)>,
        build: impl FnOnce(&Receipt, &Procedure) -> Result<Change, ServiceError>,
    ) -> Result<Dossier, ServiceError> {
        check_key(key)?;
        let code = checked_code(code)?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let Some((dossier, receiving, competent)) = store::get_dossier(&mut tx, code, true).await?
        else {
            return Err(not_found(code));
        };
        if !may_see(caller, &receiving, &competent) {
            return Err(not_found(code));
        }
        let receipt = dossier.receipt.clone().unwrap_or_default();
        let procedure =
            store::procedure_version(&mut *tx, &receipt.procedure_code, receipt.procedure_version)
                .await?
                .ok_or_else(|| {
                    ServiceError::Internal(anyhow::anyhow!("procedure version of {code} missing"))
                })?;
        let change = build(&receipt, &procedure)?;
        if !store::record_action(&mut tx, code, action, caller, change.detail, key, now).await? {
            // A retry of an action already recorded: answer as the first call did.
            tx.rollback().await?;
            return Ok(dossier);
        }
        let status = DossierStatus::try_from(dossier.status).unwrap_or(DossierStatus::Unspecified);
        match status {
            DossierStatus::RejectedAtIntake | DossierStatus::Stopped => {
                return Err(ServiceError::FailedPrecondition(format!(
                    "hồ sơ {code} đã dừng xử lý, không nhận thêm yêu cầu (dossier is stopped)"
                )));
            }
            DossierStatus::Finished | DossierStatus::Returned => {
                return Err(ServiceError::FailedPrecondition(format!(
                    "hồ sơ {code} đã có kết quả, không nhận thêm yêu cầu (dossier is finished)"
                )));
            }
            _ => {}
        }
        if let Some((wanted, why)) = expects
            && status != wanted
        {
            return Err(ServiceError::FailedPrecondition(format!(
                "hồ sơ {code}: {why}"
            )));
        }
        if let Some(s) = change.status {
            store::set_status(&mut tx, code, s, now).await?;
        }
        enqueue(&mut tx, &change.event).await?;
        let updated = store::get_dossier(&mut tx, code, false)
            .await?
            .map(|(d, _, _)| d)
            .unwrap_or(dossier);
        self.outbox.commit(tx).await?;
        Ok(updated)
    }
}
