//! A minimal SMTP client (RFC 5321) for the twin's e-mail: plain TCP to a relay on this
//! machine (a mail catcher such as MailHog, or a test's sink), no TLS and no AUTH. It sends
//! one message per session: greeting, EHLO (HELO if the relay does not know EHLO), MAIL FROM,
//! RCPT TO for each recipient, DATA with a dot-stuffed RFC 5322 message, QUIT.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::error::SmtpError;
use crate::message::civil;

/// RFC 5321's limit for a reply line is 512 octets; relays in the wild send longer ones.
const MAX_REPLY_LINE: u64 = 4096;

/// RFC 5321's limit for a text line is 1000 octets including CRLF.
const MAX_BODY_LINE: usize = 998;

/// An e-mail to send.
#[derive(Debug, Clone)]
pub struct Email {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// Plain text; any line endings.
    pub body: String,
    /// `Message-ID` without the angle brackets, e.g. `<uuid>@haven.localhost`.
    pub message_id: String,
    pub date: SystemTime,
    /// More header fields, e.g. `X-Haven-Message-Id`.
    pub headers: Vec<(String, String)>,
}

/// Hands `mail` to the relay at `relay` (`host:port`), waiting at most `timeout` for each
/// step. Succeeds when the relay accepted the message (250 after the data).
pub async fn send(relay: &str, mail: &Email, timeout: Duration) -> Result<(), SmtpError> {
    check_address(&mail.from)?;
    if mail.to.is_empty() {
        return Err(SmtpError::BadAddress(String::new()));
    }
    for to in &mail.to {
        check_address(to)?;
    }
    let addr = resolve(relay, timeout).await?;
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(source)) => {
            return Err(SmtpError::Connect {
                relay: relay.to_owned(),
                source,
            });
        }
        Err(_) => return Err(timed_out(relay, "the connection", timeout)),
    };
    let helo_name = match stream.local_addr() {
        Ok(SocketAddr::V4(a)) => format!("[{}]", a.ip()),
        Ok(SocketAddr::V6(a)) => format!("[IPv6:{}]", a.ip()),
        Err(_) => "localhost".to_owned(),
    };
    let mut s = Session {
        relay: relay.to_owned(),
        io: BufReader::new(stream),
        timeout,
    };
    s.expect_reply("the greeting", &[220]).await?;
    let ehlo = s.command(&format!("EHLO {helo_name}"), "EHLO").await?;
    let eight_bit = match ehlo.code {
        250 => ehlo
            .lines
            .iter()
            .skip(1)
            .any(|l| l.eq_ignore_ascii_case("8BITMIME") || l.starts_with("8BITMIME ")),
        // 5xx: the relay does not speak ESMTP; RFC 5321 says to fall back to HELO.
        500..=599 => {
            s.command_ok(&format!("HELO {helo_name}"), "HELO", &[250])
                .await?;
            false
        }
        _ => return Err(s.unexpected("EHLO", &ehlo)),
    };
    let mail_from = if eight_bit {
        format!("MAIL FROM:<{}> BODY=8BITMIME", mail.from)
    } else {
        format!("MAIL FROM:<{}>", mail.from)
    };
    s.command_ok(&mail_from, &format!("MAIL FROM:<{}>", mail.from), &[250])
        .await?;
    for to in &mail.to {
        let cmd = format!("RCPT TO:<{to}>");
        s.command_ok(&cmd, &cmd, &[250, 251]).await?;
    }
    s.command_ok("DATA", "DATA", &[354]).await?;
    let mut data = render(mail);
    data.extend_from_slice(b".\r\n");
    s.write(&data, "the message data").await?;
    s.expect_reply("the end of the message data", &[250])
        .await?;
    // The relay has accepted the message; a failing QUIT cannot undo that, so it is only
    // logged.
    if let Err(e) = s.command_ok("QUIT", "QUIT", &[221]).await {
        tracing::debug!("after delivery: {e}");
    }
    Ok(())
}

/// The relay's address; only loopback addresses are used, since nothing here is encrypted.
async fn resolve(relay: &str, timeout: Duration) -> Result<SocketAddr, SmtpError> {
    let bad = |reason: String| SmtpError::BadRelay {
        relay: relay.to_owned(),
        reason,
    };
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(timeout, tokio::net::lookup_host(relay)).await {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => return Err(bad(format!("expected `host:port`: {e}"))),
            Err(_) => return Err(timed_out(relay, "the name lookup", timeout)),
        };
    match addrs.iter().find(|a| a.ip().is_loopback()) {
        Some(a) => Ok(*a),
        None => match addrs.first() {
            Some(a) => Err(SmtpError::NotLoopback {
                relay: relay.to_owned(),
                addr: *a,
            }),
            None => Err(bad("the name has no address".to_owned())),
        },
    }
}

/// Addresses go between angle brackets and into header fields: nothing that could end
/// either.
fn check_address(a: &str) -> Result<(), SmtpError> {
    let ok = a.contains('@')
        && a.is_ascii()
        && !a
            .chars()
            .any(|c| c.is_ascii_control() || c.is_ascii_whitespace() || "<>,;\"".contains(c));
    if ok {
        Ok(())
    } else {
        Err(SmtpError::BadAddress(a.to_owned()))
    }
}

fn timed_out(relay: &str, during: &str, timeout: Duration) -> SmtpError {
    SmtpError::Timeout {
        relay: relay.to_owned(),
        during: during.to_owned(),
        after: timeout,
    }
}

struct Reply {
    code: u16,
    /// The text of each line, without code and separator.
    lines: Vec<String>,
}

struct Session {
    relay: String,
    io: BufReader<TcpStream>,
    timeout: Duration,
}

impl Session {
    async fn write(&mut self, bytes: &[u8], during: &str) -> Result<(), SmtpError> {
        let io = self.io.get_mut();
        let written = async {
            io.write_all(bytes).await?;
            io.flush().await
        };
        match tokio::time::timeout(self.timeout, written).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(SmtpError::Io {
                relay: self.relay.clone(),
                during: format!("sending {during}"),
                source,
            }),
            Err(_) => Err(timed_out(&self.relay, during, self.timeout)),
        }
    }

    /// Sends `line` and reads the reply, whatever its code. `shown` names the command in
    /// errors (without arguments that do not help).
    async fn command(&mut self, line: &str, shown: &str) -> Result<Reply, SmtpError> {
        self.write(format!("{line}\r\n").as_bytes(), shown).await?;
        self.read_reply(shown).await
    }

    async fn command_ok(&mut self, line: &str, shown: &str, ok: &[u16]) -> Result<(), SmtpError> {
        let reply = self.command(line, shown).await?;
        if ok.contains(&reply.code) {
            Ok(())
        } else {
            Err(self.unexpected(shown, &reply))
        }
    }

    async fn expect_reply(&mut self, what: &str, ok: &[u16]) -> Result<(), SmtpError> {
        let reply = self.read_reply(what).await?;
        if ok.contains(&reply.code) {
            Ok(())
        } else {
            Err(self.unexpected(what, &reply))
        }
    }

    fn unexpected(&self, command: &str, reply: &Reply) -> SmtpError {
        SmtpError::Reply {
            relay: self.relay.clone(),
            command: command.to_owned(),
            code: reply.code,
            text: reply.lines.join(" "),
        }
    }

    /// Reads one reply, single- or multi-line (`250-...` lines up to a `250 ...` line).
    async fn read_reply(&mut self, command: &str) -> Result<Reply, SmtpError> {
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let mut raw = Vec::new();
            let mut limited = (&mut self.io).take(MAX_REPLY_LINE);
            let read = limited.read_until(b'\n', &mut raw);
            let n = match tokio::time::timeout(self.timeout, read).await {
                Ok(Ok(n)) => n,
                Ok(Err(source)) => {
                    return Err(SmtpError::Io {
                        relay: self.relay.clone(),
                        during: format!("reading the reply to {command}"),
                        source,
                    });
                }
                Err(_) => return Err(timed_out(&self.relay, command, self.timeout)),
            };
            let text = String::from_utf8_lossy(&raw);
            let malformed = || SmtpError::Malformed {
                relay: self.relay.clone(),
                command: command.to_owned(),
                line: text.trim_end().to_owned(),
            };
            if n == 0 {
                return Err(SmtpError::Io {
                    relay: self.relay.clone(),
                    during: format!("reading the reply to {command}"),
                    source: std::io::ErrorKind::UnexpectedEof.into(),
                });
            }
            if !raw.ends_with(b"\n") {
                return Err(malformed());
            }
            let line = text.trim_end_matches(['\r', '\n']);
            let Some(this) = line
                .get(..3)
                .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|c| c.parse::<u16>().ok())
            else {
                return Err(malformed());
            };
            if code.is_some_and(|c| c != this) {
                return Err(malformed());
            }
            code = Some(this);
            let rest = line.get(4..).unwrap_or("").to_owned();
            match line.as_bytes().get(3) {
                None | Some(b' ') => {
                    lines.push(rest);
                    return Ok(Reply { code: this, lines });
                }
                Some(b'-') => lines.push(rest),
                Some(_) => return Err(malformed()),
            }
        }
    }
}

/// The message as sent after DATA: header, blank line, body with CRLF line ends, lines
/// starting with `.` doubled (RFC 5321 §4.5.2), without the final `.` line.
pub fn render(mail: &Email) -> Vec<u8> {
    let mut out = String::new();
    let mut header = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    };
    header("From", &mail.from);
    header("To", &mail.to.join(", "));
    header("Subject", &encode_header(&mail.subject));
    header("Date", &rfc5322_date(mail.date));
    header("Message-ID", &format!("<{}>", one_line(&mail.message_id)));
    header("MIME-Version", "1.0");
    header("Content-Type", "text/plain; charset=utf-8");
    header("Content-Transfer-Encoding", "8bit");
    for (name, value) in &mail.headers {
        header(&one_line(name), &encode_header(value));
    }
    out.push_str("\r\n");
    let body = mail.body.replace("\r\n", "\n").replace('\r', "\n");
    let body = body.strip_suffix('\n').unwrap_or(&body);
    for line in body.split('\n') {
        for piece in split_long(line) {
            if piece.starts_with('.') {
                out.push('.');
            }
            out.push_str(piece);
            out.push_str("\r\n");
        }
    }
    out.into_bytes()
}

/// 8bit bodies must keep lines within SMTP's limit; longer lines are broken (at a character
/// boundary) rather than refused.
fn split_long(line: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = line;
    while rest.len() > MAX_BODY_LINE {
        let mut at = MAX_BODY_LINE;
        while !rest.is_char_boundary(at) {
            at -= 1;
        }
        let (head, tail) = rest.split_at(at);
        pieces.push(head);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

/// Header values cannot contain line breaks: a subject must not add header fields.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A header value as is when it is ASCII, otherwise as RFC 2047 encoded words (UTF-8,
/// base64), each within 75 characters and on its own folded line.
pub fn encode_header(value: &str) -> String {
    let value = one_line(value);
    if value.is_ascii() {
        return value;
    }
    // `=?UTF-8?B?` + `?=` leave 63 characters: 45 bytes encode to 60.
    const CHUNK: usize = 45;
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in value.char_indices() {
        if i + c.len_utf8() - start > CHUNK {
            words.push(&value[start..end]);
            start = i;
        }
        end = i + c.len_utf8();
    }
    words.push(&value[start..end]);
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", base64(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Wed, 25 Nov 2026 17:00:00 +0000` (RFC 5322 §3.3).
pub fn rfc5322_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(t);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[c.weekday() as usize % 7],
        c.day,
        MONTHS[(c.month as usize + 11) % 12],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn base64_matches_rfc4648() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn non_ascii_headers_become_short_encoded_words() {
        assert_eq!(encode_header("plain"), "plain");
        assert_eq!(encode_header("a\r\nBcc: x"), "a  Bcc: x");
        assert_eq!(encode_header("café"), "=?UTF-8?B?Y2Fmw6k=?=");
        let long = "é".repeat(60);
        let enc = encode_header(&long);
        let words: Vec<&str> = enc.split("\r\n ").collect();
        assert_eq!(words.len(), 3);
        assert!(words.iter().all(|w| w.len() <= 75), "{enc}");
    }

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_626_000);
        assert_eq!(rfc5322_date(t), "Wed, 25 Nov 2026 17:00:00 +0000");
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
    }

    #[test]
    fn long_lines_are_broken_within_the_limit() {
        let line = "é".repeat(600);
        let pieces = split_long(&line);
        assert!(pieces.iter().all(|p| p.len() <= MAX_BODY_LINE));
        assert_eq!(pieces.concat(), line);
    }
}
