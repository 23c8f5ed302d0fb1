//! The shared test floor, so each service's test harness holds only what is its own:
//! - [`floor::Floor`]: one test's settings, clock, bus, databases and streams, and any set of the
//!   five services started in-process on port 0, wired to each other;
//! - [`dossiers`]: a land submission and the state events about it;
//! - development tokens for every role, the bearer interceptor, gRPC channels and waiting for
//!   SERVING (this file);
//! - a headless Chromium driven through chromedriver (`deploy/test.sh` installs Debian's chromium
//!   and chromium-driver);
//! - [`scratch::Scratch`], the guard that removes a test's databases and streams however it ends.
//!
//! Panics are a test's failure messages here.

#![allow(clippy::unwrap_used)]

pub mod browser;
pub mod dossiers;
pub mod floor;
pub mod scratch;

use motcua_platform::auth::{Claims, Role, mint};
use motcua_platform::config::DEV_JWT_SECRET;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::Channel;

/// A token signed with the development key, valid for an hour, named "Cán bộ <sub>".
pub fn token(roles: &[Role], agency: &str, department: &str, sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    mint(
        DEV_JWT_SECRET,
        &Claims {
            sub: sub.into(),
            name: format!("Cán bộ {sub}"),
            agency: agency.into(),
            department: department.into(),
            roles: roles.to_vec(),
            exp: now + 3600,
            iat: now,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A province admin's token (claim `province`, the last group of `agency`): covers every agency
/// of that province and no other.
pub fn province_admin_token(agency: &str, sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    mint(
        DEV_JWT_SECRET,
        &Claims {
            sub: sub.into(),
            name: format!("Quản trị tỉnh {sub}"),
            agency: agency.into(),
            roles: vec![Role::Admin],
            province: motcua_platform::auth::province_of(agency).into(),
            exp: now + 3600,
            iat: now,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Debug, Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    pub fn new(token: &str) -> Self {
        Self(format!("Bearer {token}").parse().unwrap())
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// A connected channel to a service on `addr`.
pub async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Waits (up to 30 s) until the service on `addr` reports SERVING.
pub async fn wait_serving(addr: std::net::SocketAddr) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel(addr).await);
    for _ in 0..300 {
        let ok = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .is_ok_and(|r| {
                r.into_inner().status
                    == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            });
        if ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not serving");
}

/// The methods of `service` (e.g. `motcua.reporting.v1.ReportingService`) as a compiled contract
/// lists them (`motcua_proto::FILE_DESCRIPTOR_SET`), e.g. `GetForm06`: what a test that must walk
/// every RPC compares its own list with, so a new RPC cannot go unwalked.
pub fn methods(descriptor_set: &[u8], service: &str) -> Vec<String> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(descriptor_set).unwrap();
    let mut out = Vec::new();
    for file in &set.file {
        for s in &file.service {
            if format!("{}.{}", file.package(), s.name()) == service {
                out.extend(s.method.iter().map(|m| m.name().to_owned()));
            }
        }
    }
    assert!(
        !out.is_empty(),
        "no service {service} in the descriptor set"
    );
    out
}

/// An intake client as the desk's tools hold one.
pub type IntakeClient = motcua_proto::intake::intake_service_client::IntakeServiceClient<
    tonic::service::interceptor::InterceptedService<Channel, Bearer>,
>;

/// Waits (up to 20 s) until intake shows dossier `code` in `status`. Intake learns workflow's
/// states from the stream: a desk taking a supplement right after the officer asked for it looks
/// at the dossier first, as this does (intake refuses a supplement nobody asked for yet).
pub async fn until_intake_shows(
    intake: &mut IntakeClient,
    code: &str,
    status: motcua_proto::common::DossierStatus,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = intake
            .get_dossier(motcua_proto::intake::GetDossierRequest {
                dossier_code: code.to_owned(),
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().dossier)
            .map(|d| d.status);
        if now == Some(status as i32) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "intake never showed {code} as {status:?} (it shows {now:?})"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}
