//! Text from callers, one way for every crate: applicants' and officers' text cleaned (NFC,
//! white space, control characters, length), folded for search (Vietnamese marks dropped), names
//! masked for the public (DESIGN.md "Personal data"), amounts in đồng, and a caller's value quoted
//! in an error message. A value refused here is an [`Invalid`]: the platform answers it with
//! INVALID_ARGUMENT and its message, which says what to fix (Vietnamese, then English).

use unicode_normalization::UnicodeNormalization;

/// A caller's value that cannot be taken, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// At most this many characters of a caller's value appear in an error message: enough to
/// recognise it, never so much that the error trailer outgrows what clients accept.
pub const QUOTE_CHARS: usize = 40;

/// A caller's value for an error message: quoted, control characters escaped, and cut to a short
/// prefix with the full length said when it is long.
pub fn quote(value: &str) -> String {
    let count = value.chars().count();
    let shown: String = value
        .chars()
        .take(QUOTE_CHARS)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if count > QUOTE_CHARS {
        format!("\"{shown}…\" ({count} ký tự / characters)")
    } else {
        format!("\"{shown}\"")
    }
}

/// NFC-normalises, trims and collapses runs of white space; refuses control characters and text
/// longer than `max_chars`. The gRPC boundary has already refused control characters in
/// single-line fields; this also serves text that does not come through gRPC.
pub fn clean_text(value: &str, field: &str, max_chars: usize) -> Result<String, Invalid> {
    if value.chars().any(|c| c.is_control()) {
        return Err(Invalid(format!(
            "{field} chứa ký tự điều khiển ({field} contains control characters)"
        )));
    }
    let nfc: String = value.nfc().collect();
    let collapsed = nfc.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > max_chars {
        return Err(Invalid(format!(
            "{field} dài quá {max_chars} ký tự ({field} is longer than {max_chars} characters)"
        )));
    }
    Ok(collapsed)
}

/// Like [`clean_text`] for free text that may span lines (a note, a reason): each line is
/// cleaned, line breaks are kept, tabs become spaces.
pub fn clean_multiline(value: &str, field: &str, max_chars: usize) -> Result<String, Invalid> {
    let lines: Vec<String> = value
        .replace("\r\n", "\n")
        .replace('\t', " ")
        .split('\n')
        .map(|line| clean_text(line, field, max_chars))
        .collect::<Result<_, _>>()?;
    let joined = lines.join("\n").trim().to_owned();
    if joined.chars().count() > max_chars {
        return Err(Invalid(format!(
            "{field} dài quá {max_chars} ký tự ({field} is longer than {max_chars} characters)"
        )));
    }
    Ok(joined)
}

/// Masks a name for public display: each word keeps its first letter (Nguyễn Văn An → N***** V** A*).
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            first + &"*".repeat(chars.count())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text folded for search: NFC, Vietnamese letters without their marks (đ → d, as well as the
/// tones), lower case, words separated by single spaces, punctuation dropped. "ĐẤT ĐAI",
/// "dat dai" and the decomposed (NFD) "đất đai" all fold to "dat dai".
pub fn fold(text: &str) -> String {
    let nfc: String = text.nfc().collect();
    let ascii = deunicode::deunicode(&nfc).to_lowercase();
    ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An amount in đồng as Vietnamese readers write it: "1.250.000 đồng".
pub fn dong(vnd: i64) -> String {
    let digits = vnd.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    let sign = if vnd < 0 { "-" } else { "" };
    format!("{sign}{out} đồng")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_initials() {
        assert_eq!(mask_name("Nguyễn Văn An"), "N***** V** A*");
    }

    #[test]
    fn nfd_becomes_nfc_and_controls_are_refused() {
        let nfd = "Nguye\u{0302}\u{0303}n"; // "Nguyễn" decomposed
        assert_eq!(clean_text(nfd, "x", 50).unwrap(), "Nguyễn");
        assert!(clean_text("a\u{0007}b", "x", 50).is_err());
        assert!(clean_text("a\0b", "x", 50).is_err());
        assert_eq!(
            clean_multiline("  dòng một \r\n\tdòng  hai ", "note", 50).unwrap(),
            "dòng một\ndòng hai"
        );
        assert!(clean_multiline("a\0", "note", 50).is_err());
    }

    #[test]
    fn folding_ignores_marks_case_and_decomposition() {
        let nfd = "\u{0111}a\u{0302}\u{0301}t \u{0111}ai"; // "đất đai" decomposed
        for input in ["đất đai", "ĐẤT ĐAI", "dat dai", nfd, "  Đất,  đai! "] {
            assert_eq!(fold(input), "dat dai", "{input:?}");
        }
        assert_eq!(fold("Tài nguyên nước"), "tai nguyen nuoc");
        assert_eq!(fold(""), "");
    }
}
