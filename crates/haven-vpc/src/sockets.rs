//! Sockets made inside a namespace by a thread that lives there: what a process in the host's
//! namespace (the ALB twin) opens its connections into the VPC on, one thread per namespace.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, mpsc};

use crate::Error;

type Reply = mpsc::SyncSender<io::Result<OwnedFd>>;

/// A socket factory in one network namespace; its thread ends when this is dropped.
#[derive(Debug)]
pub struct Sockets {
    namespace: String,
    requests: Mutex<mpsc::Sender<Reply>>,
}

impl Sockets {
    /// Starts the namespace's socket thread (`/run/netns/<namespace>`).
    pub fn open(namespace: &str) -> Result<Self, Error> {
        let path = format!("/run/netns/{namespace}");
        let file = File::open(&path).map_err(|source| Error::Io { path, source })?;
        let (tx, rx) = mpsc::channel::<Reply>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<io::Result<()>>(1);
        let name = namespace.to_owned();
        std::thread::Builder::new()
            .name(format!("sockets-{namespace}"))
            .spawn(move || {
                // SAFETY: the descriptor is open for the call; setns changes only this thread's
                // network namespace, which it keeps until it ends.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                let entered = if rc == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                };
                let ok = entered.is_ok();
                // The opener waits for this; if it is gone there is nobody to serve.
                if ready_tx.send(entered).is_err() || !ok {
                    return;
                }
                while let Ok(reply) = rx.recv() {
                    // The asker may have given up; the socket then closes with the reply.
                    let _abandoned = reply.send(tcp_socket()).is_err();
                }
            })
            .map_err(|source| Error::Setns {
                namespace: name.clone(),
                source,
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                namespace: name,
                requests: Mutex::new(tx),
            }),
            Ok(Err(source)) => Err(Error::Setns {
                namespace: name,
                source,
            }),
            Err(_) => Err(Error::Panicked(name)),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A new unconnected, non-blocking IPv4 TCP socket in the namespace.
    pub fn socket(&self) -> io::Result<OwnedFd> {
        let (reply, answer) = mpsc::sync_channel(1);
        let gone = || io::Error::other(format!("the socket thread of {} ended", self.namespace));
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(reply)
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

fn tcp_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just made and owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
