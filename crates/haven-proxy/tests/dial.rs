//! A dialer makes every target socket: health checks and requests both open their connections
//! on the sockets it gives, for the target's zone, and a dialer that fails makes the target
//! fail its checks.

mod common;

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use common::*;
use haven_proxy::{Dialer, TargetState};

/// Counts the sockets it makes per zone; refuses zone `down`.
#[derive(Debug, Default)]
struct Counting(Mutex<Vec<Option<String>>>);

impl Dialer for Counting {
    fn socket(&self, zone: Option<&str>) -> io::Result<OwnedFd> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(zone.map(str::to_owned));
        if zone == Some("down") {
            return Err(io::Error::other("no node in this zone"));
        }
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_and_requests_use_the_dialers_sockets() {
    let stop = Stop::new();
    let g = rr_group(&stop, "dial");
    let dialer = Arc::new(Counting::default());
    g.set_dialer(dialer.clone());
    let a = Backend::start("a").await;
    g.register_in_zone("a", a.addr, "az-a");
    wait_healthy(&g, 1).await;
    let proxy = Proxy::single(&g).await;
    let c = client();
    let r = get(&c, &proxy.url("/")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let made = dialer
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    // At least one health check and the request's connection, each for the target's zone.
    assert!(made.len() >= 2, "{made:?}");
    assert!(
        made.iter().all(|z| z.as_deref() == Some("az-a")),
        "{made:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_whose_zone_cannot_be_dialed_never_turns_healthy() {
    let stop = Stop::new();
    let g = rr_group(&stop, "dial-down");
    g.set_dialer(Arc::new(Counting::default()));
    let a = Backend::start("a").await;
    g.register_in_zone("a", a.addr, "down");
    wait_state(&g, "a", TargetState::Unhealthy).await;
}
