//! The accept loop and per-connection serving, shared by the TLS and the admin listener.
//!
//! Each connection runs in its own task, so one bad client (a failed handshake, a slow or
//! garbled request) only ends its own connection; an accept error is logged and the loop goes
//! on. On shutdown the loop stops accepting, asks every connection to finish its current
//! request and close, and waits for them up to a drain timeout.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

/// Timeouts for one connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time for a client to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time for a client to send a request's headers once it starts one.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// A listener with what it serves.
pub struct Server {
    pub listener: TcpListener,
    /// `None` serves plain HTTP (the admin port).
    pub tls: Option<TlsAcceptor>,
    pub app: Router,
    pub limits: ConnectionLimits,
}

impl Server {
    /// Serves until `shutdown` turns true, then drains for at most `drain_timeout`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>, drain_timeout: Duration) {
        // Every connection task holds a sender; when all are dropped, the drain is complete.
        let (open_tx, mut open_rx) = mpsc::channel::<()>(1);

        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Usually EMFILE or a reset before accept: back off briefly, go on.
                        tracing::warn!(%error, "Accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stopped(&mut shutdown) => break,
            };

            let connection = Connection {
                tls: self.tls.clone(),
                app: self.app.clone(),
                limits: self.limits,
                shutdown: shutdown.clone(),
            };
            let open = open_tx.clone();
            tokio::spawn(async move {
                connection.serve(stream, peer).await;
                drop(open);
            });
        }

        drop(self.listener);
        drop(open_tx);
        if tokio::time::timeout(drain_timeout, open_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!("Connections still open after the drain timeout; closing them");
        }
    }
}

struct Connection {
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: ConnectionLimits,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = self.tls.clone() else {
            return self.http(stream, peer).await;
        };

        let handshake = acceptor.accept(stream);
        match tokio::time::timeout(self.limits.handshake_timeout, handshake).await {
            Ok(Ok(stream)) => self.http(stream, peer).await,
            Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    async fn http<S>(mut self, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .keep_alive(true);
        let service = TowerToHyperService::new(self.app);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);

        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "Connection ended with an error");
                    }
                    return;
                }
                _ = stopped(&mut self.shutdown), if !closing => {
                    // Finishes the request in flight, then closes.
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Resolves once `shutdown` is true (at once if it already is).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens when the process is ending.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
