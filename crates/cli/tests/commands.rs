//! `motcua token` and `motcua serve` argument handling, as a script sees them.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_platform::auth::{Role, Verifier};
use motcua_platform::config::{AuthSettings, DEV_JWT_SECRET, KeySource};
use std::process::Command;

fn motcua(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_motcua"))
        .args(args)
        .env_remove("MOTCUA_JWT_SECRET")
        .output()
        .unwrap()
}

#[test]
fn token_is_accepted_by_the_verifier_with_its_roles_and_agency() {
    let out = motcua(&[
        "token",
        "--role",
        "desk",
        "--role",
        "leader",
        "--agency",
        "000.00.06.H56",
        "--sub",
        "can-bo-7",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let verifier = Verifier::new(&AuthSettings {
        keys: KeySource::StaticKey {
            secret: DEV_JWT_SECRET.into(),
        },
        issuer: None,
        audience: None,
    })
    .unwrap();
    let caller = verifier
        .verify_header(Some(&format!("Bearer {}", token.trim())))
        .unwrap();
    assert_eq!(caller.subject, "can-bo-7");
    assert_eq!(caller.agency, "000.00.06.H56");
    assert_eq!(caller.roles, vec![Role::Desk, Role::Leader]);
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for (args, names) in [
        (
            vec!["token", "--role", "mayor", "--agency", "000.00.06.H56"],
            "--role",
        ),
        (
            vec!["token", "--role", "desk", "--agency", "so tai nguyen"],
            "--agency",
        ),
        (vec!["serve", "--target", "intake,payments"], "payments"),
    ] {
        let out = motcua(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(names), "{err} should name {names}");
    }
}

#[test]
fn serve_refuses_to_start_without_a_token_key_unless_development_is_explicit() {
    let out = Command::new(env!("CARGO_BIN_EXE_motcua"))
        .args(["serve", "--target", "intake"])
        .env_remove("MOTCUA_JWT_SECRET")
        .env_remove("MOTCUA_JWT_JWKS_URL")
        .env_remove("MOTCUA_JWT_JWKS_FILE")
        .env_remove("MOTCUA_DEVELOPMENT")
        .env("MOTCUA_METRICS_ADDR", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "a configuration error");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("MOTCUA_DEVELOPMENT=true"), "{said}");
}

#[test]
/// Workflow and notification call intake and lookup at the addresses those declare, when no URL
/// setting says otherwise: each service declares its ports once, in its own crate.
fn a_service_calls_its_peers_where_they_declare_they_listen() {
    assert_eq!(motcua_workflow::settings::INTAKE, motcua_intake::SERVICE);
    assert_eq!(
        motcua_notification::settings::INTAKE,
        motcua_intake::SERVICE
    );
    assert_eq!(
        motcua_notification::settings::LOOKUP,
        motcua_lookup::SERVICE
    );
}
