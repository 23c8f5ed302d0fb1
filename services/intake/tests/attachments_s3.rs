//! Attachments in a cluster live in object storage, not on a volume every replica shares: intake
//! with MOTCUA_ATTACHMENTS_S3_* puts each uploaded file in the bucket, under the key its row names,
//! byte for byte — against a real S3-compatible server (moto's, which `deploy/deps.sh --s3`
//! installs), started by the test on a port of its own. A store that refuses the write leaves no
//! attachment row behind.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_proto::intake::UploadAttachmentRequest;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The test's S3 server; killed when the test ends.
struct S3Server(Child);

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's server: MOTCUA_TEST_S3_SERVER, the one `deploy/deps.sh --s3` puts in .local, or PATH's.
fn s3_server_binary() -> String {
    if let Ok(path) = std::env::var("MOTCUA_TEST_S3_SERVER") {
        return path;
    }
    let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.local/s3-venv/bin/moto_server");
    if local.exists() {
        return local.display().to_string();
    }
    "moto_server".to_owned()
}

async fn start_s3() -> (S3Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(s3_server_binary())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server (deploy/deps.sh --s3 installs it in .local/s3-venv)");
    let server = S3Server(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(&endpoint).send().await.is_ok() {
            return (server, endpoint);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the test's S3 server did not answer on {endpoint}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_attachments_are_kept_in_the_bucket_byte_for_byte() {
    let (s3, endpoint) = start_s3().await;
    let http = reqwest::Client::new();
    let bucket = "motcua-attachments";
    let made = http
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "bucket: {}", made.status());

    let app = spawn_with(|v| {
        v.set("MOTCUA_ATTACHMENTS_S3_BUCKET", bucket);
        v.set("MOTCUA_ATTACHMENTS_S3_ENDPOINT", endpoint.clone());
        v.set("MOTCUA_ATTACHMENTS_S3_ACCESS_KEY_ID", "motcua-test");
        v.set(
            "MOTCUA_ATTACHMENTS_S3_SECRET_ACCESS_KEY",
            "motcua-test-secret",
        );
    })
    .await;
    let mut portal = app.portal().await;
    let scan: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let up = portal
        .upload_attachment(UploadAttachmentRequest {
            file_name: "ban-ve.pdf".into(),
            media_type: "application/pdf".into(),
            content: scan.clone(),
        })
        .await
        .expect("uploaded")
        .into_inner()
        .attachment
        .unwrap();
    let key: String = sqlx::query_scalar("SELECT storage_key FROM attachments WHERE id = $1::uuid")
        .bind(&up.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // Read back from the bucket as another replica would, with the same settings.
    let other_replica =
        motcua_intake::attachments::Attachments::open(&app.intake.attachments, 1 << 20).unwrap();
    let stored = other_replica.get(&key).await.unwrap();
    assert_eq!(stored.as_ref(), scan.as_slice(), "{key}");
    let listed = http
        .get(format!("{endpoint}/{bucket}?list-type=2"))
        .send()
        .await
        .unwrap();
    let listing = listed.text().await.unwrap();
    assert!(listing.contains(&key), "the bucket lists {key}: {listing}");

    // The store away: the upload fails as unavailable, and no attachment row points at content
    // that is not there.
    drop(s3);
    let refused = portal
        .upload_attachment(UploadAttachmentRequest {
            file_name: "ban-ve-2.pdf".into(),
            media_type: "application/pdf".into(),
            content: b"%PDF-1.4".to_vec(),
        })
        .await
        .expect_err("the store refuses");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert_eq!(app.count("SELECT count(*) FROM attachments").await, 1);
    app.stop().await;
}
