//! The receipt's QR link to the public tracking page.
//!
//! `{base}/tra-cuu#ma={dossier code}&ma-tra-cuu={the receipt's secret}`: the code and the
//! token travel after "#", which browsers never send to a server nor put in a Referer, so the
//! token ends up in no access log, proxy log or analytics; the page's script reads them, clears
//! them from the address bar and posts the tracking form.

/// The link for a dossier, given the tracking page's public address (e.g.
/// `https://tracuu.example.gov.vn`).
pub fn receipt_link(base: &str, code: &str, token: &str) -> String {
    let fragment: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("ma", code)
        .append_pair("ma-tra-cuu", token)
        .finish();
    format!("{}/tra-cuu#{fragment}", base.trim_end_matches('/'))
}

/// Checks the tracking page's public address: http(s), no query or fragment.
pub fn check_base(base: &str) -> Result<(), String> {
    let url = url::Url::parse(base).map_err(|e| format!("{base:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!(
            "{base:?} must be an http(s) address without ? or #, e.g. https://tracuu.example.gov.vn"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_carries_code_and_token_after_the_hash() {
        assert_eq!(
            receipt_link(
                "https://tracuu.example.gov.vn/",
                "000.00.06.H56-261127-0001",
                "K7M2P9Q4RX"
            ),
            "https://tracuu.example.gov.vn/tra-cuu#ma=000.00.06.H56-261127-0001&ma-tra-cuu=K7M2P9Q4RX"
        );
        assert!(check_base("https://tracuu.example.gov.vn").is_ok());
        assert!(check_base("ftp://x").is_err());
        assert!(check_base("https://x/?a=1").is_err());
        assert!(check_base("tracuu").is_err());
    }
}
