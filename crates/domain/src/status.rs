//! Dossier statuses: their National Public Service Portal codes (DESIGN.md §2) and the words a
//! citizen reads.

use motcua_proto::common::{DossierStatus, Outcome, PauseReason, StopKind};
use motcua_proto::events::ChangeKind;

/// National portal status code 1–10 for a status.
pub fn national_code(status: DossierStatus) -> u32 {
    match status {
        DossierStatus::Unspecified => 1,
        DossierStatus::Received => 2,
        DossierStatus::RejectedAtIntake => 3,
        DossierStatus::InProgress => 4,
        DossierStatus::SupplementRequested => 5,
        DossierStatus::FinancialObligation => 6,
        DossierStatus::WithdrawalRequested => 7,
        DossierStatus::Stopped => 8,
        DossierStatus::Finished => 9,
        DossierStatus::Returned => 10,
    }
}

/// The status in plain Vietnamese, as the public page and SMS say it.
pub fn label(status: DossierStatus) -> &'static str {
    match status {
        DossierStatus::Unspecified => "Mới",
        DossierStatus::Received => "Đã tiếp nhận",
        DossierStatus::RejectedAtIntake => "Không được tiếp nhận",
        DossierStatus::InProgress => "Đang giải quyết",
        DossierStatus::SupplementRequested => "Chờ bổ sung hồ sơ",
        DossierStatus::FinancialObligation => "Chờ thực hiện nghĩa vụ tài chính",
        DossierStatus::WithdrawalRequested => "Đề nghị rút hồ sơ",
        DossierStatus::Stopped => "Đã dừng xử lý",
        DossierStatus::Finished => "Đã có kết quả",
        DossierStatus::Returned => "Đã trả kết quả",
    }
}

/// What a change means to the applicant, for the public history of a dossier; None for changes
/// inside the agency that the applicant does not see (a case opened, a task taken or assigned).
/// `step` is the name of the step the dossier is at after the change.
pub fn change_label(kind: ChangeKind, step: &str) -> Option<String> {
    let fixed = match kind {
        ChangeKind::Unspecified
        | ChangeKind::Opened
        | ChangeKind::Claimed
        | ChangeKind::Assigned => return None,
        ChangeKind::Forwarded if !step.is_empty() => return Some(format!("Chuyển bước: {step}")),
        ChangeKind::Forwarded => "Chuyển bước xử lý",
        ChangeKind::SentBack if !step.is_empty() => {
            return Some(format!("Chuyển lại bước: {step}"));
        }
        ChangeKind::SentBack => "Chuyển lại bước trước",
        ChangeKind::SupplementRequested => "Yêu cầu bổ sung hồ sơ",
        ChangeKind::SupplementReceived => "Đã nhận hồ sơ bổ sung",
        ChangeKind::FinancialObligationRequested => "Thông báo nghĩa vụ tài chính",
        ChangeKind::PaymentRecorded => "Đã hoàn thành nghĩa vụ tài chính",
        ChangeKind::ApologyIssued => "Xin lỗi và hẹn lại ngày trả kết quả",
        ChangeKind::ResultRecorded => "Đã có kết quả",
        ChangeKind::ResultReturned => "Đã trả kết quả",
        ChangeKind::WithdrawalRequested => "Đề nghị rút hồ sơ",
        ChangeKind::WithdrawalApproved => "Đã rút hồ sơ",
        ChangeKind::WithdrawalDeclined => "Không chấp thuận rút hồ sơ",
        ChangeKind::Refused => "Từ chối giải quyết",
        ChangeKind::Stopped => "Dừng xử lý",
    };
    Some(fixed.to_owned())
}

/// Early, on time or late, in the words of the statistics.
pub fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Unspecified => "",
        Outcome::Early => "Trước hạn",
        Outcome::OnTime => "Đúng hạn",
        Outcome::Late => "Quá hạn",
    }
}

/// Why the clock is paused.
pub fn pause_label(reason: PauseReason) -> &'static str {
    match reason {
        PauseReason::Unspecified => "",
        PauseReason::Supplement => "Chờ người nộp bổ sung hồ sơ",
        PauseReason::FinancialObligation => "Chờ người nộp thực hiện nghĩa vụ tài chính",
    }
}

/// How a dossier stopped.
pub fn stop_label(kind: StopKind) -> &'static str {
    match kind {
        StopKind::Unspecified => "",
        StopKind::Refused => "Từ chối giải quyết",
        StopKind::Withdrawn => "Đã rút hồ sơ",
        StopKind::Stopped => "Dừng xử lý",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_distinct_national_code() {
        let all = [
            DossierStatus::Unspecified,
            DossierStatus::Received,
            DossierStatus::RejectedAtIntake,
            DossierStatus::InProgress,
            DossierStatus::SupplementRequested,
            DossierStatus::FinancialObligation,
            DossierStatus::WithdrawalRequested,
            DossierStatus::Stopped,
            DossierStatus::Finished,
            DossierStatus::Returned,
        ];
        let mut codes: Vec<u32> = all.iter().map(|s| national_code(*s)).collect();
        codes.sort();
        assert_eq!(codes, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn internal_changes_stay_out_of_the_public_history() {
        assert_eq!(change_label(ChangeKind::Claimed, "Thẩm định"), None);
        assert_eq!(change_label(ChangeKind::Opened, ""), None);
        assert_eq!(
            change_label(ChangeKind::Forwarded, "Thẩm định").as_deref(),
            Some("Chuyển bước: Thẩm định")
        );
        assert_eq!(
            change_label(ChangeKind::SupplementRequested, "x").as_deref(),
            Some("Yêu cầu bổ sung hồ sơ")
        );
    }
}
