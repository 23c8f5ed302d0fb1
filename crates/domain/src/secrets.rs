//! Keyed hashes of the secrets an applicant looks a dossier up with (the receipt's secret, mã tra
//! cứu, and the ID number): DESIGN.md "Secrets in events".
//!
//! A plain SHA-256 of "code:ID number" is brute-forced in seconds by anyone who reads the stream: a
//! 12-digit citizen ID has a known structure (province, sex and century, birth year). So events
//! carry HMAC-SHA256 under a key only the services that issue and check the secrets hold
//! (MOTCUA_SECRET_HASH_KEYS). Keys
//! rotate: the setting lists `id:key` pairs, the first makes new hashes, and every listed key still
//! checks hashes it made (each event names its key id). Drop an old key once no dossier hashed
//! with it can still be looked up.

use crate::settings::{SettingError, is_development};
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

pub const VAR: &str = "MOTCUA_SECRET_HASH_KEYS";

/// The public development key: used when MOTCUA_SECRET_HASH_KEYS is unset, with a warning.
pub const DEV_KEY: (&str, &str) = (
    "dev",
    "motcua-development-secret-hash-key-not-for-production",
);

#[derive(Clone)]
pub struct SecretHasher {
    /// (key id, key); the first makes new hashes.
    keys: Vec<(String, SecretString)>,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SecretHasher")
            .field("key_ids", &ids)
            .finish()
    }
}

/// The alphabet of receipts' secrets (mã tra cứu): no look-alikes (0/O, 1/I/L).
pub const TOKEN_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters of a receipt's secret (~50 bits).
pub const TOKEN_LENGTH: usize = 10;

/// Whether a secret, as typed, has the shape of a receipt's secret (a token): ten characters of
/// its alphabet, at least one a letter. Tokens are not counted against the public page's
/// hold-back (~50 bits are not guessed); every secret of digits only is (an ID number is 9 or 12
/// digits, a tax code 10 or 13, and a 10-digit number could otherwise pass as a token), so no
/// all-digit token is issued.
pub fn is_token_shaped(secret: &str) -> bool {
    let s = normalise(secret);
    s.len() == TOKEN_LENGTH
        && s.bytes().all(|b| TOKEN_ALPHABET.contains(&b))
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// How a secret is compared: spaces and case do not matter (a token read over the phone, an ID
/// typed with spaces).
pub fn normalise(secret: &str) -> String {
    secret
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

impl SecretHasher {
    /// From MOTCUA_SECRET_HASH_KEYS (`id:key,id:key`, keys of at least 32 characters).
    pub fn from_vars<'a>(var: impl Fn(&str) -> Option<&'a str>) -> Result<Self, SettingError> {
        let Some(list) = var(VAR) else {
            // The public development key serves a developer's machine or a test only: anywhere
            // else anyone could hash every ID number and compare it with the stream's.
            if !is_development(&var) {
                return Err(SettingError::new(
                    VAR,
                    "must be set outside development (MOTCUA_DEVELOPMENT=true): the development key is public; write id:key with a key of 32+ random characters",
                ));
            }
            return Ok(Self::development());
        };
        let mut keys = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, key) = entry.split_once(':').ok_or_else(|| {
                SettingError::new(
                    VAR,
                    "write each key as id:key, e.g. k2026:<32+ random characters>",
                )
            })?;
            let id = id.trim();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(SettingError::new(
                    VAR,
                    "a key id is letters, digits and - only",
                ));
            }
            if key.trim().len() < 32 {
                return Err(SettingError::new(
                    VAR,
                    format!("key {id} must be at least 32 characters"),
                ));
            }
            if keys.iter().any(|(k, _): &(String, SecretString)| k == id) {
                return Err(SettingError::new(
                    VAR,
                    format!("key id {id} is listed twice"),
                ));
            }
            keys.push((id.to_owned(), SecretString::from(key.trim().to_owned())));
        }
        if keys.is_empty() {
            return Err(SettingError::new(VAR, "lists no key"));
        }
        Ok(Self { keys })
    }

    pub fn development() -> Self {
        Self {
            keys: vec![(DEV_KEY.0.to_owned(), SecretString::from(DEV_KEY.1))],
        }
    }

    pub fn is_development(&self) -> bool {
        self.keys.len() == 1 && self.keys[0].0 == DEV_KEY.0
    }

    fn mac(key: &SecretString, code: &str, secret: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(code.trim().as_bytes());
        mac.update(b":");
        mac.update(normalise(secret).as_bytes());
        mac
    }

    /// The id of the key that makes new hashes.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// The current key's id and the hex hash of `secret` for dossier `code`.
    pub fn hash(&self, code: &str, secret: &str) -> (String, String) {
        let (id, key) = &self.keys[0];
        let bytes = Self::mac(key, code, secret).finalize().into_bytes();
        (id.clone(), hex::encode(bytes))
    }

    /// Whether `secret` is the one hashed as `hash` with key `key_id`, in constant time. An
    /// unknown key id or a malformed hash is simply "no", after the same work as any other
    /// answer (one HMAC and one constant-time comparison of 32 bytes), so the time taken tells
    /// nothing of which it was.
    pub fn verify(&self, code: &str, secret: &str, key_id: &str, hash: &str) -> bool {
        let known = self.keys.iter().find(|(id, _)| id == key_id);
        let key = known.map_or(&self.keys[0].1, |(_, key)| key);
        let expected = hex::decode(hash).ok().filter(|e| e.len() == 32);
        let stand_in = [0u8; 32];
        let matches = Self::mac(key, code, secret)
            .verify_slice(expected.as_deref().unwrap_or(&stand_in))
            .is_ok();
        // `&`, not `&&`: nothing short-circuits.
        matches & known.is_some() & expected.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::from_pairs;

    fn hasher(list: &str) -> SecretHasher {
        SecretHasher::from_vars(from_pairs(&[(VAR, list)])).unwrap()
    }

    #[test]
    fn only_secrets_with_a_letter_pass_as_tokens() {
        assert!(is_token_shaped("K7M2P9Q4RX"));
        assert!(is_token_shaped("k7m2 p9q4 rx"));
        // A tax code of digits 2–9 has the token's length and alphabet: not a token.
        assert!(!is_token_shaped("2345678923"));
        assert!(!is_token_shaped("038085001234"));
        assert!(!is_token_shaped("K7M2P9Q4R0"));
    }

    #[test]
    fn keyed_hashes_check_with_their_key_and_survive_rotation() {
        let code = "000.00.06.H56-261127-0001";
        let old = hasher("k1:0123456789abcdef0123456789abcdef");
        let (id, h) = old.hash(code, "038085001234");
        assert_eq!(id, "k1");
        assert_eq!(h.len(), 64);
        assert!(
            old.verify(code, " 0380 8500 1234 ", "k1", &h),
            "spaces do not matter"
        );
        assert!(!old.verify(code, "038085001235", "k1", &h));
        assert!(
            !old.verify("000.00.06.H56-261127-0002", "038085001234", "k1", &h),
            "bound to the code"
        );
        // Rotation: a new first key hashes; the old one still checks what it made.
        let rotated =
            hasher("k2:fedcba9876543210fedcba9876543210, k1:0123456789abcdef0123456789abcdef");
        assert_eq!(rotated.hash(code, "x").0, "k2");
        assert!(rotated.verify(code, "038085001234", "k1", &h));
        // Someone without the key cannot compute it: another key gives another hash.
        let (_, other) = hasher("k1:ffffffffffffffffffffffffffffffff").hash(code, "038085001234");
        assert_ne!(other, h);
        assert!(
            old.verify(code, "abcdefghij", &id, &old.hash(code, "ABCDEFGHIJ").1),
            "case does not matter"
        );
        assert!(
            !old.verify(code, "038085001234", "k9", &h),
            "unknown key id"
        );
        assert!(!old.verify(code, "038085001234", "k1", "not hex"));
    }

    #[test]
    fn bad_key_settings_name_the_variable() {
        for bad in [
            "nokey",
            "k1:short",
            "k1:0123456789abcdef0123456789abcdef,k1:0123456789abcdef0123456789abcdef",
            "bad id:0123456789abcdef0123456789abcdef",
        ] {
            let e = SecretHasher::from_vars(from_pairs(&[(VAR, bad)])).unwrap_err();
            assert_eq!(e.var, VAR, "{bad}");
        }
        let debug = format!("{:?}", hasher("k1:0123456789abcdef0123456789abcdef"));
        assert!(!debug.contains("0123456789"), "{debug}");
        assert!(
            SecretHasher::from_vars(from_pairs(&[("MOTCUA_DEVELOPMENT", "true")]))
                .unwrap()
                .is_development()
        );
        // Outside development the public key is refused, whatever else is set.
        for production in [
            &[][..],
            &[("MOTCUA_JWT_JWKS_URL", "https://sso.example.gov.vn/jwks")],
            &[("MOTCUA_DEVELOPMENT", "false")],
        ] {
            assert_eq!(
                SecretHasher::from_vars(from_pairs(production))
                    .unwrap_err()
                    .var,
                VAR
            );
        }
    }
}
