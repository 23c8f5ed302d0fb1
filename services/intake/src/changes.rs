//! Changes to a received dossier at intake (supplement, withdrawal request) and what a caller may
//! see of a dossier.

use crate::service::Intake;
use crate::store;
use crate::submission::check_key;
use motcua_platform::ServiceError;
use motcua_platform::auth::{Caller, Role};
use motcua_platform::outbox::{OutboxEvent, enqueue};
use motcua_proto::common::{DossierStatus, Procedure};
use motcua_proto::intake::{Dossier, Receipt};

impl Intake {
    /// A dossier the caller may see: received by or routed to its agency (admins see all).
    pub(crate) async fn visible_dossier(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<Dossier, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        match store::get_dossier(&mut conn, code.trim(), false).await? {
            Some((d, receiving, competent))
                if caller.has(Role::Admin)
                    || caller.agency == receiving
                    || caller.agency == competent =>
            {
                Ok(d)
            }
            _ => Err(ServiceError::NotFound(format!(
                "không tìm thấy hồ sơ {code:?} (dossier not found)"
            ))),
        }
    }

    /// Supplement and withdrawal share this shape: lock the dossier, check it may change, record
    /// the action once per idempotency key, publish the event.
    pub(crate) async fn dossier_action(
        &self,
        caller: &Caller,
        code: &str,
        action: &str,
        key: &str,
        detail: serde_json::Value,
        build: impl FnOnce(&Receipt, &Procedure) -> (Option<DossierStatus>, OutboxEvent),
    ) -> Result<Dossier, ServiceError> {
        check_key(key)?;
        let mut tx = self.pool.begin().await?;
        let Some((dossier, receiving, competent)) =
            store::get_dossier(&mut tx, code.trim(), true).await?
        else {
            return Err(ServiceError::NotFound(format!(
                "không tìm thấy hồ sơ {code:?} (dossier not found)"
            )));
        };
        if !(caller.has(Role::Admin)
            || caller.has(Role::Integration)
            || caller.agency == receiving
            || caller.agency == competent)
        {
            return Err(ServiceError::NotFound(format!(
                "không tìm thấy hồ sơ {code:?} (dossier not found)"
            )));
        }
        let status = DossierStatus::try_from(dossier.status).unwrap_or(DossierStatus::Unspecified);
        if matches!(
            status,
            DossierStatus::RejectedAtIntake | DossierStatus::Stopped
        ) {
            return Err(ServiceError::FailedPrecondition(format!(
                "hồ sơ {code} đã dừng xử lý, không nhận thêm yêu cầu (dossier is stopped)"
            )));
        }
        let receipt = dossier.receipt.clone().unwrap_or_default();
        let procedure = store::procedure_version(
            &self.pool,
            &receipt.procedure_code,
            receipt.procedure_version,
        )
        .await?
        .ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("procedure version of {code} missing"))
        })?;
        if !store::record_action(&mut tx, &receipt.dossier_code, action, caller, detail, key)
            .await?
        {
            // A retry of an action already recorded: nothing more to do.
            tx.rollback().await?;
            return self.visible_dossier(caller, code).await;
        }
        let (new_status, event) = build(&receipt, &procedure);
        if let Some(s) = new_status {
            store::set_status(&mut tx, &receipt.dossier_code, s).await?;
        }
        enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::get_dossier(&mut conn, &receipt.dossier_code, false)
            .await?
            .map(|(d, _, _)| d)
            .unwrap_or(dossier))
    }
}
