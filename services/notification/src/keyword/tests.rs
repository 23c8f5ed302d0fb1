use super::*;

const CODE: &str = "000.00.06.H56-231027-0361";
const SECRET: &str = "K7Q2M9XA";

fn kw(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| (*k).to_owned()).collect()
}

fn lookup(code: &str, secret: &str) -> Parsed {
    Parsed::Lookup {
        code: code.to_owned(),
        secret: secret.to_owned(),
    }
}

fn parse_default(text: &str) -> Parsed {
    parse(text, &default_keywords())
}

fn expected() -> Parsed {
    lookup(CODE, SECRET)
}

// ---- validate_keywords --------------------------------------------

#[test]
fn default_keywords_are_valid() {
    assert_eq!(default_keywords(), kw(&["HS"]));
    assert_eq!(validate_keywords(&default_keywords()), Ok(()));
    assert_eq!(validate_keywords(&kw(&["HS", "HOSO", "TRACUU"])), Ok(()));
    assert_eq!(validate_keywords(&kw(&["hồsơ", "TRA2"])), Ok(()));
}

#[test]
fn refuses_empty_list() {
    let err = validate_keywords(&[]).unwrap_err();
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn refuses_empty_keyword() {
    let err = validate_keywords(&kw(&["HS", ""])).unwrap_err();
    assert!(err.contains("#2") && err.contains("empty"), "{err}");
    let err = validate_keywords(&kw(&["  "])).unwrap_err();
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn refuses_keyword_with_spaces() {
    for k in ["HO SO", " HS", "HS\t", "HO\nSO"] {
        let err = validate_keywords(&kw(&[k])).unwrap_err();
        assert!(err.contains("whitespace"), "{err}");
    }
}

#[test]
fn refuses_tc_in_any_form() {
    for k in ["TC", "tc", "Tc", "tC", "TĆ", "ṬC", "ＴＣ"] {
        let err = validate_keywords(&kw(&["HS", k])).unwrap_err();
        assert!(err.contains("opt-out"), "{k:?}: {err}");
    }
    assert_eq!(validate_keywords(&kw(&["TCX", "XTC"])), Ok(()));
}

#[test]
fn refuses_keyword_with_punctuation_or_symbols() {
    for k in ["HS:", "HO-SO", "H.S", "🙂", "HS€"] {
        let err = validate_keywords(&kw(&[k])).unwrap_err();
        assert!(err.contains("letters and digits"), "{k:?}: {err}");
    }
}

// ---- parse: accepted forms ----------------------------------------

#[test]
fn canonical_form() {
    assert_eq!(
        parse_default("HS 000.00.06.H56-231027-0361 K7Q2M9XA"),
        expected()
    );
}

#[test]
fn case_insensitive() {
    for text in [
        "hs 000.00.06.h56-231027-0361 k7q2m9xa",
        "Hs 000.00.06.H56-231027-0361 K7q2M9xA",
        "hS 000.00.06.H56-231027-0361 K7Q2M9XA",
    ] {
        assert_eq!(parse_default(text), expected(), "{text:?}");
    }
}

#[test]
fn extra_whitespace_anywhere() {
    assert_eq!(
        parse_default("  hs   000.00.06.h56-231027-0361   k7q2m9xa  "),
        expected()
    );
    assert_eq!(
        parse_default("\n\tHS\t\t000.00.06.H56-231027-0361\r\n K7Q2M9XA\n"),
        expected()
    );
    assert_eq!(
        parse_default("HS\u{00A0}000.00.06.H56-231027-0361\u{3000}K7Q2M9XA"),
        expected()
    );
}

#[test]
fn punctuation_between_tokens() {
    for text in [
        "HS:000.00.06.H56-231027-0361,K7Q2M9XA.",
        "HS: 000.00.06.H56-231027-0361, K7Q2M9XA.",
        "HS,000.00.06.H56-231027-0361;K7Q2M9XA",
        "HS; 000.00.06.H56-231027-0361 : K7Q2M9XA!",
        "HS - 000.00.06.H56-231027-0361 - K7Q2M9XA",
        "HS -- 000.00.06.H56-231027-0361 -- K7Q2M9XA ...",
        "HS 000.00.06.H56-231027-0361. K7Q2M9XA",
        "#HS (000.00.06.H56-231027-0361) \"K7Q2M9XA\"",
        "HS：000.00.06.H56-231027-0361，K7Q2M9XA",
    ] {
        assert_eq!(parse_default(text), expected(), "{text:?}");
    }
}

#[test]
fn keyword_glued_to_code() {
    for text in [
        "HS-000.00.06.H56-231027-0361 K7Q2M9XA",
        "HS.000.00.06.H56-231027-0361 K7Q2M9XA",
        "hs--000.00.06.h56-231027-0361 k7q2m9xa",
    ] {
        assert_eq!(parse_default(text), expected(), "{text:?}");
    }
    // The longest matching keyword wins.
    let keywords = kw(&["HS", "HSX"]);
    assert_eq!(
        parse("HSX-000.00.06.H56-231027-0361 K7Q2M9XA", &keywords),
        expected()
    );
}

#[test]
fn diacritics_and_trailing_words() {
    assert_eq!(
        parse_default("Hs 000.00.06.H56-231027-0361 k7q2m9xa cảm ơn"),
        expected()
    );
    assert_eq!(
        parse_default("HS 000.00.06.H56-231027-0361 K7Q2M9XA xin cảm ơn nhiều ạ!!! 🙏"),
        expected()
    );
    // Dashes turned into en dashes by a phone keyboard; full-width digits.
    assert_eq!(
        parse_default("HS 000.00.06.H56–231027–0361 K7Q2M9XA"),
        expected()
    );
    assert_eq!(
        parse_default("HS ０００.００.０６.H56-231027-0361 K7Q2M9XA"),
        expected()
    );
    // Emoji glued to the secret do not change it.
    assert_eq!(
        parse_default("HS 000.00.06.H56-231027-0361 K7Q2M9XA🙂"),
        expected()
    );
}

#[test]
fn configured_keywords_with_diacritics() {
    let keywords = kw(&["HS", "HOSO", "TRACUU"]);
    for text in [
        "HOSO 000.00.06.H56-231027-0361 K7Q2M9XA",
        "hồsơ 000.00.06.H56-231027-0361 K7Q2M9XA",
        "HỒSƠ 000.00.06.H56-231027-0361 K7Q2M9XA",
        // NFD: combining marks are dropped.
        "ho\u{0302}\u{0300}so\u{031B} 000.00.06.H56-231027-0361 K7Q2M9XA",
        "Tracứu 000.00.06.H56-231027-0361 K7Q2M9XA",
        "hs 000.00.06.H56-231027-0361 K7Q2M9XA",
    ] {
        assert_eq!(parse(text, &keywords), expected(), "{text:?}");
    }
    // A configured keyword with diacritics matches its folded form.
    assert_eq!(
        parse("HOSO 000.00.06.H56-231027-0361 K7Q2M9XA", &kw(&["hồsơ"])),
        expected()
    );
}

#[test]
fn keyword_is_matched_on_first_token_only() {
    // Decision: "HỒ SƠ" is two tokens, "HO" and "SO", so it does not
    // match the keyword "HOSO".
    assert_eq!(
        parse("HỒ SƠ 000.00.06.H56-231027-0361 K7Q2M9XA", &kw(&["HOSO"])),
        Parsed::Help
    );
}

#[test]
fn citizen_id_secret() {
    let id = "001203004567";
    for text in [
        "HS 000.00.06.H56-231027-0361 001203004567",
        "HS 000.00.06.H56-231027-0361 001203004567.",
        "HS 000.00.06.H56-231027-0361 001 203 004 567",
        "HS 000.00.06.H56-231027-0361 0012 0300 4567 cảm ơn",
        "HS 000.00.06.H56-231027-0361 001.203.004.567",
        "HS 000.00.06.H56-231027-0361 0012-0300-4567",
    ] {
        assert_eq!(parse_default(text), lookup(CODE, id), "{text:?}");
    }
    // Groups that do not add up to 12 digits: the first token is taken
    // as a (digit-only) lookup token and the rest is ignored.
    assert_eq!(
        parse_default("HS 000.00.06.H56-231027-0361 001 203 004 5678"),
        lookup(CODE, "001")
    );
    assert_eq!(
        parse_default("HS 000.00.06.H56-231027-0361 12345678 cảm ơn"),
        lookup(CODE, "12345678")
    );
}

#[test]
fn text_of_exactly_max_length_is_parsed() {
    let base = "HS 000.00.06.H56-231027-0361 K7Q2M9XA ";
    let text = format!("{base}{}", "x".repeat(MAX_TEXT_CHARS - base.len()));
    assert_eq!(text.chars().count(), MAX_TEXT_CHARS);
    assert_eq!(parse_default(&text), expected());
}

// ---- parse: Help --------------------------------------------------

#[test]
fn help_for_empty_or_blank_text() {
    for text in ["", " ", "\n\t ", ".,;:-", "🙂"] {
        assert_eq!(parse_default(text), Parsed::Help, "{text:?}");
    }
}

#[test]
fn help_for_tc_opt_out() {
    assert_eq!(
        parse_default("TC 000.00.06.H56-231027-0361 ABC"),
        Parsed::Help
    );
    assert_eq!(parse_default("TC"), Parsed::Help);
    // Even if "TC" was configured despite validate_keywords.
    assert_eq!(
        parse("tc 000.00.06.H56-231027-0361 K7Q2M9XA", &kw(&["TC", "HS"])),
        Parsed::Help
    );
    assert_eq!(
        parse("TC-000.00.06.H56-231027-0361 K7Q2M9XA", &kw(&["TC"])),
        Parsed::Help
    );
}

#[test]
fn help_without_keyword_or_with_unknown_keyword() {
    for text in [
        "000.00.06.H56-231027-0361 K7Q2M9XA",
        "XY 000.00.06.H56-231027-0361 K7Q2M9XA",
        "HSX 000.00.06.H56-231027-0361 K7Q2M9XA",
        "HS000.00.06.H56-231027-0361 K7Q2M9XA",
        "HOSO 000.00.06.H56-231027-0361 K7Q2M9XA",
        "Xin chào, HS 000.00.06.H56-231027-0361 K7Q2M9XA",
    ] {
        assert_eq!(parse_default(text), Parsed::Help, "{text:?}");
    }
}

#[test]
fn help_with_empty_or_invalid_keyword_list() {
    let text = "HS 000.00.06.H56-231027-0361 K7Q2M9XA";
    assert_eq!(parse(text, &[]), Parsed::Help);
    assert_eq!(parse(text, &kw(&["", " "])), Parsed::Help);
    assert_eq!(
        parse("HS: 000.00.06.H56-231027-0361 K7Q2M9XA", &kw(&["HS:"])),
        Parsed::Help
    );
}

#[test]
fn help_for_wrong_order() {
    for text in [
        "HS K7Q2M9XA 000.00.06.H56-231027-0361",
        "000.00.06.H56-231027-0361 HS K7Q2M9XA",
        "K7Q2M9XA HS 000.00.06.H56-231027-0361",
    ] {
        assert_eq!(parse_default(text), Parsed::Help, "{text:?}");
    }
}

#[test]
fn help_for_bad_code() {
    for text in [
        // Keyword only, or keyword and something short.
        "HS",
        "HS   ",
        "HS 12345 K7Q2M9XA",
        // 9 characters.
        "HS 000.00.06 K7Q2M9XA",
        // No digit.
        "HS ABC.DE.FGH-IJKLMN K7Q2M9XA",
        // Characters outside [0-9A-Za-z.-].
        "HS 000.00.06.H56-231027-0361\u{E000} K7Q2M9XA",
        "HS 000.00.06.H56/231027/0361 K7Q2M9XA",
        "HS 000.00.06.H56_231027_0361 K7Q2M9XA",
    ] {
        assert_eq!(parse_default(text), Parsed::Help, "{text:?}");
    }
    let long_code = format!("HS {} K7Q2M9XA", "1".repeat(MAX_TOKEN_CHARS + 1));
    assert_eq!(parse_default(&long_code), Parsed::Help);
}

#[test]
fn help_for_missing_or_bad_secret() {
    for text in [
        "HS 000.00.06.H56-231027-0361",
        "HS 000.00.06.H56-231027-0361 .",
        "HS 000.00.06.H56-231027-0361 , ;",
        "HS 000.00.06.H56-231027-0361 🙂",
        "HS 000.00.06.H56-231027-0361 K7Q.2M9XA",
        "HS 000.00.06.H56-231027-0361 K7Q2M9X\u{E000}",
        // Dotted digits that are not a 12-digit citizen ID.
        "HS 000.00.06.H56-231027-0361 001.203.004",
        // Code and secret glued with '-': ambiguous, not split.
        "HS 000.00.06.H56-231027-0361-K7Q2M9XA",
    ] {
        assert_eq!(parse_default(text), Parsed::Help, "{text:?}");
    }
    let long_secret = format!(
        "HS 000.00.06.H56-231027-0361 {}",
        "K".repeat(MAX_TOKEN_CHARS + 1)
    );
    assert_eq!(parse_default(&long_secret), Parsed::Help);
}

#[test]
fn help_for_too_long_text() {
    let base = "HS 000.00.06.H56-231027-0361 K7Q2M9XA ";
    let text = format!("{base}{}", "x".repeat(MAX_TEXT_CHARS + 1 - base.len()));
    assert_eq!(text.chars().count(), MAX_TEXT_CHARS + 1);
    assert_eq!(parse_default(&text), Parsed::Help);
    let huge = format!("{base}{}", "ộ".repeat(100_000));
    assert_eq!(parse_default(&huge), Parsed::Help);
}

#[test]
fn never_panics_on_pseudo_random_input() {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pool: Vec<char> = "HSTC0123456789.-,;:!? \t\nK7Qabcộđ–：０🙂\u{0300}\u{E000}\u{200B}"
        .chars()
        .collect();
    let keywords = kw(&["HS", "HOSO", "TC", "", "HS:"]);
    for _ in 0..2000 {
        let len = (next() % 80) as usize;
        let text: String = (0..len)
            .filter_map(|_| pool.get((next() % pool.len() as u64) as usize))
            .collect();
        if let Parsed::Lookup { code, secret } = parse(&text, &keywords) {
            assert!(is_dossier_code(&code), "{text:?}");
            assert!(is_ascii_alphanumeric(&secret), "{text:?}");
            assert_eq!(code, code.to_ascii_uppercase());
            assert_eq!(secret, secret.to_ascii_uppercase());
        }
    }
}
