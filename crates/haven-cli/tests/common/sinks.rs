//! Where the twin's notifications land in tests: an SMTP server and a webhook receiver on
//! loopback that keep what they get, and the check of a webhook's signature.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::{Twin, haven_with_stdin};

/// Each message an SMTP sink received, as its DATA text.
pub type Mails = Arc<Mutex<Vec<String>>>;

/// Each request a webhook receiver got: (headers, body).
pub type Hooks = Arc<Mutex<Vec<(String, String)>>>;

/// A server on a free loopback port that runs `handle` on each connection, in a thread of its
/// own, with the store it keeps what it got in; returns the port and the store.
fn serve<T: Send + 'static>(handle: fn(TcpStream, &Mutex<Vec<T>>)) -> (u16, Arc<Mutex<Vec<T>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || handle(stream, &store));
        }
    });
    (port, got)
}

/// A minimal SMTP server that keeps every message it receives; returns its port.
pub fn smtp_sink() -> (u16, Mails) {
    serve(|stream, store| {
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        w.write_all(b"220 sink ESMTP\r\n").ok();
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            let cmd = line.trim_end().to_ascii_uppercase();
            if cmd.starts_with("DATA") {
                w.write_all(b"354 go ahead\r\n").ok();
                let mut body = String::new();
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                        break;
                    }
                    body.push_str(&l);
                }
                store.lock().unwrap().push(body);
                w.write_all(b"250 queued\r\n").ok();
            } else if cmd.starts_with("QUIT") {
                w.write_all(b"221 bye\r\n").ok();
                break;
            } else {
                w.write_all(b"250 ok\r\n").ok();
            }
            line.clear();
        }
    })
}

/// A webhook receiver that answers 200 and keeps each request's headers and body; returns its
/// port.
pub fn webhook_sink() -> (u16, Hooks) {
    serve(|stream, store| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let (mut len, mut headers) = (0usize, String::new());
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            headers.push_str(&line);
            line.clear();
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_ok() {
            store
                .lock()
                .unwrap()
                .push((headers, String::from_utf8_lossy(&body).into_owned()));
        }
        let mut w = stream;
        // The client may be gone already; the test notices a missing delivery instead.
        w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .ok();
    })
}

/// Whether a webhook request carries an `X-Haven-Signature` of its body under `key`.
pub fn signed_with(key: &str, headers: &str, body: &str) -> bool {
    let signature = headers.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("x-haven-signature:")
            .map(|v| v.trim().to_owned())
    });
    signature.is_some_and(|s| haven_notify::verify_signature(key, body.as_bytes(), &s))
}

/// The key webhooks are signed with, kept in the Parameter Store twin.
pub const WEBHOOK_KEY: &str = "monitoring-hmac-0c41";

/// A twin whose notifications land in sinks the test reads.
pub struct Watched {
    pub twin: Twin,
    pub mails: Mails,
    pub hooks: Hooks,
}

/// The example project with an SMTP sink as its relay, a signed webhook beside the e-mail, an
/// alarm period of 2 s, and `edit` applied.
pub fn watched_twin(edit: impl FnOnce(String) -> String) -> Watched {
    let (smtp, mails) = smtp_sink();
    let (hook, hooks) = webhook_sink();
    let twin = Twin::project(|s| {
        edit(
            s.replace(
                "[local]\n",
                &format!("[local]\nsmtp_relay = \"127.0.0.1:{smtp}\"\nalarm_period = \"2s\"\n"),
            )
            .replace(
                "email = [\"ops@example.com\"]",
                &format!(
                    "email = [\"ops@example.com\"]\nwebhooks = [\"http://127.0.0.1:{hook}/hook\"]\n\
                     webhook_secret = \"/hello/webhook-key\""
                ),
            ),
        )
    });
    let out = haven_with_stdin(
        twin.path(),
        &["secret", "set", "/hello/webhook-key"],
        WEBHOOK_KEY,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Watched { twin, mails, hooks }
}
