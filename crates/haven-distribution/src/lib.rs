//! The ECR twin's HTTP face: the OCI Distribution Spec v1.1 over one region's registries
//! (`haven_registry::Registry`, one per repository), on a loopback port, with ECR's Basic
//! authentication (user `AWS`, the token as password), error codes and wording, and tag
//! immutability. Standard tools (skopeo, buildah, podman, docker) push to and pull from it.

mod auth;
mod body;
mod error;
mod route;
mod server;
mod uploads;

use std::net::SocketAddr;
use std::thread::JoinHandle;

use tokio::sync::watch;

pub use auth::USER;
pub use error::{ApiError, Error, ErrorCode};
pub use route::{Route, valid_name};
pub use server::{OnPush, ServerConfig, serve};

/// A server running on a thread of its own (with its own runtime): for the CLI and tests.
#[derive(Debug)]
pub struct Background {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts serving `config` on `addr` (`127.0.0.1:0` for any free port).
    pub fn start(addr: SocketAddr, config: ServerConfig) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let std_listener = std::net::TcpListener::bind(addr).map_err(Error::Bind)?;
        std_listener.set_nonblocking(true).map_err(Error::Bind)?;
        let addr = std_listener.local_addr().map_err(Error::Bind)?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("haven-distribution".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(listener) => serve(listener, config, stopped).await,
                        Err(e) => tracing::error!(%e, "registry: cannot listen"),
                    }
                });
            })
            .map_err(Error::Runtime)?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it: requests in flight finish, uploads in progress are dropped.
    pub fn stop(mut self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), Error> {
        // The server may have ended already; then there is nobody to tell.
        self.stop.send(true).ok();
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| Error::Panicked),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(%e, "registry: stopping the server");
        }
    }
}
