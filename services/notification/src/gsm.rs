//! SMS text preparation and size measurement.
//!
//! * [`fold_to_gsm7`] turns Vietnamese (or any) text into text that is
//!   entirely encodable in the GSM 03.38 / 3GPP TS 23.038 7-bit default
//!   alphabet, without diacritics.
//! * [`measure`] tells which encoding a text needs, how many units it takes
//!   and how many SMS parts it will be sent in.
//! * [`is_gsm7`] tells whether one character is in the GSM-7 basic set or in
//!   its extension table.
//!
//! Which characters are GSM-7 and how many septets they take come from the
//! `gsm7-alt` crate; transliteration from `deunicode`. What neither crate
//! does stays here: folding to text without diacritics (Vietnamese included)
//! and splitting into SMS parts. This module references no other module of
//! the crate.

/// Characters per single (non-concatenated) SMS in GSM-7, in septets.
const GSM7_SINGLE: usize = 160;
/// Septets available per part of a concatenated GSM-7 SMS (the UDH takes 7).
const GSM7_MULTI: usize = 153;
/// UTF-16 code units per single SMS in UCS-2.
const UCS2_SINGLE: usize = 70;
/// UTF-16 code units per part of a concatenated UCS-2 SMS.
const UCS2_MULTI: usize = 67;

/// The character encoding an SMS is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GSM 03.38 7-bit default alphabet (with its extension table).
    Gsm7,
    /// UCS-2 / UTF-16, used as soon as one character is not GSM-7.
    Ucs2,
}

/// Size of an SMS text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SmsSize {
    /// Encoding the text must be sent in.
    pub encoding: Encoding,
    /// Septets for GSM-7 (an extension-table character counts 2: escape +
    /// character); UTF-16 code units for UCS-2 (a character outside the
    /// Basic Multilingual Plane, such as an emoji, counts 2). Padding added
    /// by the part split is not counted.
    pub units: usize,
    /// Number of SMS parts. An empty text has 0 parts: there is nothing to
    /// send, and callers should refuse to send it rather than pay for an
    /// empty message.
    pub parts: usize,
}

/// Septets `c` takes in GSM-7 (1 for the basic set, 2 for the extension
/// table, sent as escape 0x1B + code), or `None` if it is not GSM-7.
///
/// The tables are `gsm7-alt`'s: the default alphabet of 3GPP TS 23.038
/// without national shift tables, 127 basic characters (the escape code has
/// no character of its own) and 10 extension characters, FORM FEED (U+000C,
/// "page break") among them, as the standard has it.
fn gsm7_septets(c: char) -> Option<usize> {
    let mut buf = [0u8; 4];
    gsm7_alt::encoded_len(c.encode_utf8(&mut buf)).ok()
}

/// Returns `true` if `c` is in the GSM-7 basic character set or in its
/// extension table (3GPP TS 23.038, default alphabet, no national shift
/// tables).
#[must_use]
pub fn is_gsm7(c: char) -> bool {
    gsm7_septets(c).is_some()
}

/// Non-ASCII GSM-7 characters that [`fold_to_gsm7`] keeps as they are.
///
/// Decision: Vietnamese readers see letters such as 'à', 'é', 'è', 'ù',
/// 'ì', 'ò' as tone-marked Vietnamese letters. They are in the GSM-7 basic
/// set, but keeping them while folding 'ả', 'ạ', 'ế', ... (which are not)
/// would produce a jarring half-accented mix such as "Hà Noi" or "phép
/// dat". So every Latin letter is folded to plain ASCII, including the
/// non-Vietnamese GSM-7 letters ('Ä', 'Ø', 'Å', 'Ñ', 'Ç', 'Æ' → "AE",
/// 'ß' → "ss", ...), and the output never contains a non-ASCII Latin
/// letter. Only non-letter symbols and the Greek capitals of the GSM-7
/// basic set (which have no ASCII look-alike that keeps their meaning) are
/// kept: "£ ¥ ¤ § ¿ ¡ €" and "Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ".
const fn is_kept_non_ascii(c: char) -> bool {
    matches!(
        c,
        '£' | '¥'
            | '¤'
            | '§'
            | '¿'
            | '¡'
            | '€'
            | 'Δ'
            | 'Φ'
            | 'Γ'
            | 'Λ'
            | 'Ω'
            | 'Π'
            | 'Ψ'
            | 'Σ'
            | 'Θ'
            | 'Ξ'
    )
}

/// Maps one ASCII character to its GSM-7 form, or `None` if it has none.
///
/// Every printable ASCII character except the backtick is GSM-7 (some via
/// the extension table). The backtick becomes an apostrophe; a tab and the
/// other ASCII whitespace controls (VT, FF) become a space; LF and CR are
/// kept. Other control characters have no GSM-7 form.
fn ascii_to_gsm7(c: char) -> Option<char> {
    match c {
        '`' => Some('\''),
        '\n' | '\r' => Some(c),
        '\t' | '\u{000B}' | '\u{000C}' => Some(' '),
        _ if c.is_ascii() && is_gsm7(c) => Some(c),
        _ => None,
    }
}

/// Turns text into GSM-7 text without diacritics.
///
/// * "Đất đai" → "Dat dai", "Hà Nội" → "Ha Noi", "phép" → "phep": every
///   letter with a mark, Vietnamese or not, becomes its base ASCII letter
///   (see the decision documented on `is_kept_non_ascii`).
/// * Precomposed (NFC) and decomposed (NFD) input fold the same way:
///   combining marks are dropped.
/// * ASCII is kept, except: backtick → apostrophe, tab (and VT, FF) →
///   space. LF and CR are kept; NEL, LINE SEPARATOR and PARAGRAPH
///   SEPARATOR become LF; any other Unicode whitespace becomes a space.
/// * The non-letter GSM-7 symbols "£ ¥ ¤ § ¿ ¡ €" and the GSM-7 Greek
///   capitals "Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ" are kept.
/// * Everything else is transliterated with `deunicode` character by
///   character; invisible characters it maps to nothing (combining marks,
///   zero-width joiners, BOM, ASCII controls) disappear, and a character it
///   cannot map, or maps to something that is not GSM-7, becomes '?'.
///
/// The result is always entirely GSM-7 encodable.
#[must_use]
pub fn fold_to_gsm7(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            // ASCII controls other than the whitespace handled by
            // `ascii_to_gsm7` are invisible: drop them.
            if let Some(g) = ascii_to_gsm7(c) {
                out.push(g);
            }
            continue;
        }
        if is_kept_non_ascii(c) {
            out.push(c);
            continue;
        }
        match c {
            '\u{0085}' | '\u{2028}' | '\u{2029}' => {
                out.push('\n');
                continue;
            }
            // Zero-width space: deunicode maps it to a space, but it is
            // invisible and often pasted inside words.
            '\u{200B}' => continue,
            _ if c.is_whitespace() => {
                out.push(' ');
                continue;
            }
            _ => {}
        }
        push_transliterated(&mut out, c);
    }
    out
}

/// Appends the GSM-7 transliteration of the non-ASCII character `c`, or '?'
/// if there is none.
fn push_transliterated(out: &mut String, c: char) {
    let Some(ascii) = deunicode::deunicode_char(c) else {
        out.push('?');
        return;
    };
    if ascii.chars().all(|a| ascii_to_gsm7(a).is_some()) {
        out.extend(ascii.chars().filter_map(ascii_to_gsm7));
    } else {
        out.push('?');
    }
}

/// Measures an SMS text: encoding, size in units, and number of parts.
///
/// * GSM-7 when every character is GSM-7 (basic set or extension table),
///   otherwise UCS-2.
/// * GSM-7: one part up to 160 septets; beyond that, 153 septets per part,
///   and an extension character (escape + character) is never split across
///   two parts: when only one septet is left in a part, the pair starts the
///   next part.
/// * UCS-2: one part up to 70 UTF-16 code units; beyond that, 67 per part,
///   and a surrogate pair is never split across two parts.
/// * Empty text: GSM-7, 0 units, 0 parts.
#[must_use]
pub fn measure(text: &str) -> SmsSize {
    // `gsm7-alt` counts the septets (and refuses a text with any character
    // outside GSM-7). It stops there: it has no UCS-2 and no concatenated-SMS
    // parts (its README: a character mapper, "not a full GSM 7-bit encoder in
    // the SMS sense"), so the part split below stays ours.
    if let Ok(units) = gsm7_alt::encoded_len(text) {
        let widths = text.chars().filter_map(gsm7_septets);
        SmsSize {
            encoding: Encoding::Gsm7,
            units,
            parts: count_parts(widths, units, GSM7_SINGLE, GSM7_MULTI),
        }
    } else {
        let units = text.encode_utf16().count();
        let widths = text.chars().map(char::len_utf16);
        SmsSize {
            encoding: Encoding::Ucs2,
            units,
            parts: count_parts(widths, units, UCS2_SINGLE, UCS2_MULTI),
        }
    }
}

/// Counts SMS parts for a sequence of indivisible character widths whose sum
/// is `total`: 0 parts for nothing, 1 part up to `single`, else greedy
/// filling of `multi`-unit parts where no character straddles two parts.
fn count_parts(
    widths: impl Iterator<Item = usize>,
    total: usize,
    single: usize,
    multi: usize,
) -> usize {
    if total == 0 {
        return 0;
    }
    if total <= single {
        return 1;
    }
    let mut parts = 1;
    let mut used = 0;
    for w in widths {
        if used + w > multi {
            parts += 1;
            used = 0;
        }
        used += w;
    }
    parts
}

#[cfg(test)]
mod tests;
