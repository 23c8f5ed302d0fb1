//! Notification's own settings, read from the same `MOTCUA_*` variables as the platform's. With
//! none set, SMS and e-mail go to the log provider (what would be sent is recorded, nothing leaves
//! the machine), so the system runs without any outside account.

use crate::rules::Rules;
use crate::staff::Staff;
use chrono::NaiveTime;
use motcua_domain::secrets::SecretHasher;
use motcua_platform::config::{ConfigError, Vars};
use secrecy::SecretString;
use std::time::Duration;

/// Intake and lookup as notification finds them when their URL settings are unset: the names and
/// ports they declare (`motcua_intake::SERVICE`, `motcua_lookup::SERVICE`; a test of crates/cli
/// checks that they agree).
pub const INTAKE: motcua_platform::config::ServiceSpec = motcua_platform::config::ServiceSpec {
    name: "intake",
    grpc_port: 50051,
    http_port: 8081,
};
pub const LOOKUP: motcua_platform::config::ServiceSpec = motcua_platform::config::ServiceSpec {
    name: "lookup",
    grpc_port: 50054,
    http_port: 8084,
};

#[derive(Debug, Clone)]
pub enum SmsProvider {
    /// Records what would be sent (the default).
    Log,
    Http(HttpGateway),
}

pub use crate::providers::http_sms::HttpGateway;

pub const DEFAULT_GATEWAY_BODY: &str =
    r#"{"to": {{ phone|tojson }}, "text": {{ text|tojson }}, "ref": {{ id|tojson }}}"#;

#[derive(Debug, Clone)]
pub enum EmailProvider {
    Log,
    /// MOTCUA_SMTP_URL, e.g. `smtps://user:password@mail.example.gov.vn` or
    /// `smtp://relay.local:25?tls=required` (lettre's URL form).
    Smtp {
        url: SecretString,
    },
}

/// Hours in which SMS to citizens wait (by the service's clock, in Vietnam's time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub from: NaiveTime,
    pub until: NaiveTime,
}

#[derive(Debug, Clone)]
pub struct NotificationSettings {
    pub sms: SmsProvider,
    pub email: EmailProvider,
    /// MOTCUA_EMAIL_FROM: the sender of e-mails.
    pub email_from: String,
    /// MOTCUA_SMS_UNICODE (false): send SMS with diacritics (UCS-2, 70 characters a part).
    pub sms_unicode: bool,
    /// MOTCUA_SMS_MAX_PARTS (3): longer SMS are cut to this many parts.
    pub sms_max_parts: usize,
    /// MOTCUA_SMS_QUIET_HOURS ("21:00-07:00"; "off" for none).
    pub quiet_hours: Option<QuietHours>,
    /// MOTCUA_DELIVERY_RETRY_HOURS (24): how long a delivery is retried before it fails.
    pub retry_for: chrono::Duration,
    /// MOTCUA_DELIVERY_BACKOFF_SECS (30): the first retry's delay; it doubles up to an hour.
    pub backoff: chrono::Duration,
    /// MOTCUA_DELIVERY_TIMEOUT_SECS (10): one attempt's limit; a hanging provider costs this much.
    pub send_timeout: Duration,
    /// MOTCUA_DELIVERY_CONCURRENCY (32): attempts in flight per channel.
    pub concurrency: usize,
    /// MOTCUA_{SMS,EMAIL,WEBHOOK}_RATE_PER_SECOND (30, 10, 50): per provider, per replica.
    pub sms_rate: u32,
    pub email_rate: u32,
    pub webhook_rate: u32,
    /// MOTCUA_CONTACT_RETENTION_DAYS (30): how long after a dossier ends its applicant's phone and
    /// e-mail are kept.
    pub contact_retention: chrono::Duration,
    /// MOTCUA_NOTIFICATION_MAX_EVENT_AGE_HOURS (168): events published longer ago than this when
    /// read notify no one (a new deployment reading the stream from its start); an outage shorter
    /// than this loses nothing. Judged by when the stream stored the event, not by the business
    /// time inside it (a portal may sync a dossier submitted days before).
    pub max_event_age: chrono::Duration,
    /// MOTCUA_WEBHOOK_ALLOWED_TARGETS (none): internal webhook targets allowed all the same
    /// (development and tests), see [`crate::targets`].
    pub webhook_targets: crate::targets::Targets,
    /// MOTCUA_DELIVERY_RETENTION_DAYS (180): how long a delivery is kept after it ended (sent,
    /// delivered or failed); also how long an erased contact's empty row and a deleted
    /// subscription stay.
    pub delivery_retention: chrono::Duration,
    /// MOTCUA_INBOUND_SMS_RETENTION_DAYS (30): how long an inbound SMS's record (its message id,
    /// for answering repeats once, and the sender's keyed hash, for the hourly limit) is kept.
    pub inbound_retention: chrono::Duration,
    /// MOTCUA_NOTIFICATION_RULES_FILE: who hears of which trigger on which channel.
    pub rules: Rules,
    /// MOTCUA_STAFF_FILE: officers' and leaders' e-mail, for due-soon and overdue notices.
    pub staff: Staff,
    /// MOTCUA_LOOKUP_PUBLIC_URL: the base of the lookup link in messages (as intake's).
    pub lookup_public_url: Option<String>,
    /// MOTCUA_NOTIFICATION_LOOKUP_URL: lookup's gRPC endpoint for SMS lookups (default: lookup's
    /// address in this process's settings).
    pub lookup_endpoint: String,
    /// MOTCUA_NOTIFICATION_LOOKUP_TOKEN: an integration token for lookup (exempts the SMS lookups
    /// from the public rate limit; development mints one with the development key).
    pub lookup_token: Option<SecretString>,
    /// MOTCUA_NOTIFICATION_INTAKE_URL: intake's gRPC endpoint, asked for an applicant's phone and
    /// e-mail (events carry none; default: intake's address in this process's settings). `off`:
    /// applicants are reached only through contacts an event carries (notification's own tests).
    pub intake_endpoint: String,
    /// MOTCUA_NOTIFICATION_INTAKE_TOKEN: an integration token whose scope covers the dossiers'
    /// agencies (a province's, claim `province`); development mints one with the development key
    /// for MOTCUA_DEVELOPMENT_PROVINCE (H56, the sample catalog's province).
    pub intake_token: Option<SecretString>,
    /// MOTCUA_OAUTH_*: notification gets its tokens for lookup and intake from the identity
    /// provider itself (client credentials), renewed before they expire, when the two settings
    /// above are unset.
    pub oauth: Option<std::sync::Arc<motcua_platform::auth::outgoing::ClientCredentials>>,
    pub development_province: String,
    /// MOTCUA_SMS_INBOUND_SECRET: what the gateway sends in `x-gateway-secret` with inbound SMS and
    /// delivery receipts. Unset: those endpoints answer 503.
    pub inbound_secret: Option<SecretString>,
    /// MOTCUA_SMS_KEYWORDS ("HS"): the first word of an SMS lookup.
    pub sms_keywords: Vec<String>,
    /// MOTCUA_SMS_REPLIES_PER_HOUR (5): replies to one sender in an hour.
    pub replies_per_hour: u32,
    /// Keys for the inbound sender's hash (MOTCUA_SECRET_HASH_KEYS, as intake's and lookup's).
    pub hasher: SecretHasher,
}

impl NotificationSettings {
    pub fn from_vars(v: &Vars) -> Result<Self, ConfigError> {
        let sms = match v.string("MOTCUA_SMS_PROVIDER", "log").as_str() {
            "log" => SmsProvider::Log,
            "http" => SmsProvider::Http(gateway(v)?),
            other => {
                return Err(ConfigError::new(
                    "MOTCUA_SMS_PROVIDER",
                    format!("{other:?}: use log or http"),
                ));
            }
        };
        let email = match v.string("MOTCUA_EMAIL_PROVIDER", "log").as_str() {
            "log" => EmailProvider::Log,
            "smtp" => EmailProvider::Smtp {
                url: v.secret("MOTCUA_SMTP_URL").ok_or_else(|| {
                    ConfigError::new(
                        "MOTCUA_SMTP_URL",
                        "must be set when MOTCUA_EMAIL_PROVIDER=smtp, e.g. smtps://user:password@mail.example.gov.vn",
                    )
                })?,
            },
            other => {
                return Err(ConfigError::new(
                    "MOTCUA_EMAIL_PROVIDER",
                    format!("{other:?}: use log or smtp"),
                ));
            }
        };
        let email_from = v.string("MOTCUA_EMAIL_FROM", "Một cửa <mot-cua@localhost>");
        email_from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| ConfigError::new("MOTCUA_EMAIL_FROM", e.to_string()))?;
        let keywords: Vec<String> = v
            .string("MOTCUA_SMS_KEYWORDS", "HS")
            .split(',')
            .map(|k| k.trim().to_owned())
            .collect();
        crate::keyword::validate_keywords(&keywords)
            .map_err(|e| ConfigError::new("MOTCUA_SMS_KEYWORDS", e))?;
        let lookup_public_url = v.raw("MOTCUA_LOOKUP_PUBLIC_URL").map(str::to_owned);
        if let Some(base) = &lookup_public_url {
            motcua_domain::links::check_base(base)
                .map_err(|e| ConfigError::new("MOTCUA_LOOKUP_PUBLIC_URL", e))?;
        }
        motcua_platform::retention::check(crate::retention::TABLES, v)?;
        let platform = motcua_platform::config::Settings::from_vars(v)?;
        let lookup_endpoint = v.string(
            "MOTCUA_NOTIFICATION_LOOKUP_URL",
            &format!("http://{}", platform.grpc_addr(&LOOKUP)),
        );
        let intake_endpoint = v.string(
            "MOTCUA_NOTIFICATION_INTAKE_URL",
            &format!("http://{}", platform.grpc_addr(&INTAKE)),
        );
        let intake_token = v.secret("MOTCUA_NOTIFICATION_INTAKE_TOKEN");
        let settings = Self {
            sms,
            email,
            email_from,
            sms_unicode: v.parse("MOTCUA_SMS_UNICODE", false, "true or false")?,
            sms_max_parts: v.count("MOTCUA_SMS_MAX_PARTS", 3)? as usize,
            quiet_hours: quiet_hours(&v.string("MOTCUA_SMS_QUIET_HOURS", "21:00-07:00"))
                .map_err(|e| ConfigError::new("MOTCUA_SMS_QUIET_HOURS", e))?,
            retry_for: chrono::Duration::hours(bounded(v, "MOTCUA_DELIVERY_RETRY_HOURS", 24, 720)?),
            backoff: chrono::Duration::seconds(bounded(
                v,
                "MOTCUA_DELIVERY_BACKOFF_SECS",
                30,
                86_400,
            )?),
            send_timeout: v.seconds("MOTCUA_DELIVERY_TIMEOUT_SECS", 10)?,
            concurrency: v.count("MOTCUA_DELIVERY_CONCURRENCY", 32)? as usize,
            sms_rate: rate(v, "MOTCUA_SMS_RATE_PER_SECOND", 30)?,
            email_rate: rate(v, "MOTCUA_EMAIL_RATE_PER_SECOND", 10)?,
            webhook_rate: rate(v, "MOTCUA_WEBHOOK_RATE_PER_SECOND", 50)?,
            contact_retention: chrono::Duration::days(bounded(
                v,
                "MOTCUA_CONTACT_RETENTION_DAYS",
                30,
                3650,
            )?),
            max_event_age: chrono::Duration::hours(bounded(
                v,
                "MOTCUA_NOTIFICATION_MAX_EVENT_AGE_HOURS",
                168,
                8760,
            )?),
            webhook_targets: crate::targets::Targets::parse(
                &v.string("MOTCUA_WEBHOOK_ALLOWED_TARGETS", ""),
            )
            .map_err(|e| ConfigError::new("MOTCUA_WEBHOOK_ALLOWED_TARGETS", e))?,
            delivery_retention: chrono::Duration::days(bounded(
                v,
                "MOTCUA_DELIVERY_RETENTION_DAYS",
                180,
                3650,
            )?),
            inbound_retention: chrono::Duration::days(bounded(
                v,
                "MOTCUA_INBOUND_SMS_RETENTION_DAYS",
                30,
                3650,
            )?),
            rules: match v.raw("MOTCUA_NOTIFICATION_RULES_FILE") {
                None => Rules::default(),
                Some(path) => Rules::from_file(path)
                    .map_err(|e| ConfigError::new("MOTCUA_NOTIFICATION_RULES_FILE", e))?,
            },
            staff: match v.raw("MOTCUA_STAFF_FILE") {
                None => Staff::default(),
                Some(path) => {
                    Staff::from_file(path).map_err(|e| ConfigError::new("MOTCUA_STAFF_FILE", e))?
                }
            },
            lookup_public_url,
            lookup_endpoint,
            lookup_token: v.secret("MOTCUA_NOTIFICATION_LOOKUP_TOKEN"),
            intake_endpoint,
            intake_token,
            oauth: motcua_platform::auth::outgoing::ClientCredentials::from_vars(v)?
                .map(std::sync::Arc::new),
            development_province: v.string("MOTCUA_DEVELOPMENT_PROVINCE", "H56"),
            inbound_secret: v.secret("MOTCUA_SMS_INBOUND_SECRET"),
            sms_keywords: keywords,
            replies_per_hour: u32::try_from(v.count("MOTCUA_SMS_REPLIES_PER_HOUR", 5)?)
                .map_err(|_| ConfigError::new("MOTCUA_SMS_REPLIES_PER_HOUR", "is too large"))?,
            hasher: SecretHasher::from_vars(|n| v.raw(n))
                .map_err(|e| ConfigError::new(e.var, e.message))?,
        };
        // Fail closed: without a token every applicant's notice would wait on intake's refusal
        // forever. Only development mints one itself (with the public development key).
        if settings.intake_endpoint != "off"
            && settings.intake_token.is_none()
            && settings.oauth.is_none()
            && !(platform.development && platform.uses_development_key())
        {
            return Err(ConfigError::new(
                "MOTCUA_NOTIFICATION_INTAKE_TOKEN",
                "is required (or MOTCUA_OAUTH_TOKEN_URL and the client's id and secret, to get one from the identity provider): an integration token whose scope covers the province's agencies (claim province), with which notification asks intake for applicants' contacts",
            ));
        }
        Ok(settings)
    }
}

/// A positive whole number no larger than `max` (time spans: beyond it is a typo, not a policy).
fn bounded(v: &Vars, var: &str, default: u64, max: u64) -> Result<i64, ConfigError> {
    let n = v.count(var, default)?;
    if n > max {
        return Err(ConfigError::new(var, format!("must be at most {max}")));
    }
    Ok(n as i64)
}

fn rate(v: &Vars, var: &str, default: u64) -> Result<u32, ConfigError> {
    u32::try_from(v.count(var, default)?).map_err(|_| ConfigError::new(var, "is too large"))
}

fn gateway(v: &Vars) -> Result<HttpGateway, ConfigError> {
    let url = v.raw("MOTCUA_SMS_GATEWAY_URL").ok_or_else(|| {
        ConfigError::new(
            "MOTCUA_SMS_GATEWAY_URL",
            "must be set when MOTCUA_SMS_PROVIDER=http, e.g. https://sms.example.vn/api/send",
        )
    })?;
    let parsed = url::Url::parse(url)
        .map_err(|e| ConfigError::new("MOTCUA_SMS_GATEWAY_URL", format!("{url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::new(
            "MOTCUA_SMS_GATEWAY_URL",
            "must be an http(s) URL",
        ));
    }
    let auth = match v.raw("MOTCUA_SMS_GATEWAY_AUTH") {
        None => None,
        Some(line) => {
            let (name, value) = line.split_once(':').ok_or_else(|| {
                ConfigError::new(
                    "MOTCUA_SMS_GATEWAY_AUTH",
                    "write it as a header line, e.g. `Authorization: Bearer <key>`",
                )
            })?;
            let name = name.trim();
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ConfigError::new(
                    "MOTCUA_SMS_GATEWAY_AUTH",
                    format!("{name:?} is not a header name"),
                ));
            }
            Some((name.to_owned(), SecretString::from(value.trim().to_owned())))
        }
    };
    let body = v.string("MOTCUA_SMS_GATEWAY_BODY", DEFAULT_GATEWAY_BODY);
    crate::providers::http_sms::check_body(&body)
        .map_err(|e| ConfigError::new("MOTCUA_SMS_GATEWAY_BODY", e))?;
    Ok(HttpGateway {
        url: url.to_owned(),
        auth,
        body,
        content_type: v.string("MOTCUA_SMS_GATEWAY_CONTENT_TYPE", "application/json"),
        id_pointer: v.string("MOTCUA_SMS_GATEWAY_ID_POINTER", ""),
    })
}

/// "21:00-07:00" (across midnight), "12:00-13:00", or "off".
pub fn quiet_hours(text: &str) -> Result<Option<QuietHours>, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let parse = |s: &str| {
        NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .map_err(|_| format!("{s:?} is not a time like 21:00"))
    };
    let (from, until) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?}: write from-until, e.g. 21:00-07:00, or off"))?;
    let (from, until) = (parse(from)?, parse(until)?);
    if from == until {
        return Err("from and until are the same time; use off for no quiet hours".into());
    }
    Ok(Some(QuietHours { from, until }))
}

impl QuietHours {
    /// When an SMS written at `now` may go: `now`, or the end of the quiet hours it falls in.
    pub fn release(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        let zone = motcua_calendar::vietnam();
        let local = now.with_timezone(&zone);
        let t = local.time();
        let quiet = if self.from < self.until {
            t >= self.from && t < self.until
        } else {
            t >= self.from || t < self.until
        };
        if !quiet {
            return now;
        }
        let mut day = local.date_naive();
        if t >= self.until {
            day = day.succ_opt().unwrap_or(day);
        }
        day.and_time(self.until)
            .and_local_timezone(zone)
            .single()
            .map_or(now, |at| at.with_timezone(&chrono::Utc))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn quiet_hours_delay_to_the_morning_by_vietnam_time() {
        let q = quiet_hours("21:00-07:00").unwrap().unwrap();
        // 22:30 in Hà Nội is 15:30 UTC: released at 07:00 next day = 00:00 UTC.
        let late = Utc.with_ymd_and_hms(2026, 11, 27, 15, 30, 0).unwrap();
        assert_eq!(
            q.release(late),
            Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap()
        );
        // 05:00 in Hà Nội (22:00 UTC the day before): the same morning.
        let early = Utc.with_ymd_and_hms(2026, 11, 26, 22, 0, 0).unwrap();
        assert_eq!(
            q.release(early),
            Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap()
        );
        // 10:00 in Hà Nội: now.
        let day = Utc.with_ymd_and_hms(2026, 11, 27, 3, 0, 0).unwrap();
        assert_eq!(q.release(day), day);
        let lunch = quiet_hours("12:00-13:00").unwrap().unwrap();
        let noon = Utc.with_ymd_and_hms(2026, 11, 27, 5, 30, 0).unwrap();
        assert_eq!(
            lunch.release(noon),
            Utc.with_ymd_and_hms(2026, 11, 27, 6, 0, 0).unwrap()
        );
        assert_eq!(quiet_hours("off").unwrap(), None);
        for bad in ["21-07", "21:00", "25:00-07:00", "07:00-07:00"] {
            assert!(quiet_hours(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("MOTCUA_SMS_PROVIDER", "carrier-pigeon"),
            ("MOTCUA_EMAIL_PROVIDER", "fax"),
            ("MOTCUA_SMS_QUIET_HOURS", "late"),
            ("MOTCUA_SMS_MAX_PARTS", "0"),
            ("MOTCUA_CONTACT_RETENTION_DAYS", "99999999999999"),
            ("MOTCUA_DELIVERY_RETRY_HOURS", "100000"),
            ("MOTCUA_SMS_KEYWORDS", "TC"),
            ("MOTCUA_EMAIL_FROM", "not an address"),
            ("MOTCUA_LOOKUP_PUBLIC_URL", "tracuu"),
            ("MOTCUA_STAFF_FILE", "/nonexistent/staff.toml"),
            ("MOTCUA_WEBHOOK_ALLOWED_TARGETS", "no such host!"),
            ("MOTCUA_DELIVERY_RETENTION_DAYS", "0"),
            ("MOTCUA_INBOUND_SMS_RETENTION_DAYS", "99999"),
        ] {
            let err = NotificationSettings::from_vars(&Vars::from_pairs([
                (var, value),
                ("MOTCUA_DEVELOPMENT", "true"),
            ]))
            .unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
        let err = NotificationSettings::from_vars(&Vars::from_pairs([
            ("MOTCUA_SMS_PROVIDER", "http"),
            ("MOTCUA_SMS_GATEWAY_URL", "https://sms.example.vn/send"),
            ("MOTCUA_SMS_GATEWAY_BODY", "{{ phone } }"),
            ("MOTCUA_DEVELOPMENT", "true"),
        ]))
        .unwrap_err();
        assert_eq!(err.var, "MOTCUA_SMS_GATEWAY_BODY", "{err}");
        let development = Vars::from_pairs([("MOTCUA_DEVELOPMENT", "true")]);
        let s = NotificationSettings::from_vars(&development).unwrap();
        assert!(matches!(s.sms, SmsProvider::Log));
        assert!(matches!(s.email, EmailProvider::Log));
    }

    /// Fail closed: outside development notification needs a token to ask intake for contacts
    /// (or says it reaches applicants only through contacts events carry: `off`).
    #[test]
    fn production_needs_a_token_for_intake() {
        let production = [
            (
                "MOTCUA_JWT_SECRET",
                "a-production-signing-secret-of-32-chars",
            ),
            (
                "MOTCUA_SECRET_HASH_KEYS",
                "k1:a-production-hash-key-of-32-characters",
            ),
        ];
        let err = NotificationSettings::from_vars(&Vars::from_pairs(production)).unwrap_err();
        assert_eq!(err.var, "MOTCUA_NOTIFICATION_INTAKE_TOKEN", "{err}");
        // The development key is public: MOTCUA_DEVELOPMENT=true with a real key still needs one.
        let mut v = Vars::from_pairs(production);
        v.set("MOTCUA_DEVELOPMENT", "true");
        let err = NotificationSettings::from_vars(&v).unwrap_err();
        assert_eq!(err.var, "MOTCUA_NOTIFICATION_INTAKE_TOKEN", "{err}");
        let mut v = Vars::from_pairs(production);
        v.set("MOTCUA_NOTIFICATION_INTAKE_TOKEN", "eyJ.token.given");
        assert!(NotificationSettings::from_vars(&v).is_ok());
        let mut v = Vars::from_pairs(production);
        v.set("MOTCUA_NOTIFICATION_INTAKE_URL", "off");
        assert!(NotificationSettings::from_vars(&v).is_ok());
    }
}
