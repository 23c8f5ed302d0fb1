//! Dossier statuses: their National Public Service Portal codes (DESIGN.md §2) and the words a
//! citizen reads.

use motcua_proto::common::DossierStatus;

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
}
