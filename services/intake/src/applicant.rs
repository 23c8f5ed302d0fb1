//! Applicant fields: what is accepted and how it is normalised. Every refusal says, in Vietnamese
//! then English, what to fix, quoting at most a short prefix of what was sent.

pub use motcua_domain::text::clean_text;
use motcua_platform::ServiceError;
use motcua_platform::text::quote;
use motcua_proto::common::ApplicantType;
use motcua_proto::intake::Applicant;

fn invalid(vi: &str, en: &str) -> ServiceError {
    ServiceError::InvalidArgument(format!("{vi} ({en})"))
}

/// Province codes that begin a 12-digit citizen ID (căn cước), per Thông tư 59/2021/TT-BCA.
const PROVINCE_CODES: &[u16] = &[
    1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36, 37,
    38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74, 75, 77,
    79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
];

fn check_citizen_id(id: &str) -> Result<(), ServiceError> {
    let digits = id.chars().all(|c| c.is_ascii_digit());
    match (digits, id.len()) {
        (true, 12) => {
            let province: u16 = id[..3].parse().unwrap_or(0);
            if PROVINCE_CODES.contains(&province) {
                Ok(())
            } else {
                Err(invalid(
                    &format!("số định danh: mã tỉnh {} không tồn tại", &id[..3]),
                    "the first three digits of a citizen ID are a province code",
                ))
            }
        }
        (true, 9) => Ok(()),
        _ => Err(invalid(
            "số định danh cá nhân phải gồm 12 chữ số (căn cước) hoặc 9 chữ số (CMND cũ)",
            "ID number must be 12 digits (citizen ID) or 9 digits (old ID card)",
        )),
    }
}

fn check_tax_code(id: &str) -> Result<(), ServiceError> {
    let (main, branch) = id.split_once('-').unwrap_or((id, ""));
    let ok = main.len() == 10
        && main.chars().all(|c| c.is_ascii_digit())
        && (branch.is_empty() || (branch.len() == 3 && branch.chars().all(|c| c.is_ascii_digit())));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "mã số thuế / mã số doanh nghiệp phải gồm 10 chữ số, chi nhánh thêm '-' và 3 chữ số",
            "tax code must be 10 digits, or 10-3 for a branch",
        ))
    }
}

/// Normalises a Vietnamese phone number to 0xxxxxxxxx; refuses anything else.
pub fn normalise_phone(phone: &str) -> Result<String, ServiceError> {
    let compact: String = phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let national = if let Some(rest) = compact.strip_prefix("+84") {
        format!("0{rest}")
    } else if let Some(rest) = compact.strip_prefix("84").filter(|r| r.len() == 9) {
        format!("0{rest}")
    } else {
        compact
    };
    let digits = national.chars().all(|c| c.is_ascii_digit());
    let mobile = national.len() == 10
        && matches!(
            national.as_bytes().get(1),
            Some(b'3' | b'5' | b'7' | b'8' | b'9')
        );
    let landline = national.len() == 11 && national.starts_with("02");
    if digits && national.starts_with('0') && (mobile || landline) {
        Ok(national)
    } else {
        Err(invalid(
            &format!(
                "số điện thoại {} không hợp lệ: di động 10 số bắt đầu 03/05/07/08/09, cố định 11 số bắt đầu 02",
                quote(phone)
            ),
            "phone must be a Vietnamese mobile (10 digits) or landline (11 digits)",
        ))
    }
}

fn check_email(email: &str) -> Result<(), ServiceError> {
    let ok = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            &format!("thư điện tử {} không hợp lệ", quote(email)),
            "email is not an address",
        ))
    }
}

/// Validates and normalises an applicant. Person names keep only letters, spaces and . ' -;
/// organisation names and addresses keep any printable text (stored literally).
/// How ListDossiers finds an applicant's dossiers (an officer searching a queue by name or
/// phone): by the normalised phone, or by the name folded (no accents, lower case) as a part of
/// the folded full name.
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    Phone(String),
    Name(String),
}

/// Reads ListDossiersRequest.applicant (at most 100 characters): nine or more digits (spaces,
/// dots, dashes and a leading + allowed) is a phone, anything else a name of at least 2 letters.
pub fn search(text: &str) -> Result<Option<Search>, ServiceError> {
    let text = clean_text(text, "applicant", 100)?;
    if text.is_empty() {
        return Ok(None);
    }
    let phone_like = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '+' | '-'));
    if phone_like && text.chars().filter(char::is_ascii_digit).count() >= 9 {
        return normalise_phone(&text).map(|p| Some(Search::Phone(p)));
    }
    let folded = motcua_domain::text::fold(&text);
    if folded.chars().filter(char::is_ascii_alphabetic).count() < 2 {
        return Err(invalid(
            "applicant: tên người nộp cần ít nhất 2 chữ cái",
            "a name needs at least 2 letters",
        ));
    }
    Ok(Some(Search::Name(folded)))
}

pub fn validate(a: &Applicant, address_required: bool) -> Result<Applicant, ServiceError> {
    let kind = ApplicantType::try_from(a.r#type).unwrap_or(ApplicantType::Unspecified);
    if kind == ApplicantType::Unspecified {
        return Err(invalid(
            "thiếu loại người nộp: công dân, doanh nghiệp, cơ quan nhà nước hoặc tổ chức khác",
            "applicant.type is required",
        ));
    }
    let name = clean_text(&a.name, "applicant.name", 200)?;
    if name.chars().count() < 2 {
        return Err(invalid(
            "thiếu họ tên người nộp",
            "applicant.name is required",
        ));
    }
    if kind == ApplicantType::Citizen
        && !name
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '.' | '\'' | '-'))
    {
        return Err(invalid(
            "họ tên chỉ gồm chữ cái, khoảng trắng và dấu . ' -",
            "a person's name may hold letters, spaces and . ' - only",
        ));
    }
    let id_number = a.id_number.trim().to_owned();
    match kind {
        ApplicantType::Citizen => check_citizen_id(&id_number)?,
        ApplicantType::Business => check_tax_code(&id_number)?,
        _ if id_number.is_empty() => {}
        _ => check_tax_code(&id_number)?,
    }
    let phone = normalise_phone(&a.phone)?;
    let email = a.email.trim().to_owned();
    if !email.is_empty() {
        check_email(&email)?;
    }
    let address = clean_text(&a.address, "applicant.address", 500)?;
    if address_required && address.is_empty() {
        return Err(invalid(
            "thiếu địa chỉ người nộp",
            "applicant.address is required",
        ));
    }
    if address_required && address.chars().count() < 10 {
        return Err(invalid(
            "địa chỉ quá ngắn: ghi số nhà, đường, phường/xã, tỉnh",
            "applicant.address is too short: give house number, street, ward or commune, and province",
        ));
    }
    Ok(Applicant {
        r#type: a.r#type,
        name,
        id_number,
        phone,
        email,
        address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert_eq!(normalise_phone("+84 912 345 678").unwrap(), "0912345678");
        assert_eq!(normalise_phone("0912.345.678").unwrap(), "0912345678");
        assert_eq!(normalise_phone("02373 852 123").unwrap(), "02373852123");
        assert!(normalise_phone("0112345678").is_err());
        assert!(normalise_phone("12345").is_err());
        assert!(normalise_phone("091234567x").is_err());
    }

    #[test]
    fn a_huge_phone_is_not_echoed_whole() {
        let e = normalise_phone(&"9".repeat(1_000_000)).unwrap_err();
        assert!(e.to_string().len() < 400, "{}", e.to_string().len());
    }
}
