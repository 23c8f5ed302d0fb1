//! How motcua calls out: the HTTP(S) client for other systems (identity provider, gateways,
//! webhooks), and gRPC channels to its own peer services, balanced per call.

/// An HTTP(S) client for calls to other systems (identity provider, gateways, webhooks): rustls
/// on ring, the process's one crypto provider.
pub fn client(timeout: std::time::Duration) -> anyhow::Result<reqwest::Client> {
    install_crypto();
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()?)
}

/// Makes ring the process's TLS crypto provider (idempotent). rustls picks one by itself only
/// when a single provider is compiled in; with ring (sqlx, ours) and aws-lc-rs (object_store's S3
/// client) both in the build, a TLS client that asks for the default — NATS over TLS — would
/// panic without this.
pub fn install_crypto() {
    // A second install is refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How often a peer's host name is resolved again: pods an autoscaler adds get calls within this.
const RESOLVE_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// A gRPC channel to a peer service (`url` as the setting `var` gives it) that balances each call,
/// not each connection, over every address the host name resolves to, resolved again every 15
/// seconds. A Kubernetes ClusterIP balances connections, so every call of a long-lived channel
/// went to the one pod it first reached and the replicas an autoscaler added got none; pointed at a
/// headless Service, whose name resolves to every ready pod, the calls
/// spread and follow the pods as they come and go. An address literal (a developer's machine, the
/// tests) is one endpoint, connected lazily as before; so is `https://` (its certificate names the
/// host, not the pods' addresses).
pub fn grpc_channel(
    var: &str,
    url: &str,
    timeout: Option<std::time::Duration>,
) -> anyhow::Result<tonic::transport::Channel> {
    use anyhow::Context;
    let var = var.to_owned();
    let endpoint = move |url: &str| -> anyhow::Result<tonic::transport::Endpoint> {
        let e = tonic::transport::Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("{var} {url:?} is not a URL"))?
            .connect_timeout(std::time::Duration::from_secs(3));
        Ok(match timeout {
            Some(t) => e.timeout(t),
            None => e,
        })
    };
    let template = endpoint(url)?;
    let uri = template.uri().clone();
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    if uri.scheme_str() != Some("http") || host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(template.connect_lazy());
    }
    let port = uri.port_u16().unwrap_or(80);
    let resolve = move || {
        let host = host.clone();
        async move {
            tokio::net::lookup_host((host.as_str(), port))
                .await
                .map(|addrs| addrs.collect::<Vec<_>>())
        }
    };
    Ok(balanced(RESOLVE_EVERY, resolve, move |addr| {
        endpoint(&format!("http://{addr}")).ok()
    }))
}

/// A channel balanced over the addresses `resolve` gives, asked again every `every`; `endpoint`
/// makes the endpoint of one address. A failed resolution keeps the addresses known.
pub fn balanced<R, F>(
    every: std::time::Duration,
    resolve: R,
    endpoint: impl Fn(std::net::SocketAddr) -> Option<tonic::transport::Endpoint> + Send + 'static,
) -> tonic::transport::Channel
where
    R: Fn() -> F + Send + 'static,
    F: std::future::Future<Output = std::io::Result<Vec<std::net::SocketAddr>>> + Send,
{
    use tonic::transport::channel::Change;
    let (channel, changes) = tonic::transport::Channel::balance_channel(64);
    tokio::spawn(async move {
        let mut known = std::collections::HashSet::new();
        loop {
            match resolve().await {
                Ok(addrs) => {
                    let now: std::collections::HashSet<_> = addrs.into_iter().collect();
                    for addr in now.difference(&known) {
                        if let Some(e) = endpoint(*addr)
                            && changes.send(Change::Insert(*addr, e)).await.is_err()
                        {
                            return; // the channel is gone
                        }
                    }
                    for addr in known.difference(&now) {
                        if changes.send(Change::Remove(*addr)).await.is_err() {
                            return;
                        }
                    }
                    known = now;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot resolve a peer's address; keeping the ones known")
                }
            }
            tokio::select! {
                _ = changes.closed() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    });
    channel
}
