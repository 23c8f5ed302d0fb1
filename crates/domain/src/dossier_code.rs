//! Dossier codes: `{agency code}-{yyMMdd}-{sequence}`, the sequence restarting each day per agency
//! (DESIGN.md §2), e.g. `000.00.06.H56-231027-0361`.

use chrono::NaiveDate;

/// The code of the `seq`-th dossier received by `agency` on `day` (Vietnam time).
pub fn format(agency: &str, day: NaiveDate, seq: i32) -> String {
    format!("{agency}-{}-{seq:04}", day.format("%y%m%d"))
}

/// Checks the shape of a code a caller sent, before it is looked up.
pub fn check(code: &str) -> Result<(), String> {
    let trimmed = code.trim();
    if trimmed.is_empty() {
        return Err("thiếu mã hồ sơ (dossier_code is required)".into());
    }
    let parts: Vec<&str> = trimmed.rsplitn(3, '-').collect();
    let ok = parts.len() == 3
        && parts[0].len() >= 4
        && parts[0].chars().all(|c| c.is_ascii_digit())
        && parts[1].len() == 6
        && parts[1].chars().all(|c| c.is_ascii_digit())
        && crate::agency::check_agency_code(parts[2]).is_ok();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "mã hồ sơ {} không đúng dạng {{mã cơ quan}}-{{yyMMdd}}-{{số thứ tự}}, ví dụ 000.00.06.H56-231027-0361 (malformed dossier code)",
            crate::text::quote(code)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_bad_ones_are_named() {
        let day = NaiveDate::from_ymd_opt(2023, 10, 27).unwrap();
        let code = format("000.00.06.H56", day, 361);
        assert_eq!(code, "000.00.06.H56-231027-0361");
        assert!(check(&code).is_ok());
        assert!(
            check("000.00.06.H56-231027-12345").is_ok(),
            "past 9,999 a day"
        );
        for bad in [
            "",
            "   ",
            "x",
            "000.00.06.H56-2310-0001",
            "h56-231027-0001",
            "000.00.06.H56-231027-01",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }
}
