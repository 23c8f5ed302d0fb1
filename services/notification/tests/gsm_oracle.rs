//! Cross-checks `gsm` against the `gsm7-alt` crate's encoder: `gsm` asks the
//! crate one character at a time, so the table check guards that per-character
//! use against the crate's whole-text answer; septet counts come from its
//! encoded bytes, and part counts from a separate byte-level splitter over them.

use motcua_notification::gsm::{Encoding, fold_to_gsm7, is_gsm7, measure};

/// Escape code that introduces a GSM-7 extension-table character.
const ESC: u8 = 0x1B;

/// Part count of GSM-7 encoded bytes (one byte per septet, escape + code for
/// extension characters), never splitting an escape pair.
fn oracle_parts(bytes: &[u8]) -> usize {
    if bytes.is_empty() {
        return 0;
    }
    if bytes.len() <= 160 {
        return 1;
    }
    let mut parts = 1;
    let mut used = 0;
    let mut iter = bytes.iter();
    while let Some(&b) = iter.next() {
        let width = if b == ESC {
            iter.next();
            2
        } else {
            1
        };
        if used + width > 153 {
            parts += 1;
            used = 0;
        }
        used += width;
    }
    parts
}

fn check(text: &str) {
    let m = measure(text);
    assert_eq!(m.encoding, Encoding::Gsm7, "{text:?}");
    let bytes = gsm7_alt::encode_with_config(text, &gsm7_alt::Gsm7Config::strict())
        .expect("oracle refuses a text measured as GSM-7");
    assert_eq!(m.units, bytes.len(), "{text:?}");
    assert_eq!(
        m.units,
        gsm7_alt::encoded_len(text).expect("GSM-7"),
        "{text:?}"
    );
    assert_eq!(m.parts, oracle_parts(&bytes), "{text:?}");
}

#[test]
fn character_table_matches_oracle() {
    for c in (0u32..=0x10FFFF).filter_map(char::from_u32) {
        let s = c.to_string();
        assert_eq!(
            is_gsm7(c),
            gsm7_alt::is_gsm7_compatible(&s),
            "U+{:04X}",
            u32::from(c)
        );
    }
}

#[test]
fn part_counts_match_oracle_at_boundaries() {
    let ext = ['€', '{', '}', '[', ']', '\\', '^', '~', '|', '\u{000C}'];
    for n in 0..=480 {
        check(&"a".repeat(n));
    }
    // One extension character at every position around the part edges.
    for total in [155, 159, 160, 161, 162, 305, 306, 307, 308, 459, 460] {
        for pos in 0..total {
            let e = ext[pos % ext.len()];
            let s = format!("{}{e}{}", "a".repeat(pos), "a".repeat(total - pos));
            check(&s);
        }
    }
}

#[test]
fn part_counts_match_oracle_on_pseudo_random_text() {
    let pool: Vec<char> = "abcXYZ 0123456789.,!?@£$¥Δ_ΦΓΛΩΠΨΣΘΞ€{}[]\\^~|\n\r"
        .chars()
        .collect();
    let mut state: u64 = 0xD1B5_4A32_D192_ED03;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let len = (next() % 520) as usize;
        let text: String = (0..len)
            .filter_map(|_| pool.get((next() % pool.len() as u64) as usize))
            .collect();
        check(&text);
    }
}

#[test]
fn folded_vietnamese_is_accepted_by_oracle() {
    let texts = [
        "Hồ sơ đất đai của ông Nguyễn Văn Ánh đã được tiếp nhận",
        "Hồ sơ 000.00.06.H56-231027-0361 đang được xử lý. Phí: 50.000₫ (≈2 €). \
         Tra cứu: HS 000.00.06.H56-231027-0361 K7Q2M9XA gửi 8xxx. Cảm ơn! 🎉",
        "“Thông báo” — Ủy ban nhân dân phường Điện Biên, quận Ba Đình, Hà Nội…",
    ];
    for t in texts {
        let folded = fold_to_gsm7(t);
        assert!(gsm7_alt::is_gsm7_compatible(&folded), "{folded:?}");
        check(&folded);
        check(&folded.repeat(5));
    }
}
