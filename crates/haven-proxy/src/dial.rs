//! How the ALB twin opens connections to its targets: from the host by default, or through a
//! [`Dialer`] that makes each socket somewhere else (the VPC twin makes them inside the ALB's
//! node in the target's AZ, so that the connection crosses the VPC's routes and rules).

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use tokio::net::TcpStream;

/// Makes the unconnected, non-blocking TCP sockets target connections are opened on.
pub trait Dialer: Send + Sync + std::fmt::Debug {
    /// A fresh IPv4 TCP socket for a target in `zone` (none: the target named no zone).
    fn socket(&self, zone: Option<&str>) -> io::Result<OwnedFd>;
}

/// Connects to `addr` on a socket from `dialer`, or from the host without one.
pub(crate) async fn connect(
    dialer: Option<&Arc<dyn Dialer>>,
    zone: Option<&str>,
    addr: SocketAddr,
) -> io::Result<TcpStream> {
    match dialer {
        None => TcpStream::connect(addr).await,
        Some(d) => {
            let std = std::net::TcpStream::from(d.socket(zone)?);
            tokio::net::TcpSocket::from_std_stream(std)
                .connect(addr)
                .await
        }
    }
}
