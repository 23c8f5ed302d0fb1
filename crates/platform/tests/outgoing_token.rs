//! A service's token for its peers, from the identity provider (client credentials), against a
//! provider stand-in on loopback: fetched with the client's id, secret and scope, kept while
//! fresh, fetched anew before it expires, and a provider that refuses leaves the call without
//! a token rather than the process stopped.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use axum::extract::State;
use axum::routing::post;
use motcua_platform::auth::outgoing::{ClientCredentials, TokenSource};
use motcua_platform::config::Vars;
use secrecy::ExposeSecret;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Provider {
    fetches: Arc<AtomicUsize>,
    forms: Arc<Mutex<Vec<String>>>,
    refuse: Arc<std::sync::atomic::AtomicBool>,
}

async fn token(State(p): State<Provider>, body: String) -> (http::StatusCode, String) {
    p.forms.lock().unwrap().push(body);
    if p.refuse.load(Ordering::SeqCst) {
        return (
            http::StatusCode::UNAUTHORIZED,
            "{\"error\":\"invalid_client\"}".into(),
        );
    }
    let n = p.fetches.fetch_add(1, Ordering::SeqCst) + 1;
    (
        http::StatusCode::OK,
        format!("{{\"access_token\":\"token-{n}\",\"expires_in\":1,\"token_type\":\"Bearer\"}}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_fetched_kept_while_fresh_and_renewed_before_it_expires() {
    let provider = Provider::default();
    let app = axum::Router::new()
        .route("/realms/motcua/protocol/openid-connect/token", post(token))
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let vars = Vars::from_pairs([
        (
            "MOTCUA_OAUTH_TOKEN_URL",
            format!(
                "http://127.0.0.1:{}/realms/motcua/protocol/openid-connect/token",
                addr.port()
            ),
        ),
        ("MOTCUA_OAUTH_CLIENT_ID", "motcua-notification".to_owned()),
        ("MOTCUA_OAUTH_CLIENT_SECRET", "s3cr3t".to_owned()),
        ("MOTCUA_OAUTH_SCOPE", "motcua".to_owned()),
    ]);
    let source = TokenSource::ClientCredentials(Arc::new(
        ClientCredentials::from_vars(&vars).unwrap().unwrap(),
    ));
    let first = source.token().await.unwrap();
    assert_eq!(first.expose_secret(), "token-1");
    let form = provider.forms.lock().unwrap()[0].clone();
    for part in [
        "grant_type=client_credentials",
        "client_id=motcua-notification",
        "client_secret=s3cr3t",
        "scope=motcua",
    ] {
        assert!(form.contains(part), "{part} in {form}");
    }
    // Fresh: the same token, no second fetch.
    let mut request = tonic::Request::new(());
    source.authorize(&mut request).await;
    assert_eq!(
        request.metadata().get("authorization").unwrap(),
        "Bearer token-1"
    );
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1);

    // Four fifths of its (two-second floor) life later: a new one.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(source.token().await.unwrap().expose_secret(), "token-2");

    // The provider refuses: the token still held goes out while it lasts; a source that never
    // had one sends none, and nothing stops.
    provider.refuse.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(source.token().await.unwrap().expose_secret(), "token-2");
    let fresh = ClientCredentials::from_vars(&vars).unwrap().unwrap();
    assert!(fresh.token().await.is_none());
}

#[test]
fn the_grant_needs_https_an_id_and_a_secret() {
    let refused = |pairs: Vec<(&str, &str)>| {
        ClientCredentials::from_vars(&Vars::from_pairs(pairs)).unwrap_err()
    };
    let e = refused(vec![(
        "MOTCUA_OAUTH_TOKEN_URL",
        "http://sso.example.gov.vn/token",
    )]);
    assert_eq!(e.var, "MOTCUA_OAUTH_TOKEN_URL");
    let e = refused(vec![(
        "MOTCUA_OAUTH_TOKEN_URL",
        "https://sso.example.gov.vn/token",
    )]);
    assert_eq!(e.var, "MOTCUA_OAUTH_CLIENT_ID");
    let e = refused(vec![
        ("MOTCUA_OAUTH_TOKEN_URL", "https://sso.example.gov.vn/token"),
        ("MOTCUA_OAUTH_CLIENT_ID", "motcua"),
    ]);
    assert_eq!(e.var, "MOTCUA_OAUTH_CLIENT_SECRET");
    assert!(
        ClientCredentials::from_vars(&Vars::default())
            .unwrap()
            .is_none()
    );
}
