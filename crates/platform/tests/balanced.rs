//! Calls to a peer service spread over every replica its name resolves to, and follow the
//! replicas as they come and go: two gRPC servers on loopback stand for two pods of a headless
//! Service, and the resolver's answer changes as an autoscaler's would.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A gRPC server whose health service knows one name: `pod`.
async fn pod(name: &'static str) -> SocketAddr {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(name, tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _keep = reporter;
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    addr
}

/// Which pods answered 40 calls.
async fn answered_by(channel: &tonic::transport::Channel) -> (usize, usize) {
    let mut client = HealthClient::new(channel.clone());
    let (mut a, mut b) = (0, 0);
    for _ in 0..40 {
        // Each pod knows only its own name: SERVING is pod A's answer, NOT_FOUND pod B's.
        let asked = client
            .check(HealthCheckRequest {
                service: "pod-a".into(),
            })
            .await;
        match asked {
            Ok(_) => a += 1,
            Err(s) if s.code() == tonic::Code::NotFound => b += 1,
            Err(s) => panic!("{s}"),
        }
    }
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_spread_over_every_resolved_replica_and_follow_them() {
    let (a, b) = (pod("pod-a").await, pod("pod-b").await);
    let resolved = Arc::new(Mutex::new(vec![a]));
    let answer = resolved.clone();
    let every = std::time::Duration::from_millis(100);
    let channel = motcua_platform::client::balanced(
        every,
        move || {
            let addrs = answer.lock().unwrap().clone();
            async move { Ok(addrs) }
        },
        |addr| tonic::transport::Endpoint::from_shared(format!("http://{addr}")).ok(),
    );
    // Give the balancer its first answer.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(answered_by(&channel).await, (40, 0), "one pod: all to it");

    // An autoscaler adds a pod: within one resolution, calls on the same channel reach both.
    *resolved.lock().unwrap() = vec![a, b];
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (to_a, to_b) = answered_by(&channel).await;
    assert!(
        to_a > 0 && to_b > 0,
        "both pods get calls: {to_a} and {to_b}"
    );

    // The first pod goes: every call to the one left.
    *resolved.lock().unwrap() = vec![b];
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        answered_by(&channel).await,
        (0, 40),
        "the pod that went gets none"
    );
}
