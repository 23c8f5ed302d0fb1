//! Masked addresses: what logs and API answers show instead of a phone or an e-mail (Nghị định
//! 13/2023: personal data never in clear outside the table that needs it).

/// "0912345678" → "09******78"; "binh.tt@example.gov.vn" → "b***@example.gov.vn"; a URL → its
/// scheme and host.
pub fn address(to: &str) -> String {
    if let Some((local, domain)) = to.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    if let Ok(url) = url::Url::parse(to)
        && let Some(host) = url.host_str()
    {
        return format!("{}://{host}/…", url.scheme());
    }
    let chars: Vec<char> = to.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 4))
}

/// Free text (a provider's error, a receipt's reason) with every e-mail address and every run of
/// eight or more digits (a phone, an ID number; spaces, dots and dashes between digits included)
/// masked.
pub fn scrub(text: &str) -> String {
    let mut words = Vec::new();
    for word in text.split(' ') {
        let core = word.trim_matches(|c: char| "<>()[]{},;:\"'".contains(c));
        if core.contains('@') && core.contains('.') && !core.starts_with('@') {
            words.push(word.replace(core, &address(core)));
        } else {
            words.push(word.to_owned());
        }
    }
    let joined = words.join(" ");
    // Digit runs, allowing one separator between digits.
    let chars: Vec<char> = joined.chars().collect();
    let mut out = String::with_capacity(joined.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            let mut end = i + 1;
            let mut digits = usize::from(chars[i].is_ascii_digit());
            while end < chars.len() {
                if chars[end].is_ascii_digit() {
                    digits += 1;
                    end += 1;
                } else if matches!(chars[end], ' ' | '.' | '-')
                    && chars.get(end + 1).is_some_and(char::is_ascii_digit)
                {
                    end += 1;
                } else {
                    break;
                }
            }
            let run: String = chars[start..end].iter().collect();
            if digits >= 8 {
                out.push_str(&address(&run));
            } else {
                out.push_str(&run);
            }
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_loses_addresses_and_numbers() {
        assert_eq!(
            scrub("550 <an.nv@example.vn> unknown user"),
            "550 <a***@example.vn> unknown user"
        );
        assert_eq!(
            scrub("subscriber 84912345678 unreachable, code 404"),
            "subscriber 84*******78 unreachable, code 404"
        );
        assert_eq!(scrub("so 0912 345 678 sai"), "so 09********78 sai");
        assert_eq!(scrub("HTTP 502: upstream down"), "HTTP 502: upstream down");
    }

    #[test]
    fn nothing_in_clear() {
        assert_eq!(address("0912345678"), "09******78");
        assert_eq!(address("binh.tt@example.gov.vn"), "b***@example.gov.vn");
        assert_eq!(
            address("https://hook.example.vn/in?token=abc"),
            "https://hook.example.vn/…"
        );
        assert_eq!(address("123"), "***");
    }
}
