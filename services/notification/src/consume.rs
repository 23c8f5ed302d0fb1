//! The consumer of dossier events: each event becomes its deliveries, written in the transaction
//! that records the event as processed. A redelivered event finds its id processed (the platform
//! consumer) and, should it get this far anyway, the deliveries' unique key writes nothing twice.

use crate::contacts;
use crate::deliveries::{self, NewDelivery, RecipientKind};
use crate::rules::{Audience, Channel, Rules};
use crate::settings::{NotificationSettings, QuietHours};
use crate::staff::Staff;
use crate::template_store;
use crate::triggers::{self, Notice, Trigger};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use motcua_domain::events::{DEADLINE, REJECTED_AT_INTAKE, STATE_CHANGED, SUBMITTED};
use motcua_platform::SharedClock;
use motcua_platform::bus::DOSSIERS;
use motcua_platform::consumer::{ConsumerSpec, Event, HandleError, Handler};
use sqlx::{PgConnection, Row};
use std::sync::Arc;

/// How long after its citizen submitted it a portal may sync a dossier (intake accepts a stated
/// submission time up to 7 days back).
const PORTAL_LATENESS: chrono::Duration = chrono::Duration::days(7);

/// One durable consumer for the whole service: every field's events.
pub fn consumer() -> ConsumerSpec {
    ConsumerSpec::new("notification-dossiers", DOSSIERS, "dossier.>")
        .only(&[SUBMITTED, REJECTED_AT_INTAKE, STATE_CHANGED, DEADLINE])
        .batched(128)
}

/// What turning events into deliveries needs.
#[derive(Debug, Clone)]
pub struct Planner {
    pub clock: SharedClock,
    pub rules: Arc<Rules>,
    pub staff: Arc<Staff>,
    pub sms: SmsShape,
    pub quiet_hours: Option<QuietHours>,
    pub retry_for: chrono::Duration,
    pub contact_retention: chrono::Duration,
    pub lookup_public_url: Option<String>,
    /// Events published longer ago than this when handled notify no one (a new deployment
    /// reading the stream from its start, a long outage): news that late misleads more than it
    /// helps.
    pub max_event_age: chrono::Duration,
    /// Where applicants' phones and e-mails are asked for (None: only events that carry them).
    pub applicants: Option<crate::applicants::IntakeContacts>,
}

impl Planner {
    pub fn new(clock: SharedClock, s: &NotificationSettings) -> Self {
        Self {
            clock,
            rules: Arc::new(s.rules.clone()),
            staff: Arc::new(s.staff.clone()),
            sms: SmsShape {
                unicode: s.sms_unicode,
                max_parts: s.sms_max_parts,
            },
            quiet_hours: s.quiet_hours,
            retry_for: s.retry_for,
            contact_retention: s.contact_retention,
            lookup_public_url: s.lookup_public_url.clone(),
            max_event_age: s.max_event_age,
            applicants: None,
        }
    }
}

/// How SMS text is shaped: GSM-7 without diacritics unless Unicode is asked for, cut to a number
/// of parts.
#[derive(Debug, Clone, Copy)]
pub struct SmsShape {
    pub unicode: bool,
    pub max_parts: usize,
}

impl SmsShape {
    /// The text as it will be sent, and its parts. Text past the cap is cut and ends with "...".
    pub fn shape(&self, text: &str) -> (String, usize) {
        let mut out = if self.unicode {
            text.to_owned()
        } else {
            crate::gsm::fold_to_gsm7(text)
        };
        let size = crate::gsm::measure(&out);
        if size.parts <= self.max_parts {
            return (out, size.parts);
        }
        while !out.is_empty() && crate::gsm::measure(&format!("{out}...")).parts > self.max_parts {
            out.pop();
        }
        let cut = format!("{}...", out.trim_end());
        let parts = crate::gsm::measure(&cut).parts;
        (cut, parts)
    }
}

impl Handler for Planner {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let now = self.clock.now();
            let Some(notice) = triggers::notice(
                &event.event_type,
                &event.payload,
                now,
                self.lookup_public_url.as_deref(),
            )
            .map_err(HandleError::Poison)?
            else {
                return Ok(());
            };
            let rows = self
                .plan(tx, event.id, &notice, now, event.published)
                .await?;
            deliveries::insert(tx, &rows, now, self.retry_for).await?;
            metrics::counter!("motcua_notification_deliveries_planned_total")
                .increment(rows.len() as u64);
            Ok(())
        })
    }
}

impl Planner {
    /// The deliveries an event published at `published` asks for (contact bookkeeping done on
    /// the way).
    pub async fn plan(
        &self,
        tx: &mut PgConnection,
        event_id: uuid::Uuid,
        notice: &Notice,
        now: DateTime<Utc>,
        published: Option<DateTime<Utc>>,
    ) -> Result<Vec<NewDelivery>, HandleError> {
        if notice.contact_from_intake
            && let Some(applicants) = &self.applicants
        {
            let (phone, email) = applicants.get(&notice.dossier_code).await?;
            contacts::record(tx, &notice.dossier_code, &phone, &email, now).await?;
        } else if let Some((phone, email)) = &notice.contact {
            contacts::record(tx, &notice.dossier_code, phone, email, now).await?;
        }
        if notice.ends {
            contacts::ended(
                tx,
                &notice.dossier_code,
                notice.at + self.contact_retention,
                now,
            )
            .await?;
        }
        let mut rows = Vec::new();
        // How old the news is: since the stream stored it. Not the business time inside it: a
        // portal may sync a dossier its citizen submitted days before, and that citizen is to be
        // told now. (Without the stream's stamp the event is taken as fresh.)
        let published = published.unwrap_or(now);
        if now - published > self.max_event_age {
            tracing::info!(
                dossier = %notice.dossier_code,
                %published,
                "event published longer ago than MOTCUA_NOTIFICATION_MAX_EVENT_AGE_HOURS: nobody is told"
            );
            metrics::counter!("motcua_notification_stale_events_total").increment(1);
            return Ok(rows);
        }
        for trigger in &notice.triggers {
            for (audience, channel) in self.rules.targets(*trigger) {
                let recipients = self
                    .recipients(tx, notice, *trigger, audience, channel)
                    .await?;
                if recipients.is_empty() {
                    continue;
                }
                if channel == Channel::Webhook && notice.webhook.is_null() {
                    continue;
                }
                let content = if channel == Channel::Webhook {
                    let mut payload = notice.webhook.clone();
                    if let Some(o) = payload.as_object_mut() {
                        o.insert(
                            "triggers".into(),
                            notice
                                .triggers
                                .iter()
                                .map(|t| t.as_str())
                                .collect::<Vec<_>>()
                                .into(),
                        );
                    }
                    Content {
                        version: 0,
                        subject: String::new(),
                        body: payload.to_string(),
                        html_body: String::new(),
                        parts: 0,
                    }
                } else {
                    match self.content(tx, *trigger, channel, notice).await? {
                        Some(c) => c,
                        None => continue,
                    }
                };
                for r in recipients {
                    let quiet = channel == Channel::Sms && audience == Audience::Applicant;
                    let not_before = match (quiet, self.quiet_hours) {
                        (true, Some(q)) => q.release(now),
                        _ => now,
                    };
                    rows.push(NewDelivery {
                        event_id,
                        dossier_code: notice.dossier_code.clone(),
                        agencies: notice.agencies.clone(),
                        trigger: trigger.as_str().into(),
                        channel,
                        kind: r.kind,
                        recipient_ref: r.reference,
                        recipient_masked: r.masked,
                        reply_to: None,
                        template_version: content.version,
                        subject: content.subject.clone(),
                        body: content.body.clone(),
                        html_body: content.html_body.clone(),
                        sms_parts: content.parts,
                        quiet_hours: quiet,
                        not_before,
                    });
                }
            }
        }
        Ok(rows)
    }

    async fn content(
        &self,
        tx: &mut PgConnection,
        trigger: Trigger,
        channel: Channel,
        notice: &Notice,
    ) -> Result<Option<Content>, HandleError> {
        let Some(template) = template_store::in_use(tx, trigger, channel, &notice.agency).await?
        else {
            tracing::warn!(
                trigger = trigger.as_str(),
                channel = channel.as_str(),
                "no template for a rule's trigger and channel; nothing sent"
            );
            return Ok(None);
        };
        // Published templates were checked against these facts' names, so a failure here is a
        // bug, not data: retried, then dead-lettered for an operator.
        let r = template
            .render(&notice.facts)
            .map_err(|e| HandleError::Retry(format!("template {}: {e}", trigger.as_str())))?;
        let (body, parts) = if channel == Channel::Sms {
            let (b, p) = self.sms.shape(&r.body);
            (b, p as i32)
        } else {
            (r.body, 0)
        };
        Ok(Some(Content {
            version: template.version,
            subject: r.subject,
            body,
            html_body: r.html_body,
            parts,
        }))
    }

    async fn recipients(
        &self,
        tx: &mut PgConnection,
        notice: &Notice,
        trigger: Trigger,
        audience: Audience,
        channel: Channel,
    ) -> Result<Vec<Recipient>, HandleError> {
        Ok(match audience {
            Audience::Applicant => {
                let contact = contacts::get(tx, &notice.dossier_code)
                    .await?
                    .filter(|c| c.submitted);
                let Some(contact) = contact else {
                    // A later event before `submitted` (several relays): wait for it, bounded.
                    // A dossier received before this service read the stream never gets one. A
                    // portal may sync a dossier up to a week after its citizen submitted it.
                    let recent = notice.received_at.is_some_and(|r| {
                        self.clock.now() - r < self.max_event_age + PORTAL_LATENESS
                    });
                    if recent {
                        return Err(HandleError::wait_for(format_args!(
                            "the submitted event of dossier {}",
                            notice.dossier_code
                        )));
                    }
                    return Ok(Vec::new());
                };
                let address = match channel {
                    Channel::Sms => contact.phone,
                    Channel::Email => contact.email,
                    Channel::Webhook => None,
                };
                address
                    .map(|a| Recipient {
                        kind: RecipientKind::Applicant,
                        reference: notice.dossier_code.clone(),
                        masked: crate::mask::address(&a),
                    })
                    .into_iter()
                    .collect()
            }
            Audience::Assignee => self
                .staff
                .by_subject(&notice.assignee)
                .map(|m| Recipient {
                    kind: RecipientKind::Staff,
                    reference: m.subject.clone(),
                    masked: crate::mask::address(&m.email),
                })
                .into_iter()
                .collect(),
            Audience::Leaders => self
                .staff
                .leaders(&notice.agency, &notice.department)
                .filter(|m| m.subject != notice.assignee)
                .map(|m| Recipient {
                    kind: RecipientKind::Staff,
                    reference: m.subject.clone(),
                    masked: crate::mask::address(&m.email),
                })
                .collect(),
            Audience::Subscribers => {
                let wanted: Vec<&str> = notice.triggers.iter().map(|t| t.as_str()).collect();
                let _ = trigger;
                // Only subscriptions whose scope covers one of the dossier's agencies: their
                // agency's, or their province's (DESIGN.md "Identity").
                let provinces: Vec<&str> = notice
                    .agencies
                    .iter()
                    .map(|a| motcua_platform::auth::province_of(a))
                    .collect();
                sqlx::query(
                    "SELECT id::text AS id FROM subscriptions
                     WHERE deleted_at IS NULL AND (cardinality(triggers) = 0 OR triggers && $1)
                       AND (agency = ANY($2) OR province = ANY($3))
                     ORDER BY id",
                )
                .bind(&wanted)
                .bind(&notice.agencies)
                .bind(&provinces)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    let id: String = r.get("id");
                    Recipient {
                        kind: RecipientKind::Subscriber,
                        masked: id.clone(),
                        reference: id,
                    }
                })
                .collect()
            }
        })
    }
}

struct Content {
    version: i32,
    subject: String,
    body: String,
    html_body: String,
    parts: i32,
}

struct Recipient {
    kind: RecipientKind,
    reference: String,
    masked: String,
}
