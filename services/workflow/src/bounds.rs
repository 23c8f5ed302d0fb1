//! The bounds of every field officers send (the proto comments say the same): one place to read
//! them, and the checks that refuse what exceeds them with INVALID_ARGUMENT naming the field.
//!
//! Why these numbers: together they keep the largest change's event (a supplement request of 50
//! items of 500 characters, up to 4 bytes a character, with a 2,000-character note and the rest of
//! the state) near 120 KB, far inside NATS's default 1 MiB message limit; and the service still
//! measures each event before it writes it ([`motcua_platform::outbox::OutboxEvent::fits`]).

use motcua_domain::text::{clean_multiline, clean_text};
use motcua_platform::ServiceError;
use motcua_proto::workflow::AttachmentRef;

/// An officer's note (`Action.note`), a reason, a result: characters.
pub const LONG_TEXT: usize = 2_000;
/// `missing` items of a supplement request, and the characters of each.
pub const MISSING_ITEMS: usize = 50;
pub const MISSING_ITEM: usize = 500;
/// A financial obligation's description.
pub const DESCRIPTION: usize = 500;
/// A payment's reference.
pub const REFERENCE: usize = 200;
pub const IDEMPOTENCY_KEY: usize = 128;
pub const ATTACHMENTS: usize = 20;
pub const ATTACHMENT_ID: usize = 64;
pub const FILE_NAME: usize = 255;
pub const MEDIA_TYPE: usize = 127;
/// An officer's subject, a step key, a field or procedure code.
pub const SUBJECT: usize = 128;
pub const DISPLAY_NAME: usize = 200;
pub const KEY: usize = 64;
pub const PAGE_TOKEN: usize = 200;
pub const QUERY: usize = 100;
/// Fees and taxes: at most 10^12 đồng (a thousand billion), above any real obligation and far
/// below what would overflow a sum of them.
pub const MAX_AMOUNT_VND: i64 = 1_000_000_000_000;

fn invalid(m: String) -> ServiceError {
    ServiceError::InvalidArgument(m)
}

/// Free text that may span lines, cleaned, at most [`LONG_TEXT`] characters.
pub fn long_text(value: &str, field: &str) -> Result<String, ServiceError> {
    Ok(clean_multiline(value, field, LONG_TEXT)?)
}

/// A required [`long_text`].
pub fn required(value: &str, field: &str) -> Result<String, ServiceError> {
    let t = long_text(value, field)?;
    if t.is_empty() {
        return Err(invalid(format!("thiếu {field} ({field} is required)")));
    }
    Ok(t)
}

/// One line of text, cleaned, at most `max` characters.
pub fn line(value: &str, field: &str, max: usize) -> Result<String, ServiceError> {
    Ok(clean_text(value, field, max)?)
}

/// A supplement request's list: at most [`MISSING_ITEMS`] items of [`MISSING_ITEM`]
/// characters; empty items dropped.
pub fn missing(items: &[String]) -> Result<Vec<String>, ServiceError> {
    if items.len() > MISSING_ITEMS {
        return Err(invalid(format!(
            "missing: tối đa {MISSING_ITEMS} giấy tờ, nhận {} (at most {MISSING_ITEMS} items)",
            items.len()
        )));
    }
    Ok(items
        .iter()
        .enumerate()
        .map(|(i, m)| clean_text(m, &format!("missing[{i}]"), MISSING_ITEM))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect())
}

/// An action's attachments: at most [`ATTACHMENTS`], each field bounded.
pub fn attachments(list: &[AttachmentRef]) -> Result<(), ServiceError> {
    if list.len() > ATTACHMENTS {
        return Err(invalid(format!(
            "action.attachments: tối đa {ATTACHMENTS} tệp đính kèm (at most {ATTACHMENTS} attachments)"
        )));
    }
    for (i, a) in list.iter().enumerate() {
        line(&a.id, &format!("action.attachments[{i}].id"), ATTACHMENT_ID)?;
        line(
            &a.file_name,
            &format!("action.attachments[{i}].file_name"),
            FILE_NAME,
        )?;
        line(
            &a.media_type,
            &format!("action.attachments[{i}].media_type"),
            MEDIA_TYPE,
        )?;
        if !(a.sha256.is_empty()
            || (a.sha256.len() == 64 && a.sha256.bytes().all(|b| b.is_ascii_hexdigit())))
        {
            return Err(invalid(format!(
                "action.attachments[{i}].sha256: 64 chữ số hex hoặc để trống (64 hex digits or empty)"
            )));
        }
    }
    Ok(())
}

/// A length-bounded identifier (step key, field, code), trimmed.
pub fn key<'a>(value: &'a str, field: &str, max: usize) -> Result<&'a str, ServiceError> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(invalid(format!(
            "{field} dài quá {max} ký tự ({field} is longer than {max} characters)"
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bound_names_its_field_and_the_bound_itself_is_accepted() {
        let at_bound = vec!["đ".repeat(MISSING_ITEM); MISSING_ITEMS];
        assert_eq!(missing(&at_bound).unwrap().len(), MISSING_ITEMS);
        let e = missing(&vec!["x".into(); MISSING_ITEMS + 1]).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        let mut long_item = at_bound.clone();
        long_item[7] = "x".repeat(MISSING_ITEM + 1);
        assert!(
            missing(&long_item)
                .unwrap_err()
                .to_string()
                .contains("missing[7]")
        );
        assert!(long_text(&"ơ".repeat(LONG_TEXT), "action.note").is_ok());
        let e = long_text(&"ơ".repeat(LONG_TEXT + 1), "action.note").unwrap_err();
        assert!(e.to_string().contains("action.note"), "{e}");
        assert!(
            required("  ", "reason")
                .unwrap_err()
                .to_string()
                .contains("reason")
        );
        let too_many = vec![AttachmentRef::default(); ATTACHMENTS + 1];
        assert!(
            attachments(&too_many)
                .unwrap_err()
                .to_string()
                .contains("attachments")
        );
        let bad_sha = [AttachmentRef {
            sha256: "zz".into(),
            ..Default::default()
        }];
        assert!(
            attachments(&bad_sha)
                .unwrap_err()
                .to_string()
                .contains("attachments[0].sha256")
        );
        assert!(key(&"k".repeat(KEY + 1), "to_step", KEY).is_err());
    }
}
