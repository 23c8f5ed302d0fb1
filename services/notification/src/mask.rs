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

#[cfg(test)]
mod tests {
    use super::*;

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
