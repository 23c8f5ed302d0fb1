use super::*;

/// In the GSM-7 basic set: one septet.
fn is_gsm7_basic(c: char) -> bool {
    gsm7_septets(c) == Some(1)
}

/// In the GSM-7 extension table: escape + code, two septets.
fn is_gsm7_extension(c: char) -> bool {
    gsm7_septets(c) == Some(2)
}

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

#[test]
fn gsm7_tables_are_those_of_3gpp_ts_23_038() {
    // The default alphabet written out, so that a `gsm7-alt` release that
    // changed its tables fails here: with the counts above, these lists are
    // exactly the sets.
    let basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                 ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    assert_eq!(basic.chars().count(), 127);
    for c in basic.chars() {
        assert!(is_gsm7_basic(c), "{c:?}");
    }
    for c in "\u{000C}^{}\\[~]|€".chars() {
        assert!(is_gsm7_extension(c), "{c:?}");
    }
    assert!(!is_gsm7('\u{001B}'));
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

/// A receipt SMS as the service sends it, in Vietnamese.
const RECEIPT: &str = "UBND phường Điện Biên: hồ sơ 000.00.06.H56-231027-0361 của ông \
                       Nguyễn Văn Ánh đã được tiếp nhận, hẹn trả kết quả ngày 15/11/2023. \
                       Tra cứu: gửi HS 000.00.06.H56-231027-0361 K7Q2M9XA đến 8xxx.";

#[test]
fn vietnamese_texts_segment_counts() {
    // Folded: plain ASCII, one septet a character; 190 septets are two
    // parts of 153.
    let folded = fold_to_gsm7(RECEIPT);
    let n = RECEIPT.chars().count();
    assert_eq!(n, 190);
    assert_eq!(folded.len(), n);
    assert_eq!(measure(&folded), size(Encoding::Gsm7, n, 2));
    // Sent with diacritics (MOTCUA_SMS_UNICODE): UCS-2, three parts of 67.
    assert_eq!(measure(RECEIPT), size(Encoding::Ucs2, n, 3));
    // One extension character (the euro sign) in folded text counts 2.
    let fee = fold_to_gsm7("Phí thẩm định: 2 € (50.000 đồng).");
    assert_eq!(fee, "Phi tham dinh: 2 € (50.000 dong).");
    assert_eq!(measure(&fee), size(Encoding::Gsm7, 34, 1));
    // Short Vietnamese: one part either way.
    assert_eq!(measure("Hồ sơ đã có kết quả"), size(Encoding::Ucs2, 19, 1));
    assert_eq!(
        measure(&fold_to_gsm7("Hồ sơ đã có kết quả")),
        size(Encoding::Gsm7, 19, 1)
    );
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
