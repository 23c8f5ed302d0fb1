//! Small text helpers for messages that quote what a caller sent.

pub use motcua_text::{QUOTE_CHARS, quote};

/// A value fit for a NATS header: one line, bounded.
pub fn header_value(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect();
    one_line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_and_controls_escaped() {
        assert_eq!(quote("0912"), "\"0912\"");
        let long = "9".repeat(1_000_000);
        let q = quote(&long);
        assert!(q.len() < 80, "{q}");
        assert!(q.contains("1000000"), "{q}");
        assert_eq!(quote("a\0b"), "\"a\\u{0}b\"");
        assert_eq!(header_value("line one\r\nline two"), "line one  line two");
    }
}
