//! Dossier and catalog events: their names, subjects, and decoding by type (DESIGN.md §3).
//!
//! State events (`submitted`, `rejected-at-intake`, `state-changed`) carry the dossier's full
//! public state and its version; the desk's later events (`supplement-submitted`,
//! `withdrawal-requested`) are requests to the processing side and carry no state.

use motcua_proto::events::{
    DossierState, DossierStateChanged, DossierSubmitted, RejectedAtIntake, SupplementSubmitted,
    WithdrawalRequested,
};
use prost::Message;

pub const SUBMITTED: &str = "submitted";
pub const SUPPLEMENT_SUBMITTED: &str = "supplement-submitted";
pub const WITHDRAWAL_REQUESTED: &str = "withdrawal-requested";
pub const REJECTED_AT_INTAKE: &str = "rejected-at-intake";
/// The processing side's answer to everything: the dossier's new state.
pub const STATE_CHANGED: &str = "state-changed";
/// A due time came near or passed (a reminder, not a state).
pub const DEADLINE: &str = "deadline";
pub const PROCEDURE_PUBLISHED: &str = "procedure-published";

/// `dossier.<field>.<event>`: the field lets the land path (`dossier.dat-dai.>`) scale on its own.
pub fn dossier_subject(field: &str, event: &str) -> String {
    format!("dossier.{field}.{event}")
}

/// `catalog.<event>`: the catalog's events (one stream for every agency's procedures).
pub fn catalog_subject(event: &str) -> String {
    format!("catalog.{event}")
}

/// A decoded dossier event.
#[derive(Debug, Clone)]
pub enum DossierEvent {
    Submitted(DossierSubmitted),
    RejectedAtIntake(RejectedAtIntake),
    StateChanged(DossierStateChanged),
    SupplementSubmitted(SupplementSubmitted),
    WithdrawalRequested(WithdrawalRequested),
}

/// Why an event could not be read: it will never be readable, so it is poison.
#[derive(Debug, thiserror::Error)]
#[error("{event_type} event does not decode: {reason}")]
pub struct DecodeError {
    pub event_type: String,
    pub reason: String,
}

impl DossierEvent {
    /// Decodes a payload by its event type. `Ok(None)`: a type this reader does not know (a newer
    /// producer's), which readers skip.
    pub fn decode(event_type: &str, payload: &[u8]) -> Result<Option<Self>, DecodeError> {
        fn de<M: Message + Default>(t: &str, p: &[u8]) -> Result<M, DecodeError> {
            M::decode(p).map_err(|e| DecodeError {
                event_type: t.to_owned(),
                reason: e.to_string(),
            })
        }
        Ok(Some(match event_type {
            SUBMITTED => Self::Submitted(de(event_type, payload)?),
            REJECTED_AT_INTAKE => Self::RejectedAtIntake(de(event_type, payload)?),
            STATE_CHANGED => Self::StateChanged(de(event_type, payload)?),
            SUPPLEMENT_SUBMITTED => Self::SupplementSubmitted(de(event_type, payload)?),
            WITHDRAWAL_REQUESTED => Self::WithdrawalRequested(de(event_type, payload)?),
            _ => return Ok(None),
        }))
    }

    /// The dossier's state, for state events; None for requests.
    pub fn state(&self) -> Option<&DossierState> {
        match self {
            Self::Submitted(e) => e.state.as_ref(),
            Self::RejectedAtIntake(e) => e.state.as_ref(),
            Self::StateChanged(e) => e.state.as_ref(),
            Self::SupplementSubmitted(_) | Self::WithdrawalRequested(_) => None,
        }
    }

    pub fn dossier_code(&self) -> &str {
        match self {
            Self::SupplementSubmitted(e) => &e.dossier_code,
            Self::WithdrawalRequested(e) => &e.dossier_code,
            other => other.state().map_or("", |s| s.dossier_code.as_str()),
        }
    }

    pub fn is_state(&self) -> bool {
        !matches!(
            self,
            Self::SupplementSubmitted(_) | Self::WithdrawalRequested(_)
        )
    }
}
