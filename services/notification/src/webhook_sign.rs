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
//! Each entry is computed by the spec's reference crate, `standardwebhooks`. What it
//! lacks stays here: signing with several secrets at once, generating a secret, and a
//! strict reading of the stored secret (the crate accepts any base64 of any length,
//! with or without the prefix).
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
use rand::TryRngCore as _;
use standardwebhooks::Webhook;

/// Prefix of a serialized symmetric signing secret.
const SECRET_PREFIX: &str = "whsec_";
/// Size of a freshly generated secret, in bytes. The spec requires at least 24.
const GENERATED_SECRET_LEN: usize = 32;
/// Smallest key that [`Secret::parse`] accepts, in bytes ("at least 24 bytes").
const MIN_SECRET_LEN: usize = 24;

/// Name of the header carrying the message id.
pub const HEADER_ID: &str = standardwebhooks::HEADER_WEBHOOK_ID;
/// Name of the header carrying the attempt's Unix timestamp (seconds).
pub const HEADER_TIMESTAMP: &str = standardwebhooks::HEADER_WEBHOOK_TIMESTAMP;
/// Name of the header carrying the signature list.
pub const HEADER_SIGNATURE: &str = standardwebhooks::HEADER_WEBHOOK_SIGNATURE;

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

    /// This secret's `v1,<base64>` signature entry, computed by `standardwebhooks`.
    ///
    /// The crate fails only on a body that is not UTF-8 (`from_bytes` never fails),
    /// which `&str` rules out; the error is still handled rather than unwrapped, so
    /// that this module has no panic path.
    fn entry(&self, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
        Webhook::from_bytes(self.key.clone())
            .and_then(|webhook| webhook.sign(msg_id, timestamp, body.as_bytes()))
            .ok()
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
/// the sender, never taken from user input. `body` must be exactly the text that is
/// sent.
pub fn sign(secrets: &[Secret], msg_id: &str, timestamp: i64, body: &str) -> String {
    let entries: Vec<String> = secrets
        .iter()
        .filter_map(|secret| secret.entry(msg_id, timestamp, body))
        .collect();
    entries.join(" ")
}

/// Returns the three Standard Webhooks headers, in this order: `webhook-id`,
/// `webhook-timestamp`, `webhook-signature`.
pub fn headers(
    secrets: &[Secret],
    msg_id: &str,
    timestamp: i64,
    body: &str,
) -> [(&'static str, String); 3] {
    [
        (HEADER_ID, msg_id.to_string()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SIGNATURE, sign(secrets, msg_id, timestamp, body)),
    ]
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
    const VECTOR_BODY: &str = r#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    const BODY: &str = r#"{"type":"notification.sent","data":{"id":"42"}}"#;
    const MSG_ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

    fn vector_secret() -> Secret {
        Secret::parse(VECTOR_SECRET).expect("vector secret parses")
    }

    /// The `standardwebhooks` verifier checks the timestamp against the system time (a test
    /// helper; the provider passes the attempt's time from the service's clock).
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

    /// A receiver holding only `secret`, as the reference crate verifies (including
    /// its 5-minute window on the timestamp).
    fn receiver(secret: &Secret) -> Webhook {
        Webhook::new(&secret.to_whsec()).expect("secret")
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
    fn standardwebhooks_crate_verifies_our_headers() {
        let secret = Secret::generate();
        let ts = now();
        let h = headers(std::slice::from_ref(&secret), MSG_ID, ts, BODY);

        receiver(&secret)
            .verify(BODY.as_bytes(), &header_map(&h))
            .expect("standardwebhooks accepts our signature");

        // Sanity: the reference verifier rejects a foreign secret.
        assert!(
            receiver(&Secret::generate())
                .verify(BODY.as_bytes(), &header_map(&h))
                .is_err()
        );
    }

    #[test]
    fn standardwebhooks_crate_accepts_rotation_with_either_secret() {
        let old = Secret::generate();
        let new = Secret::generate();
        let ts = now();
        let h = headers(&[new.clone(), old.clone()], MSG_ID, ts, BODY);

        // One entry per secret, in the order given, a single space apart.
        let entries: Vec<&str> = h[2].1.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert!(!h[2].1.contains("  "));
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
        let map = header_map(&h);
        receiver(&new)
            .verify(BODY.as_bytes(), &map)
            .expect("receiver holding only the new secret accepts");
        receiver(&old)
            .verify(BODY.as_bytes(), &map)
            .expect("receiver holding only the old secret accepts");
        // A receiver holding an unrelated secret rejects it.
        assert!(
            receiver(&Secret::generate())
                .verify(BODY.as_bytes(), &map)
                .is_err()
        );

        // Each single entry verifies with its own secret only.
        let alone = |entry: &str| {
            let mut h = h.clone();
            h[2].1 = entry.to_string();
            header_map(&h)
        };
        assert!(
            receiver(&new)
                .verify(BODY.as_bytes(), &alone(entries[0]))
                .is_ok()
        );
        assert!(
            receiver(&new)
                .verify(BODY.as_bytes(), &alone(entries[1]))
                .is_err()
        );
        assert!(
            receiver(&old)
                .verify(BODY.as_bytes(), &alone(entries[1]))
                .is_ok()
        );
        assert!(
            receiver(&old)
                .verify(BODY.as_bytes(), &alone(entries[0]))
                .is_err()
        );
    }

    #[test]
    fn tampering_with_body_timestamp_or_id_fails() {
        let secret = Secret::generate();
        let ts = now();
        let signature = sign(std::slice::from_ref(&secret), MSG_ID, ts, BODY);
        let ok = |id: &str, ts: i64, body: &str| {
            let h = [
                (HEADER_ID, id.to_string()),
                (HEADER_TIMESTAMP, ts.to_string()),
                (HEADER_SIGNATURE, signature.clone()),
            ];
            receiver(&secret)
                .verify(body.as_bytes(), &header_map(&h))
                .is_ok()
        };
        assert!(ok(MSG_ID, ts, BODY));
        assert!(!ok(
            MSG_ID,
            ts,
            r#"{"type":"notification.sent","data":{"id":"43"}}"#
        ));
        assert!(!ok(MSG_ID, ts, &format!("{BODY} ")));
        assert!(!ok(MSG_ID, ts, ""));
        // Still inside the receiver's window, so only the signature can refuse these.
        assert!(!ok(MSG_ID, ts + 1, BODY));
        assert!(!ok(MSG_ID, ts - 1, BODY));
        assert!(!ok("msg_2KWPBgLlAfxdpx2AI54pPJ85f4w", ts, BODY));
        assert!(!ok("", ts, BODY));
    }

    #[test]
    fn sign_with_no_secrets_is_empty() {
        assert_eq!(sign(&[], MSG_ID, 1, BODY), "");
    }

    #[test]
    fn sign_accepts_any_text_and_extreme_timestamps() {
        let secret = Secret::generate();
        let s = std::slice::from_ref(&secret);
        // Vietnamese, an emoji and a NUL in the body: signed as the UTF-8 bytes sent.
        let body = "{\"thong_bao\":\"Hồ sơ đã được tiếp nhận 🎉\\u0000\"}\u{0}";
        let ts = now();
        let h = headers(s, MSG_ID, ts, body);
        receiver(&secret)
            .verify(body.as_bytes(), &header_map(&h))
            .expect("standardwebhooks accepts a non-ASCII body");
        // Timestamps the receiver would refuse as stale are still signed, each
        // differently: one entry of a 32-byte HMAC.
        let mut seen = std::collections::HashSet::new();
        for ts in [i64::MIN, -1, 0, i64::MAX] {
            let header = sign(s, MSG_ID, ts, BODY);
            let mac = header.strip_prefix("v1,").expect("one v1 entry");
            assert_eq!(BASE64.decode(mac).expect("base64").len(), 32);
            assert!(seen.insert(header));
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
}
