//! A cluster's NATS: TLS with the cluster's own CA, and only users it knows (an NKey here; a
//! `.creds` file carries one the same way). The bus connects with the settings' seed and CA, and
//! without either it is kept out — against a nats-server of the test's own, configured so.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_platform::bus::Bus;
use motcua_platform::config::{NatsAuth, ServerUrl, Settings, Vars};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The test's nats-server and its folder, both gone when the test ends.
struct OwnNats {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl on PATH");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a certificate it signed for 127.0.0.1, and a server that takes TLS only and one NKey user.
fn start_nats(user_public_key: &str) -> (OwnNats, u16) {
    let dir = std::env::temp_dir().join(format!(
        "motcua-nats-auth-{}",
        motcua_testkit::scratch::new_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=motcua test CA",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("san.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "san.cnf",
        ],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    std::fs::write(
        dir.join("nats.conf"),
        format!(
            "listen: 127.0.0.1:{port}\n\
             tls {{ cert_file: \"{d}/server.pem\", key_file: \"{d}/server.key\" }}\n\
             authorization {{ users = [ {{ nkey: \"{user_public_key}\" }} ] }}\n"
        ),
    )
    .unwrap();
    let child = Command::new(
        std::env::var("MOTCUA_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into()),
    )
    .arg("-c")
    .arg(dir.join("nats.conf"))
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("nats-server on PATH (deploy/deps.sh installs it)");
    let nats = OwnNats { child, dir };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (nats, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the test's nats-server did not listen");
}

/// Whether the bus gets through to the server within `secs`: a round trip answered (the client
/// connects in the background, so a flush before it has connected fails and is tried again; a
/// loaded machine takes a while for the first TLS handshake; a refused client never gets through).
async fn gets_through(bus: &Bus, secs: u64) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), bus.client.flush()).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_connects_with_its_nkey_over_tls_to_the_clusters_ca_and_is_kept_out_without() {
    let user = nkeys::KeyPair::new_user();
    let (nats, port) = start_nats(&user.public_key());
    let seed_file = nats.dir.join("motcua.nk");
    std::fs::write(&seed_file, format!("{}\n", user.seed().unwrap())).unwrap();
    let ca_file = nats.dir.join("ca.pem");
    let url = format!("nats://127.0.0.1:{port}");

    // As a pod's settings give them: files mounted from Secrets.
    let settings = Settings::from_vars(&Vars::from_pairs([
        ("MOTCUA_NATS_URL", url.clone()),
        ("MOTCUA_NATS_NKEY_FILE", seed_file.display().to_string()),
        ("MOTCUA_NATS_CA_FILE", ca_file.display().to_string()),
    ]))
    .unwrap();
    let bus = Bus::from_settings(&settings).await.unwrap();
    assert!(
        gets_through(&bus, 30).await,
        "the NKey over TLS gets through"
    );
    bus.client
        .publish("motcua.auth-check", "x".into())
        .await
        .unwrap();
    assert!(gets_through(&bus, 30).await, "and may publish");

    let url = ServerUrl::new(&url);
    let without_key = NatsAuth {
        ca_file: Some(ca_file.clone()),
        ..NatsAuth::default()
    };
    let stranger = Bus::connect_with(&url, "", &without_key).await.unwrap();
    assert!(!gets_through(&stranger, 3).await, "no NKey, no entry");
    let other = nkeys::KeyPair::new_user();
    let other_seed = nats.dir.join("other.nk");
    std::fs::write(&other_seed, other.seed().unwrap()).unwrap();
    let unknown = NatsAuth {
        nkey_file: Some(other_seed),
        ca_file: Some(ca_file),
        ..NatsAuth::default()
    };
    let stranger = Bus::connect_with(&url, "", &unknown).await.unwrap();
    assert!(
        !gets_through(&stranger, 3).await,
        "a key the server does not know, no entry"
    );
    let without_ca = NatsAuth {
        nkey_file: Some(seed_file),
        ..NatsAuth::default()
    };
    let untrusting = Bus::connect_with(&url, "", &without_ca).await.unwrap();
    assert!(
        !gets_through(&untrusting, 3).await,
        "a server certificate of an unknown CA is not trusted"
    );
}

#[test]
fn nats_files_that_are_not_there_or_both_kinds_of_key_are_refused_at_start() {
    let missing = Settings::from_vars(&Vars::from_pairs([(
        "MOTCUA_NATS_CA_FILE",
        "/nonexistent/motcua-ca.pem",
    )]))
    .unwrap_err();
    assert_eq!(missing.var, "MOTCUA_NATS_CA_FILE");
    assert!(missing.to_string().contains("no such file"), "{missing}");
    let file =
        std::env::temp_dir().join(format!("motcua-{}.nk", motcua_testkit::scratch::new_id()));
    std::fs::write(&file, "x").unwrap();
    let both = Settings::from_vars(&Vars::from_pairs([
        ("MOTCUA_NATS_NKEY_FILE", file.display().to_string()),
        ("MOTCUA_NATS_CREDENTIALS_FILE", file.display().to_string()),
    ]))
    .unwrap_err();
    std::fs::remove_file(&file).unwrap();
    assert!(both.to_string().contains("not both"), "{both}");
}
