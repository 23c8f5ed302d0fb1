//! Parsing of an inbound SMS that asks for a dossier's status.
//!
//! Syntax: `<keyword> <dossier code> <secret>`, for example
//! `HS 000.00.06.H56-231027-0361 K7Q2M9XA`. The secret is either the receipt
//! lookup token or the 12-digit citizen ID number. Anything that does not
//! follow this syntax parses as [`Parsed::Help`], so that the caller can
//! answer with the usage instructions.
//!
//! Tolerated:
//! * any case ("hs", "Hs"), diacritics and full-width forms (the text is
//!   folded to ASCII with `deunicode`, then upper-cased);
//! * any amount of spaces, tabs and newlines, before, between and after the
//!   tokens;
//! * punctuation between tokens: `, ; : ! ? " ' ( ) [ ] { } < > #`
//!   separate tokens (so "HS:", "HS," or "HS;" work), and '.' and '-' are
//!   stripped from the ends of tokens (so "K7Q2M9XA." or " - " between
//!   tokens work). '.' and '-' inside a token are kept: they belong to the
//!   dossier code. A keyword glued to the code by '.' or '-' ("HS-000...")
//!   is split off. Non-ASCII punctuation is folded to its ASCII form first
//!   ("：" → ":", "–" → "-"), and emoji and other non-ASCII symbols
//!   separate tokens;
//! * a citizen ID number typed in groups ("001 203 004 567",
//!   "001.203.004.567");
//! * any words after the secret ("... K7Q2M9XA cảm ơn").
//!
//! Decision: the keyword is matched against the first token only, so with
//! the keyword "HOSO" the text "HỒSƠ ..." matches but "HỒ SƠ ..." does not
//! (its first token is "HO"). Configure the keyword that citizens are told
//! to type.
//!
//! "TC" is never a keyword: in Vietnam it is the opt-out keyword for
//! advertising SMS. [`validate_keywords`] refuses it and [`parse`] ignores
//! it even if it is configured.
//!
//! Only the `deunicode` crate is used; this module does not reference any
//! other module of the crate.

/// Keywords used when none are configured.
pub const DEFAULT_KEYWORDS: [&str; 1] = ["HS"];

/// Texts longer than this many characters are never parsed (answered with
/// help). Three concatenated GSM-7 parts hold 459 characters.
pub const MAX_TEXT_CHARS: usize = 480;

/// Reserved opt-out keyword for advertising SMS in Vietnam.
const RESERVED_KEYWORD: &str = "TC";

/// Minimum length of a dossier code, in characters.
const MIN_CODE_CHARS: usize = 10;
/// Maximum length of a dossier code or a secret, in characters.
const MAX_TOKEN_CHARS: usize = 64;
/// Number of digits of a citizen ID number.
const CITIZEN_ID_DIGITS: usize = 12;

/// Result of parsing an inbound SMS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Parsed {
    /// A well-formed status request.
    Lookup {
        /// Dossier code, letters upper-cased, e.g. "000.00.06.H56-231027-0361".
        code: String,
        /// Receipt lookup token upper-cased (e.g. "K7Q2M9XA"), or a citizen
        /// ID number as 12 digits.
        secret: String,
    },
    /// Anything else: the caller should answer with the usage instructions.
    Help,
}

/// The default keyword list, `["HS"]`, as owned strings.
#[must_use]
pub fn default_keywords() -> Vec<String> {
    DEFAULT_KEYWORDS.iter().map(|k| (*k).to_owned()).collect()
}

/// Checks a configured keyword list.
///
/// Refuses an empty list, an empty keyword, a keyword containing
/// whitespace, a keyword that is "TC" once folded (case and diacritics
/// ignored), and a keyword that is not made of letters and digits once
/// folded (it could never match, since punctuation separates tokens).
///
/// # Errors
///
/// Returns the first problem found, as an English message that names the
/// keyword (by position and value) and says what to fix.
pub fn validate_keywords(keywords: &[String]) -> Result<(), String> {
    if keywords.is_empty() {
        return Err(
            "the SMS keyword list is empty: configure at least one keyword, for example \"HS\""
                .to_owned(),
        );
    }
    for (i, keyword) in keywords.iter().enumerate() {
        let n = i + 1;
        if keyword.trim().is_empty() {
            return Err(format!(
                "SMS keyword #{n} is empty: remove it or set it to a word such as \"HS\""
            ));
        }
        if keyword.chars().any(char::is_whitespace) {
            return Err(format!(
                "SMS keyword #{n} ({keyword:?}) contains whitespace: write it as one word \
                 without spaces, for example \"HOSO\" instead of \"HO SO\""
            ));
        }
        let folded = fold(keyword);
        if folded == RESERVED_KEYWORD {
            return Err(format!(
                "SMS keyword #{n} ({keyword:?}) is not allowed: \"TC\" is the opt-out keyword \
                 for advertising SMS in Vietnam; choose another keyword, for example \"HS\""
            ));
        }
        if !is_ascii_alphanumeric(&folded) {
            return Err(format!(
                "SMS keyword #{n} ({keyword:?}) must contain only letters and digits \
                 (it reads as {folded:?} without diacritics): remove punctuation and symbols"
            ));
        }
    }
    Ok(())
}

/// Parses an inbound SMS against the configured keywords.
///
/// Returns [`Parsed::Lookup`] for `<keyword> <code> <secret> [anything]`
/// and [`Parsed::Help`] for anything else: empty text, text longer than
/// [`MAX_TEXT_CHARS`] characters, no or unknown keyword, a code that does
/// not look like a dossier code (only letters, digits, '.' and '-', at
/// least 10 characters, at least one digit), or a missing or malformed
/// secret (letters and digits only, or a 12-digit citizen ID). Keywords
/// that [`validate_keywords`] would refuse never match.
#[must_use]
pub fn parse(text: &str, keywords: &[String]) -> Parsed {
    parse_lookup(text, keywords).unwrap_or(Parsed::Help)
}

fn parse_lookup(text: &str, keywords: &[String]) -> Option<Parsed> {
    if text.chars().nth(MAX_TEXT_CHARS).is_some() {
        return None;
    }
    let folded = fold(text);
    let tokens: Vec<&str> = folded
        .split(is_separator)
        .map(|t| t.trim_matches(['.', '-']))
        .filter(|t| !t.is_empty())
        .collect();
    let (first, rest) = tokens.split_first()?;

    let keywords: Vec<String> = keywords
        .iter()
        .map(|k| fold(k))
        .filter(|k| is_ascii_alphanumeric(k) && k != RESERVED_KEYWORD)
        .collect();

    // Code first, then the secret and whatever follows it.
    let (code, after_code): (&str, &[&str]) = if keywords.iter().any(|k| k == first) {
        let (code, after) = rest.split_first()?;
        (code, after)
    } else {
        // Keyword glued to the code with '.' or '-': "HS-000.00.06...".
        let glued = keywords
            .iter()
            .filter_map(|k| first.strip_prefix(k.as_str()))
            .filter(|r| r.starts_with(['.', '-']))
            .map(|r| r.trim_start_matches(['.', '-']))
            .filter(|r| !r.is_empty())
            // Longest keyword wins, i.e. the shortest remainder.
            .min_by_key(|r| r.len())?;
        (glued, rest)
    };

    if !is_dossier_code(code) {
        return None;
    }
    let secret = parse_secret(after_code)?;
    Some(Parsed::Lookup {
        code: code.to_owned(),
        secret,
    })
}

/// Extracts the secret from the tokens that follow the code.
fn parse_secret(tokens: &[&str]) -> Option<String> {
    let (first, rest) = tokens.split_first()?;
    if first.chars().count() > MAX_TOKEN_CHARS {
        return None;
    }
    if is_ascii_alphanumeric(first) {
        if first.bytes().all(|b| b.is_ascii_digit())
            && first.len() < CITIZEN_ID_DIGITS
            && let Some(id) = join_digit_groups(first, rest)
        {
            return Some(id);
        }
        return Some((*first).to_owned());
    }
    // A citizen ID number written with dots or hyphens: "001.203.004.567".
    let digits: String = first.chars().filter(char::is_ascii_digit).collect();
    let only_digits_and_marks = first
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
    (only_digits_and_marks && digits.len() == CITIZEN_ID_DIGITS).then_some(digits)
}

/// Joins a citizen ID number typed in groups of digits separated by spaces
/// ("001 203 004 567"). Returns `None` unless the groups that follow
/// `first` add up to exactly 12 digits.
fn join_digit_groups(first: &str, rest: &[&str]) -> Option<String> {
    let mut id = first.to_owned();
    for group in rest {
        if !group.bytes().all(|b| b.is_ascii_digit()) || id.len() + group.len() > CITIZEN_ID_DIGITS
        {
            return None;
        }
        id.push_str(group);
        if id.len() == CITIZEN_ID_DIGITS {
            return Some(id);
        }
    }
    None
}

/// A dossier code: only ASCII letters, digits, '.' and '-', between 10 and
/// 64 characters, at least one digit. Expects folded (upper-case) input.
fn is_dossier_code(token: &str) -> bool {
    let len = token.chars().count();
    (MIN_CODE_CHARS..=MAX_TOKEN_CHARS).contains(&len)
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && token.chars().any(|c| c.is_ascii_digit())
}

fn is_ascii_alphanumeric(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Token separators in folded text: ASCII whitespace and the punctuation
/// that people put around or between words (`, ; : ! ? " ' ( ) [ ] { } < >
/// #`). '.' and '-' are not separators: they occur inside dossier codes.
/// Other symbols ('/', '_', '*', '+', '=', ...) are not separators either:
/// a token containing one is invalid, so "000.00.06.H56/231027/0361"
/// gives help instead of a lookup of "000.00.06.H56".
const fn is_separator(c: char) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            ',' | ';'
                | ':'
                | '!'
                | '?'
                | '"'
                | '\''
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '#'
        )
}

/// Marks a character that has no ASCII form. It is neither a separator nor
/// valid in any token, so a token containing it never matches.
const UNMAPPABLE: char = '\u{FFFD}';

/// Folds text to upper-case ASCII for matching.
///
/// Letters and digits with marks or in other scripts are transliterated
/// with `deunicode` ("ồ" → "O", full-width "０" → "0"); combining marks and
/// invisible characters disappear (so NFC and NFD input fold the same);
/// non-ASCII whitespace becomes a space; non-ASCII punctuation becomes its
/// ASCII punctuation ("–" → "-", "：" → ":"); other symbols and emoji
/// become a space (a separator), so that "K7Q2M9XA🙂" keeps its secret
/// intact. A character `deunicode` cannot map becomes [`UNMAPPABLE`].
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_uppercase());
            continue;
        }
        if c.is_whitespace() {
            out.push(' ');
            continue;
        }
        if c == '\u{200B}' {
            // Zero-width space: invisible, often pasted inside words.
            continue;
        }
        match deunicode::deunicode_char(c) {
            None => out.push(UNMAPPABLE),
            Some(ascii) if c.is_alphanumeric() => {
                out.extend(ascii.chars().map(|a| a.to_ascii_uppercase()));
            }
            Some(ascii) if ascii.chars().all(|a| a.is_ascii_punctuation()) => {
                // Also covers the empty mapping of combining marks.
                out.push_str(ascii);
            }
            Some(_) => out.push(' '),
        }
    }
    out
}

#[cfg(test)]
mod tests;
