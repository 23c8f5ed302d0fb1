//! Unit tests of `auth`.

use super::*;

/// A JWKS as Keycloak publishes it: a signing key and an encryption key.
const KEYCLOAK_JWKS: &str = r#"{"keys":[
  {"kid":"enc-1","kty":"RSA","alg":"RSA-OAEP","use":"enc","n":"w4fp27NjwuOIeaQor5NTpbWJ5Xf54JYqzCvFtIfVtb1C2PY-dLU-RK681Fw5DZk2VTFDlmxTQVMrHFW5hNXkC69vbzttcyoLgE1995kniKAIT99gi9vtJU_14-FcYcVVs7kqBVFHJqc7F-ZhhADKQPniAYspPDeIdWCGrvprVdiLG91tUpmVhv4nObm48Y3IR7O-k0tvm9jUQJR5GVOh_gSfibBJjHxxImkKlIXHIZlwSUcVsPsHUCR8jJctIbPHn1Alq0wObkxwMt2BsHB6B0uaM0r4uoF_zbpQ4dthAlK9M0lNoWUMU6tEWGKBwhqHyb5TqgUsu5F0Vody4X15pw","e":"AQAB","x5c":["MIIC"],"x5t":"abc","x5t#S256":"def"},
  {"kid":"sig-1","kty":"RSA","alg":"RS256","use":"sig","n":"w4fp27NjwuOIeaQor5NTpbWJ5Xf54JYqzCvFtIfVtb1C2PY-dLU-RK681Fw5DZk2VTFDlmxTQVMrHFW5hNXkC69vbzttcyoLgE1995kniKAIT99gi9vtJU_14-FcYcVVs7kqBVFHJqc7F-ZhhADKQPniAYspPDeIdWCGrvprVdiLG91tUpmVhv4nObm48Y3IR7O-k0tvm9jUQJR5GVOh_gSfibBJjHxxImkKlIXHIZlwSUcVsPsHUCR8jJctIbPHn1Alq0wObkxwMt2BsHB6B0uaM0r4uoF_zbpQ4dthAlK9M0lNoWUMU6tEWGKBwhqHyb5TqgUsu5F0Vody4X15pw","e":"AQAB"},
  {"kid":"weird","kty":"XYZ","crv":"none"}
]}"#;

#[test]
fn encryption_and_unreadable_keys_are_skipped_not_fatal() {
    let keys = keys_from_jwks(KEYCLOAK_JWKS).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].0.as_deref(), Some("sig-1"));
    assert_eq!(keys[0].2, Algorithm::RS256);
    let only_enc =
        r#"{"keys":[{"kid":"e","kty":"RSA","alg":"RSA-OAEP","use":"enc","n":"AQAB","e":"AQAB"}]}"#;
    assert!(
        keys_from_jwks(only_enc).is_err(),
        "no signing key at all is an error"
    );
}

fn verifier(issuer: Option<&str>, audience: Option<&str>) -> Verifier {
    Verifier::new(&AuthSettings {
        keys: KeySource::StaticKey {
            secret: crate::config::DEV_JWT_SECRET.into(),
        },
        issuer: issuer.map(str::to_owned),
        audience: audience.map(str::to_owned),
    })
    .unwrap()
}

fn token(iss: Option<&str>, aud: Option<serde_json::Value>) -> String {
    // jsonwebtoken checks exp and iat against the system time, not the platform clock.
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: "u".into(),
        name: "Cán bộ".into(),
        agency: "000.00.06.H56".into(),
        roles: vec![Role::Desk],
        exp: now + 600,
        iat: now,
        iss: iss.map(str::to_owned),
        aud,
        ..Default::default()
    };
    format!(
        "Bearer {}",
        mint(crate::config::DEV_JWT_SECRET, &claims).unwrap()
    )
}

fn claims(agency: &str, roles: &[Role], province: &str) -> Claims {
    // jsonwebtoken checks exp and iat against the system time, not the platform clock.
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "u".into(),
        agency: agency.into(),
        roles: roles.to_vec(),
        province: province.into(),
        exp: now + 600,
        iat: now,
        ..Default::default()
    }
}

fn verified(c: &Claims) -> Result<Caller, ServiceError> {
    let token = mint(crate::config::DEV_JWT_SECRET, c).unwrap();
    verifier(None, None).verify_header(Some(&format!("Bearer {token}")))
}

#[test]
fn an_agency_admin_covers_its_agency_and_a_province_admin_its_province_only() {
    let agency_admin = verified(&claims("000.00.07.H56", &[Role::Admin], "")).unwrap();
    assert!(agency_admin.covers("000.00.07.H56"));
    assert!(!agency_admin.covers("000.00.06.H56"), "no other agency");
    assert!(agency_admin.require_scope("000.00.06.H56").is_err());

    let province_admin = verified(&claims("000.00.07.H56", &[Role::Admin], "H56")).unwrap();
    assert!(province_admin.covers("000.00.06.H56"));
    assert!(province_admin.covers("000.31.20.H56"));
    assert!(!province_admin.covers("000.00.06.H01"), "no other province");
    assert!(!province_admin.covers("000.00.06.H560"));
    assert_eq!(province_admin.province_scope(), Some("H56"));

    let portal = verified(&claims("000.00.00.G22", &[Role::Integration], "H56")).unwrap();
    assert!(portal.covers("000.00.06.H56") && !portal.covers("000.00.06.H01"));

    let leader = verified(&claims("000.00.06.H56", &[Role::Leader], "")).unwrap();
    assert!(leader.covers("000.00.06.H56") && !leader.covers("000.00.07.H56"));
}

#[test]
fn a_province_claim_is_refused_without_admin_or_for_another_province() {
    for (c, why) in [
        (claims("000.00.06.H56", &[Role::Leader], "H56"), "admin"),
        (claims("000.00.06.H56", &[Role::Admin], "H01"), "province"),
        (claims("000.00.06.H56", &[Role::Desk], "H56"), "integration"),
    ] {
        let e = verified(&c).unwrap_err();
        assert!(matches!(e, ServiceError::Unauthenticated(_)), "{e}");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
}

#[test]
fn issuer_and_audience_are_checked_when_configured() {
    let aud = |s: &str| Some(serde_json::json!(s));
    // Not configured: any aud is accepted (real providers always send one).
    let open = verifier(None, None);
    assert!(
        open.verify_header(Some(&token(None, aud("account"))))
            .is_ok()
    );
    assert!(open.verify_header(Some(&token(Some("x"), None))).is_ok());

    let strict = verifier(
        Some("https://sso.example.gov.vn/realms/motcua"),
        Some("motcua"),
    );
    let good = token(
        Some("https://sso.example.gov.vn/realms/motcua"),
        Some(serde_json::json!(["account", "motcua"])),
    );
    assert!(strict.verify_header(Some(&good)).is_ok());
    for (bad, why) in [
        (token(Some("https://evil.example"), aud("motcua")), "issuer"),
        (
            token(
                Some("https://sso.example.gov.vn/realms/motcua"),
                aud("account"),
            ),
            "audience",
        ),
        (
            token(Some("https://sso.example.gov.vn/realms/motcua"), None),
            "aud",
        ),
        (token(None, aud("motcua")), "iss"),
    ] {
        let e = strict.verify_header(Some(&bad)).unwrap_err();
        assert!(matches!(e, ServiceError::Unauthenticated(_)), "{e}");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
}
