//! One thread per connection runs the keep-alive request loop; the registry lets shutdown
//! close the connections that are between requests and wait for the rest.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::http::{self, Response};
use crate::{Server, log, routes, signal};

/// Idle keep-alive connections are closed after this. The proxy in front uses a shorter pool
/// idle timeout, so it never picks a connection this side is about to close.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bounds how long a client that stops reading can hold a thread.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Open connections, each with whether it is idle (between requests).
#[derive(Default)]
pub struct Registry {
    conns: Mutex<Conns>,
    emptied: Condvar,
}

#[derive(Default)]
struct Conns {
    next_id: u64,
    open: HashMap<u64, (TcpStream, bool)>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Conns> {
        // Every update is a single insert, remove or flag write, so a poisoned map is fine.
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new, idle connection. Called before its thread starts, so `drain` never
    /// misses a connection that was already accepted.
    pub fn add(&self, stream: &TcpStream) -> io::Result<u64> {
        let handle = stream.try_clone()?;
        let mut conns = self.lock();
        conns.next_id += 1;
        let id = conns.next_id;
        conns.open.insert(id, (handle, true));
        Ok(id)
    }

    /// Marks a connection idle or busy. Returns false when it goes idle while the server is
    /// stopping: the caller must then close it.
    fn set_idle(&self, id: u64, idle: bool) -> bool {
        let mut conns = self.lock();
        if let Some(entry) = conns.open.get_mut(&id) {
            entry.1 = idle;
        }
        // Checked under the lock `drain` holds while it closes idle connections: either drain
        // sees this one idle, or this sees the stop flag.
        !(idle && signal::stopping())
    }

    pub fn remove(&self, id: u64) {
        let mut conns = self.lock();
        conns.open.remove(&id);
        if conns.open.is_empty() {
            self.emptied.notify_all();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// Closes idle connections and waits up to `timeout` for busy ones to finish their
    /// request. Returns whether every connection closed in time.
    pub fn drain(&self, timeout: Duration) -> bool {
        let conns = self.lock();
        for (stream, _) in conns.open.values().filter(|(_, idle)| *idle) {
            // Wakes the thread blocked reading the next request; it sees EOF and exits.
            let _ = stream.shutdown(Shutdown::Both);
        }
        let waited = self
            .emptied
            .wait_timeout_while(conns, timeout, |c| !c.open.is_empty());
        let (_conns, result) = waited.unwrap_or_else(PoisonError::into_inner);
        !result.timed_out()
    }
}

/// Deregisters a connection when its thread ends, even by panic.
struct Registered<'a>(&'a Registry, u64);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.remove(self.1);
    }
}

/// Serves connection `id` until the client closes it, it idles out, or the server stops.
pub fn serve(server: &Server, id: u64, stream: TcpStream) {
    let _registered = Registered(&server.conns, id);
    // Errors here are resets and timeouts, or come after the request was answered and logged;
    // there is no one to report them to.
    let _ = serve_requests(server, id, stream);
}

fn serve_requests(server: &Server, id: u64, mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut buf = Vec::new();
    loop {
        let Some(parsed) = read_head(server, id, &mut stream, &mut buf)? else {
            return Ok(());
        };
        let started = Instant::now();
        let in_flight = server.metrics.start_request();
        // `unread`: the stream cannot be parsed past a bad head or an unframed body, so the
        // connection closes after the answer.
        let (req, resp, unread) = match parsed {
            Err(status) => (None, Response::error(status), true),
            Ok(req) => match req.body_length() {
                Err(status) => (Some(req), Response::error(status), true),
                Ok(len) => {
                    let expect = req.header("expect");
                    if len > 0 && expect.is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
                        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                    }
                    discard_body(&mut stream, &mut buf, len)?;
                    let resp = routes::handle(&req, &server.config, &server.metrics);
                    (Some(req), resp, false)
                }
            },
        };
        // Once stopping, every answer closes its connection, so draining ends.
        let keep_alive =
            !unread && req.as_ref().is_some_and(|r| r.keep_alive()) && !signal::stopping();
        let head_only = req.as_ref().is_some_and(|r| r.method == "HEAD");
        // Counted and logged before writing, so a client that has its answer also sees it in
        // /metrics (and tests need not poll for it).
        drop(in_flight);
        let (method, target) = req
            .as_ref()
            .map_or(("-", "-"), |r| (&*r.method, &*r.target));
        server.metrics.record(routes::label(target), resp.status);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        log(format_args!("{method} {target} {} {ms:.1}ms", resp.status));
        http::write_response(&mut stream, &resp, head_only, keep_alive)?;
        if unread {
            linger(&mut stream);
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Reads until `buf` holds a whole request head and parses it (or gives the status to answer
/// instead). `None` means the connection closed, timed out or was drained between requests.
fn read_head(
    server: &Server,
    id: u64,
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Result<http::Request, u16>>> {
    let mut chunk = [0u8; 8192];
    loop {
        // RFC 9112: skip empty lines before a request line (some clients send CRLF after bodies).
        let blank = buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        buf.drain(..blank);
        if buf.is_empty() && !server.conns.set_idle(id, true) {
            return Ok(None);
        }
        if let Some(end) = http::head_end(buf) {
            let parsed = if end > http::MAX_HEAD {
                Err(431)
            } else {
                http::parse_head(&buf[..end])
            };
            buf.drain(..end);
            return Ok(Some(parsed));
        }
        if buf.len() > http::MAX_HEAD {
            return Ok(Some(Err(431)));
        }
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if buf.is_empty() && is_idle_timeout(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        if buf.is_empty() {
            server.conns.set_idle(id, false);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn is_idle_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads and drops a `len`-byte request body; no route needs one.
fn discard_body(stream: &mut TcpStream, buf: &mut Vec<u8>, len: u64) -> io::Result<()> {
    let buffered = buf.len().min(usize::try_from(len).unwrap_or(usize::MAX));
    buf.drain(..buffered);
    let rest = len - buffered as u64;
    if io::copy(&mut stream.take(rest), &mut io::sink())? < rest {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// After an error answer the client may still be sending. Closing with unread data would reset
/// the connection and could destroy the answer, so half-close and drain briefly first.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = io::copy(&mut stream.take(1 << 20), &mut io::sink());
}
