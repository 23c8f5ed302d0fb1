//! Biểu 06 on a generated history with known answers, against the real PostgreSQL and NATS:
//! dossiers received before, within and after the period, finished exactly at its boundaries,
//! paused across its end, apologised, refused, withdrawn, rejected at intake — checked cell by
//! cell for several periods, with every event delivered twice and in reverse order.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_domain::time::ts;
use motcua_platform::auth::Role;
use motcua_proto::common::{Channel, DossierStatus, Outcome, PauseReason, StopKind};
use motcua_proto::events::{
    ChangeKind, DossierState, DossierStateChanged, DossierSubmitted, RejectedAtIntake,
};
use motcua_proto::reporting::*;
use prost::Message;
use std::time::Duration;

/// A dossier's final state, built field by field.
struct D {
    code: &'static str,
    agency: &'static str,
    field: &'static str,
    channel: Channel,
    received: &'static str,
    due: &'static str,
    finished: Option<(&'static str, Outcome)>,
    stopped: Option<(&'static str, StopKind)>,
    rejected: bool,
    paused: bool,
}

impl D {
    fn new(code: &'static str, received: &'static str, due: &'static str) -> Self {
        D {
            code,
            agency: A,
            field: "dat-dai",
            channel: Channel::Counter,
            received,
            due,
            finished: None,
            stopped: None,
            rejected: false,
            paused: false,
        }
    }

    fn state(&self, version: u64, last: bool) -> DossierState {
        let mut s = DossierState {
            dossier_code: self.code.into(),
            version,
            status: DossierStatus::Received as i32,
            procedure_code: if self.field == "dat-dai" {
                "1.013831"
            } else {
                "1.004227"
            }
            .into(),
            procedure_version: 1,
            procedure_name: "Thủ tục".into(),
            field: self.field.into(),
            receiving_agency: self.agency.into(),
            competent_agency: self.agency.into(),
            channel: self.channel as i32,
            received_at: Some(ts(vn(self.received))),
            due_at: Some(ts(vn(self.due))),
            original_due_at: Some(ts(vn(self.due))),
            ..Default::default()
        };
        if last {
            if let Some((at, outcome)) = self.finished {
                s.status = DossierStatus::Finished as i32;
                s.finished_at = Some(ts(vn(at)));
                s.outcome = outcome as i32;
            }
            if let Some((at, kind)) = self.stopped {
                s.status = DossierStatus::Stopped as i32;
                s.stopped_at = Some(ts(vn(at)));
                s.stop_kind = kind as i32;
            }
            if self.paused {
                s.status = DossierStatus::SupplementRequested as i32;
                s.paused = PauseReason::Supplement as i32;
                s.supplement_requests = 2;
                s.paused_since = Some(ts(vn("2026-03-20T10:00:00")));
            }
        }
        s
    }

    /// The events that carry it: submitted (version 1) and its last state (version 5), or the
    /// rejection.
    fn events(&self) -> Vec<(&'static str, Vec<u8>)> {
        if self.rejected {
            let mut s = self.state(1, false);
            s.status = DossierStatus::RejectedAtIntake as i32;
            s.stopped_at = s.received_at;
            return vec![(
                "rejected-at-intake",
                RejectedAtIntake {
                    state: Some(s),
                    ..Default::default()
                }
                .encode_to_vec(),
            )];
        }
        vec![
            (
                "submitted",
                DossierSubmitted {
                    state: Some(self.state(1, false)),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            (
                "state-changed",
                DossierStateChanged {
                    state: Some(self.state(5, true)),
                    kind: ChangeKind::Forwarded as i32,
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ]
    }
}

fn history() -> Vec<D> {
    let mut v = Vec::new();
    // Received before March, never finished; due on 10 March.
    v.push(D::new("A-01", "2026-02-20T09:00:00", "2026-03-10T16:00:00"));
    // Received and finished before March.
    let mut d = D::new("A-02", "2026-02-10T09:00:00", "2026-02-27T16:00:00");
    d.finished = Some(("2026-02-25T10:00:00", Outcome::Early));
    v.push(d);
    // Finished exactly at March's first instant.
    let mut d = D::new("A-03", "2026-02-10T09:00:00", "2026-03-05T16:00:00");
    d.finished = Some(("2026-03-01T00:00:00", Outcome::Early));
    v.push(d);
    // Online in March, finished on time in March.
    let mut d = D::new("A-04", "2026-03-05T09:00:00", "2026-03-20T16:00:00");
    d.channel = Channel::Online;
    d.finished = Some(("2026-03-20T15:00:00", Outcome::OnTime));
    v.push(d);
    // Finished exactly at the first instant after March: still in progress at March's end.
    let mut d = D::new("A-05", "2026-03-05T10:00:00", "2026-03-25T16:00:00");
    d.finished = Some(("2026-04-01T00:00:00", Outcome::Late));
    v.push(d);
    // By post, one second before March ends.
    let mut d = D::new("A-06", "2026-03-31T23:59:59", "2026-04-15T16:00:00");
    d.channel = Channel::Postal;
    v.push(d);
    // Received at April's first instant: not in March.
    v.push(D::new("A-07", "2026-04-01T00:00:00", "2026-04-20T16:00:00"));
    // Refused in March.
    let mut d = D::new("A-08", "2026-03-10T09:00:00", "2026-03-24T16:00:00");
    d.stopped = Some(("2026-03-15T10:00:00", StopKind::Refused));
    v.push(d);
    // Apologised, finished late in March.
    let mut d = D::new("A-09", "2026-03-02T09:00:00", "2026-03-16T16:00:00");
    d.finished = Some(("2026-03-28T10:00:00", Outcome::Late));
    v.push(d);
    // Rejected at intake in March: counted nowhere.
    let mut d = D::new("A-10", "2026-03-03T09:00:00", "2026-03-20T16:00:00");
    d.rejected = true;
    v.push(d);
    // Environment: paused for a second supplement across March's end.
    let mut d = D::new("A-11", "2026-03-03T09:00:00", "2026-04-20T16:00:00");
    d.field = "moi-truong";
    d.paused = true;
    v.push(d);
    // Received in January, withdrawn in March.
    let mut d = D::new("A-12", "2026-01-05T09:00:00", "2026-01-30T16:00:00");
    d.stopped = Some(("2026-03-12T09:00:00", StopKind::Withdrawn));
    v.push(d);
    // Another agency.
    let mut d = D::new("B-01", "2026-03-04T09:00:00", "2026-03-20T16:00:00");
    d.agency = B;
    v.push(d);
    v
}

async fn form06(
    client: &mut Client,
    request: GetForm06Request,
) -> Result<GetForm06Response, tonic::Status> {
    client.get_form06(request).await.map(|r| r.into_inner())
}

fn custom(from: &str, to: &str) -> Option<Period> {
    Some(Period {
        kind: PeriodKind::Custom as i32,
        from: from.into(),
        to: to.into(),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form06_on_a_known_history_cell_by_cell_for_several_periods() {
    let app = Reporting::start(vn("2026-05-01T09:00:00")).await;
    let (bus, pool) = (&app.bus, &app.pool);
    // Every event twice: in order with fresh ids, then in reverse order with the same ids (a
    // redelivery, a second relay), so the newest state must win whatever the order.
    let mut events = Vec::new();
    for d in history() {
        for (t, p) in d.events() {
            events.push((d.field, t, uuid::Uuid::now_v7(), p));
        }
    }
    // In order first (each dossier's counts move from its submitted state to its last), then
    // again in reverse with the same ids.
    for (f, t, id, p) in events.iter() {
        app.publish_as(&format!("dossier.{f}.{t}"), t, *id, p.clone())
            .await;
    }
    for (f, t, id, p) in events.iter().rev() {
        app.publish_as(&format!("dossier.{f}.{t}"), t, *id, p.clone())
            .await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM facts WHERE version = 5 OR rejected")
            .fetch_one(pool)
            .await
            .unwrap_or(0);
        if n == 13 {
            // And every event handled (the duplicates too).
            let pending: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM processed_events WHERE consumer = 'reporting-dossiers'",
            )
            .fetch_one(pool)
            .await
            .unwrap_or(0);
            if pending as usize == events.len() {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "facts never complete"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A's leader, and the admin of the province (A's and B's).
    let mut leader = app.client(&motcua_testkit::token(&[Role::Leader], A, "", "ld-1"));
    let mut admin = app.client(&motcua_testkit::province_admin_token(A, "qt-1"));

    // March 2026 as a range of days, agency A, asked by its leader.
    let march = form06(
        &mut leader,
        GetForm06Request {
            period: custom("2026-03-01", "2026-03-31"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (march.from.as_str(), march.to.as_str()),
        ("2026-03-01", "2026-03-31")
    );
    let rows: Vec<(&str, &str, [u64; 12])> = march
        .rows
        .iter()
        .map(|r| (r.agency.as_str(), r.field.as_str(), cells(r)))
        .collect();
    assert_eq!(
        rows,
        [
            //                    (3) (4) (5) (6) (7) (8) (9)(10) unc (11)(12)(13)
            (A, "dat-dai", [8, 1, 4, 3, 5, 1, 1, 1, 2, 3, 1, 2]),
            (A, "moi-truong", [1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0]),
        ]
    );
    assert_eq!(march.rows[0].field_name, "Đất đai");
    assert_eq!(
        cells(march.total.as_ref().unwrap()),
        [9, 1, 5, 3, 5, 1, 1, 1, 2, 4, 2, 2]
    );
    // Of the 5 resolved, 2 were refused or withdrawn: the shares are of the 3 classified, one
    // early, one on time, one late, and make 100%.
    assert_eq!(
        (
            march.early_percent,
            march.on_time_percent,
            march.late_percent,
            march.on_time_rate_percent
        ),
        (33.4, 33.3, 33.3, 66.7)
    );
    assert_eq!(
        ((march.early_percent + march.on_time_percent + march.late_percent) * 10.0).round(),
        1000.0
    );
    assert_eq!(march.in_progress_at, "2026-04-01T00:00:00+07:00");

    // Quarter 1 of 2026: 15/12/2025 to 14/3/2026.
    let q1 = form06(
        &mut leader,
        GetForm06Request {
            period: Some(Period {
                kind: PeriodKind::Quarter as i32,
                year: 2026,
                number: 1,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (q1.from.as_str(), q1.to.as_str()),
        ("2025-12-15", "2026-03-14")
    );
    let rows: Vec<(&str, [u64; 12])> = q1
        .rows
        .iter()
        .map(|r| (r.field.as_str(), cells(r)))
        .collect();
    assert_eq!(
        rows,
        [
            ("dat-dai", [8, 1, 7, 0, 3, 2, 0, 0, 1, 5, 4, 1]),
            ("moi-truong", [1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0]),
        ]
    );

    // The same as files laid out like the official form, read back with an independent reader.
    let file = export(&mut leader, ExportFormat::Xlsx).await;
    assert_eq!(file.file_name, "bieu-06_2026-03-01_2026-03-31.xlsx");
    check_xlsx(&file.content);
    let file = export(&mut leader, ExportFormat::Csv).await;
    assert_eq!(file.media_type, "text/csv; charset=utf-8");
    check_csv(&file.content);

    // Per procedure, and the whole province for its admin: agency B's dossier counts in the land
    // row.
    let all = form06(
        &mut admin,
        GetForm06Request {
            period: custom("2026-03-01", "2026-03-31"),
            by_procedure: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let keys: Vec<(&str, &str, &str)> = all
        .rows
        .iter()
        .map(|r| {
            (
                r.agency.as_str(),
                r.field.as_str(),
                r.procedure_code.as_str(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [("", "dat-dai", "1.013831"), ("", "moi-truong", "1.004227")],
        "every agency: one row per field (and procedure), A's and B's together"
    );
    // Each row holds the invariants.
    for r in all.rows.iter().chain(all.total.iter()) {
        assert_eq!(
            r.received_total,
            r.received_online + r.received_counter_postal + r.carried_over
        );
        assert_eq!(r.received_total, r.resolved_total + r.in_progress_total);
    }

    // A period not over yet: in-progress figures are taken now (by the clock), not at its end.
    let now = form06(
        &mut admin,
        GetForm06Request {
            period: Some(Period {
                kind: PeriodKind::Month as i32,
                year: 2026,
                number: 5,
                ..Default::default()
            }),
            agency: A.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (now.from.as_str(), now.to.as_str()),
        ("2026-04-15", "2026-05-14")
    );
    assert_eq!(now.in_progress_at, "2026-05-01T09:00:00+07:00");
    // are past their due times now; A-11 too, but it has been paused since
    // 20 March (its clock stands still); A-05 was done on 1 April, before the period.
    let t = now.total.unwrap();
    assert_eq!(
        (t.in_progress_total, t.in_progress_overdue),
        (4, 3),
        "{t:?}"
    );

    // The trend of March by month, the backlog now (1 May) and the repeated supplement requests.
    let trend = leader
        .get_trend(GetTrendRequest {
            period: custom("2026-03-01", "2026-03-31"),
            bucket: TrendBucket::Month as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let points: Vec<(&str, &str, u64, u64)> = trend
        .points
        .iter()
        .map(|p| (p.start.as_str(), p.field.as_str(), p.received, p.resolved))
        .collect();
    assert_eq!(
        points,
        [
            ("2026-03-01", "dat-dai", 5, 5),
            ("2026-03-01", "moi-truong", 1, 0)
        ]
    );
    let backlog = leader
        .get_backlog(GetBacklogRequest::default())
        .await
        .unwrap()
        .into_inner();
    let t = backlog.total.unwrap();
    assert_eq!(
        (t.in_progress, t.overdue, t.due_soon, t.paused),
        (4, 3, 0, 1),
        "A-01, A-06, A-07 overdue; A-11 paused"
    );
    assert_eq!(backlog.at, "2026-05-01T09:00:00+07:00");
    let repeated = leader
        .list_repeated_supplements(ListRepeatedSupplementsRequest {
            period: custom("2026-03-01", "2026-03-31"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(repeated.total, 1);
    assert_eq!(repeated.dossiers[0].dossier_code, "A-11");
    assert_eq!(repeated.dossiers[0].supplement_requests, 2);

    // Rebuilt from the stream, the model is the live one, and gives the same report.
    let connect = || async {
        use sqlx::ConnectOptions;
        let settings = &app.process_of("reporting").settings;
        motcua_platform::db::options(&settings.database_url)
            .unwrap()
            .database(&settings.database_name("reporting"))
            .connect()
            .await
            .unwrap()
    };
    let check = motcua_reporting::rebuild::run(
        connect().await,
        bus,
        motcua_reporting::rebuild::Mode::Check,
    )
    .await
    .unwrap();
    assert!(check.equal(), "{check:?}");
    assert_eq!(
        (check.dossiers, check.events as usize),
        (13, 2 * events.len())
    );
    let replaced = motcua_reporting::rebuild::run(
        connect().await,
        bus,
        motcua_reporting::rebuild::Mode::Replace { force: false },
    )
    .await
    .unwrap();
    assert_eq!(replaced.dossiers, 13);
    let again = form06(
        &mut leader,
        GetForm06Request {
            period: custom("2026-03-01", "2026-03-31"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(again, march, "the same report after a rebuild");

    // Bad input, and agencies outside the caller's scope.
    let leader_token = motcua_testkit::token(&[Role::Leader], A, "", "ld-1");
    let admin_token = motcua_testkit::province_admin_token(A, "qt-1");
    for (who, request, code, says) in [
        (
            &leader_token,
            GetForm06Request {
                period: custom("2026-03-01", "2026-03-31"),
                agency: B.into(),
                ..Default::default()
            },
            tonic::Code::PermissionDenied,
            "outside the caller's scope",
        ),
        (
            &admin_token,
            GetForm06Request {
                period: custom("2026-03-01", "2026-03-31"),
                agency: "000.00.99.H56".into(),
                ..Default::default()
            },
            tonic::Code::InvalidArgument,
            "unknown agency",
        ),
        (
            &admin_token,
            GetForm06Request {
                period: custom("2026-03-01", "2026-03-31"),
                agency: "000.00.99.X99".into(),
                ..Default::default()
            },
            tonic::Code::PermissionDenied,
            "outside the caller's scope",
        ),
        (
            &admin_token,
            GetForm06Request {
                period: custom("2026-03-31", "2026-03-01"),
                ..Default::default()
            },
            tonic::Code::InvalidArgument,
            "before it starts",
        ),
        (
            &admin_token,
            GetForm06Request {
                period: Some(Period {
                    kind: PeriodKind::Year as i32,
                    year: 3026,
                    ..Default::default()
                }),
                ..Default::default()
            },
            tonic::Code::InvalidArgument,
            "year 3026",
        ),
        (
            &admin_token,
            GetForm06Request::default(),
            tonic::Code::InvalidArgument,
            "period is required",
        ),
        (
            &motcua_testkit::token(&[Role::Desk], A, "", "mc-1"),
            GetForm06Request {
                period: custom("2026-03-01", "2026-03-31"),
                ..Default::default()
            },
            tonic::Code::PermissionDenied,
            "leader",
        ),
    ] {
        let e = form06(&mut app.client(who), request).await.unwrap_err();
        assert_eq!(e.code(), code, "{e:?}");
        assert!(e.message().contains(says), "{}", e.message());
    }

    app.stop().await;
}

async fn export(client: &mut Client, format: ExportFormat) -> ExportForm06Response {
    client
        .export_form06(ExportForm06Request {
            period: custom("2026-03-01", "2026-03-31"),
            format: format as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// March for agency A, as the XLSX says it: cells and merges, read with calamine.
fn check_xlsx(bytes: &[u8]) {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let sheet = book.worksheet_range("Biểu 06").unwrap();
    let text = |r: u32, c: u32| match sheet.get_value((r, c)) {
        Some(Data::String(s)) => s.clone(),
        Some(Data::Float(f)) => f.to_string(),
        Some(Data::Int(i)) => i.to_string(),
        Some(Data::Empty) | None => String::new(),
        other => format!("{other:?}"),
    };
    assert_eq!(text(0, 0), "Biểu số 06/VPCP/KSTT");
    assert_eq!(
        text(1, 0),
        "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
    );
    assert_eq!(
        text(2, 0),
        "Kỳ báo cáo: từ ngày 01/03/2026 đến ngày 31/03/2026"
    );
    assert!(
        text(3, 0).starts_with("Đơn vị báo cáo: Sở Nông nghiệp và Môi trường"),
        "{}",
        text(3, 0)
    );
    assert_eq!(text(5, 2), "Số hồ sơ nhận giải quyết");
    assert_eq!(text(6, 3), "Trong kỳ");
    assert_eq!(text(7, 3), "Trực tuyến");
    assert_eq!(text(7, 4), "Trực tiếp, dịch vụ bưu chính");
    assert_eq!(text(6, 5), "Từ kỳ trước");
    assert_eq!(text(6, 7), "Trước hạn");
    let numbers: Vec<String> = (0..13).map(|c| text(8, c)).collect();
    assert_eq!(
        numbers,
        (1..=13).map(|c| format!("({c})")).collect::<Vec<_>>()
    );
    let row = |r: u32| -> Vec<String> { (0..13).map(|c| text(r, c)).collect() };
    assert_eq!(
        row(9),
        [
            "1",
            "Đất đai",
            "8",
            "1",
            "4",
            "3",
            "5",
            "1",
            "1",
            "1",
            "3",
            "1",
            "2"
        ]
    );
    assert_eq!(
        row(10),
        [
            "2",
            "Môi trường",
            "1",
            "0",
            "1",
            "0",
            "0",
            "0",
            "0",
            "0",
            "1",
            "1",
            "0"
        ]
    );
    assert_eq!(
        row(11),
        [
            "Tổng cộng",
            "",
            "9",
            "1",
            "5",
            "3",
            "5",
            "1",
            "1",
            "1",
            "4",
            "2",
            "2"
        ]
    );
    assert_eq!(
        text(13, 0),
        "Ghi chú: cột (7) gồm 2 hồ sơ từ chối giải quyết, rút hoặc dừng xử lý, không tính vào các cột (8), (9), (10) và các tỷ lệ."
    );
    assert_eq!(text(14, 0), PERCENTAGES);
    let mut merges: Vec<((u32, u32), (u32, u32))> = book
        .merge_cells_by_sheet_name("Biểu 06")
        .unwrap()
        .iter()
        .map(|d| (d.start, d.end))
        .collect();
    merges.sort();
    for expected in [
        ((1, 0), (1, 12)),
        ((5, 0), (7, 0)),
        ((5, 1), (7, 1)),
        ((5, 2), (5, 5)),
        ((5, 6), (5, 9)),
        ((5, 10), (5, 12)),
        ((6, 2), (7, 2)),
        ((6, 3), (6, 4)),
        ((6, 5), (7, 5)),
        ((11, 0), (11, 1)),
    ] {
        assert!(merges.contains(&expected), "{expected:?} not in {merges:?}");
    }
}

/// The CSV: a byte-order mark, the title, the column numbers and the same rows.
fn check_csv(bytes: &[u8]) {
    assert_eq!(
        &bytes[..3],
        [0xEF, 0xBB, 0xBF],
        "a byte-order mark for Excel"
    );
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1],
        "\"TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH\""
    );
    assert_eq!(
        lines[7],
        "(1),(2),(3),(4),(5),(6),(7),(8),(9),(10),(11),(12),(13)"
    );
    assert_eq!(lines[8], "1,Đất đai,8,1,4,3,5,1,1,1,3,1,2");
    assert_eq!(lines[10], "Tổng cộng,,9,1,5,3,5,1,1,1,4,2,2");
    assert_eq!(lines[12], format!("\"{PERCENTAGES}\""));
}

/// March's shares as the files print them: of the 3 classified (the refused and the withdrawn
/// left out), adding up to 100.
const PERCENTAGES: &str = "Tỷ lệ trên 3 hồ sơ đã giải quyết có tính hạn (cột (8) + (9) + (10)): trước hạn 33,4%, đúng hạn 33,3%, quá hạn 33,3%; trước hạn và đúng hạn 66,7%.";
