//! The page as a citizen uses it, in a real headless browser (Debian's chromium, driven through
//! chromedriver; `deploy/test.sh` installs both when missing): search a procedure, open it, look a
//! dossier up with its code and token, follow the receipt's QR link, and check the accessibility
//! basics (language, labels, one heading per page, keyboard order, contrast).

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use fantoccini::{Client, Locator};
use motcua_testkit::browser::{Driver, chromium, driver};
use std::time::Duration;

/// A headless chromium the size of a phone; `javascript: false` turns scripts off.
async fn browser(driver: &Driver, javascript: bool) -> Client {
    chromium(driver, 412, 915, javascript).await
}

async fn text(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Accessibility basics of the page shown: `lang="vi"`, exactly one h1, every field labelled,
/// body text and buttons at a contrast of at least 4.5:1.
async fn check_accessibility(c: &Client, page: &str) {
    let report = c
        .execute(
            r#"
            function lum(rgb) {
              const v = rgb.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map(x => {
                x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
              });
              return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
            }
            function bg(el) {
              while (el) {
                const c = getComputedStyle(el).backgroundColor;
                if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c;
                el = el.parentElement;
              }
              return 'rgb(255, 255, 255)';
            }
            function contrast(el) {
              const a = lum(getComputedStyle(el).color), b = lum(bg(el));
              return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            }
            const fields = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')];
            const samples = [...document.querySelectorAll('main p, main li, main dd, button, .button, main a')];
            return {
              lang: document.documentElement.lang,
              h1: document.querySelectorAll('h1').length,
              unlabelled: fields.filter(f => f.labels.length === 0).map(f => f.name),
              lowContrast: samples.filter(e => e.offsetParent !== null && contrast(e) < 4.5)
                                  .map(e => e.tagName + ': ' + e.textContent.trim().slice(0, 40)),
              title: document.title,
            };
            "#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(report["lang"], "vi", "{page}");
    assert_eq!(report["h1"], 1, "{page}: one main heading");
    assert_eq!(report["unlabelled"], serde_json::json!([]), "{page}");
    assert_eq!(report["lowContrast"], serde_json::json!([]), "{page}");
    assert!(!report["title"].as_str().unwrap().is_empty(), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_finds_a_procedure_and_follows_a_dossier_in_a_real_browser() {
    let mut app = App::new(|_| {}).await;
    app.start("intake").await;
    app.start_lookup().await;
    app.wait_db("SELECT count(*) >= 14 FROM procedures", "the catalog")
        .await;
    let receipt = app
        .intake_client()
        .await
        .submit_dossier(land_submission("browser-1"))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    let (code, token) = (receipt.dossier_code.clone(), receipt.lookup_token.clone());
    app.wait_version(&code, &token, 1).await;
    let second = app
        .intake_client()
        .await
        .submit_dossier(land_submission("browser-2"))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    app.wait_version(&second.dossier_code, &second.lookup_token, 1)
        .await;

    let driver = driver().await;
    let c = browser(&driver, true).await;
    let web = app.web();

    // The home page, by keyboard: the first Tab lands on the skip link.
    c.goto(&format!("{web}/")).await.unwrap();
    check_accessibility(&c, "/").await;
    let tab: char = fantoccini::key::Key::Tab.into();
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys(&tab.to_string())
        .await
        .unwrap();
    let focused = c
        .execute("return document.activeElement.className", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "skip", "the skip link comes first");

    // Search without accents, open the procedure.
    c.find(Locator::Css("#q"))
        .await
        .unwrap()
        .send_keys("dat dai")
        .await
        .unwrap();
    c.find(Locator::Css("form[role=search] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let results = text(&c, "ol.results").await;
    assert!(
        results.contains("Cung cấp thông tin, dữ liệu đất đai"),
        "{results}"
    );
    check_accessibility(&c, "/thu-tuc").await;
    c.find(Locator::Css("a[href='/thu-tuc/1.012789']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text(&c, "h1").await, "Cung cấp thông tin, dữ liệu đất đai");
    let detail = text(&c, "main").await;
    assert!(
        detail.contains("Thành phần hồ sơ") && detail.contains("Phiếu yêu cầu cung cấp thông tin")
    );
    assert!(detail.contains("ngày làm việc"), "{detail}");
    check_accessibility(&c, "/thu-tuc/1.012789").await;

    // A wrong token: told so, the code kept in the form.
    c.goto(&format!("{web}/tra-cuu")).await.unwrap();
    check_accessibility(&c, "/tra-cuu").await;
    c.find(Locator::Css("#ma-ho-so"))
        .await
        .unwrap()
        .send_keys(&code)
        .await
        .unwrap();
    c.find(Locator::Css("#ma-tra-cuu"))
        .await
        .unwrap()
        .send_keys("SAISAISAI1")
        .await
        .unwrap();
    c.find(Locator::Css("#form-tra-cuu button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        text(&c, "[role=alert]")
            .await
            .contains("Không tìm thấy hồ sơ")
    );

    // The right token, typed: the status in Vietnamese and the masked name.
    c.find(Locator::Css("#ma-tra-cuu"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    c.find(Locator::Css("#form-tra-cuu button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status = text(&c, ".status-label").await;
    assert_eq!(status, "Đã tiếp nhận");
    let page = text(&c, "main").await;
    assert!(
        page.contains("N***** V** A*") && !page.contains("Nguyễn Văn An"),
        "{page}"
    );
    assert!(
        page.contains("Tiếp nhận hồ sơ"),
        "the public history: {page}"
    );
    check_accessibility(&c, "status").await;

    // The receipt's QR link, opened afresh: the status opens at once, and the token leaves the
    // address bar.
    c.goto(&format!("{web}/")).await.unwrap();
    assert_eq!(
        receipt.lookup_link,
        format!("{PUBLIC_URL}/tra-cuu#ma={code}&ma-tra-cuu={token}"),
        "the link intake prints on the receipt"
    );
    c.goto(&receipt.lookup_link.replace(PUBLIC_URL, &web))
        .await
        .unwrap();
    assert_eq!(text(&c, ".status-label").await, "Đã tiếp nhận");
    assert_eq!(text(&c, "h1").await, format!("Hồ sơ {code}"));
    // A second receipt's link opened in the same tab differs from the page shown only after
    // "#", so the browser does not load anything: the page follows the change to that dossier.
    c.goto(&second.lookup_link.replace(PUBLIC_URL, &web))
        .await
        .unwrap();
    let heading = format!("Hồ sơ {}", second.dossier_code);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while text(&c, "h1").await != heading {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second link still shows {}",
            text(&c, "h1").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains(&second.lookup_token),
        "the second token leaves the address bar too"
    );
    // No page of the history keeps the token: going back shows each as it is kept.
    c.back().await.unwrap();
    let url = c.current_url().await.unwrap();
    assert!(
        !url.as_str().contains(&token),
        "the token is not left in the history: {url}"
    );
    // The script takes the fragment off the address at once (seen where it has nothing to send).
    c.goto(&format!("{web}/tra-cuu#ma={code}")).await.unwrap();
    text(&c, "#form-tra-cuu").await;
    let url = c.current_url().await.unwrap();
    assert!(
        url.as_str().ends_with("/tra-cuu"),
        "the fragment is gone: {url}"
    );
    std::fs::write(
        std::env::temp_dir().join(format!("motcua-lookup-status-{}.png", app.id)),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    c.close().await.unwrap();

    // Without JavaScript: the same search and the same lookup, by the forms alone.
    let c = browser(&driver, false).await;
    c.goto(&format!("{web}/thu-tuc?q=tach+thua")).await.unwrap();
    assert!(
        text(&c, "ol.results")
            .await
            .contains("Tách thửa hoặc hợp thửa đất")
    );
    // The QR link opens the plain form (nothing runs to send it) saying what to do.
    c.goto(&receipt.lookup_link.replace(PUBLIC_URL, &web))
        .await
        .unwrap();
    assert!(text(&c, "main").await.contains("tắt JavaScript"));
    assert!(
        c.current_url().await.unwrap().as_str().contains("#ma="),
        "scripts are off in this browser"
    );
    c.find(Locator::Css("#ma-ho-so"))
        .await
        .unwrap()
        .send_keys(&code)
        .await
        .unwrap();
    c.find(Locator::Css("#ma-tra-cuu"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    c.find(Locator::Css("#form-tra-cuu button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text(&c, ".status-label").await, "Đã tiếp nhận");
    c.close().await.unwrap();
    drop(driver);
    app.stop().await;
}
