//! Signing of outgoing webhooks following the Standard Webhooks specification
//! (<https://www.standardwebhooks.com>, symmetric scheme `v1`).
//!
//! Every webhook carries three headers:
//!
//! - `webhook-id`: the message id; it stays the same across retries.
//! - `webhook-timestamp`: the attempt's Unix timestamp, in seconds.
//! - `webhook-signature`: one or more space-separated `v1,<base64>` entries. Each is
//!   `base64(HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}"))`.
//!
//! During a secret rotation, each message is signed with both the old secret and the
//! new one. A receiver accepts the message if any entry matches, so rotation needs no
//! downtime.
//!
//! Secrets are serialized as `whsec_` followed by the standard (padded) base64 encoding
//! of the raw key bytes, which is the format the reference libraries expect.
//!
//! No function in this module panics on any input. The one exception is
//! [`Secret::generate`], which panics if the operating system's random number
//! generator is unavailable. [`Secret::try_generate`] returns an error instead.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use rand::TryRngCore as _;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of a serialized symmetric signing secret.
const SECRET_PREFIX: &str = "whsec_";
/// Version identifier of the symmetric (HMAC-SHA256) signature scheme.
const SIGNATURE_VERSION: &str = "v1";
/// Size of a freshly generated secret, in bytes. The spec requires at least 24.
const GENERATED_SECRET_LEN: usize = 32;
/// Smallest key that [`Secret::parse`] accepts, in bytes ("at least 24 bytes").
const MIN_SECRET_LEN: usize = 24;

/// Name of the header carrying the message id.
pub const HEADER_ID: &str = "webhook-id";
/// Name of the header carrying the attempt's Unix timestamp (seconds).
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Name of the header carrying the signature list.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// A symmetric webhook signing secret (raw HMAC key bytes).
///
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
}

impl Secret {
    /// Generates a new random secret of 32 bytes from the operating system's CSPRNG.
    ///
    /// # Panics
    ///
    /// Panics only if the operating system's random number generator fails. A signing
    /// key must never come from a weaker source. Use [`Secret::try_generate`] to get
    /// an error instead.
    pub fn generate() -> Secret {
        match Self::try_generate() {
            Ok(secret) => secret,
            Err(e) => panic!("{e}"),
        }
    }

    /// Generates a new random secret of 32 bytes from the operating system's CSPRNG.
    /// Returns an error if the operating system's random number generator fails.
    pub fn try_generate() -> Result<Secret, String> {
        let mut key = vec![0u8; GENERATED_SECRET_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut key)
            .map_err(|e| format!("the operating system's random number generator failed: {e}"))?;
        Ok(Secret { key })
    }

    /// Parses a secret in the spec's format: `whsec_` followed by standard, padded
    /// base64 (e.g. `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`). The decoded key must
    /// be at least 24 bytes long, as the spec requires.
    ///
    /// Error messages never include the secret.
    pub fn parse(s: &str) -> Result<Secret, String> {
        if s.is_empty() {
            return Err("webhook secret is empty".to_string());
        }
        if s.trim() != s {
            return Err("webhook secret has leading or trailing whitespace".to_string());
        }
        let Some(encoded) = s.strip_prefix(SECRET_PREFIX) else {
            return Err(format!(
                "webhook secret must start with \"{SECRET_PREFIX}\" followed by base64"
            ));
        };
        if encoded.is_empty() {
            return Err(format!(
                "webhook secret has nothing after the \"{SECRET_PREFIX}\" prefix"
            ));
        }
        let key = BASE64.decode(encoded).map_err(|e| {
            format!("webhook secret after \"{SECRET_PREFIX}\" is not valid standard base64: {e}")
        })?;
        if key.len() < MIN_SECRET_LEN {
            return Err(format!(
                "webhook secret is too short: {} bytes after decoding, at least {MIN_SECRET_LEN} required",
                key.len()
            ));
        }
        Ok(Secret { key })
    }

    /// Serializes the secret in the spec's format: `whsec_` + standard base64.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.key))
    }

    /// Returns an HMAC-SHA256 instance keyed with this secret, already fed with the
    /// signed content `{msg_id}.{timestamp}.{body}`.
    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<HmacSha256> {
        // HMAC accepts keys of any length, so this never fails in practice. The error is
        // still handled instead of unwrapped, so that this module has no panic path.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key).ok()?;
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        Some(mac)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Computes the `webhook-signature` header value: one `v1,<base64>` entry per secret,
/// in the order given, separated by a single space.
///
/// To rotate a secret without downtime, pass both the new and the old secret for as
/// long as receivers may still hold the old one. The result is empty if `secrets` is
/// empty.
///
/// `msg_id` should not contain a `.` (the spec's delimiter). It should be generated by
/// the sender, never taken from user input. `body` must be exactly the bytes that are
/// sent.
pub fn sign(secrets: &[Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let signatures: Vec<String> = secrets
        .iter()
        .filter_map(|secret| secret.mac(msg_id, timestamp, body))
        .map(|mac| {
            format!(
                "{SIGNATURE_VERSION},{}",
                BASE64.encode(mac.finalize().into_bytes())
            )
        })
        .collect();
    signatures.join(" ")
}

/// Returns the three Standard Webhooks headers, in this order: `webhook-id`,
/// `webhook-timestamp`, `webhook-signature`.
pub fn headers(
    secrets: &[Secret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    [
        (HEADER_ID, msg_id.to_string()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SIGNATURE, sign(secrets, msg_id, timestamp, body)),
    ]
}

/// Checks a `webhook-signature` header value. Returns `true` if any `v1` entry in it
/// is a valid signature of `{msg_id}.{timestamp}.{body}` under any of `secrets`.
///
/// Comparisons are constant-time (through `hmac`'s `verify_slice`). Entries with
/// another version (such as `v1a`), malformed entries and invalid base64 are ignored.
/// Entries may be separated by one or more spaces.
///
/// This does NOT check that `timestamp` is recent. A receiver must also reject
/// timestamps outside its tolerance window (the reference libraries use 5 minutes) to
/// prevent replay attacks.
pub fn verify(
    secrets: &[Secret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    signature_header: &str,
) -> bool {
    let candidates: Vec<Vec<u8>> = signature_header
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == SIGNATURE_VERSION)
        .filter_map(|(_, encoded)| BASE64.decode(encoded).ok())
        .collect();
    if candidates.is_empty() {
        return false;
    }
    secrets.iter().any(|secret| {
        candidates.iter().any(|candidate| {
            secret
                .mac(msg_id, timestamp, body)
                .is_some_and(|mac| mac.verify_slice(candidate).is_ok())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vector from the Standard Webhooks reference libraries
    // (standard-webhooks/standard-webhooks, libraries/php/tests/WebhookTest.php,
    // `testSignFunctionWorks`; the Svix libraries use the same one). The spec text
    // itself publishes no complete vector.
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TIMESTAMP: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    const BODY: &[u8] = br#"{"type":"notification.sent","data":{"id":"42"}}"#;
    const MSG_ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

    fn vector_secret() -> Secret {
        Secret::parse(VECTOR_SECRET).expect("vector secret parses")
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// Builds the `http::HeaderMap` that the `standardwebhooks` crate verifies.
    fn header_map(pairs: &[(&'static str, String); 3]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                *name,
                http::HeaderValue::from_str(value).expect("valid header value"),
            );
        }
        map
    }

    #[test]
    fn reproduces_the_published_test_vector() {
        let sig = sign(
            &[vector_secret()],
            VECTOR_MSG_ID,
            VECTOR_TIMESTAMP,
            VECTOR_BODY,
        );
        assert_eq!(sig, VECTOR_SIGNATURE);
        assert!(verify(
            &[vector_secret()],
            VECTOR_MSG_ID,
            VECTOR_TIMESTAMP,
            VECTOR_BODY,
            VECTOR_SIGNATURE
        ));
    }

    #[test]
    fn test_vector_matches_the_standardwebhooks_crate() {
        let reference = standardwebhooks::Webhook::new(VECTOR_SECRET).expect("secret");
        let theirs = reference
            .sign(VECTOR_MSG_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
            .expect("sign");
        assert_eq!(theirs, VECTOR_SIGNATURE);
        assert_eq!(
            sign(
                &[vector_secret()],
                VECTOR_MSG_ID,
                VECTOR_TIMESTAMP,
                VECTOR_BODY
            ),
            theirs
        );
    }

    #[test]
    fn headers_have_the_spec_names_and_values() {
        let secret = vector_secret();
        let h = headers(
            std::slice::from_ref(&secret),
            VECTOR_MSG_ID,
            VECTOR_TIMESTAMP,
            VECTOR_BODY,
        );
        assert_eq!(h[0], ("webhook-id", VECTOR_MSG_ID.to_string()));
        assert_eq!(h[1], ("webhook-timestamp", "1614265330".to_string()));
        assert_eq!(h[2], ("webhook-signature", VECTOR_SIGNATURE.to_string()));
    }

    #[test]
    fn rotation_produces_one_signature_per_secret_each_verifiable_alone() {
        let old = Secret::generate();
        let new = Secret::generate();
        let ts = 1_700_000_000;
        let header = sign(&[new.clone(), old.clone()], MSG_ID, ts, BODY);

        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert!(!header.contains("  "));
        assert_eq!(
            entries[0],
            sign(std::slice::from_ref(&new), MSG_ID, ts, BODY)
        );
        assert_eq!(
            entries[1],
            sign(std::slice::from_ref(&old), MSG_ID, ts, BODY)
        );
        for entry in &entries {
            assert!(entry.starts_with("v1,"));
        }

        // A receiver holding only one of the two secrets accepts the full header.
        assert!(verify(
            std::slice::from_ref(&new),
            MSG_ID,
            ts,
            BODY,
            &header
        ));
        assert!(verify(
            std::slice::from_ref(&old),
            MSG_ID,
            ts,
            BODY,
            &header
        ));
        // And each single entry verifies on its own with its own secret only.
        assert!(verify(
            std::slice::from_ref(&new),
            MSG_ID,
            ts,
            BODY,
            entries[0]
        ));
        assert!(!verify(
            std::slice::from_ref(&new),
            MSG_ID,
            ts,
            BODY,
            entries[1]
        ));
        assert!(verify(
            std::slice::from_ref(&old),
            MSG_ID,
            ts,
            BODY,
            entries[1]
        ));
        assert!(!verify(
            std::slice::from_ref(&old),
            MSG_ID,
            ts,
            BODY,
            entries[0]
        ));
        // A receiver holding an unrelated secret rejects it.
        assert!(!verify(&[Secret::generate()], MSG_ID, ts, BODY, &header));
    }

    #[test]
    fn tampering_with_body_timestamp_or_id_fails() {
        let s = [vector_secret()];
        let ok = |id: &str, ts: i64, body: &[u8]| verify(&s, id, ts, body, VECTOR_SIGNATURE);
        assert!(ok(VECTOR_MSG_ID, VECTOR_TIMESTAMP, VECTOR_BODY));
        assert!(!ok(
            VECTOR_MSG_ID,
            VECTOR_TIMESTAMP,
            br#"{"test": 2432232315}"#
        ));
        assert!(!ok(
            VECTOR_MSG_ID,
            VECTOR_TIMESTAMP,
            br#"{"test":2432232314}"#
        ));
        assert!(!ok(VECTOR_MSG_ID, VECTOR_TIMESTAMP, b""));
        assert!(!ok(VECTOR_MSG_ID, VECTOR_TIMESTAMP + 1, VECTOR_BODY));
        assert!(!ok(VECTOR_MSG_ID, -VECTOR_TIMESTAMP, VECTOR_BODY));
        assert!(!ok(
            "msg_p5jXN8AQM9LWM0D4loKWxJeK",
            VECTOR_TIMESTAMP,
            VECTOR_BODY
        ));
        assert!(!ok("", VECTOR_TIMESTAMP, VECTOR_BODY));
    }

    #[test]
    fn verify_rejects_malformed_or_foreign_headers_without_panicking() {
        let s = [vector_secret()];
        let check = |header: &str| verify(&s, VECTOR_MSG_ID, VECTOR_TIMESTAMP, VECTOR_BODY, header);
        let raw = VECTOR_SIGNATURE.trim_start_matches("v1,");
        for bad in [
            "",
            " ",
            "v1,",
            "v1",
            ",",
            raw,
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=AAAA",
            "v1,g0hM9SsE",
            "v1,!!!!",
            "v1,,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,\u{e9}\u{e9}\u{e9}",
        ] {
            assert!(!check(bad), "accepted {bad:?}");
        }
        // Our signature among others, in any position and with extra spaces, is accepted.
        for good in [
            format!("v1,bm9wZQ== {VECTOR_SIGNATURE}"),
            format!("{VECTOR_SIGNATURE} v1a,bm9wZQ=="),
            format!("  {VECTOR_SIGNATURE}  "),
            format!("garbage v1,!! {VECTOR_SIGNATURE}"),
        ] {
            assert!(check(&good), "rejected {good:?}");
        }
        // No secrets: nothing verifies.
        assert!(!verify(
            &[],
            VECTOR_MSG_ID,
            VECTOR_TIMESTAMP,
            VECTOR_BODY,
            VECTOR_SIGNATURE
        ));
    }

    #[test]
    fn sign_with_no_secrets_is_empty() {
        assert_eq!(sign(&[], MSG_ID, 1, BODY), "");
    }

    #[test]
    fn sign_accepts_non_utf8_bodies_and_extreme_timestamps() {
        let s = [Secret::generate()];
        for ts in [i64::MIN, -1, 0, i64::MAX] {
            let body = [0xff, 0x00, 0xfe];
            let header = sign(&s, MSG_ID, ts, &body);
            assert!(verify(&s, MSG_ID, ts, &body, &header));
        }
    }

    #[test]
    fn parse_round_trips_and_generate_has_spec_length() {
        let secret = vector_secret();
        assert_eq!(secret.to_whsec(), VECTOR_SECRET);

        let generated = Secret::generate();
        let whsec = generated.to_whsec();
        assert!(whsec.starts_with("whsec_"));
        let reparsed = Secret::parse(&whsec).expect("generated secret parses");
        assert_eq!(reparsed.key, generated.key);
        assert!(generated.key.len() >= 24);
        assert_ne!(Secret::generate().key, generated.key);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let err = |s: &str| Secret::parse(s).expect_err("must be rejected");

        assert!(err("").contains("empty"));
        let e = err("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert!(e.contains("must start with \"whsec_\""), "{e}");
        assert!(err("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").contains("whsec_"));
        assert!(err("whsec_").contains("nothing after"));
        assert!(err("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!").contains("base64"));
        assert!(err("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").contains("base64"));
        // URL-safe alphabet is not the spec's standard base64.
        assert!(err("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-_").contains("base64"));
        assert!(err(" whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").contains("whitespace"));
        assert!(err("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").contains("whitespace"));
        assert!(err("whsec_c2hvcnQ=").contains("too short"));
        // Error messages never echo the secret.
        let e = err("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa!!");
        assert!(!e.contains("MfKQ9r8G"), "{e}");
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let secret = vector_secret();
        let printed = format!("{secret:?} {:?}", Some(secret.clone()));
        assert_eq!(format!("{secret:?}"), "Secret(…)");
        assert!(!printed.contains("MfKQ9r8G"));
        assert!(!printed.contains(&format!("{:?}", secret.key)));
    }

    #[test]
    fn standardwebhooks_crate_verifies_our_headers() {
        let secret = Secret::generate();
        let ts = now();
        let h = headers(std::slice::from_ref(&secret), MSG_ID, ts, BODY);

        let receiver = standardwebhooks::Webhook::new(&secret.to_whsec()).expect("secret");
        receiver
            .verify(BODY, &header_map(&h))
            .expect("standardwebhooks accepts our signature");

        // Sanity: the reference verifier rejects a tampered body and a foreign secret.
        assert!(receiver.verify(b"{}", &header_map(&h)).is_err());
        let stranger =
            standardwebhooks::Webhook::new(&Secret::generate().to_whsec()).expect("secret");
        assert!(stranger.verify(BODY, &header_map(&h)).is_err());
    }

    #[test]
    fn standardwebhooks_crate_accepts_rotation_with_either_secret() {
        let old = Secret::generate();
        let new = Secret::generate();
        let ts = now();
        let h = headers(&[new.clone(), old.clone()], MSG_ID, ts, BODY);
        assert_eq!(h[2].1.split(' ').count(), 2);
        let map = header_map(&h);

        let new_receiver = standardwebhooks::Webhook::new(&new.to_whsec()).expect("secret");
        new_receiver
            .verify(BODY, &map)
            .expect("receiver holding only the new secret accepts");

        let old_receiver = standardwebhooks::Webhook::new(&old.to_whsec()).expect("secret");
        old_receiver
            .verify(BODY, &map)
            .expect("receiver holding only the old secret accepts");

        let stranger =
            standardwebhooks::Webhook::new(&Secret::generate().to_whsec()).expect("secret");
        assert!(stranger.verify(BODY, &map).is_err());
    }
}
