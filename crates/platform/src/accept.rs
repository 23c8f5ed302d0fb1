//! How every service accepts connections, gRPC and HTTP alike.
//!
//! TCP_NODELAY: a unary call is a small request answered by a small response; with Nagle's
//! algorithm on, a response written in two pieces waits for the client's delayed ACK (~40 ms on
//! Linux) on a quiet connection. tonic sets it only for addresses it binds itself, and axum not
//! at all, so the sockets we accept get it here. Keepalive: a client that vanished behind a load
//! balancer or NAT is found and its connection freed instead of held forever.

use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::server::TcpIncoming;

const KEEPALIVE: Duration = Duration::from_secs(60);

/// The gRPC side's incoming connections.
pub fn grpc(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(KEEPALIVE))
}

/// The HTTP side's listener (axum).
pub fn http(listener: TcpListener) -> axum::serve::TapIo<TcpListener, fn(&mut TcpStream)> {
    use axum::serve::ListenerExt;
    listener.tap_io(set_nodelay as fn(&mut TcpStream))
}

fn set_nodelay(stream: &mut TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::serve::Listener;
    use futures::StreamExt;

    async fn listener() -> (TcpListener, std::net::SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        (l, addr)
    }

    #[tokio::test]
    async fn grpc_connections_are_accepted_with_nodelay() {
        let (l, addr) = listener().await;
        let mut incoming = grpc(l);
        let _client = TcpStream::connect(addr).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(accepted.nodelay().unwrap(), "Nagle's algorithm is on");
    }

    #[tokio::test]
    async fn http_connections_are_accepted_with_nodelay() {
        let (l, addr) = listener().await;
        let mut l = http(l);
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = l.accept().await;
        assert!(accepted.nodelay().unwrap(), "Nagle's algorithm is on");
    }
}
