//! Dossier codes are sequential by law and a citizen's ID number is known to neighbours and
//! employers: sweeping consecutive codes with a victim's ID number must be held back before it
//! finds the dossier — from one client or from many — while a wrong ID number on a real code
//! stays indistinguishable from a code that does not exist, and the receipt's token still opens
//! the dossier for its holder.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_proto::common::DossierStatus;
use tonic::Code;
use uuid::Uuid;

const VICTIM_ID: &str = "038085001234";
const TOKEN: &str = "K7M2P9Q4RX";

fn code(n: u32) -> String {
    format!("{AGENCY}-260302-{n:04}")
}

/// Lookup with the victim's dossier at code 30 of the day (defaults but for the cooldown).
async fn with_victim(change: impl Fn(&mut motcua_platform::config::Vars)) -> App {
    let app = lookup_only(|v| {
        v.set("MOTCUA_LOOKUP_FAILURE_COOLDOWN_SECS", "600");
        change(v);
    })
    .await;
    app.publish(
        "dossier.dat-dai.submitted",
        "submitted",
        Uuid::now_v7(),
        submitted(state(&code(30), 1, DossierStatus::Received, TOKEN)),
    )
    .await;
    app.wait_version(&code(30), TOKEN, 1).await;
    app
}

async fn grpc(app: &App, code: &str, secret: &str) -> Result<(), tonic::Status> {
    grpc_dossier(app, code, secret).await.map(|_| ())
}

/// A JSON lookup from the client `ip` (behind the trusted proxy): (status, body).
async fn json_from(app: &App, ip: &str, code: &str, secret: &str) -> (u16, String) {
    let r = app
        .http
        .post(format!("{}/api/v1/dossiers/lookup", app.web()))
        .header("content-type", "application/json")
        .header("x-forwarded-for", ip)
        .body(serde_json::json!({"dossier_code": code, "secret": secret}).to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeping_consecutive_codes_with_a_victims_id_number_is_held_back_before_it_finds_the_dossier()
 {
    let app = with_victim(|_| {}).await;
    let mut answers = Vec::new();
    for n in 1..=60 {
        answers.push(grpc(&app, &code(n), VICTIM_ID).await.map_err(|s| s.code()));
    }
    assert!(
        answers.iter().all(Result::is_err),
        "the sweep found the dossier: {answers:?}"
    );
    let checked = answers
        .iter()
        .filter(|a| **a == Err(Code::NotFound))
        .count();
    assert_eq!(
        checked, 5,
        "five wrong tries per ID number, then held back: {answers:?}"
    );
    assert_eq!(answers[29], Err(Code::ResourceExhausted), "code 30 held");
    assert!(
        answers[5..]
            .iter()
            .all(|a| *a == Err(Code::ResourceExhausted))
    );
    // The page says so in Vietnamese, when to try again, and that the receipt's token works.
    let (status, page) = page_lookup(&app, &code(30), VICTIM_ID).await;
    assert_eq!(status, 429);
    let (_, retry, _) = json_lookup(&app, &code(30), VICTIM_ID).await;
    let retry: u64 = retry.unwrap().parse().unwrap();
    assert!(
        page.contains(&format!("thử lại sau {} phút", retry.div_ceil(60))),
        "{retry} s: {page}"
    );
    assert!(page.contains("mã tra cứu in trên giấy tiếp nhận"), "{page}");
    assert!(
        !page.contains("Too many") && !page.contains("retry"),
        "{page}"
    );
    // The victim's receipt still opens it (a token cannot be guessed, so it is never held).
    grpc(&app, &code(30), TOKEN).await.unwrap();
    app.stop().await;
}

/// A company's tax code is 10 digits, and one made of 2–9 only has the length and alphabet of a
/// receipt's token: it is still an identity someone else knows, and counted like an ID number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeping_codes_with_a_companys_tax_code_of_token_length_is_held_back_too() {
    const TAX_CODE: &str = "2345678923";
    let app = lookup_only(|v| {
        v.set("MOTCUA_LOOKUP_FAILURE_COOLDOWN_SECS", "600");
    })
    .await;
    let mut victim = state(&code(30), 1, DossierStatus::Received, TOKEN);
    victim.applicant_id_hmac = motcua_domain::secrets::SecretHasher::development()
        .hash(&code(30), TAX_CODE)
        .1;
    app.publish(
        "dossier.dat-dai.submitted",
        "submitted",
        Uuid::now_v7(),
        submitted(victim),
    )
    .await;
    app.wait_version(&code(30), TOKEN, 1).await;
    let mut answers = Vec::new();
    for n in 1..=40 {
        answers.push(grpc(&app, &code(n), TAX_CODE).await.map_err(|s| s.code()));
    }
    assert!(
        answers.iter().all(Result::is_err),
        "the sweep found the dossier with the tax code: {answers:?}"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|a| **a == Err(Code::NotFound))
            .count(),
        5,
        "five wrong tries per tax code, then held back: {answers:?}"
    );
    // The receipt's token is never held back.
    grpc(&app, &code(30), TOKEN).await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hold_back_follows_the_id_number_across_clients_and_the_client_across_id_numbers() {
    let app = with_victim(|v| v.set("MOTCUA_TRUSTED_PROXIES", "127.0.0.1/32")).await;
    // A sweep from a new address for every code: the ID number is held back all the same.
    let mut statuses = Vec::new();
    for n in 1..=60 {
        let (status, _) = json_from(&app, &format!("203.0.113.{n}"), &code(n), VICTIM_ID).await;
        statuses.push(status);
    }
    assert!(!statuses.contains(&200), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 404).count(), 5);
    assert_eq!(statuses[29], 429);

    // One client trying a new ID number on a new code each time (so neither the code nor the
    // ID number is ever held back): the client is, after 20 wrong tries.
    let mut statuses = Vec::new();
    for n in 1..=40 {
        let id = format!("0380850{:05}", 90_000 + n);
        let (status, _) = json_from(&app, "198.51.100.7", &code(100 + n), &id).await;
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 404).count(),
        20,
        "{statuses:?}"
    );
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    // Another client is not held back by it.
    let (status, _) = json_from(&app, "198.51.100.8", &code(200), "038085077777").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_id_number_on_a_real_code_answers_as_a_code_that_does_not_exist() {
    let app = with_victim(|v| v.set("MOTCUA_TRUSTED_PROXIES", "127.0.0.1/32")).await;
    // From fresh clients and ID numbers, so that nothing is held back.
    let real = json_from(&app, "192.0.2.1", &code(30), "038085000001").await;
    let none = json_from(&app, "192.0.2.2", &code(31), "038085000002").await;
    assert_eq!(real.0, 404);
    assert_eq!(real, none, "same status and body");
    let real = grpc(&app, &code(30), "038085000003").await.unwrap_err();
    let none = grpc(&app, &code(31), "038085000004").await.unwrap_err();
    assert_eq!((real.code(), real.message()), (none.code(), none.message()));
    app.stop().await;
}
