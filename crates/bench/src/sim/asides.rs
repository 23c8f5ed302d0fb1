//! What interrupts a dossier's steps in the replay: a financial obligation the specialist asks
//! for (the clock pauses until the desk records the payment) and the apology letter a late
//! dossier's leader issues before its due time (a new promised date; statistics still count
//! against the due time moved by pauses only, so the apology does not excuse the lateness).

use super::calls::{action, ts};
use super::drive::{Act, Dossier, Driver, Next};
use super::officers::DESK_DEPARTMENT;
use super::plan::{Fate, Planned};
use anyhow::Context;
use chrono::{DateTime, Utc};
use motcua_calendar::Span;
use motcua_platform::auth::Role;
use motcua_proto::workflow::{
    Case, IssueApologyRequest, RecordPaymentRequest, RequestFinancialObligationRequest,
};
use std::sync::Mutex;

impl Driver<'_> {
    /// The leader of a dossier meant to be late apologises once, while it is still before its
    /// due time, promising a day three working days after it. Returns the case after.
    pub(super) async fn apologise_if_due(
        &self,
        dossier: &Mutex<Dossier>,
        plan: &Planned,
        case: Case,
        now: DateTime<Utc>,
        key: &dyn Fn(&str) -> String,
    ) -> anyhow::Result<Case> {
        let apologised = dossier.lock().unwrap_or_else(|p| p.into_inner()).apologised;
        let due = case.due_at.map(ts).context("no due time")?;
        if plan.fate != Fate::Late
            || !plan.apology
            || apologised
            || case.current_step < 1
            || now >= due
        {
            return Ok(case);
        }
        let promised = self.working_later(due, Span::Days(3))?;
        let req = IssueApologyRequest {
            dossier_code: case.dossier_code.clone(),
            action: action(case.version, key("apology")),
            reason: "Hồ sơ cần xác minh thêm tại thực địa".into(),
            new_due_at: Some(prost_types::Timestamp {
                seconds: promised.timestamp(),
                nanos: 0,
            }),
        };
        let c = self
            .call("workflow.IssueApology", || {
                let mut leader = self
                    .people
                    .officer(Role::Leader, "ban-giam-doc", plan.officer);
                let req = req.clone();
                async move { leader.issue_apology(req).await }
            })
            .await?
            .case
            .context("no case")?;
        dossier.lock().unwrap_or_else(|p| p.into_inner()).apologised = true;
        Ok(c)
    }

    /// The specialist holding the step asks for the fees and taxes; the desk records the payment
    /// three working days later (`Act::Pay`).
    pub(super) async fn ask_obligation(
        &self,
        dossier: &Mutex<Dossier>,
        officer: &super::officers::Workflow,
        code: &str,
        version: u64,
        now: DateTime<Utc>,
        key: String,
    ) -> anyhow::Result<Next> {
        let req = RequestFinancialObligationRequest {
            dossier_code: code.to_owned(),
            action: action(version, key),
            amount_vnd: 1_250_000,
            description: "Lệ phí trước bạ và thuế thu nhập cá nhân".into(),
        };
        let c = self
            .call("workflow.RequestFinancialObligation", || {
                let (mut client, req) = (officer.clone(), req.clone());
                async move { client.request_financial_obligation(req).await }
            })
            .await?
            .case
            .context("no case")?;
        let mut d = dossier.lock().unwrap_or_else(|p| p.into_inner());
        d.asked_obligation = true;
        d.truth.due_at = c.due_at.map(ts);
        Ok(Some((self.working_later(now, Span::Days(3))?, Act::Pay)))
    }

    /// The desk records the payment; the officer goes on half an hour later.
    pub(super) async fn pay(
        &self,
        plan: &Planned,
        code: &str,
        now: DateTime<Utc>,
        key: String,
    ) -> anyhow::Result<Next> {
        let case = self.case(code).await?;
        let req = RecordPaymentRequest {
            dossier_code: code.to_owned(),
            action: action(case.version, key),
            reference: format!("BL-{}", plan.n),
        };
        self.call("workflow.RecordPayment", || {
            let mut desk = self
                .people
                .officer(Role::Desk, DESK_DEPARTMENT, plan.officer);
            let req = req.clone();
            async move { desk.record_payment(req).await }
        })
        .await?;
        Ok(Some((
            self.later(now, chrono::Duration::minutes(30)),
            Act::Work,
        )))
    }
}
