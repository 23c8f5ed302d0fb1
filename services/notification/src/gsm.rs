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
//! Only the `deunicode` crate is used; this module does not reference any
//! other module of the crate.

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

/// Returns `true` if `c` is in the GSM-7 basic character set or in its
/// extension table (3GPP TS 23.038, default alphabet, no national shift
/// tables).
///
/// The extension table includes FORM FEED (U+000C, "page break"), as the
/// standard does; it counts 2 septets like the other extension characters.
#[must_use]
pub const fn is_gsm7(c: char) -> bool {
    is_gsm7_basic(c) || is_gsm7_extension(c)
}

/// GSM-7 basic character set (one septet each). The escape code 0x1B has no
/// character of its own and is therefore not listed.
const fn is_gsm7_basic(c: char) -> bool {
    matches!(
        c,
        '@' | '£'
            | '$'
            | '¥'
            | 'è'
            | 'é'
            | 'ù'
            | 'ì'
            | 'ò'
            | 'Ç'
            | '\n'
            | 'Ø'
            | 'ø'
            | '\r'
            | 'Å'
            | 'å'
            | 'Δ'
            | '_'
            | 'Φ'
            | 'Γ'
            | 'Λ'
            | 'Ω'
            | 'Π'
            | 'Ψ'
            | 'Σ'
            | 'Θ'
            | 'Ξ'
            | 'Æ'
            | 'æ'
            | 'ß'
            | 'É'
            | ' '
            | '!'
            | '"'
            | '#'
            | '¤'
            | '%'
            | '&'
            | '\''
            | '('
            | ')'
            | '*'
            | '+'
            | ','
            | '-'
            | '.'
            | '/'
            | '0'..='9'
            | ':'
            | ';'
            | '<'
            | '='
            | '>'
            | '?'
            | '¡'
            | 'A'..='Z'
            | 'Ä'
            | 'Ö'
            | 'Ñ'
            | 'Ü'
            | '§'
            | '¿'
            | 'a'..='z'
            | 'ä'
            | 'ö'
            | 'ñ'
            | 'ü'
            | 'à'
    )
}

/// GSM-7 extension table: each of these is sent as escape (0x1B) + code,
/// i.e. 2 septets.
const fn is_gsm7_extension(c: char) -> bool {
    matches!(
        c,
        '\u{000C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€'
    )
}

/// Septets needed for `c` in GSM-7: 1 for the basic set, 2 for the
/// extension table. Only meaningful when `is_gsm7(c)` holds.
const fn gsm7_septets(c: char) -> usize {
    if is_gsm7_extension(c) { 2 } else { 1 }
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
    if text.chars().all(is_gsm7) {
        let units = text.chars().map(gsm7_septets).sum();
        let parts = count_parts(
            text.chars().map(gsm7_septets),
            units,
            GSM7_SINGLE,
            GSM7_MULTI,
        );
        SmsSize {
            encoding: Encoding::Gsm7,
            units,
            parts,
        }
    } else {
        let units = text.chars().map(char::len_utf16).sum();
        let parts = count_parts(
            text.chars().map(char::len_utf16),
            units,
            UCS2_SINGLE,
            UCS2_MULTI,
        );
        SmsSize {
            encoding: Encoding::Ucs2,
            units,
            parts,
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
mod tests {
    use super::*;

    fn a(n: usize) -> String {
        "a".repeat(n)
    }

    fn size(encoding: Encoding, units: usize, parts: usize) -> SmsSize {
        SmsSize {
            encoding,
            units,
            parts,
        }
    }

    // ---- fold_to_gsm7 -------------------------------------------------

    #[test]
    fn folds_vietnamese_sentence() {
        assert_eq!(
            fold_to_gsm7("Hồ sơ đất đai của ông Nguyễn Văn Ánh đã được tiếp nhận"),
            "Ho so dat dai cua ong Nguyen Van Anh da duoc tiep nhan"
        );
    }

    #[test]
    fn folds_d_with_stroke_and_vowels() {
        assert_eq!(fold_to_gsm7("Đất đai"), "Dat dai");
        assert_eq!(fold_to_gsm7("đ"), "d");
        assert_eq!(fold_to_gsm7("Đ"), "D");
        assert_eq!(
            fold_to_gsm7("àáảãạăằắẳẵặâầấẩẫậ èéẻẽẹêềếểễệ ìíỉĩị"),
            "aaaaaaaaaaaaaaaaa eeeeeeeeeee iiiii"
        );
        assert_eq!(
            fold_to_gsm7("òóỏõọôồốổỗộơờớởỡợ ùúủũụưừứửữự ỳýỷỹỵ"),
            "ooooooooooooooooo uuuuuuuuuuu yyyyy"
        );
        assert_eq!(
            fold_to_gsm7("ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ ÈÉẺẼẸÊỀẾỂỄỆ ÌÍỈĨỊ"),
            "AAAAAAAAAAAAAAAAA EEEEEEEEEEE IIIII"
        );
        assert_eq!(
            fold_to_gsm7("ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ ÙÚỦŨỤƯỪỨỬỮỰ ỲÝỶỸỴ"),
            "OOOOOOOOOOOOOOOOO UUUUUUUUUUU YYYYY"
        );
    }

    #[test]
    fn folds_gsm7_letters_with_marks_too() {
        // 'à', 'é', 'è', 'ù', 'ì', 'ò' are GSM-7, but are folded on purpose.
        assert_eq!(fold_to_gsm7("Hà Nội"), "Ha Noi");
        assert_eq!(fold_to_gsm7("phép"), "phep");
        assert_eq!(fold_to_gsm7("è é ù ì ò à É Ç"), "e e u i o a E C");
        assert_eq!(fold_to_gsm7("ÄÖÑÜäöñüØøÅå"), "AONUaonuOoAa");
        assert_eq!(fold_to_gsm7("Æ æ ß"), "AE ae ss");
    }

    #[test]
    fn keeps_gsm7_symbols_and_greek_capitals() {
        let kept = "@£$¥¤§¿¡€ΔΦΓΛΩΠΨΣΘΞ_!\"#%&'()*+,-./0123456789:;<=>?^{}\\[~]|";
        assert_eq!(fold_to_gsm7(kept), kept);
        let ascii = "The quick brown fox jumps over the lazy dog. 0123456789";
        assert_eq!(fold_to_gsm7(ascii), ascii);
    }

    #[test]
    fn maps_backtick_tab_and_whitespace() {
        assert_eq!(fold_to_gsm7("`x`"), "'x'");
        assert_eq!(fold_to_gsm7("a\tb"), "a b");
        assert_eq!(fold_to_gsm7("a\nb\r\nc"), "a\nb\r\nc");
        assert_eq!(fold_to_gsm7("a\u{00A0}b\u{3000}c"), "a b c");
        assert_eq!(fold_to_gsm7("a\u{2028}b"), "a\nb");
        assert_eq!(fold_to_gsm7("a\u{000C}b\u{000B}c"), "a b c");
    }

    #[test]
    fn drops_invisible_characters() {
        assert_eq!(
            fold_to_gsm7("a\u{200B}b\u{FEFF}c\u{00AD}d\u{0007}e"),
            "abcde"
        );
    }

    #[test]
    fn transliterates_punctuation() {
        assert_eq!(
            fold_to_gsm7("“Hồ sơ” – ‘đã’ nhận…"),
            "\"Ho so\" - 'da' nhan..."
        );
    }

    #[test]
    fn unmappable_becomes_question_mark() {
        // Private use and unassigned code points: deunicode has no mapping.
        assert_eq!(fold_to_gsm7("a\u{E000}b"), "a?b");
        assert_eq!(fold_to_gsm7("a\u{10FFFF}b"), "a?b");
    }

    #[test]
    fn nfc_and_nfd_fold_the_same() {
        // (NFC, hand-built NFD) pairs.
        let pairs = [
            ("à", "a\u{0300}"),
            ("Hà Nội", "Ha\u{0300} No\u{0302}\u{0323}i"),
            ("Nguyễn", "Nguye\u{0302}\u{0303}n"),
            ("được", "đu\u{031B}o\u{031B}\u{0323}c"),
            ("Ánh", "A\u{0301}nh"),
            ("Ứng", "U\u{031B}\u{0301}ng"),
            ("phép", "phe\u{0301}p"),
            ("ñ Å", "n\u{0303} A\u{030A}"),
        ];
        for (nfc, nfd) in pairs {
            assert_ne!(nfc, nfd);
            assert_eq!(fold_to_gsm7(nfc), fold_to_gsm7(nfd), "{nfc:?}");
        }
        assert_eq!(fold_to_gsm7("Ha\u{0300} No\u{0302}\u{0323}i"), "Ha Noi");
    }

    #[test]
    fn fold_output_is_always_gsm7() {
        let mixed = "Hồ sơ ĐẤT ĐAI số 000.00.06.H56-231027-0361 của ông Nguyễn Văn Ánh \
                     — phí 50.000₫ (≈ 2 €), 🎉🦀👍🏻 北京 Москва Ελλάδα ½ © ™ ° ± × ÷ \
                     `code`\t\u{00A0}\u{2028}\u{E000}\u{FEFF}\u{200D} ¿¡§£¥¤ ΔΦΓΛΩΠΨΣΘΞ \
                     ÀÉÈÙÌÒ àéèùìò ÇØøÅåÆæßÄÖÑÜäöñü ‘’“”… •\u{0007}\u{001B}\u{007F}";
        let folded = fold_to_gsm7(mixed);
        for c in folded.chars() {
            assert!(is_gsm7(c), "{c:?} in {folded:?}");
        }
        assert_eq!(measure(&folded).encoding, Encoding::Gsm7);
        // No non-ASCII Latin letter survives.
        assert!(folded.chars().all(|c| c.is_ascii() || is_kept_non_ascii(c)));
    }

    #[test]
    fn fold_never_panics_and_stays_gsm7_on_pseudo_random_input() {
        // Small deterministic xorshift generator over interesting ranges.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let ranges: [(u32, u32); 8] = [
            (0x00, 0x7F),
            (0x80, 0x24F),
            (0x300, 0x36F),
            (0x370, 0x4FF),
            (0x1E00, 0x1EFF),
            (0x2000, 0x206F),
            (0x1F300, 0x1FAFF),
            (0xE000, 0x10FFFF),
        ];
        for _ in 0..300 {
            let mut s = String::new();
            for _ in 0..(next() % 200) {
                let (lo, hi) = ranges[(next() % 8) as usize];
                let cp = lo + (next() % u64::from(hi - lo + 1)) as u32;
                if let Some(c) = char::from_u32(cp) {
                    s.push(c);
                }
            }
            let folded = fold_to_gsm7(&s);
            assert!(folded.chars().all(is_gsm7), "{s:?} -> {folded:?}");
            let m = measure(&s);
            match m.encoding {
                Encoding::Gsm7 => assert!(s.chars().all(is_gsm7)),
                Encoding::Ucs2 => assert_eq!(m.units, s.encode_utf16().count()),
            }
        }
    }

    // ---- is_gsm7 ------------------------------------------------------

    #[test]
    fn gsm7_table_has_127_basic_and_10_extension_characters() {
        let all: Vec<char> = (0u32..=0x10FFFF).filter_map(char::from_u32).collect();
        assert_eq!(all.iter().filter(|c| is_gsm7_basic(**c)).count(), 127);
        assert_eq!(all.iter().filter(|c| is_gsm7_extension(**c)).count(), 10);
        assert!(
            !all.iter()
                .any(|c| is_gsm7_basic(*c) && is_gsm7_extension(*c))
        );
        // Every printable ASCII character but the backtick is GSM-7.
        for c in ' '..='~' {
            assert_eq!(is_gsm7(c), c != '`', "{c:?}");
        }
        assert!(!is_gsm7('\t'));
        assert!(!is_gsm7('ộ'));
        assert!(!is_gsm7('ç'));
        assert!(is_gsm7('Ç'));
    }

    // ---- measure: GSM-7 -----------------------------------------------

    #[test]
    fn empty_text_is_zero_parts() {
        assert_eq!(measure(""), size(Encoding::Gsm7, 0, 0));
    }

    #[test]
    fn gsm7_single_part_boundary() {
        assert_eq!(measure(&a(1)), size(Encoding::Gsm7, 1, 1));
        assert_eq!(measure(&a(160)), size(Encoding::Gsm7, 160, 1));
        assert_eq!(measure(&a(161)), size(Encoding::Gsm7, 161, 2));
    }

    #[test]
    fn gsm7_multipart_boundaries() {
        assert_eq!(measure(&a(306)), size(Encoding::Gsm7, 306, 2));
        assert_eq!(measure(&a(307)), size(Encoding::Gsm7, 307, 3));
        assert_eq!(measure(&a(459)), size(Encoding::Gsm7, 459, 3));
        assert_eq!(measure(&a(460)), size(Encoding::Gsm7, 460, 4));
    }

    #[test]
    fn gsm7_extension_counts_two_septets() {
        assert_eq!(measure("€"), size(Encoding::Gsm7, 2, 1));
        assert_eq!(measure("{[]}"), size(Encoding::Gsm7, 8, 1));
        // 158 + 2 = 160: still one part; 159 + 2 = 161: two parts.
        assert_eq!(
            measure(&format!("{}€", a(158))),
            size(Encoding::Gsm7, 160, 1)
        );
        assert_eq!(
            measure(&format!("{}€", a(159))),
            size(Encoding::Gsm7, 161, 2)
        );
        // 152 'a' + '€' fits one part (154 septets).
        assert_eq!(
            measure(&format!("{}€", a(152))),
            size(Encoding::Gsm7, 154, 1)
        );
    }

    #[test]
    fn gsm7_extension_is_not_split_across_parts() {
        // 152 'a' + '€' + 152 'a' = 306 septets, which would fit 2 x 153,
        // but the euro cannot start at septet 153 of part 1: part 1 holds
        // 152 'a' (one septet unused), part 2 '€' + 151 'a', part 3 'a'.
        let s = format!("{}€{}", a(152), a(152));
        assert_eq!(measure(&s), size(Encoding::Gsm7, 306, 3));
        // 151 'a' + '€' fills part 1 exactly; 153 'a' fill part 2.
        let s = format!("{}€{}", a(151), a(153));
        assert_eq!(measure(&s), size(Encoding::Gsm7, 306, 2));
        // 152 'a' + '€' + 7 'a' = 161: euro moves to part 2, still 2 parts.
        let s = format!("{}€{}", a(152), a(7));
        assert_eq!(measure(&s), size(Encoding::Gsm7, 161, 2));
    }

    #[test]
    fn folded_vietnamese_is_gsm7() {
        let s = fold_to_gsm7("Hồ sơ của ông đã được tiếp nhận");
        assert_eq!(measure(&s).encoding, Encoding::Gsm7);
    }

    // ---- measure: UCS-2 -----------------------------------------------

    fn vi(n: usize) -> String {
        "ộ".repeat(n)
    }

    #[test]
    fn ucs2_single_and_multipart_boundaries() {
        assert_eq!(measure(&vi(1)), size(Encoding::Ucs2, 1, 1));
        assert_eq!(measure(&vi(70)), size(Encoding::Ucs2, 70, 1));
        assert_eq!(measure(&vi(71)), size(Encoding::Ucs2, 71, 2));
        assert_eq!(measure(&vi(134)), size(Encoding::Ucs2, 134, 2));
        assert_eq!(measure(&vi(135)), size(Encoding::Ucs2, 135, 3));
        assert_eq!(measure(&vi(201)), size(Encoding::Ucs2, 201, 3));
        assert_eq!(measure(&vi(202)), size(Encoding::Ucs2, 202, 4));
    }

    #[test]
    fn one_non_gsm_char_switches_to_ucs2() {
        // 'ç' (small c cedilla) is not GSM-7, only capital 'Ç' is.
        let s = format!("{}ç", a(100));
        assert_eq!(measure(&s), size(Encoding::Ucs2, 101, 2));
        // Extension characters are 1 unit in UCS-2.
        let s = format!("ộ{}", "€".repeat(69));
        assert_eq!(measure(&s), size(Encoding::Ucs2, 70, 1));
    }

    #[test]
    fn emoji_surrogate_pairs() {
        assert_eq!(measure("🎉"), size(Encoding::Ucs2, 2, 1));
        assert_eq!(measure(&"🎉".repeat(35)), size(Encoding::Ucs2, 70, 1));
        assert_eq!(measure(&"🎉".repeat(36)), size(Encoding::Ucs2, 72, 2));
        // 67 units per part is odd: 33 emoji (66 units) per part, so 67
        // emoji (134 units) need 3 parts, not 2.
        assert_eq!(measure(&"🎉".repeat(67)), size(Encoding::Ucs2, 134, 3));
        // 66 'ộ' + emoji + 66 'ộ' = 134 units: the pair can't start at unit
        // 67 of part 1, so part 2 gets emoji + 65 'ộ' and part 3 one 'ộ'.
        let s = format!("{}🎉{}", vi(66), vi(66));
        assert_eq!(measure(&s), size(Encoding::Ucs2, 134, 3));
        // 65 'ộ' + emoji fills part 1 exactly.
        let s = format!("{}🎉{}", vi(65), vi(67));
        assert_eq!(measure(&s), size(Encoding::Ucs2, 134, 2));
    }
}
