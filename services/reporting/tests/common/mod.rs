//! What the reporting tests share: reporting started on port 0 against the real PostgreSQL (a
//! fresh database) and NATS (a fresh prefix) on a clock the test moves, typed clients, and the
//! cells the tests compare.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use motcua_platform::ManualClock;
use motcua_platform::bus::{Bus, headers};
use motcua_platform::config::Vars;
use motcua_platform::host::Running;
use motcua_platform::process::Process;
use motcua_proto::reporting::Form06Row;
use motcua_proto::reporting::reporting_service_client::ReportingServiceClient;
use motcua_testkit::Bearer;
use std::sync::Arc;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel as GrpcChannel;

pub const A: &str = "000.00.06.H56";
pub const B: &str = "000.00.07.H56";
/// An agency of another province.
pub const OTHER_PROVINCE: &str = "000.00.01.H57";

/// Columns (3)–(13) of a row, in the form's order, with the resolved dossiers no rule classified
/// after (10): what the tests compare against figures they wrote out by hand. (Not
/// `form06::columns`, which leaves that count out, and which the tests check rather than use.)
pub fn cells(r: &Form06Row) -> [u64; 12] {
    [
        r.received_total,
        r.received_online,
        r.received_counter_postal,
        r.carried_over,
        r.resolved_total,
        r.resolved_early,
        r.resolved_on_time,
        r.resolved_late,
        r.resolved_unclassified,
        r.in_progress_total,
        r.in_progress_within_deadline,
        r.in_progress_overdue,
    ]
}

/// An instant in Vietnam's time.
pub fn vn(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+07:00"))
        .unwrap()
        .with_timezone(&Utc)
}

pub type Client = ReportingServiceClient<InterceptedService<GrpcChannel, Bearer>>;

/// Reporting in this process, with the sample catalog (agency A only).
pub struct Reporting {
    pub clock: Arc<ManualClock>,
    pub process: Process,
    pub running: Running,
    pub pool: sqlx::PgPool,
    pub bus: Bus,
    pub channel: GrpcChannel,
    /// `http://localhost:<port>` of the dashboard.
    pub web: String,
    pub http: reqwest::Client,
}

impl Reporting {
    pub async fn start(at: DateTime<Utc>) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let vars = Vars::from_pairs([
            ("MOTCUA_DATABASE_PREFIX", format!("t_{id}")),
            ("MOTCUA_DEVELOPMENT", "true".to_owned()),
            ("MOTCUA_BUS_PREFIX", format!("t{id}.")),
            ("MOTCUA_REPORTING_GRPC_ADDR", "127.0.0.1:0".to_owned()),
            ("MOTCUA_REPORTING_HTTP_ADDR", "127.0.0.1:0".to_owned()),
            ("MOTCUA_METRICS_ADDR", "off".to_owned()),
            (
                "MOTCUA_CATALOG_FILE",
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../deploy/catalog/tnmt.toml"
                )
                .to_owned(),
            ),
            ("MOTCUA_PUBLIC_RATE_PER_SECOND", "1000".to_owned()),
            ("MOTCUA_PUBLIC_RATE_BURST", "1000".to_owned()),
            ("MOTCUA_DOSSIER_EVENTS_MAX_BYTES", (64u64 << 20).to_string()),
            ("MOTCUA_CATALOG_EVENTS_MAX_BYTES", (16u64 << 20).to_string()),
            ("MOTCUA_DEAD_LETTERS_MAX_BYTES", (16u64 << 20).to_string()),
        ]);
        let clock = ManualClock::new(at);
        let process = Process::new(vars.clone(), clock.clone()).unwrap();
        let settings = motcua_reporting::settings::ReportingSettings::from_vars(&vars).unwrap();
        let running = motcua_reporting::start(&process, settings).await.unwrap();
        motcua_testkit::wait_serving(running.addr).await;
        let channel = motcua_testkit::channel(running.addr).await;
        let pool = sqlx::PgPool::connect_lazy_with(
            motcua_platform::db::options(&process.settings.database_url)
                .unwrap()
                .database(&process.settings.database_name("reporting")),
        );
        let bus = Bus::connect(&process.settings.nats_url, &process.settings.bus_prefix)
            .await
            .unwrap();
        // "localhost": a secure context for a browser, so the Secure session cookie is kept on
        // plain http as it will be on https.
        let web = format!("http://localhost:{}", running.http_addr.unwrap().port());
        // Installs the process's crypto provider; this client follows no redirect, so a test sees
        // the dashboard's own answers.
        let _ = motcua_platform::http::client(Duration::from_secs(10)).unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Self {
            clock,
            process,
            running,
            pool,
            bus,
            channel,
            web,
            http,
        }
    }

    pub fn client(&self, token: &str) -> Client {
        ReportingServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }

    /// Publishes a new event as a producer's relay would (`subject` without the bus prefix).
    pub async fn publish(&self, subject: &str, event_type: &str, payload: Vec<u8>) {
        self.publish_as(subject, event_type, uuid::Uuid::now_v7(), payload)
            .await;
    }

    /// Publishes event `id` (a redelivery or a second relay's copy reuses it, under another NATS
    /// message id).
    pub async fn publish_as(
        &self,
        subject: &str,
        event_type: &str,
        id: uuid::Uuid,
        payload: Vec<u8>,
    ) {
        let mut h = async_nats::HeaderMap::new();
        h.insert(headers::EVENT_ID, id.to_string().as_str());
        h.insert(headers::EVENT_TYPE, event_type);
        h.insert("Nats-Msg-Id", uuid::Uuid::new_v4().to_string().as_str());
        let m = async_nats::jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .headers(h);
        self.bus
            .js
            .send_publish(self.bus.subject(subject), m)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Waits until reporting's database satisfies `sql` (a boolean query).
    pub async fn wait_db(&self, sql: &'static str, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ok: bool = sqlx::query_scalar(sql)
                .fetch_one(&self.pool)
                .await
                .unwrap_or(false);
            if ok {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Signs in to the dashboard with `token` as a browser on this site would; the session
    /// cookie's value.
    pub async fn sign_in(&self, token: &str) -> String {
        let r = self
            .http
            .post(format!("{}/dang-nhap", self.web))
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "signed in");
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        cookie
            .strip_prefix("__Host-motcua_phien=")
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_owned()
    }

    /// GET `path` of the dashboard carrying the session cookie `value`, as a browser would.
    pub async fn get_with_session(&self, path: &str, value: &str) -> reqwest::Response {
        with_session(&self.http, &format!("{}{path}", self.web), value).await
    }

    pub async fn stop(self) {
        self.process.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.running.task).await;
        self.pool.close().await;
        let _ = motcua_platform::db::drop_database(
            &self.process.settings.database_url,
            &self.process.settings.database_name("reporting"),
        )
        .await;
        self.bus.delete_streams().await;
    }
}

/// GET `url` carrying the session cookie `value`, as a browser would.
pub async fn with_session(http: &reqwest::Client, url: &str, value: &str) -> reqwest::Response {
    http.get(url)
        .header("cookie", format!("__Host-motcua_phien={value}"))
        .send()
        .await
        .unwrap()
}
