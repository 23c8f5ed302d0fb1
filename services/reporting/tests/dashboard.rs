//! The leaders' dashboard in a real headless browser (Debian's chromium through chromedriver;
//! `deploy/test.sh` installs both when missing): a leader signs in with a token, chooses March,
//! and sees Biểu 06, the charts with their text alternatives, the backlog, and downloads the
//! XLSX; strangers are sent to sign in. The page is saved as a screenshot for a person to look at
//! (`.local/screenshots/reporting-dashboard.png`; deploy/test.sh prints where).

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use fantoccini::Locator;
use motcua_domain::events::DossierEvent;
use motcua_domain::time::ts;
use motcua_platform::auth::Role;
use motcua_proto::common::{Channel, DossierStatus, Outcome};
use motcua_proto::events::{ChangeKind, DossierState, DossierStateChanged};
use motcua_reporting::form06::Agencies;
use motcua_testkit::browser::{chromium, driver};
use std::time::Duration;

fn token(roles: &[Role]) -> String {
    motcua_testkit::token(roles, A, "", "ld-1")
}

/// A dossier's last state: received, due, and maybe finished with an outcome.
fn fact(
    code: &str,
    field: &str,
    received: &str,
    due: &str,
    finished: Option<(&str, Outcome)>,
) -> DossierEvent {
    let mut s = DossierState {
        dossier_code: code.into(),
        version: 5,
        status: DossierStatus::InProgress as i32,
        procedure_code: "1.013831".into(),
        procedure_version: 1,
        procedure_name: "Thủ tục".into(),
        field: field.into(),
        receiving_agency: A.into(),
        competent_agency: A.into(),
        channel: Channel::Counter as i32,
        received_at: Some(ts(vn(received))),
        due_at: Some(ts(vn(due))),
        current_department: "van-phong-dang-ky-dat-dai".into(),
        ..Default::default()
    };
    if let Some((at, outcome)) = finished {
        s.status = DossierStatus::Finished as i32;
        s.finished_at = Some(ts(vn(at)));
        s.outcome = outcome as i32;
    }
    DossierEvent::StateChanged(DossierStateChanged {
        state: Some(s),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_signs_in_and_sees_form06_charts_backlog_and_downloads() {
    let app = Reporting::start(vn("2026-04-10T09:00:00")).await;
    let (web, http, pool) = (&app.web, &app.http, &app.pool);
    let mut tx = pool.begin().await.unwrap();
    for e in [
        fact(
            "D-1",
            "dat-dai",
            "2026-03-02T09:00:00",
            "2026-03-16T16:00:00",
            Some(("2026-03-10T10:00:00", Outcome::Early)),
        ),
        fact(
            "D-2",
            "dat-dai",
            "2026-03-03T09:00:00",
            "2026-03-17T16:00:00",
            Some(("2026-03-17T15:00:00", Outcome::OnTime)),
        ),
        fact(
            "D-3",
            "dat-dai",
            "2026-03-04T09:00:00",
            "2026-03-18T16:00:00",
            Some(("2026-03-25T10:00:00", Outcome::Late)),
        ),
        fact(
            "D-4",
            "dat-dai",
            "2026-03-20T09:00:00",
            "2026-04-03T16:00:00",
            None,
        ),
        fact(
            "D-5",
            "khoang-san",
            "2026-03-21T09:00:00",
            "2026-04-20T16:00:00",
            None,
        ),
    ] {
        motcua_reporting::consume::apply(&mut tx, &e).await.unwrap();
    }
    tx.commit().await.unwrap();

    // Strangers get no report; another site cannot sign a browser in (login CSRF).
    let r = http
        .get(format!("{web}/bieu-06.xlsx"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{web}/dang-nhap"))
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", token(&[Role::Leader])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());

    let driver = driver().await;
    let c = chromium(&driver, 1280, 1800, true).await;
    c.goto(web).await.unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/dang-nhap"),
        "sent to sign in"
    );
    // A desk officer's token is refused; a leader's opens the dashboard.
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(&token(&[Role::Desk]))
        .await
        .unwrap();
    c.find(Locator::Css("form.form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let alert = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".alert"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(alert.contains("lãnh đạo"), "{alert}");
    let leader = token(&[Role::Leader]);
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(&leader)
        .await
        .unwrap();
    c.find(Locator::Css("form.form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The dashboard (only it has the sign-out form) once the browser has followed the redirect.
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("form.account"))
        .await
        .unwrap();
    let h1 = c
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(h1, "Tình hình, kết quả giải quyết thủ tục hành chính");
    let cookies = c.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|k| k.name() == "__Host-motcua_phien")
        .unwrap();
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.secure(), Some(true));
    // The cookie names a session; the token it was opened with is not in it.
    assert!(!leader.contains(session.value()) && !session.value().contains(&leader));
    assert_eq!(session.value().len(), 64, "{}", session.value());

    // Choose March by its days.
    c.find(Locator::Css("#ky option[value='tuy-chon']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Id("tu"))
        .await
        .unwrap()
        .send_keys("03/01/2026")
        .await
        .unwrap();
    let page_query = format!("{web}/?ky=tuy-chon&tu=2026-03-01&den=2026-03-31");
    c.goto(&page_query).await.unwrap();
    let line = c
        .find(Locator::Css(".period-line"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        line.contains("từ ngày 01/03/2026 đến ngày 31/03/2026"),
        "{line}"
    );
    assert!(line.contains("Sở Nông nghiệp và Môi trường"), "{line}");
    let rows = c
        .find_all(Locator::Css("table.form06 tbody tr"))
        .await
        .unwrap();
    let mut texts = Vec::new();
    for r in &rows {
        texts.push(r.text().await.unwrap());
    }
    assert_eq!(
        texts,
        [
            "1 Đất đai 4 0 4 0 3 1 1 1 1 1 0",
            "2 Khoáng sản 1 0 1 0 0 0 0 0 1 1 0"
        ]
    );
    let total = c
        .find(Locator::Css("table.form06 tfoot tr"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(total, "Tổng cộng 5 0 5 0 3 1 1 1 2 2 0");
    // The shares as gRPC and the files say them: of the three classified, making 100%.
    let shares = c
        .find(Locator::Css("p.percentages"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        shares,
        "Tỷ lệ trên 3 hồ sơ đã giải quyết có tính hạn (cột (8) + (9) + (10)): trước hạn 33,4%, đúng hạn 33,3%, quá hạn 33,3%; trước hạn và đúng hạn 66,7%."
    );
    // The charts say in words what they draw.
    let desc = c
        .find(Locator::Id("ket-qua-desc"))
        .await
        .unwrap()
        .html(true)
        .await
        .unwrap();
    assert!(
        desc.contains("Đất đai: trước hạn 1, đúng hạn 1, quá hạn 1"),
        "{desc}"
    );
    let desc = c
        .find(Locator::Id("xu-huong-desc"))
        .await
        .unwrap()
        .html(true)
        .await
        .unwrap();
    assert!(
        desc.contains("03/2026: tiếp nhận 5, đã giải quyết 3"),
        "{desc}"
    );
    let bars = c.find_all(Locator::Css("svg.chart rect")).await.unwrap();
    assert!(bars.len() >= 5, "bars drawn");
    // The backlog now (10 April): D-4 is overdue, D-5 is not.
    let backlog = c
        .find(Locator::Css("#qua-han + .table-scroll tbody"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        backlog.contains("Văn phòng Đăng ký đất đai Chưa phân công"),
        "{backlog}"
    );
    assert!(
        backlog.contains("2 1 0 0"),
        "two in progress, one overdue: {backlog}"
    );

    let screenshots = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.local/screenshots");
    std::fs::create_dir_all(screenshots).unwrap();
    std::fs::write(
        format!("{screenshots}/reporting-dashboard.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // The XLSX link downloads the same figures with the session.
    let link = c
        .find(Locator::LinkText("Biểu 06 (XLSX)"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let r = with_session(http, &format!("{web}{link}"), session.value()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("bieu-06_2026-03-01_2026-03-31.xlsx")
    );
    assert_eq!(
        &r.bytes().await.unwrap()[..2],
        b"PK",
        "a zip: an XLSX workbook"
    );

    // Signing out ends the session.
    c.find(Locator::Css("form.account button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.goto(&page_query).await.unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("/dang-nhap")
    );
    c.close().await.unwrap();
    // Everywhere: the cookie's value, copied before, opens nothing any more.
    let r = with_session(http, &format!("{web}{link}"), session.value()).await;
    assert_eq!(r.status(), 401, "a session signed out of is over");

    // Per officer: a step completed by its due time, and one after.
    let change = |version: u64, kind: ChangeKind, at: &str, actor: &str, due: &str| {
        let mut s = match fact(
            "D-6",
            "dat-dai",
            "2026-03-05T09:00:00",
            "2026-03-20T16:00:00",
            None,
        ) {
            DossierEvent::StateChanged(c) => c.state.unwrap(),
            _ => unreachable!(),
        };
        s.version = version;
        s.current_step = format!("buoc-{version}");
        s.step_due_at = Some(ts(vn(due)));
        DossierEvent::StateChanged(DossierStateChanged {
            state: Some(s),
            kind: kind as i32,
            at: Some(ts(vn(at))),
            actor: Some(motcua_proto::common::Actor {
                subject: actor.into(),
                name: format!("Cán bộ {actor}"),
                agency: A.into(),
            }),
            ..Default::default()
        })
    };
    let mut tx = pool.begin().await.unwrap();
    // Out of order on purpose: the steps pair up by version whatever the order.
    for e in [
        change(
            4,
            ChangeKind::Forwarded,
            "2026-03-14T10:00:00",
            "ld-1",
            "2026-03-20T16:00:00",
        ),
        change(
            2,
            ChangeKind::Opened,
            "2026-03-05T09:00:00",
            "",
            "2026-03-12T16:00:00",
        ),
        change(
            3,
            ChangeKind::Forwarded,
            "2026-03-11T10:00:00",
            "cv-1",
            "2026-03-13T16:00:00",
        ),
    ] {
        motcua_reporting::consume::apply(&mut tx, &e).await.unwrap();
    }
    tx.commit().await.unwrap();
    let march = motcua_reporting::periods::Days {
        from: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        to: chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
    };
    let officers = motcua_reporting::views::officers(pool, march, &Agencies::One(A.into()))
        .await
        .unwrap();
    let got: Vec<(&str, u64, u64, u64, f64)> = officers
        .iter()
        .map(|o| {
            (
                o.officer.as_str(),
                o.completed,
                o.on_time,
                o.late,
                o.on_time_percent,
            )
        })
        .collect();
    assert_eq!(got, [("cv-1", 1, 1, 0, 100.0), ("ld-1", 1, 0, 1, 0.0)]);

    app.stop().await;
}
