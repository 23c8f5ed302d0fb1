//! `motcua calendar …` as a script sees it: stdout, stderr and the exit code of the real binary.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use std::process::{Command, Output};

fn motcua(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_motcua"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = motcua(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Exit 2 and one line naming the argument.
fn bad(args: &[&str], names: &str) {
    let out = motcua(args);
    assert_eq!(out.status.code(), Some(2), "{args:?} should exit 2");
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(names), "{err:?} should name {names:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn lunar_and_solar() {
    assert_eq!(ok(&["calendar", "lunar", "2025-01-29"]), "2025-01-01\n");
    assert_eq!(
        ok(&["calendar", "lunar", "2023-03-22"]),
        "2023-02-01 leap\n"
    );
    assert_eq!(
        ok(&["calendar", "solar", "2023-02-01", "--leap"]),
        "2023-03-22\n"
    );
    assert_eq!(ok(&["calendar", "solar", "2023-02-01"]), "2023-02-20\n");
    bad(&["calendar", "lunar", "2025-02-30"], "2025-02-30");
    bad(
        &["calendar", "solar", "2024-03-01", "--leap"],
        "no leap month 3",
    );
    bad(
        &["calendar", "lunar", "1800-01-01"],
        "outside the supported range",
    );
}

#[test]
fn holidays_in_date_order_then_workdays() {
    let out = ok(&["calendar", "holidays", "2025"]);
    let dates: Vec<&str> = out
        .lines()
        .map(|l| l.split('\t').next().expect("date"))
        .collect();
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted);
    assert!(out.contains("2025-01-27\tTết Nguyên đán"), "{out}");
    assert!(
        !out.contains("2025-02-03"),
        "the 2025 notice moved the compensatory day: {out}"
    );
    assert!(
        ok(&["calendar", "holidays", "2025", "--no-overrides"]).contains("2025-02-03\tNghỉ bù")
    );

    let dir = std::env::temp_dir().join(format!("motcua-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("o.toml");
    std::fs::write(&file, "[[day_off]]\ndate = \"2024-04-29\"\nreason = \"Hoán đổi\"\nsource = \"t\"\n[[workday]]\ndate = \"2024-05-04\"\nsource = \"t\"\n").expect("write");
    let out = ok(&[
        "calendar",
        "holidays",
        "2024",
        "--overrides",
        file.to_str().expect("utf-8"),
    ]);
    assert!(out.contains("2024-04-29\tHoán đổi\n"));
    assert!(out.ends_with("2024-05-04\tworkday\n"), "{out}");

    std::fs::write(
        &file,
        "[[day_off]]\ndate = \"2024-13-01\"\nreason = \"x\"\nsource = \"t\"\n",
    )
    .expect("write");
    bad(
        &[
            "calendar",
            "holidays",
            "2024",
            "--overrides",
            file.to_str().expect("utf-8"),
        ],
        "--overrides",
    );
    std::fs::write(&file, "[[day_off]]\ndate = \"2024-01-02\"\nmood = \"x\"\n").expect("write");
    bad(
        &[
            "calendar",
            "holidays",
            "2024",
            "--overrides",
            file.to_str().expect("utf-8"),
        ],
        "mood",
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn due_and_classify() {
    let due = |extra: &[&str]| {
        let mut args = vec![
            "calendar",
            "due",
            "--received",
            "2024-04-22T08:00:00+07:00",
            "--no-overrides",
        ];
        args.extend_from_slice(extra);
        ok(&args)
    };
    assert_eq!(due(&["--days", "5"]), "2024-04-29T08:00:00+07:00\n");
    assert_eq!(
        due(&[
            "--days",
            "5",
            "--pause",
            "2024-04-26T08:00:00+07:00/2024-05-02T08:00:00+07:00"
        ]),
        "2024-05-03T08:00:00+07:00\n"
    );
    assert_eq!(due(&["--hours", "4"]), "2024-04-22T14:00:00+07:00\n");
    assert_eq!(
        ok(&[
            "calendar",
            "due",
            "--received",
            "2025-03-03T15:30:00+07:00",
            "--days",
            "1",
            "--cutoff",
            "15:00"
        ]),
        "2025-03-04T17:00:00+07:00\n"
    );
    assert_eq!(
        ok(&[
            "calendar",
            "classify",
            "--due",
            "2025-03-04T09:00:00+07:00",
            "--finished",
            "2025-03-03T16:00:00+07:00"
        ]),
        "early\n"
    );
    assert_eq!(
        ok(&[
            "calendar",
            "classify",
            "--due",
            "2025-03-04T09:00:00+07:00",
            "--finished",
            "2025-03-04T08:00:00+07:00"
        ]),
        "on_time\n"
    );
    assert_eq!(
        ok(&[
            "calendar",
            "classify",
            "--due",
            "2025-03-04T09:00:00+07:00",
            "--finished",
            "2025-03-04T09:30:00+07:00"
        ]),
        "late\n"
    );
}

#[test]
fn due_bad_input_names_the_argument() {
    let r = ["calendar", "due", "--received", "2025-03-03T09:00:00+07:00"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { [&r[..], extra].concat() };
    bad(&with(&["--days", "-3"]), "--days");
    bad(&with(&["--days", "three"]), "--days");
    bad(
        &["calendar", "due", "--received", "yesterday", "--days", "1"],
        "--received",
    );
    bad(&with(&["--days", "1", "--cutoff", "25:00"]), "--cutoff");
    bad(
        &with(&["--days", "1", "--pause", "2025-03-04T09:00:00+07:00"]),
        "--pause",
    );
    bad(
        &with(&[
            "--days",
            "1",
            "--pause",
            "2025-03-05T09:00:00+07:00/2025-03-04T09:00:00+07:00",
        ]),
        "ends before it starts",
    );
    bad(
        &with(&[
            "--days",
            "1",
            "--pause",
            "2025-03-04T09:00:00+07:00/2025-03-05T09:00:00+07:00",
            "--pause",
            "2025-03-04T10:00:00+07:00/2025-03-06T09:00:00+07:00",
        ]),
        "overlap",
    );
    bad(&with(&[]), "--days");
    bad(&with(&["--days", "1", "--hours", "2"]), "--hours");
    bad(
        &[
            "calendar",
            "classify",
            "--due",
            "2025-03-04",
            "--finished",
            "2025-03-04T09:30:00+07:00",
        ],
        "--due",
    );
}
