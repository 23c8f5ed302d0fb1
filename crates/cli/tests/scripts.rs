//! deploy/up.sh and deploy/down.sh as a newcomer meets them after a crash: a stale pid file is not
//! believed, the crashed run's log is kept, and a pid reused by another process is left alone.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn script(name: &str, state: &Path, id: &str) -> Output {
    Command::new(root().join("deploy").join(name))
        .env("MOTCUA_STATE_DIR", state)
        .env("MOTCUA_DATABASE_PREFIX", format!("t_{id}"))
        .env("MOTCUA_DEVELOPMENT", "true")
        .env("MOTCUA_BUS_PREFIX", format!("t{id}."))
        .env("MOTCUA_INTAKE_GRPC_ADDR", "127.0.0.1:0")
        .env("MOTCUA_WORKFLOW_GRPC_ADDR", "127.0.0.1:0")
        .env("MOTCUA_LOOKUP_GRPC_ADDR", "127.0.0.1:0")
        .env("MOTCUA_LOOKUP_HTTP_ADDR", "127.0.0.1:0")
        .env("MOTCUA_NOTIFICATION_GRPC_ADDR", "127.0.0.1:0")
        .env("MOTCUA_NOTIFICATION_HTTP_ADDR", "127.0.0.1:0")
        .env("MOTCUA_REPORTING_GRPC_ADDR", "127.0.0.1:0")
        .env("MOTCUA_REPORTING_HTTP_ADDR", "127.0.0.1:0")
        .env("MOTCUA_METRICS_ADDR", "off")
        .env("MOTCUA_ATTACHMENTS_DIR", state.join("attachments"))
        .env("MOTCUA_DOSSIER_EVENTS_MAX_BYTES", (16u64 << 20).to_string())
        .env("MOTCUA_CATALOG_EVENTS_MAX_BYTES", (16u64 << 20).to_string())
        .env("MOTCUA_DEAD_LETTERS_MAX_BYTES", (16u64 << 20).to_string())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Stops what up.sh started when a test fails half-way (down.sh is idempotent).
struct Down<'a>(&'a Path, &'a str);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        script("down.sh", self.0, self.1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_after_a_crash_starts_motcua_and_keeps_the_crashed_log() {
    // Every database up.sh's services make (all five) and every stream go, however the test ends.
    let scratch = motcua_testkit::scratch::Scratch::new();
    let id = scratch.id().to_owned();
    let state = std::env::temp_dir().join(format!("motcua-up-{id}"));
    std::fs::create_dir_all(&state).unwrap();
    let _down = Down(&state, &id);
    // What a crash leaves: a log with its last words, and a pid file whose pid is now someone else's.
    std::fs::write(
        state.join("motcua.log"),
        "panicked at the end of the world\n",
    )
    .unwrap();
    // Alive for the whole test, however slow the build up.sh starts with (it is killed at the end).
    let mut stranger = Command::new("sleep").arg("3600").spawn().unwrap();
    std::fs::write(state.join("motcua.pid"), stranger.id().to_string()).unwrap();

    let up = script("up.sh", &state, &id);
    let out = text(&up);
    assert!(up.status.success(), "{out}");
    assert!(!out.contains("already running"), "{out}");
    assert!(
        out.contains("the pid file names no running motcua"),
        "{out}"
    );
    assert!(out.contains("intake     grpc://127.0.0.1:"), "{out}");
    assert!(out.contains("lookup     http://127.0.0.1:"), "{out}");
    let kept = std::fs::read_to_string(state.join("motcua.log.1")).unwrap();
    assert!(kept.contains("panicked at the end of the world"), "{kept}");
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "the stranger was not touched"
    );

    // Run again: this time it really is running.
    let again = script("up.sh", &state, &id);
    assert!(text(&again).contains("already running"), "{}", text(&again));

    let down = script("down.sh", &state, &id);
    assert!(text(&down).contains("motcua stopped"), "{}", text(&down));
    // A pid file naming another process: down.sh leaves that process alone.
    std::fs::write(state.join("motcua.pid"), stranger.id().to_string()).unwrap();
    let down = script("down.sh", &state, &id);
    assert!(text(&down).contains("not running"), "{}", text(&down));
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "down.sh did not kill a stranger"
    );
    let _ = stranger.kill();
    let _ = stranger.wait();
    scratch.remove().await.unwrap();
    let _ = std::fs::remove_dir_all(&state);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn the_breaking_change_check_compares_with_the_released_contracts_not_with_itself() {
    // A copy of the project's contracts and script, as a clean clone has them.
    let dir = std::env::temp_dir().join(format!("motcua-buf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(&root().join("proto"), &dir.join("proto"));
    std::fs::create_dir_all(dir.join("deploy")).unwrap();
    std::fs::copy(root().join("deploy/buf.sh"), dir.join("deploy/buf.sh")).unwrap();
    let modules = root().join("proto/node_modules");
    if modules.exists() {
        std::os::unix::fs::symlink(&modules, dir.join("proto/node_modules")).unwrap();
    }
    let run = || Command::new(dir.join("deploy/buf.sh")).output().unwrap();
    let clean = run();
    assert!(clean.status.success(), "{}", text(&clean));

    // A released field renumbered: refused, although the change is committed nowhere.
    let intake = dir.join("proto/motcua/intake/v1/intake.proto");
    let source = std::fs::read_to_string(&intake).unwrap();
    std::fs::write(
        &intake,
        source.replace("string procedure_code = 2;", "string procedure_code = 22;"),
    )
    .unwrap();
    let broken = run();
    assert!(
        !broken.status.success(),
        "a renumbered released field passed"
    );
    assert!(
        text(&broken).contains("procedure_code"),
        "{}",
        text(&broken)
    );
    std::fs::write(&intake, source).unwrap();

    // A draft package (its service has not landed; every service's has now, so the test adds
    // one) passes, and may still be reshaped.
    let draft = dir.join("proto/motcua/draft/v1/draft.proto");
    std::fs::create_dir_all(draft.parent().unwrap()).unwrap();
    let first = "syntax = \"proto3\";\n\npackage motcua.draft.v1;\n\nmessage Draft {\n  string name = 1;\n}\n";
    std::fs::write(&draft, first).unwrap();
    let drafted = run();
    assert!(drafted.status.success(), "{}", text(&drafted));
    std::fs::write(&draft, first.replace(" = 1;", " = 41;")).unwrap();
    let reshaped = run();
    assert!(reshaped.status.success(), "{}", text(&reshaped));
    let _ = std::fs::remove_dir_all(&dir);
}
