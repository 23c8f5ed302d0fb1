//! Unit tests of `config`.

use super::*;

#[test]
fn defaults_suit_a_developer_machine() {
    let s = Settings::from_vars(&Vars::default()).unwrap();
    assert_eq!(s.database_name("registry"), "motcua_registry");
    let service = ServiceSpec {
        name: "registry",
        grpc_port: 50059,
        http_port: 8089,
    };
    assert_eq!(s.grpc_addr(&service), "127.0.0.1:50059".parse().unwrap());
    assert_eq!(s.http_addr(&service), "127.0.0.1:8089".parse().unwrap());
    let set = Settings::from_vars(&Vars::from_pairs([
        ("MOTCUA_HOST", "0.0.0.0"),
        ("MOTCUA_REGISTRY_GRPC_ADDR", "127.0.0.1:0"),
    ]))
    .unwrap();
    assert_eq!(set.grpc_addr(&service), "127.0.0.1:0".parse().unwrap());
    assert_eq!(set.http_addr(&service), "0.0.0.0:8089".parse().unwrap());
    assert!(
        matches!(s.auth.keys, KeySource::StaticKey { ref secret } if secret.expose_secret() == DEV_JWT_SECRET)
    );
    assert_eq!(s.otlp_endpoint, None);
    assert!(s.limits.request_memory_bytes >= s.limits.max_message_bytes);
}

#[test]
fn bad_values_name_their_variable() {
    for (var, value) in [
        ("MOTCUA_REGISTRY_GRPC_ADDR", "localhost"),
        ("MOTCUA_REGISTRY_HTTP_ADDR", "8089"),
        ("MOTCUA_SHUTDOWN_GRACE_SECS", "-1"),
        ("MOTCUA_JWT_SECRET", "short"),
        ("MOTCUA_DATABASE_PREFIX", "Bad-Prefix"),
        ("MOTCUA_METRICS_ADDR", "nowhere"),
        ("MOTCUA_JWT_JWKS_URL", "idp.example/jwks"),
        ("MOTCUA_JWT_JWKS_URL", "http://idp.example/jwks"),
        ("MOTCUA_MAX_IN_FLIGHT", "0"),
        ("MOTCUA_REQUEST_MEMORY_BYTES", "1024"),
        ("MOTCUA_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("MOTCUA_DOSSIER_EVENTS_MAX_AGE_DAYS", "forever"),
        ("MOTCUA_PROCESSED_EVENTS_RETENTION_DAYS", "20"),
        ("MOTCUA_FAILED_JOBS_RETENTION_DAYS", "0"),
        // Days × 86,400 would overflow: refused, not a panic.
        ("MOTCUA_FAILED_JOBS_RETENTION_DAYS", "999999999999999999"),
    ] {
        let err = Settings::from_vars(&Vars::from_pairs([(var, value)])).unwrap_err();
        assert_eq!(err.var, var, "{err}");
    }
}

#[test]
fn a_jwks_url_needs_https_except_on_loopback() {
    for (url, ok) in [
        (
            "https://sso.example.gov.vn/realms/motcua/protocol/openid-connect/certs",
            true,
        ),
        ("http://127.0.0.1:8080/jwks.json", true),
        ("http://localhost:8080/jwks.json", true),
        ("http://[::1]:8080/jwks.json", true),
        ("http://sso.example.gov.vn/jwks.json", false),
        ("http://127.0.0.1.nip.io/jwks.json", false),
        ("ftp://127.0.0.1/jwks.json", false),
    ] {
        let r = Settings::from_vars(&Vars::from_pairs([("MOTCUA_JWT_JWKS_URL", url)]));
        assert_eq!(r.is_ok(), ok, "{url}: {r:?}");
    }
}

#[test]
fn secrets_never_print() {
    let secret = "an-operators-secret-signing-key-0123456789";
    let s = Settings::from_vars(&Vars::from_pairs([
        ("MOTCUA_JWT_SECRET", secret),
        (
            "MOTCUA_DATABASE_URL",
            "postgres://motcua:db-pass-42@db.internal:5432/x?sslmode=require&password=q-pass-42",
        ),
        (
            "MOTCUA_NATS_URL",
            "nats://bus-user:nats-pass-42@nats.internal:4222",
        ),
    ]))
    .unwrap();
    let printed = format!("{s:?} {} {}", s.database_url, s.nats_url);
    for hidden in [
        secret,
        "db-pass-42",
        "q-pass-42",
        "nats-pass-42",
        "bus-user",
    ] {
        assert!(!printed.contains(hidden), "{hidden} leaked: {printed}");
    }
    assert!(printed.contains("db.internal:5432"), "{printed}");
    assert_eq!(
        s.nats_url.expose(),
        "nats://bus-user:nats-pass-42@nats.internal:4222"
    );
    let vars = Vars::from_pairs([("MOTCUA_JWT_SECRET", secret)]);
    assert!(!format!("{vars:?}").contains(secret));
}

#[test]
fn stream_replicas_are_kept_unless_set_and_set_only_within_jetstreams_limit() {
    let unset = Settings::from_vars(&Vars::default()).unwrap();
    assert_eq!(unset.retention.stream_replicas, None);
    let three = Settings::from_vars(&Vars::from_pairs([("MOTCUA_STREAM_REPLICAS", "3")])).unwrap();
    assert_eq!(three.retention.stream_replicas, Some(3));
    for bad in ["0", "6", "three"] {
        let e = Settings::from_vars(&Vars::from_pairs([("MOTCUA_STREAM_REPLICAS", bad)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("MOTCUA_STREAM_REPLICAS"), "{bad}: {e}");
    }
}

#[test]
fn outside_development_the_proxies_in_front_must_be_named_or_said_to_be_none() {
    let production = |proxies: Option<&str>| {
        let mut pairs = vec![(
            "MOTCUA_JWT_SECRET",
            "a-production-secret-of-at-least-32-chars!",
        )];
        if let Some(p) = proxies {
            pairs.push(("MOTCUA_TRUSTED_PROXIES", p));
        }
        Settings::from_vars(&Vars::from_pairs(pairs)).unwrap()
    };
    let refused = production(None).refuse_unsafe_defaults().unwrap_err();
    assert_eq!(refused.var, "MOTCUA_TRUSTED_PROXIES");
    assert!(refused.to_string().contains("`none`"), "{refused}");

    let none = production(Some("none"));
    none.refuse_unsafe_defaults().unwrap();
    assert!(none.public.trusted_proxies.is_empty());
    let named = production(Some("10.42.7.0/28, 10.42.9.3"));
    named.refuse_unsafe_defaults().unwrap();
    assert_eq!(named.public.trusted_proxies.len(), 2);

    // On a developer's machine nothing stands in front: unset is fine there.
    let mut dev = Vars::default();
    dev.set("MOTCUA_DEVELOPMENT", "true");
    Settings::from_vars(&dev)
        .unwrap()
        .refuse_unsafe_defaults()
        .unwrap();
}
