//! A browser test that fails before closing its session must leave no browser running: the
//! driver's drop stops chromedriver and the chromium it started.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_testkit::browser::{chromium, driver};
use std::process::Command;

/// Processes in the process group `group`.
fn members(group: u32) -> usize {
    let out = Command::new("pgrep")
        .args(["-g", &group.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_driver_stops_its_browser_too() {
    let d = driver().await;
    let group = d.pid();
    let c = chromium(&d, 800, 600, false).await;
    c.goto("about:blank").await.unwrap();
    assert!(
        members(group) > 1,
        "chromedriver and chromium run in the group"
    );
    // As a panicking test would: the session is never closed.
    drop(c);
    drop(d);
    let mut left = members(group);
    for _ in 0..50 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = members(group);
    }
    assert_eq!(left, 0, "processes of the browser's group are left");
}
