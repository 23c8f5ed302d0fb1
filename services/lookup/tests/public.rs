//! The public surface, as the internet meets it: codes cannot be told apart from wrong secrets,
//! a guessed code is held back for everyone, each client is rate limited, the catalog is found
//! with or without accents, and bad input of every kind gets a clear 4xx, never a 500.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_platform::auth::Role;
use motcua_proto::common::DossierStatus;
use motcua_proto::lookup::lookup_service_client::LookupServiceClient;
use motcua_proto::lookup::{GetProcedureRequest, LookupDossierRequest, SearchProceduresRequest};
use reqwest::StatusCode;
use tonic::Code;
use uuid::Uuid;

const CODE: &str = "000.00.06.H56-260302-0007";
const UNKNOWN: &str = "000.00.06.H56-260302-0008";
const TOKEN: &str = "K7M2P9Q4RX";

async fn with_one_dossier(change: impl Fn(&mut motcua_platform::config::Vars)) -> App {
    let app = lookup_only(change).await;
    app.publish(
        "dossier.dat-dai.submitted",
        "submitted",
        Uuid::now_v7(),
        submitted(state(CODE, 1, DossierStatus::Received, TOKEN)),
    )
    .await;
    app.wait_version(CODE, TOKEN, 1).await;
    app
}

async fn grpc_lookup(app: &App, code: &str, secret: &str) -> Result<u64, tonic::Status> {
    grpc_dossier(app, code, secret).await.map(|d| d.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_and_an_unknown_code_get_the_same_answer_and_guessing_is_held_back() {
    let app = with_one_dossier(|v| {
        v.set("MOTCUA_LOOKUP_FAILURES_PER_CODE", "3");
        v.set("MOTCUA_LOOKUP_FAILURE_COOLDOWN_SECS", "600");
    })
    .await;
    // The right secrets open it: the token (any case, spaces) and the ID number.
    assert_eq!(grpc_lookup(&app, CODE, "k7m2 p9q4 rx").await.unwrap(), 1);
    assert_eq!(
        grpc_lookup(&app, &CODE.to_lowercase(), "038085001234")
            .await
            .unwrap(),
        1
    );

    let wrong = grpc_lookup(&app, CODE, "WRONGWRONG").await.unwrap_err();
    let unknown = grpc_lookup(&app, UNKNOWN, TOKEN).await.unwrap_err();
    assert_eq!(wrong.code(), Code::NotFound);
    assert_eq!(
        (wrong.code(), wrong.message()),
        (unknown.code(), unknown.message())
    );
    let wrong = json_lookup(&app, CODE, "WRONGWRONG").await;
    let unknown = json_lookup(&app, UNKNOWN, TOKEN).await;
    assert_eq!(wrong.0, 404);
    assert_eq!(wrong, unknown, "same status and body over JSON");
    let wrong = page_lookup(&app, CODE, "WRONGWRONG").await;
    let unknown = page_lookup(&app, UNKNOWN, TOKEN).await;
    assert_eq!(wrong.0, 404);
    assert!(wrong.1.contains("Không tìm thấy hồ sơ"), "{}", wrong.1);
    assert_eq!(
        (wrong.0, wrong.1.replace(CODE, "")),
        (unknown.0, unknown.1.replace(UNKNOWN, "")),
        "same page but for the code typed, which is printed back"
    );

    // The code took three wrong tries so far (gRPC, JSON, page); the unknown one takes three
    // wrong ID numbers now. Then ID numbers are held back for everyone, the right one too, for the
    // existing code and the unknown one alike.
    for _ in 0..3 {
        let e = grpc_lookup(&app, UNKNOWN, "038085009999")
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
    }
    for code in [CODE, UNKNOWN] {
        let held = grpc_lookup(&app, code, "038085001234").await.unwrap_err();
        assert_eq!(held.code(), Code::ResourceExhausted, "{code}");
        let retry: u64 = held
            .metadata()
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((500..=600).contains(&retry), "{retry}");
        let (status, retry, body) = json_lookup(&app, code, "038085001234").await;
        assert_eq!(status, 429);
        assert!(retry.is_some());
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "resource_exhausted");
    }
    let held_known = grpc_lookup(&app, CODE, "038085001234").await.unwrap_err();
    let held_unknown = grpc_lookup(&app, UNKNOWN, "038085001234")
        .await
        .unwrap_err();
    assert_eq!(
        held_known.message().replace(char::is_numeric, ""),
        held_unknown.message().replace(char::is_numeric, ""),
        "held back alike"
    );
    // The receipt's token cannot be guessed, so it is never held back: no one can lock the
    // rightful holder out by failing on purpose.
    assert_eq!(grpc_lookup(&app, CODE, TOKEN).await.unwrap(), 1);
    assert_eq!(
        grpc_lookup(&app, UNKNOWN, TOKEN).await.unwrap_err().code(),
        Code::NotFound
    );
    // Another code is not affected.
    assert_eq!(
        grpc_lookup(&app, "000.00.06.H56-260302-0009", "038085001234")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_sent_at_the_same_moment_cannot_outrun_the_hold_back() {
    let app = with_one_dossier(|v| {
        v.set("MOTCUA_LOOKUP_FAILURES_PER_CODE", "3");
        v.set("MOTCUA_LOOKUP_FAILURE_COOLDOWN_SECS", "600");
    })
    .await;
    let guesses = (0..40).map(|i| {
        let app = &app;
        async move { grpc_lookup(app, CODE, &format!("0380850{i:05}")).await }
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers
        .iter()
        .filter(|a| a.as_ref().is_err_and(|s| s.code() == Code::NotFound))
        .count();
    let held = answers
        .iter()
        .filter(|a| {
            a.as_ref()
                .is_err_and(|s| s.code() == Code::ResourceExhausted)
        })
        .count();
    // Exactly the budget: a hold-back that let more through fails, and so does one that held
    // back everything (which `<= 3` let pass).
    assert_eq!(checked, 3, "guesses checked, the budget is 3");
    assert_eq!(checked + held, 40);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_is_rate_limited_with_retry_after() {
    let app = with_one_dossier(|v| {
        v.set("MOTCUA_PUBLIC_RATE_PER_SECOND", "1");
        v.set("MOTCUA_PUBLIC_RATE_BURST", "3");
    })
    .await;
    // The harness's own lookups used part of this address's budget: spend the rest.
    let mut limited_grpc = None;
    for _ in 0..10 {
        if let Err(s) = grpc_lookup(&app, CODE, TOKEN).await
            && s.code() == Code::ResourceExhausted
        {
            limited_grpc = Some(s);
            break;
        }
    }
    let s = limited_grpc.expect("gRPC calls beyond the burst are refused");
    assert!(s.metadata().get("retry-after").is_some());
    // A system calling with an integration token (notification answering SMS for thousands of
    // citizens from one address) is not counted; a token of another role is.
    for (role, limited) in [(Role::Integration, false), (Role::Desk, true)] {
        let mut system = LookupServiceClient::with_interceptor(
            channel(app.addr("lookup")).await,
            Bearer::new(&token(&[role], "", "he-thong")),
        );
        let answer = system
            .lookup_dossier(LookupDossierRequest {
                dossier_code: CODE.into(),
                secret: TOKEN.into(),
            })
            .await;
        assert_eq!(
            answer.is_err_and(|s| s.code() == Code::ResourceExhausted),
            limited,
            "{role:?}"
        );
    }
    // The HTTP side counts against the same budget for this client.
    let r = app
        .http
        .get(format!("{}/thu-tuc", app.web()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // A page, in Vietnamese, saying when to try again.
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        r.headers()
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("<html lang=\"vi\">"), "{page}");
    assert!(page.contains("Quá nhiều yêu cầu"), "{page}");
    assert!(
        page.contains(&format!("thử lại sau {retry} giây")),
        "when to try again: {page}"
    );
    assert!(!page.contains("Too many"), "no English on the page: {page}");
    // The API says it in its own shape.
    let r = app
        .http
        .get(format!("{}/api/v1/procedures", app.web()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "resource_exhausted");
    // Health and readiness are never limited (an orchestrator polls them).
    let r = app
        .http
        .get(format!("{}/readyz", app.web()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

/// A request (method, path, optional content type and body) and the status it must get.
type BadRequest = (reqwest::Method, String, Option<(&'static str, String)>, u16);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_or_invalid_argument_never_a_500() {
    let app = with_catalog().await;
    let web = app.web();
    let long = "a".repeat(3000);
    let cases: Vec<BadRequest> = vec![
        (reqwest::Method::GET, format!("/thu-tuc/{long}"), None, 414),
        (
            reqwest::Method::GET,
            format!("/thu-tuc?q={long}"),
            None,
            414,
        ),
        (
            reqwest::Method::GET,
            format!("/thu-tuc?q={}", "a".repeat(201)),
            None,
            400,
        ),
        (reqwest::Method::GET, "/thu-tuc?trang=abc".into(), None, 400),
        (
            reqwest::Method::GET,
            "/thu-tuc?linh-vuc=khong-co".into(),
            None,
            400,
        ),
        (
            reqwest::Method::GET,
            "/api/v1/procedures?page_size=1000".into(),
            None,
            400,
        ),
        (
            reqwest::Method::GET,
            "/api/v1/procedures?page_size=-1".into(),
            None,
            400,
        ),
        (
            reqwest::Method::GET,
            "/thu-tuc/khong%20co".into(),
            None,
            400,
        ),
        (reqwest::Method::GET, "/thu-tuc/9.999999".into(), None, 404),
        (
            reqwest::Method::GET,
            "/api/v1/procedures/%FF%FE".into(),
            None,
            400,
        ),
        (
            reqwest::Method::GET,
            "/khong-co-trang-nay".into(),
            None,
            404,
        ),
        (reqwest::Method::GET, "/api/v1/khong-co".into(), None, 404),
        (reqwest::Method::DELETE, "/tra-cuu".into(), None, 405),
        (
            reqwest::Method::PUT,
            "/api/v1/dossiers/lookup".into(),
            None,
            405,
        ),
        (reqwest::Method::POST, "/thu-tuc".into(), None, 405),
        (
            reqwest::Method::POST,
            "/api/v1/dossiers/lookup".into(),
            Some(("application/json", "not json".into())),
            400,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/dossiers/lookup".into(),
            Some(("text/plain", r#"{"dossier_code":"x","secret":"y"}"#.into())),
            415,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/dossiers/lookup".into(),
            Some((
                "application/json",
                format!(r#"{{"dossier_code":"{}"}}"#, "9".repeat(10_000)),
            )),
            413,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/dossiers/lookup".into(),
            Some((
                "application/json",
                r#"{"dossier_code":"ĐẤT-ĐAI-💥","secret":"x"}"#.into(),
            )),
            400,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/dossiers/lookup".into(),
            Some((
                "application/json",
                format!(r#"{{"dossier_code":"{CODE}","secret":"a\u0007b"}}"#),
            )),
            400,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/dossiers/lookup".into(),
            Some((
                "application/json",
                format!(r#"{{"dossier_code":"{CODE}"}}"#),
            )),
            400,
        ),
        (
            reqwest::Method::POST,
            "/tra-cuu".into(),
            Some((
                "application/x-www-form-urlencoded",
                "ma-ho-so=%27%3B+DROP+TABLE+dossiers&ma-tra-cuu=x".into(),
            )),
            400,
        ),
        (
            reqwest::Method::POST,
            "/tra-cuu".into(),
            Some((
                "application/x-www-form-urlencoded",
                format!("ma-ho-so={CODE}&ma-tra-cuu=a%00b"),
            )),
            400,
        ),
        (
            reqwest::Method::POST,
            "/tra-cuu".into(),
            Some(("application/x-www-form-urlencoded", "%%%".into())),
            400,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/dossiers/lookup".into(),
            Some((
                "application/json",
                r#"{"dossier_code": 5, "secret": []}"#.into(),
            )),
            400,
        ),
        (reqwest::Method::GET, "/thu-tuc/%FF%FE".into(), None, 400),
    ];
    for (method, path, body, want) in cases {
        let mut req = app.http.request(method.clone(), format!("{web}{path}"));
        if let Some((content_type, body)) = body {
            req = req.header("content-type", content_type).body(body);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = r.text().await.unwrap();
        let shown = &path[..path.len().min(60)];
        assert_eq!(status, want, "{method} {shown}: {text}");
        assert!(
            text.len() < 20_000,
            "{method} {shown}: input is not echoed whole"
        );
        if path.starts_with("/api/") {
            // The API answers in its documented shape.
            let body: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {shown}: not JSON ({e}): {text}"));
            assert!(
                body["error"]["code"].is_string(),
                "{method} {shown}: {text}"
            );
            assert!(!body["error"]["message"].as_str().unwrap().is_empty());
        } else {
            // A page, in Vietnamese.
            assert!(
                content_type.starts_with("text/html"),
                "{method} {shown}: {content_type}"
            );
            assert!(
                [
                    "Không",
                    "Yêu cầu",
                    "Địa chỉ",
                    "Phương thức",
                    "Biểu mẫu",
                    "Mã"
                ]
                .iter()
                .any(|w| text.contains(w)),
                "{method} {shown}: {text}"
            );
        }
    }

    // gRPC: INVALID_ARGUMENT naming what to fix; an unknown procedure NOT_FOUND.
    let mut client = app.lookup_client().await;
    for (code, secret) in [
        ("x", TOKEN),
        ("", TOKEN),
        (CODE, ""),
        (CODE, "a\u{7}b"),
        (CODE, &"s".repeat(65)),
        (&"9".repeat(5000), TOKEN),
    ] {
        let e = client
            .lookup_dossier(LookupDossierRequest {
                dossier_code: code.into(),
                secret: secret.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            e.code(),
            Code::InvalidArgument,
            "{code:.20} / {secret:.20}: {e:?}"
        );
        assert!(e.message().len() < 600);
    }
    for req in [
        SearchProceduresRequest {
            page_size: 1000,
            ..Default::default()
        },
        SearchProceduresRequest {
            page_token: "abc".into(),
            ..Default::default()
        },
        SearchProceduresRequest {
            field: "khong-co".into(),
            ..Default::default()
        },
    ] {
        let e = client.search_procedures(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    }
    let e = client
        .get_procedure(GetProcedureRequest { code: "".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = client
        .get_procedure(GetProcedureRequest {
            code: "9.999999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_vietnamese_labelled_and_carry_security_headers() {
    let app = with_one_dossier(|_| {}).await;
    for path in ["/", "/tra-cuu", "/thu-tuc"] {
        let r = app
            .http
            .get(format!("{}{path}", app.web()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers().clone();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = r.text().await.unwrap();
        assert!(html.contains("<html lang=\"vi\">"), "{path}");
        // Every field has its label.
        for id in html
            .split("id=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .filter(|id| html.contains(&format!("name=\"{id}\"")))
        {
            assert!(
                html.contains(&format!("for=\"{id}\"")),
                "{path}: #{id} has no label"
            );
        }
    }
    // The status page: the masked name, the status in Vietnamese; kept by no cache.
    let r = app
        .http
        .post(format!("{}/tra-cuu", app.web()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("ma-ho-so={CODE}&ma-tra-cuu={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("N***** V** A*") && html.contains("Đã tiếp nhận"),
        "{html}"
    );
    assert!(!html.contains(TOKEN), "the secret is never printed back");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_after_postgresql_closed_the_readers_connection_still_answers() {
    // No rows kept in memory: every lookup reads the database through the reader's connection.
    let app = with_one_dossier(|v| v.set("MOTCUA_LOOKUP_CACHE_ROWS", "0")).await;
    assert_eq!(grpc_lookup(&app, CODE, TOKEN).await.unwrap(), 1);
    // PostgreSQL closes lookup's connections (a restart, an idle timeout, an operator).
    let closed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&app.lookup_db)
    .await
    .unwrap();
    assert!(closed >= 1, "the reader's connection was open");
    for _ in 0..3 {
        assert_eq!(
            grpc_lookup(&app, CODE, TOKEN).await.unwrap(),
            1,
            "a closed connection is replaced before the citizen sees an error"
        );
        let (status, _, body) = json_lookup(&app, CODE, TOKEN).await;
        assert_eq!(status, 200, "{body}");
    }
}
