//! `motcua.notification.v1.NotificationService`: deliveries (officers, leaders, admins), resend,
//! templates and webhook subscriptions (admins). Every call is scoped to the caller: what lies
//! outside its agency (or a province admin's province) is NOT_FOUND, an agency named outside it
//! PERMISSION_DENIED.

use crate::deliveries::{self, Seen};
use crate::rules::Channel;
use crate::subscriptions;
use crate::template_store;
use crate::templates::{self, Template};
use crate::triggers::Trigger;
use chrono::{DateTime, Utc};
use motcua_domain::time::ts;
use motcua_platform::ServiceError;
use motcua_platform::SharedClock;
use motcua_platform::auth::{Caller, Role, caller};
use motcua_proto::notification as pb;
use motcua_proto::notification::notification_service_server::NotificationService;
use sqlx::{PgPool, Row};
use tonic::{Request, Response, Status};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Api {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub retry_for: chrono::Duration,
    pub sms: crate::consume::SmsShape,
    pub targets: std::sync::Arc<crate::targets::Targets>,
}

/// A subscription takes at most one of each trigger.
const MAX_TRIGGERS: usize = crate::triggers::ALL.len();
/// How long rotated secrets may keep signing.
const MAX_OVERLAP_SECS: u32 = 30 * 24 * 3600;

/// The agency a request names, checked against the caller's scope; none named is the caller's.
fn asked_agency(who: &Caller, asked: &str) -> Result<String, ServiceError> {
    match asked.trim() {
        "" => Ok(who.agency.clone()),
        a => {
            who.require_scope(a)?;
            Ok(a.to_owned())
        }
    }
}

const OFFICERS: &[Role] = &[Role::Desk, Role::Specialist, Role::Leader, Role::Admin];

fn channel_pb(c: Channel) -> i32 {
    match c {
        Channel::Sms => pb::Channel::Sms as i32,
        Channel::Email => pb::Channel::Email as i32,
        Channel::Webhook => pb::Channel::Webhook as i32,
    }
}

fn channel_from_pb(c: i32) -> Result<Channel, ServiceError> {
    match pb::Channel::try_from(c) {
        Ok(pb::Channel::Sms) => Ok(Channel::Sms),
        Ok(pb::Channel::Email) => Ok(Channel::Email),
        Ok(pb::Channel::Webhook) => Ok(Channel::Webhook),
        _ => Err(ServiceError::InvalidArgument(
            "kênh không hợp lệ (channel must be CHANNEL_SMS or CHANNEL_EMAIL)".into(),
        )),
    }
}

fn template_pb(t: &Template) -> pb::Template {
    let (offered, required) = t.trigger.placeholders();
    pb::Template {
        trigger: t.trigger.as_str().into(),
        channel: channel_pb(t.channel),
        language: t.language.clone(),
        body: t.body.clone(),
        subject: t.subject.clone(),
        html_body: t.html_body.clone(),
        version: u32::try_from(t.version).unwrap_or(0),
        published_at: t.published_at.map(ts),
        published_by: t.published_by.clone(),
        placeholders: offered.iter().map(|s| (*s).to_owned()).collect(),
        required: required.iter().map(|s| (*s).to_owned()).collect(),
        agency: t.agency.clone(),
    }
}

fn delivery_pb(r: &sqlx::postgres::PgRow) -> pb::Delivery {
    let status = match r.get::<&str, _>("status") {
        "queued" => pb::DeliveryStatus::Queued,
        "sent" => pb::DeliveryStatus::Sent,
        "delivered" => pb::DeliveryStatus::Delivered,
        _ => pb::DeliveryStatus::Failed,
    };
    let t = |col: &str| r.get::<Option<DateTime<Utc>>, _>(col).map(ts);
    pb::Delivery {
        id: r.get::<Uuid, _>("id").to_string(),
        dossier_code: r.get("dossier_code"),
        event_id: r.get::<Uuid, _>("event_id").to_string(),
        trigger: r.get("trigger"),
        channel: Channel::parse(r.get("channel")).map_or(0, channel_pb),
        recipient_kind: r.get("recipient_kind"),
        recipient: r.get("recipient_masked"),
        status: status as i32,
        attempts: u32::try_from(r.get::<i32, _>("attempts")).unwrap_or(0),
        last_error: r.get::<Option<String>, _>("last_error").unwrap_or_default(),
        template_version: u32::try_from(r.get::<i32, _>("template_version")).unwrap_or(0),
        body: r.get("body"),
        sms_parts: u32::try_from(r.get::<i32, _>("sms_parts")).unwrap_or(0),
        provider: r.get::<Option<String>, _>("provider").unwrap_or_default(),
        provider_message_id: r
            .get::<Option<String>, _>("provider_message_id")
            .unwrap_or_default(),
        created_at: t("created_at"),
        next_attempt_at: if status == pb::DeliveryStatus::Queued {
            t("next_attempt_at")
        } else {
            None
        },
        sent_at: t("sent_at"),
        delivered_at: t("delivered_at"),
        failed_at: t("failed_at"),
    }
}

fn subscription_pb(s: &subscriptions::Subscription) -> pb::Subscription {
    pb::Subscription {
        id: s.id.to_string(),
        url: s.url.clone(),
        description: s.description.clone(),
        triggers: s.triggers.clone(),
        secrets: s.secrets,
        created_at: Some(ts(s.created_at)),
        agency: match &s.scope {
            subscriptions::Scope::Agency(a) => a.clone(),
            subscriptions::Scope::Province(_) => String::new(),
        },
        province: match &s.scope {
            subscriptions::Scope::Province(p) => p.clone(),
            subscriptions::Scope::Agency(_) => String::new(),
        },
    }
}

fn uuid(value: &str, field: &str) -> Result<Uuid, ServiceError> {
    Uuid::parse_str(value.trim()).map_err(|_| {
        ServiceError::InvalidArgument(format!(
            "{field} không hợp lệ ({field} must be an id as returned by this API)"
        ))
    })
}

/// Page tokens: "<created_at micros>.<id>" of the last row shown.
fn page_after(token: &str) -> Result<Option<(DateTime<Utc>, Uuid)>, ServiceError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        ServiceError::InvalidArgument(
            "page_token không hợp lệ (use the next_page_token of the previous answer)".into(),
        )
    };
    let (micros, id) = token.split_once('.').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok(Some((at, Uuid::parse_str(id).map_err(|_| bad())?)))
}

#[tonic::async_trait]
impl NotificationService for Api {
    async fn list_deliveries(
        &self,
        req: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let who = caller(&req)?;
        who.require(OFFICERS)?;
        let r = req.get_ref();
        let code = r.dossier_code.trim();
        if code.is_empty() {
            return Err(ServiceError::InvalidArgument(
                "cần mã hồ sơ (dossier_code is required)".into(),
            )
            .into());
        }
        let size = if r.page_size == 0 {
            50
        } else {
            r.page_size.min(200)
        } as i64;
        let after = page_after(&r.page_token)?;
        let rows = deliveries::of_dossier(&self.pool, code, Seen::by(&who), after, size + 1)
            .await
            .map_err(ServiceError::from)?;
        // A dossier of an agency outside the scope is not there for this caller, whether or not
        // anything was sent about it (its code names the agency that received it).
        let of_code = code.split('-').next().unwrap_or_default();
        if rows.is_empty() && after.is_none() && !who.covers(of_code) {
            return Err(ServiceError::NotFound(format!(
                "không có hồ sơ {} trong phạm vi của bạn (no such dossier in the caller's scope)",
                motcua_platform::text::quote(code)
            ))
            .into());
        }
        let more = rows.len() as i64 > size;
        let shown: Vec<_> = rows.iter().take(size as usize).collect();
        let next_page_token = match (more, shown.last()) {
            (true, Some(last)) => format!(
                "{}.{}",
                last.get::<DateTime<Utc>, _>("created_at")
                    .timestamp_micros(),
                last.get::<Uuid, _>("id")
            ),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: shown.into_iter().map(delivery_pb).collect(),
            next_page_token,
        }))
    }

    async fn resend_delivery(
        &self,
        req: Request<pb::ResendDeliveryRequest>,
    ) -> Result<Response<pb::ResendDeliveryResponse>, Status> {
        let who = caller(&req)?;
        who.require(&[Role::Admin])?;
        let id = uuid(&req.get_ref().delivery_id, "delivery_id")?;
        let row = deliveries::resend(
            &self.pool,
            id,
            Seen::by(&who),
            self.clock.now(),
            self.retry_for,
        )
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(|| {
            ServiceError::NotFound(format!("không có thông báo {id} (no such delivery)"))
        })?;
        Ok(Response::new(pb::ResendDeliveryResponse {
            delivery: Some(delivery_pb(&row)),
        }))
    }

    async fn list_templates(
        &self,
        req: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::ListTemplatesResponse>, Status> {
        let who = caller(&req)?;
        who.require(&[Role::Admin])?;
        let agency = asked_agency(&who, &req.get_ref().agency)?;
        let trigger = match req.get_ref().trigger.trim() {
            "" => None,
            t => Some(trigger(t)?),
        };
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let list = template_store::list(&mut conn, trigger, &agency)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(pb::ListTemplatesResponse {
            templates: list.iter().map(template_pb).collect(),
        }))
    }

    async fn publish_template(
        &self,
        req: Request<pb::PublishTemplateRequest>,
    ) -> Result<Response<pb::PublishTemplateResponse>, Status> {
        let who = caller(&req)?;
        who.require(&[Role::Admin])?;
        let t = req.get_ref().template.clone().ok_or_else(|| {
            ServiceError::InvalidArgument("cần template (template is required)".into())
        })?;
        let agency = asked_agency(&who, &t.agency)?;
        let tr = trigger(&t.trigger)?;
        let channel = channel_from_pb(t.channel)?;
        let language = if t.language.trim().is_empty() {
            templates::LANGUAGE.to_owned()
        } else {
            t.language.trim().to_owned()
        };
        if language.len() > 8 || !language.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            return Err(ServiceError::InvalidArgument(
                "language phải là mã ngôn ngữ như vi, en (language must be a code like vi or en)"
                    .into(),
            )
            .into());
        }
        templates::check(tr, channel, &t.subject, &t.body, &t.html_body).map_err(|e| {
            ServiceError::InvalidArgument(format!("mẫu thông báo không hợp lệ: {e}"))
        })?;
        if channel == Channel::Sms {
            // Measured with long sample values before it is kept: a template that would not fit
            // the cap on parts is refused, rather than cut at send time.
            let sample = templates::render_sample(tr, &t.body).map_err(|e| {
                ServiceError::InvalidArgument(format!("mẫu thông báo không hợp lệ: {e}"))
            })?;
            let folded = if self.sms.unicode {
                sample
            } else {
                crate::gsm::fold_to_gsm7(&sample)
            };
            let parts = crate::gsm::measure(&folded).parts;
            if parts > self.sms.max_parts {
                return Err(ServiceError::InvalidArgument(format!(
                    "tin nhắn mẫu dài {parts} phần, vượt giới hạn {} phần (with long sample values the SMS takes {parts} parts, more than MOTCUA_SMS_MAX_PARTS = {}; shorten it)",
                    self.sms.max_parts, self.sms.max_parts
                ))
                .into());
            }
        }
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let draft = template_store::Draft {
            trigger: tr,
            channel,
            language: &language,
            subject: &t.subject,
            body: &t.body,
            html_body: &t.html_body,
            agency: &agency,
        };
        let published = template_store::publish(&mut conn, &draft, &who.subject, self.clock.now())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => ServiceError::Aborted {
                message: "một phiên bản khác vừa được công bố, hãy thử lại (another version was published at the same time; retry)".into(),
                current_version: 0,
            },
            _ => ServiceError::from(e),
        })?;
        let (sample, parts) = if channel == Channel::Sms {
            let rendered = published
                .render(&templates::sample(tr))
                .map_err(|e| ServiceError::Internal(anyhow::anyhow!(e)))?;
            let (text, parts) = self.sms.shape(&rendered.body);
            (text, parts as u32)
        } else {
            (String::new(), 0)
        };
        Ok(Response::new(pb::PublishTemplateResponse {
            template: Some(template_pb(&published)),
            sample,
            sample_sms_parts: parts,
        }))
    }

    async fn list_subscriptions(
        &self,
        req: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        let who = caller(&req)?;
        who.require(&[Role::Admin])?;
        let agency = match req.get_ref().agency.trim() {
            "" => None,
            a => Some(asked_agency(&who, a)?),
        };
        let mut conn = self.pool.acquire().await.map_err(ServiceError::from)?;
        let list = subscriptions::list(
            &mut conn,
            Seen::by(&who),
            agency.as_deref(),
            self.clock.now(),
        )
        .await
        .map_err(ServiceError::from)?;
        Ok(Response::new(pb::ListSubscriptionsResponse {
            subscriptions: list.iter().map(subscription_pb).collect(),
        }))
    }

    async fn create_subscription(
        &self,
        req: Request<pb::CreateSubscriptionRequest>,
    ) -> Result<Response<pb::CreateSubscriptionResponse>, Status> {
        let who = caller(&req)?;
        who.require(&[Role::Admin])?;
        let r = req.get_ref();
        // Whose events: the agency named (in the caller's scope), else the caller's whole scope.
        let scope = match (r.agency.trim(), who.province_scope()) {
            ("", Some(p)) => subscriptions::Scope::Province(p.to_owned()),
            (asked, _) => subscriptions::Scope::Agency(asked_agency(&who, asked)?),
        };
        if r.triggers.len() > MAX_TRIGGERS {
            return Err(ServiceError::InvalidArgument(format!(
                "triggers có tối đa {MAX_TRIGGERS} mục (triggers takes at most {MAX_TRIGGERS} items, one of each)"
            ))
            .into());
        }
        for t in &r.triggers {
            trigger(t)?;
        }
        let refused =
            |e: String| ServiceError::InvalidArgument(format!("địa chỉ nhận không hợp lệ: {e}"));
        let url = self.targets.check_url(r.url.trim()).map_err(refused)?;
        self.targets.check_resolved(&url).await.map_err(refused)?;
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let (s, secret) = subscriptions::create(
            &mut tx,
            r.url.trim(),
            r.description.trim(),
            &r.triggers,
            &scope,
            self.clock.now(),
        )
        .await
        .map_err(ServiceError::from)?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(pb::CreateSubscriptionResponse {
            subscription: Some(subscription_pb(&s)),
            secret: secret.to_whsec(),
        }))
    }

    async fn rotate_subscription_secret(
        &self,
        req: Request<pb::RotateSubscriptionSecretRequest>,
    ) -> Result<Response<pb::RotateSubscriptionSecretResponse>, Status> {
        let who = caller(&req)?;
        who.require(&[Role::Admin])?;
        let r = req.get_ref();
        let id = uuid(&r.id, "id")?;
        let overlap = match r.overlap_seconds {
            0 => chrono::Duration::days(1),
            s if s <= MAX_OVERLAP_SECS => chrono::Duration::seconds(i64::from(s)),
            _ => {
                return Err(ServiceError::InvalidArgument(format!(
                    "overlap_seconds tối đa {MAX_OVERLAP_SECS} (30 ngày) (overlap_seconds must be at most {MAX_OVERLAP_SECS}, 30 days)"
                ))
                .into());
            }
        };
        let now = self.clock.now();
        let seen = Seen::by(&who);
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        let secret = subscriptions::rotate(&mut tx, id, seen, overlap, now)
            .await
            .map_err(ServiceError::from)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("không có đăng ký {id} (no such subscription)"))
            })?;
        let list = subscriptions::list(&mut tx, seen, None, now)
            .await
            .map_err(ServiceError::from)?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(pb::RotateSubscriptionSecretResponse {
            subscription: list.iter().find(|s| s.id == id).map(subscription_pb),
            secret: secret.to_whsec(),
        }))
    }

    async fn delete_subscription(
        &self,
        req: Request<pb::DeleteSubscriptionRequest>,
    ) -> Result<Response<pb::DeleteSubscriptionResponse>, Status> {
        let who = caller(&req)?;
        who.require(&[Role::Admin])?;
        let id = uuid(&req.get_ref().id, "id")?;
        if !subscriptions::delete(&self.pool, id, Seen::by(&who), self.clock.now())
            .await
            .map_err(ServiceError::from)?
        {
            return Err(ServiceError::NotFound(format!(
                "không có đăng ký {id} (no such subscription)"
            ))
            .into());
        }
        Ok(Response::new(pb::DeleteSubscriptionResponse {}))
    }
}

fn trigger(name: &str) -> Result<Trigger, ServiceError> {
    Trigger::parse(name.trim()).ok_or_else(|| {
        ServiceError::InvalidArgument(format!(
            "trigger {name:?} không hợp lệ (use one of {})",
            crate::triggers::ALL.map(|t| t.as_str()).join(", ")
        ))
    })
}
