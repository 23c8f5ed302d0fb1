//! The events workflow publishes: every change is a `state-changed` with the new version and the
//! full public state, so lookup, notification and reporting never call back; due times coming near
//! or passing are `deadline` events.

use crate::rules::{self, Change};
use chrono::{DateTime, Utc};
use motcua_domain::events::{DEADLINE, STATE_CHANGED, dossier_subject};
use motcua_domain::time::ts;
use motcua_platform::outbox::OutboxEvent;
use motcua_proto::common::{Actor, DossierStatus, PauseReason, StopKind};
use motcua_proto::events::{
    ChangeKind, DeadlineKind, DeadlineReached, DeadlineScope, DossierState, DossierStateChanged,
};
use motcua_proto::workflow::Case;

/// The kind's slug, as `DossierStateChanged.change` and the history carry it.
pub fn slug(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Unspecified => "unspecified",
        ChangeKind::Opened => "opened",
        ChangeKind::Claimed => "claimed",
        ChangeKind::Assigned => "assigned",
        ChangeKind::Forwarded => "forwarded",
        ChangeKind::SentBack => "sent-back",
        ChangeKind::SupplementRequested => "supplement-requested",
        ChangeKind::SupplementReceived => "supplement-received",
        ChangeKind::FinancialObligationRequested => "financial-obligation-requested",
        ChangeKind::PaymentRecorded => "payment-recorded",
        ChangeKind::ApologyIssued => "apology-issued",
        ChangeKind::ResultRecorded => "result-recorded",
        ChangeKind::ResultReturned => "result-returned",
        ChangeKind::WithdrawalRequested => "withdrawal-requested",
        ChangeKind::WithdrawalApproved => "withdrawal-approved",
        ChangeKind::WithdrawalDeclined => "withdrawal-declined",
        ChangeKind::Refused => "refused",
        ChangeKind::Stopped => "stopped",
    }
}

/// A short public line for the citizen, in Vietnamese.
fn public_note(c: &Case) -> String {
    let step = rules::current(c)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    match rules::status(c) {
        DossierStatus::Received => "Hồ sơ đã được tiếp nhận".into(),
        DossierStatus::InProgress => format!("Đang giải quyết: {step}"),
        DossierStatus::SupplementRequested => {
            "Hồ sơ cần bổ sung; vui lòng xem danh sách giấy tờ còn thiếu".into()
        }
        DossierStatus::FinancialObligation => "Chờ người nộp thực hiện nghĩa vụ tài chính".into(),
        DossierStatus::WithdrawalRequested => "Đang xem xét đề nghị rút hồ sơ".into(),
        DossierStatus::Finished => "Đã có kết quả; mời đến nhận kết quả".into(),
        DossierStatus::Returned => "Đã trả kết quả".into(),
        DossierStatus::Stopped => {
            match StopKind::try_from(c.stop_kind).unwrap_or(StopKind::Unspecified) {
                StopKind::Refused => "Hồ sơ bị từ chối giải quyết".into(),
                StopKind::Withdrawn => "Hồ sơ đã được rút theo đề nghị".into(),
                _ => "Hồ sơ đã dừng xử lý".into(),
            }
        }
        DossierStatus::RejectedAtIntake => "Hồ sơ không được tiếp nhận".into(),
        DossierStatus::Unspecified => String::new(),
    }
}

/// The dossier's public state after a change: intake's part (`base`) and workflow's.
pub fn state(base: &DossierState, c: &Case) -> DossierState {
    let open = rules::is_open(c);
    let step = rules::current(c).filter(|_| open);
    DossierState {
        version: c.version,
        status: c.status,
        national_code: c.national_code,
        due_at: c.due_at,
        original_due_at: c.original_due_at,
        finished_at: c.finished_at,
        stopped_at: c.stopped_at,
        supplement_requests: c.supplement_requests,
        public_note: public_note(c),
        current_step: step.map(|s| s.key.clone()).unwrap_or_default(),
        current_step_name: step.map(|s| s.name.clone()).unwrap_or_default(),
        current_department: step.map(|s| s.department.clone()).unwrap_or_default(),
        assignee: if open { c.assignee.clone() } else { None },
        step_due_at: if open { c.step_due_at } else { None },
        paused: c.paused,
        paused_since: c.paused_since,
        missing_documents: if rules::paused(c) == PauseReason::Supplement {
            c.missing_documents.clone()
        } else {
            Vec::new()
        },
        obligation_vnd: c.obligation_vnd,
        obligation_note: c.obligation_note.clone(),
        apology_reason: c.apology_reason.clone(),
        apology_due_at: c.apology_due_at,
        outcome: c.outcome,
        returned_at: c.returned_at,
        stop_kind: c.stop_kind,
        stop_reason: c.stop_reason.clone(),
        obligation_paid_at: c.obligation_paid_at,
        obligation_payment_reference: c.obligation_payment_reference.clone(),
        withdrawal_reason: c.withdrawal_reason.clone(),
        ..base.clone()
    }
}

/// The `state-changed` event of a change.
pub fn changed(
    base: &DossierState,
    c: &Case,
    change: &Change,
    actor: &Actor,
    now: DateTime<Utc>,
) -> OutboxEvent {
    let message = DossierStateChanged {
        state: Some(state(base, c)),
        change: slug(change.kind).to_owned(),
        actor: Some(actor.clone()),
        note: change.note.clone(),
        kind: change.kind as i32,
        at: Some(ts(now)),
        summary: change.summary.clone(),
    };
    dossier_event(&c.field, STATE_CHANGED, &message)
}

/// A `deadline` event.
pub fn deadline(
    c: &Case,
    kind: DeadlineKind,
    scope: DeadlineScope,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> OutboxEvent {
    let step = rules::current(c);
    let message = DeadlineReached {
        dossier_code: c.dossier_code.clone(),
        field: c.field.clone(),
        competent_agency: c.competent_agency.clone(),
        kind: kind as i32,
        scope: scope as i32,
        step: step.map(|s| s.key.clone()).unwrap_or_default(),
        step_name: step.map(|s| s.name.clone()).unwrap_or_default(),
        department: step.map(|s| s.department.clone()).unwrap_or_default(),
        assignee: c.assignee.clone(),
        due_at: Some(ts(due)),
        at: Some(ts(now)),
        state_version: c.version,
    };
    dossier_event(&c.field, DEADLINE, &message)
}

/// A dossier event ready for the outbox (`dossier.<field>.<event>`).
fn dossier_event(field: &str, event: &str, message: &impl prost::Message) -> OutboxEvent {
    OutboxEvent::encoded(dossier_subject(field, event), event, message)
}
