//! What an event means to the people notified: its triggers, and the facts its messages may name
//! (the templates' placeholders).

use chrono::{DateTime, Utc};
use motcua_domain::events::{DEADLINE, DossierEvent};
use motcua_domain::time::instant;
use motcua_proto::common::DossierStatus;
use motcua_proto::events::{ChangeKind, DeadlineKind, DeadlineReached, DossierState};
use prost::Message;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    Received,
    SupplementRequested,
    FinancialObligationRequested,
    ApologyIssued,
    Refused,
    ResultReady,
    ResultReturned,
    Stopped,
    WithdrawalApproved,
    DueSoon,
    Overdue,
    /// Every state change (webhooks).
    StateChanged,
    /// The answer to an inbound SMS lookup, and to one that could not be read.
    SmsReply,
    SmsHelp,
}

pub const ALL: [Trigger; 14] = [
    Trigger::Received,
    Trigger::SupplementRequested,
    Trigger::FinancialObligationRequested,
    Trigger::ApologyIssued,
    Trigger::Refused,
    Trigger::ResultReady,
    Trigger::ResultReturned,
    Trigger::Stopped,
    Trigger::WithdrawalApproved,
    Trigger::DueSoon,
    Trigger::Overdue,
    Trigger::StateChanged,
    Trigger::SmsReply,
    Trigger::SmsHelp,
];

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Received => "received",
            Trigger::SupplementRequested => "supplement-requested",
            Trigger::FinancialObligationRequested => "financial-obligation-requested",
            Trigger::ApologyIssued => "apology-issued",
            Trigger::Refused => "refused",
            Trigger::ResultReady => "result-ready",
            Trigger::ResultReturned => "result-returned",
            Trigger::Stopped => "stopped",
            Trigger::WithdrawalApproved => "withdrawal-approved",
            Trigger::DueSoon => "due-soon",
            Trigger::Overdue => "overdue",
            Trigger::StateChanged => "state-changed",
            Trigger::SmsReply => "sms-reply",
            Trigger::SmsHelp => "sms-help",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The placeholders its templates may use, and those they must.
    pub fn placeholders(self) -> (&'static [&'static str], &'static [&'static str]) {
        const DOSSIER: &[&str] = &["code", "procedure", "status", "due_date", "lookup_link"];
        match self {
            Trigger::Received | Trigger::ResultReady | Trigger::ResultReturned => {
                (DOSSIER, &["code"])
            }
            Trigger::SupplementRequested => (
                &[
                    "code",
                    "procedure",
                    "status",
                    "due_date",
                    "lookup_link",
                    "missing_documents",
                ],
                &["code", "missing_documents"],
            ),
            Trigger::FinancialObligationRequested => (
                &[
                    "code",
                    "procedure",
                    "status",
                    "due_date",
                    "lookup_link",
                    "amount",
                    "note",
                ],
                &["code", "amount"],
            ),
            Trigger::ApologyIssued => (
                &[
                    "code",
                    "procedure",
                    "status",
                    "due_date",
                    "lookup_link",
                    "reason",
                    "new_date",
                ],
                &["code", "reason", "new_date"],
            ),
            Trigger::Refused | Trigger::Stopped | Trigger::WithdrawalApproved => (
                &[
                    "code",
                    "procedure",
                    "status",
                    "due_date",
                    "lookup_link",
                    "reason",
                ],
                &["code", "reason"],
            ),
            Trigger::DueSoon | Trigger::Overdue => (
                &[
                    "code",
                    "procedure",
                    "status",
                    "due_date",
                    "lookup_link",
                    "step",
                    "department",
                    "assignee",
                ],
                &["code", "due_date"],
            ),
            Trigger::StateChanged => (DOSSIER, &[]),
            Trigger::SmsReply => (&["code", "procedure", "status", "due_date"], &["status"]),
            Trigger::SmsHelp => (&["keyword", "example"], &["keyword"]),
        }
    }
}

/// The facts a message may name. Every field is text already written for a reader (dates in
/// Vietnam time, money in đồng); absent facts are empty.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    pub code: String,
    pub procedure: String,
    pub status: String,
    pub due_date: String,
    pub lookup_link: String,
    pub missing_documents: String,
    pub amount: String,
    pub note: String,
    pub reason: String,
    pub new_date: String,
    pub step: String,
    pub department: String,
    pub assignee: String,
    pub keyword: String,
    pub example: String,
}

/// A notifiable event: its triggers and facts, the dossier it is about, and when it happened.
#[derive(Debug, Clone)]
pub struct Notice {
    pub triggers: Vec<Trigger>,
    pub facts: Facts,
    pub dossier_code: String,
    pub field: String,
    /// The competent agency (whose leaders hear of deadlines).
    pub agency: String,
    /// Every agency whose dossier it is (receiving, competent): whose officers may see its
    /// deliveries and whose subscriptions hear of it.
    pub agencies: Vec<String>,
    pub at: DateTime<Utc>,
    /// For due-soon and overdue: whom it is about.
    pub assignee: String,
    pub department: String,
    /// The dossier ended (result returned, refused, withdrawn, stopped, rejected at intake): its
    /// contact may be erased after the retention time.
    pub ends: bool,
    /// `submitted` only: where to reach the applicant, as an event published before contacts
    /// left the events carried it.
    pub contact: Option<(String, String)>,
    /// `submitted` without contacts (every one intake publishes now): ask intake for them.
    pub contact_from_intake: bool,
    /// When the dossier was received (None for deadline notices).
    pub received_at: Option<DateTime<Utc>>,
    /// For webhooks: the event as JSON (public state, no personal data).
    pub webhook: serde_json::Value,
}

/// The agencies of a dossier: the one its code names (it received it), and the others named.
pub fn dossier_agencies(code: &str, named: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let of_code = code.split('-').next().unwrap_or_default();
    for a in std::iter::once(of_code).chain(named.iter().copied()) {
        let a = a.trim();
        if !a.is_empty() && !out.iter().any(|x| x == a) {
            out.push(a.to_owned());
        }
    }
    out
}

/// "05/03/2026" in Vietnam time (empty when unset).
pub fn date(t: Option<&prost_types::Timestamp>) -> String {
    instant(t)
        .map(|t| {
            t.with_timezone(&motcua_calendar::vietnam())
                .format("%d/%m/%Y")
                .to_string()
        })
        .unwrap_or_default()
}

fn state_facts(s: &DossierState, lookup_base: Option<&str>) -> Facts {
    let st = DossierStatus::try_from(s.status).unwrap_or_default();
    Facts {
        code: s.dossier_code.clone(),
        procedure: s.procedure_name.clone(),
        status: motcua_domain::status::label(st).to_owned(),
        due_date: date(s.apology_due_at.as_ref().or(s.due_at.as_ref())),
        lookup_link: lookup_base
            .map(|b| format!("{}/tra-cuu#ma={}", b.trim_end_matches('/'), s.dossier_code))
            .unwrap_or_default(),
        missing_documents: s.missing_documents.join("; "),
        amount: motcua_domain::text::dong(s.obligation_vnd),
        note: s.obligation_note.clone(),
        reason: if s.apology_reason.is_empty() {
            s.stop_reason.clone()
        } else {
            s.apology_reason.clone()
        },
        // The apology letter names the new date as the citizen reads it: hour, weekday and date
        // ("14 giờ 30 phút, thứ Hai, ngày 16 tháng 3 năm 2026"); workflow keeps it to a working
        // moment.
        new_date: instant(s.apology_due_at.as_ref())
            .map(motcua_domain::time::letter_date_time)
            .unwrap_or_default(),
        step: s.current_step_name.clone(),
        department: s.current_department.clone(),
        assignee: s
            .assignee
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default(),
        ..Facts::default()
    }
}

fn webhook_json(
    event_type: &str,
    kind: &str,
    s: &DossierState,
    at: DateTime<Utc>,
) -> serde_json::Value {
    serde_json::json!({
        "type": format!("dossier.{event_type}"),
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": {
            "dossier_code": s.dossier_code,
            "version": s.version,
            "change": kind,
            "status": DossierStatus::try_from(s.status).unwrap_or_default().as_str_name(),
            "national_code": s.national_code,
            "procedure_code": s.procedure_code,
            "procedure_version": s.procedure_version,
            "field": s.field,
            "receiving_agency": s.receiving_agency,
            "competent_agency": s.competent_agency,
            "received_at": instant(s.received_at.as_ref()).map(|t| t.to_rfc3339()),
            "due_at": instant(s.due_at.as_ref()).map(|t| t.to_rfc3339()),
            "apology_due_at": instant(s.apology_due_at.as_ref()).map(|t| t.to_rfc3339()),
            "finished_at": instant(s.finished_at.as_ref()).map(|t| t.to_rfc3339()),
            "returned_at": instant(s.returned_at.as_ref()).map(|t| t.to_rfc3339()),
            "paused": s.paused != 0,
        }
    })
}

/// What a change tells the people notified, and whether it ends the dossier (its contact may then
/// be erased after the retention time): the table [`notice`] reads. Every change, listed or not,
/// also tells subscribers (`state-changed`); a change not listed tells nobody else.
pub const CHANGE_TRIGGERS: &[(ChangeKind, Trigger, bool)] = &[
    (
        ChangeKind::SupplementRequested,
        Trigger::SupplementRequested,
        false,
    ),
    (
        ChangeKind::FinancialObligationRequested,
        Trigger::FinancialObligationRequested,
        false,
    ),
    (ChangeKind::ApologyIssued, Trigger::ApologyIssued, false),
    (ChangeKind::Refused, Trigger::Refused, true),
    (ChangeKind::ResultRecorded, Trigger::ResultReady, false),
    (ChangeKind::ResultReturned, Trigger::ResultReturned, true),
    (ChangeKind::Stopped, Trigger::Stopped, true),
    (
        ChangeKind::WithdrawalApproved,
        Trigger::WithdrawalApproved,
        true,
    ),
];

/// Reads an event into a notice; `Ok(None)` for events nobody is told of.
pub fn notice(
    event_type: &str,
    payload: &[u8],
    now: DateTime<Utc>,
    lookup_base: Option<&str>,
) -> Result<Option<Notice>, String> {
    if event_type == DEADLINE {
        let d = DeadlineReached::decode(payload).map_err(|e| format!("deadline: {e}"))?;
        let trigger = match DeadlineKind::try_from(d.kind).unwrap_or_default() {
            DeadlineKind::DueSoon => Trigger::DueSoon,
            DeadlineKind::Overdue => Trigger::Overdue,
            DeadlineKind::Unspecified => return Ok(None),
        };
        let assignee = d.assignee.clone().unwrap_or_default();
        let facts = Facts {
            code: d.dossier_code.clone(),
            due_date: instant(d.due_at.as_ref())
                .map(|t| {
                    t.with_timezone(&motcua_calendar::vietnam())
                        .format("%H:%M ngày %d/%m/%Y")
                        .to_string()
                })
                .unwrap_or_default(),
            step: d.step_name.clone(),
            department: d.department.clone(),
            assignee: assignee.name.clone(),
            ..Facts::default()
        };
        return Ok(Some(Notice {
            triggers: vec![trigger],
            facts,
            agencies: dossier_agencies(&d.dossier_code, &[&d.competent_agency]),
            dossier_code: d.dossier_code,
            field: d.field,
            agency: d.competent_agency,
            at: instant(d.at.as_ref()).unwrap_or(now),
            assignee: assignee.subject,
            department: d.department,
            ends: false,
            contact: None,
            contact_from_intake: false,
            received_at: None,
            webhook: serde_json::Value::Null,
        }));
    }
    let Some(event) = DossierEvent::decode(event_type, payload).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let Some(state) = event.state() else {
        // Intake's requests to workflow: workflow's answer is what is told.
        return Ok(None);
    };
    if state.dossier_code.is_empty() {
        return Err(format!("{event_type} without a dossier code"));
    }
    let mut triggers = Vec::new();
    let mut ends = false;
    let mut contact = None;
    let mut contact_from_intake = false;
    let (kind, at) = match &event {
        DossierEvent::Submitted(e) => {
            triggers.push(Trigger::Received);
            contact = Some((e.applicant_phone.clone(), e.applicant_email.clone()));
            contact_from_intake = e.applicant_phone.is_empty() && e.applicant_email.is_empty();
            ("received".to_owned(), instant(state.received_at.as_ref()))
        }
        DossierEvent::RejectedAtIntake(_) => {
            ends = true;
            contact = Some((String::new(), String::new()));
            (
                "rejected-at-intake".to_owned(),
                instant(state.stopped_at.as_ref()),
            )
        }
        DossierEvent::StateChanged(e) => {
            let k = ChangeKind::try_from(e.kind).unwrap_or_default();
            if let Some((_, trigger, end)) = CHANGE_TRIGGERS.iter().find(|(c, _, _)| *c == k) {
                triggers.push(*trigger);
                ends = *end;
            }
            (e.change.clone(), instant(e.at.as_ref()))
        }
        DossierEvent::SupplementSubmitted(_) | DossierEvent::WithdrawalRequested(_) => {
            return Ok(None);
        }
    };
    triggers.push(Trigger::StateChanged);
    let at = at.unwrap_or(now);
    Ok(Some(Notice {
        triggers,
        facts: state_facts(state, lookup_base),
        dossier_code: state.dossier_code.clone(),
        field: state.field.clone(),
        agency: state.competent_agency.clone(),
        agencies: dossier_agencies(
            &state.dossier_code,
            &[&state.receiving_agency, &state.competent_agency],
        ),
        at,
        assignee: String::new(),
        department: state.current_department.clone(),
        ends,
        contact,
        contact_from_intake,
        received_at: instant(state.received_at.as_ref()),
        webhook: webhook_json(event_type, &kind, state, at),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use motcua_domain::events::STATE_CHANGED;
    use motcua_proto::events::DossierStateChanged;

    /// The time the events below are read at: a fixed instant (Monday 2 March 2026, 09:00 in
    /// Vietnam), not the system's, as everywhere in service code.
    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_416_800, 0).expect("an instant")
    }

    /// Every change kind the contract defines, told as the design says: the applicant hears of the
    /// requests, the apology, the result and the ends; officers' own moves tell only subscribers.
    /// The match has no catch-all, so a new change kind does not compile until it is decided here.
    #[test]
    fn every_change_kind_tells_whom_the_table_says_and_ends_what_it_says() {
        let mut walked = 0;
        for number in 0..=i32::from(u8::MAX) {
            let Ok(kind) = ChangeKind::try_from(number) else {
                continue;
            };
            walked += 1;
            let (told, ends): (Option<Trigger>, bool) = match kind {
                ChangeKind::Unspecified
                | ChangeKind::Opened
                | ChangeKind::Claimed
                | ChangeKind::Assigned
                | ChangeKind::Forwarded
                | ChangeKind::SentBack
                | ChangeKind::SupplementReceived
                | ChangeKind::PaymentRecorded
                | ChangeKind::WithdrawalRequested
                | ChangeKind::WithdrawalDeclined => (None, false),
                ChangeKind::SupplementRequested => (Some(Trigger::SupplementRequested), false),
                ChangeKind::FinancialObligationRequested => {
                    (Some(Trigger::FinancialObligationRequested), false)
                }
                ChangeKind::ApologyIssued => (Some(Trigger::ApologyIssued), false),
                ChangeKind::ResultRecorded => (Some(Trigger::ResultReady), false),
                ChangeKind::ResultReturned => (Some(Trigger::ResultReturned), true),
                ChangeKind::WithdrawalApproved => (Some(Trigger::WithdrawalApproved), true),
                ChangeKind::Refused => (Some(Trigger::Refused), true),
                ChangeKind::Stopped => (Some(Trigger::Stopped), true),
            };
            let event = DossierStateChanged {
                state: Some(DossierState {
                    dossier_code: "000.00.06.H56-260302-0001".into(),
                    ..Default::default()
                }),
                kind: number,
                ..Default::default()
            };
            let notice = notice(STATE_CHANGED, &event.encode_to_vec(), at(), None)
                .unwrap()
                .unwrap_or_else(|| panic!("{kind:?} tells subscribers"));
            let want: Vec<Trigger> = told.into_iter().chain([Trigger::StateChanged]).collect();
            assert_eq!(notice.triggers, want, "{kind:?}");
            assert_eq!(notice.ends, ends, "{kind:?} ends the dossier");
        }
        assert_eq!(walked, 18, "the contract's change kinds");
    }

    /// Deadlines tell of due-soon and overdue; a deadline of no kind tells nobody.
    #[test]
    fn every_deadline_kind_tells_its_trigger() {
        for (kind, want) in [
            (DeadlineKind::Unspecified, None),
            (DeadlineKind::DueSoon, Some(Trigger::DueSoon)),
            (DeadlineKind::Overdue, Some(Trigger::Overdue)),
        ] {
            let event = DeadlineReached {
                dossier_code: "000.00.06.H56-260302-0001".into(),
                kind: kind as i32,
                ..Default::default()
            };
            let told = notice(DEADLINE, &event.encode_to_vec(), at(), None)
                .unwrap()
                .map(|n| n.triggers);
            assert_eq!(told, want.map(|t| vec![t]), "{kind:?}");
        }
    }

    #[test]
    fn the_apology_letter_names_the_new_hour_weekday_and_date() {
        let s = DossierState {
            dossier_code: "000.00.06.H56-260302-0001".into(),
            // 07:30 UTC: 14:30 in Vietnam, Monday 16 March 2026.
            apology_due_at: Some(prost_types::Timestamp {
                seconds: 1_773_646_200,
                nanos: 0,
            }),
            ..Default::default()
        };
        assert_eq!(
            state_facts(&s, None).new_date,
            "14 giờ 30 phút, thứ Hai, ngày 16 tháng 3 năm 2026"
        );
    }
}
