//! The HTTP(S) client for calls to other systems (identity provider, gateways, webhooks): one
//! place that knows how motcua calls out.

/// An HTTP(S) client for calls to other systems (identity provider, gateways, webhooks): rustls
/// on ring, the process's one crypto provider.
pub fn client(timeout: std::time::Duration) -> anyhow::Result<reqwest::Client> {
    // A second install is refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()?)
}
