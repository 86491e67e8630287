//! The HTTP API of a tenge node (axum) and a typed client for it.

pub mod client;
pub mod openapi;
pub mod server;
pub mod views;

pub use client::{Client, ClientError};
pub use server::{ROUTES, router};

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: tenge_engine::EngineHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine))
        .with_graceful_shutdown(shutdown)
        .await
}
