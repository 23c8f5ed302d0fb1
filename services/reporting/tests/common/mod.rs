//! What the reporting tests share: reporting on the shared test floor (`motcua_testkit::floor`),
//! on port 0 against the real PostgreSQL and NATS, on a clock the test moves; typed clients, and
//! the cells the tests compare.

#![allow(dead_code, unused_imports)]

use chrono::{DateTime, Utc};
use motcua_proto::reporting::Form06Row;
use motcua_proto::reporting::reporting_service_client::ReportingServiceClient;
use motcua_testkit::Bearer;
use motcua_testkit::floor::Floor;
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

pub use motcua_testkit::floor::vn;

pub type Client = ReportingServiceClient<InterceptedService<GrpcChannel, Bearer>>;

/// Reporting in this process, with the sample catalog (agency A only).
/// The floor with reporting running; the floor's fields (clock, bus, …) are the app's.
pub struct Reporting {
    pub floor: Floor,
    pub pool: sqlx::PgPool,
    pub channel: GrpcChannel,
    /// `http://localhost:<port>` of the dashboard.
    pub web: String,
    /// A client that follows no redirect, so a test sees the dashboard's own answers.
    pub http: reqwest::Client,
}

motcua_testkit::on_the_floor!(Reporting);

impl Reporting {
    /// Reporting alone, its clock at `at` (the test publishes the events).
    pub async fn start(at: DateTime<Utc>) -> Self {
        let mut floor = Floor::at(at, |v| {
            v.set("MOTCUA_PUBLIC_RATE_PER_SECOND", "1000");
            v.set("MOTCUA_PUBLIC_RATE_BURST", "1000");
        })
        .await;
        let running = floor.start("reporting").await;
        // "localhost": a secure context for a browser, so the Secure session cookie is kept on
        // plain http as it will be on https.
        let web = format!("http://localhost:{}", running.http_addr.unwrap().port());
        let channel = motcua_testkit::channel(running.addr).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Self {
            pool: floor.pool("reporting"),
            floor,
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
        let copy = uuid::Uuid::new_v4().to_string();
        self.floor
            .publish_copy(subject, event_type, id, &copy, payload)
            .await;
    }

    /// Waits until reporting's database satisfies `sql` (a boolean query).
    pub async fn wait_db(&self, sql: &'static str, what: &str) {
        motcua_testkit::floor::wait_db(&self.pool, sql, what).await;
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
        self.pool.close().await;
        self.floor.stop().await;
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
