//! The HTTP API of a tenge node (axum). Its view types and the typed client live in
//! `tenge-client` (which the CLI uses without any node code) and are re-exported here.
#![recursion_limit = "256"]

pub mod docs;
pub mod error;
mod events;
mod handlers;
pub mod metrics;
pub mod openapi;
pub mod proofs;
pub mod ready;
mod routes;
pub mod server;
pub mod tls;

pub use tenge_client::{client, views};

use std::sync::Arc;
use std::time::Duration;

pub use error::ApiError;
pub use handlers::transactions::TransactionHex;
pub use routes::{ROUTES, router};
pub use tenge_client::{Client, ClientError};

/// Limits of the HTTP server, with their units in their names.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// A client that has not sent a whole request head this long after connecting (or after its
    /// previous response) is disconnected: slow or half-open connections cannot pile up.
    pub header_read_timeout_ms: u64,
    /// Open connections at once; connections over it are closed at once.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            header_read_timeout_ms: 5_000,
            max_connections: 1_024,
        }
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: tenge_engine::EngineHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_limits(listener, engine, HttpLimits::default(), None, shutdown).await
}

/// [`serve`] with explicit limits, over TLS when `tls` is given. axum's own `serve` sets no
/// header read timeout and no connection bound (security review L1), so connections are driven
/// by hyper here: HTTP/1.1 with a header read timeout, at most `max_connections` at once,
/// graceful shutdown. Over TLS a connection holds its slot from the accept, and its handshake must
/// end within the header read timeout too, so handshakes cannot pile up either.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    engine: tenge_engine::EngineHandle,
    limits: HttpLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let service = hyper_util::service::TowerToHyperService::new(router(engine));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let header_read_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(%error, "accepting an API connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "API connection refused: too many open connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let service = service.clone();
        let watcher = graceful.watcher();
        match acceptor.clone() {
            None => {
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                let connection = watcher.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    let stream =
                        match tokio::time::timeout(header_read_timeout, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "API TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "API TLS handshake timed out");
                                return;
                            }
                        };
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection).await;
                    drop(slot);
                });
            }
        }
    }
    // Requests in flight finish; idle and streaming connections get a bounded grace period.
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
    Ok(())
}
