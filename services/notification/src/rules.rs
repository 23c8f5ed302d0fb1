//! Who hears of which trigger, on which channel. Defaults follow the issue's list; a TOML file
//! (MOTCUA_NOTIFICATION_RULES_FILE) replaces them as a whole:
//!
//! ```toml
//! [[rule]]
//! trigger = "received"
//! to = "applicant"
//! channels = ["sms", "email"]
//! ```

use crate::triggers::{self, Trigger};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Email,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// The dossier's applicant (phone and e-mail from `submitted`).
    Applicant,
    /// The officer who has the step (from the staff directory).
    Assignee,
    /// Leaders of the competent agency (and of the step's department, when they have one).
    Leaders,
    /// Integrating systems' webhook subscriptions that ask for the trigger.
    Subscribers,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub trigger: String,
    pub to: Audience,
    pub channels: Vec<Channel>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules(pub Vec<Rule>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    rule: Vec<Rule>,
}

impl Default for Rules {
    fn default() -> Self {
        use Audience::*;
        use Channel::*;
        let mut rules = Vec::new();
        for t in [
            Trigger::Received,
            Trigger::SupplementRequested,
            Trigger::FinancialObligationRequested,
            Trigger::ApologyIssued,
            Trigger::Refused,
            Trigger::ResultReady,
            Trigger::ResultReturned,
        ] {
            rules.push(Rule {
                trigger: t.as_str().into(),
                to: Applicant,
                channels: vec![Sms, Email],
            });
        }
        for t in [Trigger::DueSoon, Trigger::Overdue] {
            for to in [Assignee, Leaders] {
                rules.push(Rule {
                    trigger: t.as_str().into(),
                    to,
                    channels: vec![Email],
                });
            }
        }
        rules.push(Rule {
            trigger: Trigger::StateChanged.as_str().into(),
            to: Subscribers,
            channels: vec![Webhook],
        });
        Rules(rules)
    }
}

impl Rules {
    pub fn from_file(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Self::parse(&text).map_err(|e| format!("{path}: {e}"))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        for (i, r) in file.rule.iter().enumerate() {
            let Some(t) = Trigger::parse(&r.trigger) else {
                return Err(format!(
                    "rule {}: trigger {:?} is not one of {}",
                    i + 1,
                    r.trigger,
                    triggers::ALL.map(|t| t.as_str()).join(", ")
                ));
            };
            if r.channels.is_empty() {
                return Err(format!("rule {}: channels is empty", i + 1));
            }
            let webhook_only = r.to == Audience::Subscribers;
            if r.channels
                .iter()
                .any(|c| (*c == Channel::Webhook) != webhook_only)
            {
                return Err(format!(
                    "rule {}: subscribers are reached by webhook only, and webhooks reach only subscribers",
                    i + 1
                ));
            }
            if webhook_only && t != Trigger::StateChanged {
                return Err(format!(
                    "rule {}: subscribers hear of state-changed (each subscription may then keep only some triggers)",
                    i + 1
                ));
            }
            if matches!(t, Trigger::SmsReply | Trigger::SmsHelp) {
                return Err(format!(
                    "rule {}: {} is the answer to an inbound SMS, not a rule's trigger",
                    i + 1,
                    r.trigger
                ));
            }
        }
        Ok(Rules(file.rule))
    }

    /// The (audience, channel) pairs a trigger reaches, each once.
    pub fn targets(&self, trigger: Trigger) -> Vec<(Audience, Channel)> {
        let mut out = Vec::new();
        for rule in self.0.iter().filter(|r| r.trigger == trigger.as_str()) {
            for c in &rule.channels {
                if !out.contains(&(rule.to, *c)) {
                    out.push((rule.to, *c));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_tell_the_applicant_staff_and_subscribers() {
        let r = Rules::default();
        assert_eq!(
            r.targets(Trigger::Received),
            vec![
                (Audience::Applicant, Channel::Sms),
                (Audience::Applicant, Channel::Email)
            ]
        );
        assert_eq!(
            r.targets(Trigger::Overdue),
            vec![
                (Audience::Assignee, Channel::Email),
                (Audience::Leaders, Channel::Email)
            ]
        );
        assert_eq!(
            r.targets(Trigger::StateChanged),
            vec![(Audience::Subscribers, Channel::Webhook)]
        );
        assert!(r.targets(Trigger::Stopped).is_empty());
    }

    #[test]
    fn a_rules_file_is_checked() {
        let ok = Rules::parse(
            "[[rule]]\ntrigger = \"stopped\"\nto = \"applicant\"\nchannels = [\"sms\"]\n",
        )
        .unwrap();
        assert_eq!(
            ok.targets(Trigger::Stopped),
            vec![(Audience::Applicant, Channel::Sms)]
        );
        for (bad, says) in [
            (
                "[[rule]]\ntrigger = \"recieved\"\nto = \"applicant\"\nchannels = [\"sms\"]\n",
                "is not one of",
            ),
            (
                "[[rule]]\ntrigger = \"received\"\nto = \"applicant\"\nchannels = [\"webhook\"]\n",
                "webhook only",
            ),
            (
                "[[rule]]\ntrigger = \"received\"\nto = \"applicant\"\nchannels = []\n",
                "empty",
            ),
            (
                "[[rule]]\ntrigger = \"received\"\nto = \"mayor\"\nchannels = [\"sms\"]\n",
                "mayor",
            ),
        ] {
            let err = Rules::parse(bad).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }
}
