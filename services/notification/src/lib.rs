//! Notification: who hears of each dossier event, and what became of every message. Where to look:
//!
//! - [`consume`]: the consumer that turns intake's and workflow's events into deliveries;
//!   [`triggers`]: what an event means (triggers, placeholders' facts); [`rules`]: who hears of
//!   which trigger on which channel; [`staff`]: officers' and leaders' addresses.
//! - [`templates`]: built-in and published templates, the check at publish time, rendering
//!   ([`template_store`]: published versions, per agency);
//!   [`gsm`]: SMS text without diacritics and its parts.
//! - [`deliveries`]: the table every message is written to before it is sent; [`dispatch`]: the
//!   per-channel senders (leases, timeouts, retries, quiet hours, rate limits);
//!   [`providers`]: log, HTTP SMS gateway, SMTP, webhooks ([`webhook_sign`]: Standard Webhooks).
//! - [`contacts`]: applicants' phone and e-mail and their erasure; [`mask`]: what logs and answers
//!   show instead.
//! - [`inbound`]: the SMS gateway's HTTP side (inbound lookups via lookup's gRPC, receipts);
//!   [`keyword`]: reading an inbound SMS.
//! - [`targets`]: where webhooks may go; [`retention`]: what is kept how long, and its pruning.
//! - [`grpc`]: `motcua.notification.v1` and who sees what; [`settings`].

pub mod applicants;
pub mod consume;
pub mod contacts;
pub mod deliveries;
pub mod dispatch;
pub mod grpc;
pub mod gsm;
pub mod inbound;
pub mod keyword;
pub mod mask;
pub mod providers;
pub mod retention;
pub mod rules;
pub mod settings;
pub mod staff;
pub mod subscriptions;
pub mod targets;
pub mod template_store;
pub mod templates;
pub mod triggers;
pub mod webhook_sign;

use motcua_platform::auth::outgoing::TokenSource;
use motcua_platform::config::ServiceSpec;
use motcua_platform::host::{GrpcApi, Running, ServiceHost};
use motcua_platform::process::Process;
use motcua_proto::notification::notification_service_server::{
    NotificationServiceServer, SERVICE_NAME,
};
use providers::Provider;
use rules::Channel;
use settings::{EmailProvider, NotificationSettings, SmsProvider};
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;

pub const NAME: &str = SERVICE.name;

/// This service as the platform sees it: its name and default ports (README "Running and calling").
pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "notification",
    grpc_port: 50053,
    http_port: 8083,
};

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Starts notification: its consumer, one dispatcher per channel, contact erasure, the gateway's
/// HTTP side and the gRPC API; runs until the process shuts down.
pub async fn start(process: &Process, settings: NotificationSettings) -> anyhow::Result<Running> {
    let mut host = ServiceHost::new(SERVICE, process, &MIGRATIONS).await?;
    let mut planner = consume::Planner::new(host.clock.clone(), &settings);
    if settings.intake_endpoint != "off" {
        planner.applicants = Some(applicants::IntakeContacts::new(
            &settings.intake_endpoint,
            token_source(
                settings.intake_token.as_ref(),
                &settings,
                process,
                Some(&settings.development_province),
            ),
        )?);
    }
    if settings.staff.0.is_empty() {
        tracing::warn!(
            "no staff directory (MOTCUA_STAFF_FILE): due-soon and overdue notices reach no one"
        );
    }
    host.spawn_consumer(consume::consumer(), Arc::new(planner.clone()));
    {
        let (pool, ready, details) = (host.pool.clone(), host.readiness(), host.health_details());
        host.spawn(async move {
            ready.wait().await;
            match subscriptions::unscoped(&pool).await {
                Ok(old) if !old.is_empty() => {
                    let urls: Vec<&str> = old.iter().map(|(_, u)| u.as_str()).collect();
                    let what = format!(
                        "{} webhook subscription(s) made before scopes receive nothing and no admin sees them; have the integrator's agency admin create them again, then delete these rows: {}",
                        old.len(),
                        urls.join(", ")
                    );
                    tracing::warn!("{what}");
                    details.note("subscriptions-unscoped", what);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "counting unscoped subscriptions failed"),
            }
        });
    }
    // The dispatcher's own limit (send_timeout) fires first and says so; this one is a backstop.
    let client =
        motcua_platform::http::client(settings.send_timeout + std::time::Duration::from_secs(5))?;
    let sms: Arc<dyn Provider> = match &settings.sms {
        SmsProvider::Log => Arc::new(providers::log::LogProvider { channel: "sms" }),
        SmsProvider::Http(g) => {
            Arc::new(providers::http_sms::HttpSms::new(g.clone(), client.clone()))
        }
    };
    let email: Arc<dyn Provider> = match &settings.email {
        EmailProvider::Log => Arc::new(providers::log::LogProvider { channel: "email" }),
        EmailProvider::Smtp { url } => {
            use secrecy::ExposeSecret;
            Arc::new(providers::smtp::Smtp::new(
                url.expose_secret(),
                &settings.email_from,
            )?)
        }
    };
    let targets = Arc::new(settings.webhook_targets.clone());
    let webhook: Arc<dyn Provider> = Arc::new(providers::webhook::Webhooks::new(
        providers::webhook::client(
            settings.send_timeout + std::time::Duration::from_secs(5),
            targets.clone(),
        )?,
        host.clock.clone(),
        targets.clone(),
    ));
    let staff = Arc::new(settings.staff.clone());
    for (channel, provider, rate) in [
        (Channel::Sms, sms, settings.sms_rate),
        (Channel::Email, email, settings.email_rate),
        (Channel::Webhook, webhook, settings.webhook_rate),
    ] {
        let dispatcher = dispatch::Dispatcher {
            pool: host.pool.clone(),
            clock: host.clock.clone(),
            channel,
            provider,
            limiter: dispatch::limiter(rate),
            staff: staff.clone(),
            quiet_hours: settings.quiet_hours,
            backoff: settings.backoff,
            send_timeout: settings.send_timeout,
            concurrency: settings.concurrency,
            per_recipient: (settings.concurrency / 4).max(1),
            in_flight: Default::default(),
        };
        let (ready, stop) = (host.readiness(), process.shutdown.clone());
        host.spawn(async move {
            // The tables exist once the host is ready (migrations).
            ready.wait().await;
            dispatcher.run(stop).await;
        });
    }
    {
        let (pool, clock, stop, ready) = (
            host.pool.clone(),
            host.clock.clone(),
            process.shutdown.clone(),
            host.readiness(),
        );
        host.spawn(async move {
            ready.wait().await;
            dispatch::erase_contacts(pool, clock, stop).await;
        });
    }
    host.spawn_retention(retention::TABLES, &process.vars);
    let lookup = motcua_platform::client::grpc_channel(
        "MOTCUA_NOTIFICATION_LOOKUP_URL",
        &settings.lookup_endpoint,
        None,
    )?;
    let gateway = inbound::Gateway {
        pool: host.pool.clone(),
        clock: host.clock.clone(),
        secret: settings.inbound_secret.clone(),
        keywords: Arc::new(settings.sms_keywords.clone()),
        replies_per_hour: i64::from(settings.replies_per_hour),
        hasher: settings.hasher.clone(),
        lookup: motcua_proto::lookup::lookup_service_client::LookupServiceClient::new(lookup),
        lookup_token: token_source(settings.lookup_token.as_ref(), &settings, process, None),
        sms: planner.sms,
        retry_for: settings.retry_for,
    };
    host.serve_http_with(
        axum::Router::new(),
        axum::Router::new(),
        inbound::routes(gateway),
    )
    .await?;
    let max_bytes = process.settings.limits.max_message_bytes;
    let api = NotificationServiceServer::new(grpc::Api {
        pool: host.pool.clone(),
        clock: host.clock.clone(),
        retry_for: settings.retry_for,
        sms: planner.sms,
        targets,
    })
    .max_decoding_message_size(max_bytes)
    .max_encoding_message_size(max_bytes);
    let router = host
        .router(GrpcApi {
            contracts: motcua_proto::FILE_DESCRIPTOR_SET,
            private: vec![SERVICE_NAME],
            public: vec![],
            rules: rules(),
        })?
        .add_service(InterceptedService::new(api, host.interceptor()));
    let listener = host.bind().await?;
    Ok(host.serve(router, listener))
}

/// Where notification's token for a peer comes from: the token set for it, else the identity
/// provider's client credentials (renewed before they expire), else — on a developer's machine —
/// one minted with the development key.
fn token_source(
    fixed: Option<&secrecy::SecretString>,
    settings: &NotificationSettings,
    process: &Process,
    province: Option<&str>,
) -> Option<TokenSource> {
    if let Some(t) = fixed {
        return Some(TokenSource::Fixed(t.clone()));
    }
    if let Some(c) = &settings.oauth {
        return Some(TokenSource::ClientCredentials(c.clone()));
    }
    development_token(process, province).map(TokenSource::Fixed)
}

/// An integration token signed with the development key (only when the service runs on it):
/// for lookup's SMS lookups, or, with a province, for intake's applicants' contacts.
fn development_token(process: &Process, province: Option<&str>) -> Option<secrecy::SecretString> {
    use motcua_platform::config::KeySource;
    use secrecy::ExposeSecret;
    let KeySource::StaticKey { secret } = &process.settings.auth.keys else {
        return None;
    };
    if secret.expose_secret() != motcua_platform::config::DEV_JWT_SECRET {
        return None;
    }
    let claims = motcua_platform::auth::Claims {
        sub: "notification".into(),
        name: "Notification".into(),
        agency: province.map_or_else(String::new, |p| format!("000.00.00.{p}")),
        roles: vec![motcua_platform::auth::Role::Integration],
        province: province.unwrap_or_default().to_owned(),
        exp: process.clock.now().timestamp() + 10 * 365 * 24 * 3600,
        ..Default::default()
    };
    motcua_platform::auth::mint(secret.expose_secret(), &claims)
        .ok()
        .map(secrecy::SecretString::from)
}

/// How long each text field of notification's API may be.
fn rules() -> motcua_platform::boundary::TextRules {
    motcua_platform::boundary::TextRules {
        default_max_chars: 200,
        limits: &[
            ("dossier_code", 64),
            ("page_token", 64),
            ("delivery_id", 64),
            ("id", 64),
            ("trigger", 64),
            ("language", 8),
            ("url", 2000),
            ("description", 500),
            ("subject", 500),
            ("body", 8000),
            ("html_body", 8000),
            ("triggers", 64),
        ],
        multiline: &["body", "html_body"],
    }
}
