//! The consumer of dossier events: each event becomes its deliveries, written in the transaction
//! that records the event as processed. A redelivered event finds its id processed (the platform
//! consumer) and, should it get this far anyway, the deliveries' unique key writes nothing twice.

use crate::contacts;
use crate::deliveries::{self, NewDelivery, RecipientKind};
use crate::rules::{Audience, Channel, Rules};
use crate::settings::{NotificationSettings, QuietHours};
use crate::staff::Staff;
use crate::template_store;
use crate::templates::Template;
use crate::triggers::{self, Notice, Trigger};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt, stream};
use motcua_domain::events::{DEADLINE, REJECTED_AT_INTAKE, STATE_CHANGED, SUBMITTED};
use motcua_platform::SharedClock;
use motcua_platform::bus::DOSSIERS;
use motcua_platform::consumer::{ConsumerSpec, Event, HandleError, Handler};
use sqlx::PgConnection;
use std::collections::HashMap;
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
        Box::pin(async move { self.apply(tx, &[event]).await })
    }

    fn handles_many(&self) -> bool {
        true
    }

    fn handle_many<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [&'a Event],
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(self.apply(tx, events))
    }
}

/// What the notices of one batch read once, however many of them need it: one event after
/// another cost six round trips to PostgreSQL (the contact twice, a template per channel, the
/// subscriptions, the insert), which bounded the consumer at a few hundred events a second.
#[derive(Default)]
struct Memo {
    /// The contacts of the batch's dossiers, as recorded by it.
    contacts: HashMap<String, contacts::Contact>,
    templates: HashMap<(Trigger, Channel, String), Option<Template>>,
    /// Subscription ids by the triggers wanted and the dossier's agencies.
    subscribers: HashMap<(Vec<&'static str>, Vec<String>), Vec<String>>,
}

/// Intake's contacts asked at once for a batch's `submitted` events.
const CONTACTS_IN_FLIGHT: usize = 16;

impl Planner {
    /// Turns `events` into their deliveries: each one's notice; the contacts they bring recorded;
    /// what the notices need read once; every delivery written in one statement.
    async fn apply(&self, tx: &mut PgConnection, events: &[&Event]) -> Result<(), HandleError> {
        let now = self.clock.now();
        let mut notices = Vec::with_capacity(events.len());
        for event in events {
            let notice = triggers::notice(
                &event.event_type,
                &event.payload,
                now,
                self.lookup_public_url.as_deref(),
            )
            .map_err(HandleError::Poison)?;
            if let Some(notice) = notice {
                notices.push((*event, notice));
            }
        }
        if notices.is_empty() {
            return Ok(());
        }
        let mut memo = Memo {
            contacts: self.keep_contacts(tx, &notices, now).await?,
            ..Memo::default()
        };
        let mut rows = Vec::new();
        for (event, notice) in &notices {
            rows.extend(
                self.plan(tx, &mut memo, event.id, notice, now, event.published)
                    .await?,
            );
        }
        deliveries::insert(tx, &rows, now, self.retry_for).await?;
        metrics::counter!("motcua_notification_deliveries_planned_total")
            .increment(rows.len() as u64);
        Ok(())
    }

    /// Records the contacts the notices bring (carried by an old event, or asked of intake, several
    /// at a time) and the ends that start their retention; returns the contacts of every dossier
    /// the notices name, as they stand after.
    async fn keep_contacts(
        &self,
        tx: &mut PgConnection,
        notices: &[(&Event, Notice)],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, contacts::Contact>, HandleError> {
        let asks: Vec<_> = notices.iter().map(|(_, n)| self.brought(n)).collect();
        let brought: Vec<Option<(String, String)>> = stream::iter(asks)
            .buffered(CONTACTS_IN_FLIGHT)
            .try_collect()
            .await?;
        let mut given = Vec::new();
        for ((_, notice), contact) in notices.iter().zip(brought) {
            if let Some((phone, email)) = contact {
                given.push((notice.dossier_code.clone(), phone, email));
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
        }
        contacts::record(tx, &given, now).await?;
        let codes: Vec<&str> = notices
            .iter()
            .map(|(_, n)| n.dossier_code.as_str())
            .collect();
        Ok(contacts::get_many(tx, &codes).await?)
    }

    /// The phone and e-mail a notice brings: carried by an old event, or asked of intake.
    async fn brought(&self, notice: &Notice) -> Result<Option<(String, String)>, HandleError> {
        match (&self.applicants, notice.contact_from_intake) {
            (Some(applicants), true) => applicants.get(&notice.dossier_code).await.map(Some),
            _ => Ok(notice.contact.clone()),
        }
    }

    /// The deliveries a notice of an event published at `published` asks for (its contact already
    /// recorded, see [`Planner::keep_contacts`]).
    async fn plan(
        &self,
        tx: &mut PgConnection,
        memo: &mut Memo,
        event_id: uuid::Uuid,
        notice: &Notice,
        now: DateTime<Utc>,
        published: Option<DateTime<Utc>>,
    ) -> Result<Vec<NewDelivery>, HandleError> {
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
                if channel == Channel::Webhook && notice.webhook.is_null() {
                    continue;
                }
                let recipients = self.recipients(tx, memo, notice, audience, channel).await?;
                if recipients.is_empty() {
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
                    match self.content(tx, memo, *trigger, channel, notice).await? {
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
        memo: &mut Memo,
        trigger: Trigger,
        channel: Channel,
        notice: &Notice,
    ) -> Result<Option<Content>, HandleError> {
        let key = (trigger, channel, notice.agency.clone());
        if !memo.templates.contains_key(&key) {
            let found = template_store::in_use(tx, trigger, channel, &notice.agency).await?;
            memo.templates.insert(key.clone(), found);
        }
        let Some(template) = memo.templates.get(&key).and_then(Option::as_ref) else {
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
        memo: &mut Memo,
        notice: &Notice,
        audience: Audience,
        channel: Channel,
    ) -> Result<Vec<Recipient>, HandleError> {
        Ok(match audience {
            Audience::Applicant => {
                let contact = memo
                    .contacts
                    .get(&notice.dossier_code)
                    .filter(|c| c.submitted)
                    .cloned();
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
                let wanted: Vec<&'static str> =
                    notice.triggers.iter().map(|t| t.as_str()).collect();
                let key = (wanted, notice.agencies.clone());
                if !memo.subscribers.contains_key(&key) {
                    // Only subscriptions whose scope covers one of the dossier's agencies: their
                    // agency's, or their province's (DESIGN.md "Identity").
                    let provinces: Vec<&str> = notice
                        .agencies
                        .iter()
                        .map(|a| motcua_platform::auth::province_of(a))
                        .collect();
                    let ids: Vec<String> = sqlx::query_scalar(
                        "SELECT id::text FROM subscriptions
                         WHERE deleted_at IS NULL AND (cardinality(triggers) = 0 OR triggers && $1)
                           AND (agency = ANY($2) OR province = ANY($3))
                         ORDER BY id",
                    )
                    .bind(&key.0)
                    .bind(&notice.agencies)
                    .bind(&provinces)
                    .fetch_all(&mut *tx)
                    .await?;
                    memo.subscribers.insert(key.clone(), ids);
                }
                memo.subscribers
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .map(|id| Recipient {
                        kind: RecipientKind::Subscriber,
                        masked: id.clone(),
                        reference: id.clone(),
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
