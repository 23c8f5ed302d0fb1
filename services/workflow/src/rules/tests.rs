//! The rules on a case record, without a database: each test opens a case as intake's event
//! would and walks it through changes at given times.

use super::*;
use motcua_platform::auth::Role;
use motcua_platform::config::Vars;
use motcua_proto::events::DossierState;

fn settings() -> WorkflowSettings {
    WorkflowSettings::from_vars(&Vars::default()).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn at_ts(c: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    from_ts(c.as_ref().unwrap(), "").unwrap()
}

fn step(key: &str, role: &str, department: &str, hours: u32) -> ProcessStep {
    ProcessStep {
        key: key.into(),
        name: key.into(),
        role: role.into(),
        department: department.into(),
        limit: Some(ProcessingTime {
            span: Some(ProtoSpan::WorkingHours(hours)),
        }),
    }
}

fn caller(roles: &[Role], department: &str, sub: &str) -> Caller {
    Caller {
        subject: sub.into(),
        name: sub.into(),
        agency: "000.00.06.H56".into(),
        department: department.into(),
        roles: roles.to_vec(),
        province: None,
        expires_at: i64::MAX,
    }
}

fn desk() -> Caller {
    caller(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
}

fn specialist() -> Caller {
    caller(&[Role::Specialist], "van-phong-dang-ky", "cv-1")
}

fn leader() -> Caller {
    caller(&[Role::Leader], "ban-giam-doc", "ld-1")
}

/// A calendar, the settings and the clock a test moves.
struct World {
    cal: Calendar,
    s: WorkflowSettings,
}

impl World {
    fn new() -> Self {
        Self {
            cal: motcua_calendar::standard().unwrap(),
            s: settings(),
        }
    }

    fn ctx<'a>(&'a self, now: &str, note: &'a str) -> Ctx<'a> {
        Ctx {
            now: t(now),
            calendar: &self.cal,
            settings: &self.s,
            note,
        }
    }

    /// A case of four steps (desk 4 h, specialist 48 h, leader 8 h, desk 4 h; 8 working days),
    /// received at `received`, with the procedure's cut-off.
    fn open(&self, received: &str, cutoff: &str) -> Case {
        let received = t(received);
        let cut = NaiveTime::parse_from_str(cutoff, "%H:%M").ok();
        let due = self
            .cal
            .due(vn(received), Span::Days(8), cut, &[])
            .unwrap()
            .with_timezone(&Utc);
        let submitted = DossierSubmitted {
            state: Some(DossierState {
                dossier_code: "000.00.06.H56-250303-0001".into(),
                version: 1,
                competent_agency: "000.00.06.H56".into(),
                receiving_agency: "000.00.06.H56".into(),
                received_at: Some(ts(received)),
                due_at: Some(ts(due)),
                ..Default::default()
            }),
            processing_time: Some(ProcessingTime {
                span: Some(ProtoSpan::WorkingDays(8)),
            }),
            steps: vec![
                step("tiep-nhan", "desk", "bo-phan-mot-cua", 4),
                step("tham-dinh", "specialist", "van-phong-dang-ky", 48),
                step("phe-duyet", "leader", "ban-giam-doc", 8),
                step("tra-ket-qua", "desk", "bo-phan-mot-cua", 4),
            ],
            cutoff: cutoff.into(),
            ..Default::default()
        };
        open(
            &submitted,
            &Ctx {
                now: received,
                calendar: &self.cal,
                settings: &self.s,
                note: "",
            },
        )
        .unwrap()
    }
}

#[test]
fn a_supplement_pause_moves_both_due_times_by_the_working_time_paused() {
    let w = World::new();
    // Monday 3 March 2025, 09:00; 8 working days → Thursday 13 March, 09:00.
    let mut case = w.open("2025-03-03T09:00:00+07:00", "");
    assert_eq!(at_ts(&case.due_at), t("2025-03-13T09:00:00+07:00"));
    claim(&mut case, &desk()).unwrap();
    forward(&mut case, &desk(), &w.ctx("2025-03-03T10:00:00+07:00", "")).unwrap();
    claim(&mut case, &specialist()).unwrap();
    request_supplement(
        &mut case,
        &specialist(),
        &["Bản vẽ".into()],
        &w.ctx("2025-03-04T09:00:00+07:00", ""),
    )
    .unwrap();
    assert_eq!(status(&case), DossierStatus::SupplementRequested);
    assert!(
        forward(
            &mut case,
            &specialist(),
            &w.ctx("2025-03-04T10:00:00+07:00", "")
        )
        .is_err(),
        "paused"
    );
    // Back two working days later (Thursday 09:00): both due times move by 16 working hours.
    supplement_received(
        &mut case,
        &["Bản vẽ".into()],
        &w.ctx("2025-03-06T09:00:00+07:00", ""),
    )
    .unwrap()
    .expect("the supplement asked for resumes the case");
    assert_eq!(status(&case), DossierStatus::InProgress);
    assert_eq!(at_ts(&case.due_at), t("2025-03-17T09:00:00+07:00"));
    // The specialist step began Monday 10:00 with 48 h (six working days): Tuesday 11th 10:00,
    // plus the two days paused.
    assert_eq!(at_ts(&case.step_due_at), t("2025-03-13T10:00:00+07:00"));
}

#[test]
fn only_the_steps_role_and_department_take_it_and_a_held_step_is_refused_to_others() {
    let w = World::new();
    let mut case = w.open("2025-03-03T09:00:00+07:00", "");
    let ctx = w.ctx("2025-03-03T10:00:00+07:00", "");
    assert!(matches!(
        claim(&mut case, &specialist()),
        Err(ServiceError::PermissionDenied(_))
    ));
    claim(&mut case, &desk()).unwrap();
    let other_desk = caller(&[Role::Desk], "bo-phan-mot-cua", "desk-2");
    assert!(matches!(
        forward(&mut case, &other_desk, &ctx),
        Err(ServiceError::PermissionDenied(_))
    ));
    forward(&mut case, &desk(), &ctx).unwrap();
    let wrong_department = caller(&[Role::Specialist], "phong-khoang-san", "cv-2");
    assert!(matches!(
        claim(&mut case, &wrong_department),
        Err(ServiceError::PermissionDenied(_))
    ));
    claim(&mut case, &specialist()).unwrap();
    assert_eq!(case.control_sheet.len(), 2);
    assert_eq!(case.control_sheet[0].ended_by, "forwarded");
}

#[test]
fn a_step_nobody_claimed_cannot_be_forwarded_sent_back_or_resolved() {
    let w = World::new();
    let mut case = w.open("2025-03-03T09:00:00+07:00", "");
    let ctx = w.ctx("2025-03-03T10:00:00+07:00", "");
    // The desk may perform the step, but has not taken it: told to claim first.
    let e = forward(&mut case, &desk(), &ctx).unwrap_err();
    assert!(matches!(e, ServiceError::FailedPrecondition(_)), "{e}");
    assert!(e.to_string().contains("ClaimTask"), "{e}");
    assert!(case.assignee.is_none(), "a refused forward takes nothing");
    claim(&mut case, &desk()).unwrap();
    forward(&mut case, &desk(), &ctx).unwrap();
    for refused in [
        send_back(&mut case, &specialist(), "tiep-nhan", "thiếu", &ctx).unwrap_err(),
        request_supplement(&mut case, &specialist(), &["x".into()], &ctx).unwrap_err(),
        request_obligation(&mut case, &specialist(), 1000, "lệ phí", &ctx).unwrap_err(),
    ] {
        assert!(
            matches!(refused, ServiceError::FailedPrecondition(_)),
            "{refused}"
        );
    }
    // A leader may ask for a supplement without taking the step.
    request_supplement(&mut case, &leader(), &["x".into()], &ctx).unwrap();
}

#[test]
fn the_officers_note_is_kept_verbatim_beside_the_summary_on_the_control_sheet() {
    let w = World::new();
    let mut case = w.open("2025-03-03T09:00:00+07:00", "");
    claim(&mut case, &desk()).unwrap();
    let note = "Đã kiểm tra bản chính.\nNgười nộp hẹn chiều mai.";
    let change = forward(
        &mut case,
        &desk(),
        &w.ctx("2025-03-03T10:00:00+07:00", note),
    )
    .unwrap();
    assert!(change.summary.contains("tham-dinh"), "{}", change.summary);
    assert_eq!(case.control_sheet[0].note, note);
    assert_eq!(case.control_sheet[0].summary, change.summary);
    claim(&mut case, &specialist()).unwrap();
    let reason = "Sai diện tích thửa";
    let back = send_back(
        &mut case,
        &specialist(),
        "tiep-nhan",
        reason,
        &w.ctx("2025-03-03T11:00:00+07:00", "ghi chú riêng"),
    )
    .unwrap();
    assert!(back.summary.contains(reason));
    assert_eq!(case.control_sheet[1].note, "ghi chú riêng");
    assert!(case.control_sheet[1].summary.contains(reason));
}

#[test]
fn after_the_cut_off_the_first_step_starts_with_the_dossier_the_next_working_morning() {
    let w = World::new();
    // Monday 16:00, cut-off 15:00: the dossier's clock starts Tuesday 07:00, and so does the
    // desk step's (4 working hours → Tuesday 11:00, not Monday 16:00 + 1 h of that day + 3 h).
    let case = w.open("2025-03-03T16:00:00+07:00", "15:00");
    assert_eq!(at_ts(&case.due_at), t("2025-03-13T17:00:00+07:00"));
    assert_eq!(at_ts(&case.step_due_at), t("2025-03-04T11:00:00+07:00"));
    // Before the cut-off nothing moves: 14:00 + 4 working hours = Tuesday 08:00.
    let early = w.open("2025-03-03T14:00:00+07:00", "15:00");
    assert_eq!(at_ts(&early.step_due_at), t("2025-03-04T08:00:00+07:00"));
}

#[test]
fn a_leader_closes_before_the_last_step_only_with_a_reason_and_every_skipped_step_is_recorded() {
    let w = World::new();
    let mut case = w.open("2025-03-03T09:00:00+07:00", "");
    claim(&mut case, &desk()).unwrap();
    forward(&mut case, &desk(), &w.ctx("2025-03-03T10:00:00+07:00", "")).unwrap();
    let ctx = w.ctx("2025-03-04T10:00:00+07:00", "");
    let e = record_result(&mut case, &leader(), "QĐ 12/QĐ", "", &ctx).unwrap_err();
    assert!(e.to_string().contains("close_early_reason"), "{e}");
    assert!(is_open(&case));
    let e = record_result(&mut case, &specialist(), "QĐ 12/QĐ", "", &ctx).unwrap_err();
    assert!(matches!(e, ServiceError::FailedPrecondition(_)), "{e}");
    let change = record_result(
        &mut case,
        &leader(),
        "QĐ 12/QĐ",
        "Người nộp đã nhận tại chỗ",
        &ctx,
    )
    .unwrap();
    assert_eq!(status(&case), DossierStatus::Finished);
    assert!(change.summary.contains("phe-duyet") && change.summary.contains("tra-ket-qua"));
    let ends: Vec<&str> = case
        .control_sheet
        .iter()
        .map(|e| e.ended_by.as_str())
        .collect();
    assert_eq!(ends, ["forwarded", "closed-early", "skipped", "skipped"]);
    for skipped in &case.control_sheet[2..] {
        assert_eq!(skipped.finished_by.as_ref().unwrap().subject, "ld-1");
        assert!(skipped.summary.contains("Người nộp đã nhận tại chỗ"));
    }
}

#[test]
fn an_apology_date_must_be_a_working_moment_and_the_summary_reads_as_a_letter() {
    let w = World::new();
    let mut case = w.open("2025-03-03T09:00:00+07:00", "");
    let ctx = w.ctx("2025-03-13T08:00:00+07:00", "");
    for not_working in [
        "2025-03-15T09:00:00+07:00", // a Saturday
        "2025-03-17T12:00:00+07:00", // Monday, lunch break
        "2025-03-17T19:00:00+07:00", // Monday evening
    ] {
        let e = apology(&mut case, &leader(), "Chờ ý kiến", t(not_working), &ctx).unwrap_err();
        assert!(matches!(e, ServiceError::InvalidArgument(_)), "{e}");
        assert!(e.to_string().contains("new_due_at"), "{e}");
    }
    assert!(case.apology_due_at.is_none());
    let change = apology(
        &mut case,
        &leader(),
        "Chờ ý kiến",
        t("2025-03-17T14:30:00+07:00"),
        &ctx,
    )
    .unwrap();
    assert!(
        change
            .summary
            .contains("14 giờ 30 phút, thứ Hai, ngày 17 tháng 3 năm 2025"),
        "{}",
        change.summary
    );
}

#[test]
fn amounts_are_more_than_zero_and_at_most_a_thousand_billion_dong() {
    let w = World::new();
    let mut case = w.open("2025-03-03T09:00:00+07:00", "");
    let ctx = w.ctx("2025-03-03T10:00:00+07:00", "");
    for bad in [0, -5, i64::MAX, MAX_AMOUNT_VND + 1] {
        let e = request_obligation(&mut case, &leader(), bad, "lệ phí", &ctx).unwrap_err();
        assert!(e.to_string().contains("amount_vnd"), "{bad}: {e}");
    }
    request_obligation(&mut case, &leader(), MAX_AMOUNT_VND, "thuế", &ctx).unwrap();
    let paid = record_payment(
        &mut case,
        &desk(),
        "BL-001",
        &w.ctx("2025-03-04T10:00:00+07:00", ""),
    )
    .unwrap();
    assert!(paid.summary.contains("BL-001"));
    assert_eq!(
        at_ts(&case.obligation_paid_at),
        t("2025-03-04T10:00:00+07:00")
    );
    assert_eq!(case.obligation_payment_reference, "BL-001");
}

#[test]
fn the_current_withdrawal_reason_is_decided_on_and_kept() {
    let w = World::new();
    let mut case = w.open("2025-03-03T09:00:00+07:00", "");
    let ctx = w.ctx("2025-03-03T10:00:00+07:00", "ghi chú của bộ phận một cửa");
    withdrawal_requested(&mut case, "Lý do thứ nhất").unwrap();
    decide_withdrawal(&mut case, &desk(), false, &ctx).unwrap();
    assert!(
        case.withdrawal_reason.is_empty(),
        "declined: no request pending"
    );
    withdrawal_requested(&mut case, "Lý do thứ hai").unwrap();
    assert_eq!(case.withdrawal_reason, "Lý do thứ hai");
    let approved = decide_withdrawal(&mut case, &desk(), true, &ctx).unwrap();
    assert_eq!(case.stop_reason, "Lý do thứ hai");
    assert!(approved.summary.contains("Lý do thứ hai"));
    assert_eq!(case.control_sheet[0].note, "ghi chú của bộ phận một cửa");
    assert!(
        withdrawal_requested(&mut case, "sau khi dừng").is_none(),
        "nothing to withdraw once stopped"
    );
}

#[test]
fn a_supplement_nobody_asked_for_changes_nothing() {
    let w = World::new();
    let mut case = w.open("2025-03-03T09:00:00+07:00", "");
    let before = case.clone();
    let change = supplement_received(
        &mut case,
        &["Bản vẽ".into()],
        &w.ctx("2025-03-03T10:00:00+07:00", ""),
    )
    .unwrap();
    assert!(change.is_none());
    assert_eq!(case, before);
}
