//! Finding a procedure as citizens type: with or without diacritics, by the field's name, by
//! keywords the catalog gives, with a letter wrong — always ranked by how close the name is, and
//! the same through gRPC, the JSON API and the page. Expectations come from the catalog file
//! itself, so they hold as the catalog grows.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_proto::common::{Procedure, ProcessingTime};
use motcua_proto::lookup::{GetProcedureRequest, SearchProceduresRequest};

/// The codes a search finds, best first, across every page.
async fn search(app: &App, query: &str, field: &str) -> Vec<String> {
    let mut client = app.lookup_client().await;
    let (mut codes, mut token) = (Vec::new(), String::new());
    loop {
        let page = client
            .search_procedures(SearchProceduresRequest {
                query: query.into(),
                field: field.into(),
                page_size: 100,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        codes.extend(page.procedures.into_iter().map(|p| p.code));
        if page.next_page_token.is_empty() {
            return codes;
        }
        token = page.next_page_token;
    }
}

/// The first page's codes (20, as the page shows).
async fn first_page(app: &App, query: &str) -> Vec<String> {
    app.lookup_client()
        .await
        .search_procedures(SearchProceduresRequest {
            query: query.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .procedures
        .into_iter()
        .map(|p| p.code)
        .collect()
}

/// One-letter typos of `text` (ASCII, folded): each word of three letters or more with its
/// second letter dropped (what made an exact match of the shortened words find another name
/// first, "dong ca mo" in "hoat dong ... cai tao ... moi"), and a letter replaced and one doubled.
fn typos(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if w.len() >= 3 {
            let mut typo = words.clone();
            let dropped = format!("{}{}", &w[..1], &w[2..]);
            typo[i] = &dropped;
            out.push(typo.join(" "));
        }
    }
    let mid = text.len() / 2;
    let replaced = if &text[mid..=mid] == "x" { "q" } else { "x" };
    out.push(format!("{}{replaced}{}", &text[..mid], &text[mid + 1..]));
    let at = text.len() / 4;
    out.push(format!("{}{}", &text[..=at], &text[at..]));
    out.retain(|t| t != text);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fields_name_finds_every_procedure_of_the_field_with_or_without_accents() {
    let app = with_catalog().await;
    let catalog = catalog();
    for (field, name) in [
        ("dat-dai", "đất đai"),
        ("tai-nguyen-nuoc", "Tài nguyên nước"),
    ] {
        let of_field: Vec<&Procedure> = catalog.iter().filter(|p| p.field == field).collect();
        assert!(!of_field.is_empty(), "{field}");
        let found = search(&app, name, "").await;
        for p in &of_field {
            assert!(
                found.contains(&p.code),
                "{name:?} finds {} {}",
                p.code,
                p.name
            );
        }
        // Names holding the words themselves first, then the rest of the field.
        let holding = motcua_domain::text::fold(name);
        let first: Vec<&String> = found
            .iter()
            .take_while(|c| {
                catalog
                    .iter()
                    .find(|p| &&p.code == c)
                    .is_some_and(|p| motcua_domain::text::fold(&p.name).contains(&holding))
            })
            .collect();
        let in_names = of_field
            .iter()
            .filter(|p| motcua_domain::text::fold(&p.name).contains(&holding))
            .count();
        assert!(first.len() >= in_names, "{name:?}: {found:?}");
    }
    let nfd = "\u{0111}a\u{0302}\u{0301}t \u{0111}ai"; // "đất đai", decomposed
    let expected = search(&app, "đất đai", "").await;
    for query in ["dat dai", "ĐẤT ĐAI", "Đất Đai", nfd, "  đất,  đai "] {
        assert_eq!(search(&app, query, "").await, expected, "{query:?}");
    }
    // The JSON API and the page find the same.
    let json: serde_json::Value =
        serde_json::from_str(&get_text(&app, "/api/v1/procedures?q=DAT%20DAI&page_size=100").await)
            .unwrap();
    let codes: Vec<&str> = json["procedures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, expected);
    let page = get_text(&app, "/thu-tuc?q=dat+dai").await;
    for code in expected.iter().take(20) {
        assert!(page.contains(&format!("/thu-tuc/{code}\"")), "{code}");
    }
    assert!(search(&app, "xyz khong co", "").await.is_empty());
    assert!(search(&app, "hộ chiếu xe máy", "").await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_with_a_letter_wrong_still_finds_its_procedure() {
    let app = with_catalog().await;
    let mut missed = Vec::new();
    for p in catalog() {
        let name = motcua_domain::text::fold(&p.name);
        for typo in typos(&name) {
            if !first_page(&app, &typo).await.contains(&p.code) {
                missed.push(format!("{typo:?} ({})", p.code));
            }
        }
    }
    assert!(missed.is_empty(), "not found: {missed:#?}");
    // Ranked by similarity, not by an exact match first: the name closest to a typo comes first.
    assert_eq!(
        first_page(&app, "tach thuw")
            .await
            .first()
            .map(String::as_str),
        Some("1.012784")
    );
    assert_eq!(first_page(&app, "tach thua").await[0], "1.012784");
    app.stop().await;
}

fn procedure(code: &str, name: &str, field: &str, keywords: &[&str]) -> Procedure {
    Procedure {
        code: code.into(),
        version: 1,
        name: name.into(),
        field: field.into(),
        competent_agency: AGENCY.into(),
        level: motcua_proto::common::ServiceLevel::Partial as i32,
        processing_time: Some(ProcessingTime {
            span: Some(motcua_proto::common::processing_time::Span::WorkingDays(5)),
        }),
        effective_from: "2025-07-01".into(),
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keywords_from_the_catalog_find_a_procedure_best_first() {
    let app = lookup_only(|_| {}).await;
    for p in [
        procedure(
            "t.cap-gcn",
            "Cấp Giấy chứng nhận quyền sử dụng đất lần đầu",
            "dat-dai",
            &["sổ đỏ", "sổ hồng"],
        ),
        procedure("t.tach-thua", "Tách thửa đất", "dat-dai", &[]),
        procedure(
            "t.gp-mt",
            "Cấp giấy phép môi trường",
            "moi-truong",
            &["xả thải"],
        ),
        procedure(
            "t.khai-thac",
            "Cấp giấy phép khai thác khoáng sản",
            "khoang-san",
            &[],
        ),
    ] {
        publish_procedure(&app, p).await;
    }
    app.wait_db("SELECT count(*) = 4 FROM procedures", "four procedures")
        .await;
    assert_eq!(search(&app, "sổ đỏ", "").await, ["t.cap-gcn"]);
    assert_eq!(search(&app, "so hong", "").await, ["t.cap-gcn"]);
    assert_eq!(search(&app, "xa thai", "").await, ["t.gp-mt"]);
    assert_eq!(search(&app, "giay phep moi truong", "").await[0], "t.gp-mt");
    assert_eq!(
        search(&app, "khai thác khoáng sản", "").await[0],
        "t.khai-thac"
    );
    assert_eq!(search(&app, "Khoáng sản", "").await, ["t.khai-thac"]);
    assert_eq!(
        search(&app, "so do", "moi-truong").await,
        Vec::<String>::new()
    );
    // The keywords travel with the procedure.
    let p = app
        .lookup_client()
        .await
        .get_procedure(GetProcedureRequest {
            code: "t.cap-gcn".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .procedure
        .unwrap();
    assert_eq!(p.keywords, ["sổ đỏ", "sổ hồng"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_walks_the_whole_catalog_once() {
    let app = with_catalog().await;
    let all = search(&app, "", "").await;
    let mut expected: Vec<String> = catalog().into_iter().map(|p| p.code).collect();
    expected.sort();
    let mut walked = all.clone();
    walked.sort();
    assert_eq!(walked, expected, "every procedure once");
    let mut client = app.lookup_client().await;
    let first = client
        .search_procedures(SearchProceduresRequest {
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.procedures.len(), 10.min(all.len()));
    assert_eq!(
        first.next_page_token.is_empty(),
        all.len() <= 10,
        "{}",
        first.next_page_token
    );
    let only_field = search(&app, "", "moi-truong").await;
    assert!(!only_field.is_empty());
    assert!(only_field.iter().all(|c| {
        catalog()
            .iter()
            .any(|p| &p.code == c && p.field == "moi-truong")
    }));
    let detail = client
        .get_procedure(GetProcedureRequest {
            code: "1.013831".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!detail.procedure.unwrap().documents.is_empty());
    assert!(detail.competent_agency_name.starts_with("Sở Nông nghiệp"));
    app.stop().await;
}
