//! E-mail to the twin's SMTP relay (a mail catcher such as Mailpit on this machine, or a test's
//! sink), through `lettre`: its builder writes the RFC 5322 message (header fields, RFC 2047
//! encoded words, an 8bit body) and its SMTP connection speaks RFC 5321 (reply parsing,
//! dot-stuffing). What stays here is the twin's policy: plain TCP to a loopback relay only
//! (nothing is encrypted, there is no AUTH), a timeout per step, one message per session, 8BITMIME
//! declared when the relay offers it, and errors that name the command a relay refused.
//!
//! lettre always opens with EHLO and has no HELO, so a relay that refuses EHLO fails the
//! delivery with its answer to EHLO: RFC 5321 §2.2.1 requires every server to support EHLO.

use std::error::Error as _;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::header::{ContentType, HeaderName, HeaderValue, MIME_VERSION_1_0};
use lettre::message::{Body, Mailbox, header::ContentTransferEncoding};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Quit, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::{Address, Message};
use tokio::net::TcpStream;

use crate::error::SmtpError;

/// RFC 5321's limit for a text line is 1000 octets including CRLF.
const MAX_BODY_LINE: usize = 998;

/// The last second httpdate (lettre's `Date` header) can print: it panics after year 9999.
const LAST_DATE_SECS: u64 = 253_402_300_799;

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
/// step: the name lookup, the connection, the greeting with EHLO, each command, the message
/// data and QUIT. Succeeds when the relay accepted the message (250 after the data).
pub async fn send(relay: &str, mail: &Email, timeout: Duration) -> Result<(), SmtpError> {
    let message = build(mail)?;
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
    // An address literal for this end of the connection (RFC 5321 §4.1.4): the twin's
    // machine may have no name a relay could look up.
    let hello = match stream.local_addr() {
        Ok(SocketAddr::V4(a)) => ClientId::Ipv4(*a.ip()),
        Ok(SocketAddr::V6(a)) => ClientId::Ipv6(*a.ip()),
        Err(_) => ClientId::Domain("localhost".to_owned()),
    };
    let step = Step { relay, timeout };
    let opening = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello);
    let mut conn = match tokio::time::timeout(timeout, opening).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            // One lettre call reads the greeting and sends EHLO; RFC 5321 §4.3.2 lets only
            // a greeting answer 554 and only EHLO answer 5xx otherwise, 421 may be either.
            let during = match e.status().map(u16::from) {
                Some(554) => "the greeting",
                Some(500..=599) => "EHLO",
                _ => "the greeting or EHLO",
            };
            return Err(step.failed(during, e));
        }
        Err(_) => return Err(timed_out(relay, "the greeting and EHLO", timeout)),
    };

    let envelope = message.envelope();
    let from = envelope
        .from()
        .map_or_else(String::new, ToString::to_string);
    let mut params = Vec::new();
    if conn.server_info().supports_feature(Extension::EightBitMime) {
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let mail_from = Mail::new(envelope.from().cloned(), params);
    step.run(&format!("MAIL FROM:<{from}>"), conn.command(mail_from))
        .await?;
    for to in envelope.to() {
        let rcpt = Rcpt::new(to.clone(), Vec::new());
        step.run(&format!("RCPT TO:<{to}>"), conn.command(rcpt))
            .await?;
    }
    step.run("DATA", conn.command(Data)).await?;
    step.run("the message data", conn.message(&message.formatted()))
        .await?;
    // The relay has accepted the message; a failing QUIT cannot undo that, so it is only
    // logged.
    if let Err(e) = step.run("QUIT", conn.command(Quit)).await {
        tracing::debug!("after delivery: {e}");
    }
    Ok(())
}

/// The message as lettre writes it: `From`, `To`, `Subject` (encoded words when it is not
/// ASCII), `Date`, `Message-ID`, `MIME-Version`, a UTF-8 plain text body sent as 8bit, and
/// `mail`'s own header fields.
fn build(mail: &Email) -> Result<Message, SmtpError> {
    if mail.to.is_empty() {
        return Err(SmtpError::BadAddress(String::new()));
    }
    let date_secs = mail
        .date
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().min(LAST_DATE_SECS));
    let mut builder = Message::builder()
        .from(mailbox(&mail.from)?)
        .subject(mail.subject.as_str())
        .date(UNIX_EPOCH + Duration::from_secs(date_secs))
        .message_id(Some(format!("<{}>", mail.message_id)))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN);
    for to in &mail.to {
        builder = builder.to(mailbox(to)?);
    }
    for (name, value) in &mail.headers {
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| SmtpError::BadHeader(name.clone()))?;
        builder = builder.raw_header(HeaderValue::new(name, value.clone()));
    }
    // 8bit as RFC 2045 defines it (`body_text` keeps lines within 998 octets, CRLF only, no
    // NUL); lettre's own check would take 8bit only for lines under 76 octets and send every
    // longer one as quoted-printable or base64.
    let body = Body::dangerous_pre_encoded(
        body_text(&mail.body).into_bytes(),
        ContentTransferEncoding::EightBit,
    );
    builder
        .body(body)
        .map_err(|e| SmtpError::Message(e.to_string()))
}

/// An address as lettre checks it (RFC 5321's syntax), ASCII only: the twin does not ask for
/// SMTPUTF8.
fn mailbox(address: &str) -> Result<Mailbox, SmtpError> {
    let bad = || SmtpError::BadAddress(address.to_owned());
    if !address.is_ascii() {
        return Err(bad());
    }
    let address: Address = address.parse().map_err(|_| bad())?;
    Ok(Mailbox::new(None, address))
}

/// The body with CRLF line ends and without a final line end (the data's end adds one);
/// longer lines than SMTP allows are broken at a character boundary rather than refused, and
/// NUL, which 8bit text cannot carry, becomes U+FFFD.
fn body_text(body: &str) -> String {
    let body = body
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\0', "\u{fffd}");
    let body = body.strip_suffix('\n').unwrap_or(&body);
    let mut lines = Vec::new();
    for line in body.split('\n') {
        let mut rest = line;
        while rest.len() > MAX_BODY_LINE {
            let mut at = MAX_BODY_LINE;
            while !rest.is_char_boundary(at) {
                at -= 1;
            }
            let (head, tail) = rest.split_at(at);
            lines.push(head);
            rest = tail;
        }
        lines.push(rest);
    }
    lines.join("\r\n")
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

fn timed_out(relay: &str, during: &str, timeout: Duration) -> SmtpError {
    SmtpError::Timeout {
        relay: relay.to_owned(),
        during: during.to_owned(),
        after: timeout,
    }
}

/// One step of a session: lettre's call, bounded by the timeout, its error naming the step.
struct Step<'a> {
    relay: &'a str,
    timeout: Duration,
}

impl Step<'_> {
    async fn run<T>(
        &self,
        during: &str,
        call: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, SmtpError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.failed(during, e)),
            Err(_) => Err(timed_out(self.relay, during, self.timeout)),
        }
    }

    /// A reply with a code the step did not expect, or a session that broke off.
    fn failed(&self, during: &str, e: lettre::transport::smtp::Error) -> SmtpError {
        match e.status() {
            Some(code) => SmtpError::Reply {
                relay: self.relay.to_owned(),
                command: during.to_owned(),
                code: code.into(),
                // lettre keeps the reply's lines, joined, as the error's source.
                text: e.source().map(ToString::to_string).unwrap_or_default(),
            },
            None => SmtpError::Session {
                relay: self.relay.to_owned(),
                during: during.to_owned(),
                source: e,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email {
            from: "haven@example.com".into(),
            to: vec!["a@example.com".into()],
            subject: "s".into(),
            body: "b".into(),
            message_id: "m@example.com".into(),
            date: UNIX_EPOCH + Duration::from_secs(1_795_626_000),
            headers: vec![],
        }
    }

    fn formatted(mail: &Email) -> String {
        String::from_utf8(build(mail).unwrap().formatted()).unwrap()
    }

    #[test]
    fn long_lines_are_broken_within_the_limit() {
        let line = "é".repeat(600);
        let text = body_text(&format!("{line}\n"));
        let pieces: Vec<&str> = text.split("\r\n").collect();
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.len() <= MAX_BODY_LINE));
        assert_eq!(pieces.concat(), line);
        let sent = formatted(&Email {
            body: line,
            ..email()
        });
        assert!(
            sent.contains("Content-Transfer-Encoding: 8bit\r\n"),
            "{sent}"
        );
    }

    #[test]
    fn line_ends_become_crlf_and_the_last_one_goes() {
        assert_eq!(body_text("a\nb\r\nc\rd\0\n"), "a\r\nb\r\nc\r\nd\u{fffd}");
        assert_eq!(body_text(""), "");
    }

    #[test]
    fn a_subject_cannot_add_header_fields() {
        let sent = formatted(&Email {
            subject: "a\r\nBcc: x@example.com".into(),
            ..email()
        });
        let head = sent.split("\r\n\r\n").next().unwrap();
        assert!(
            !head.lines().any(|l| l.starts_with("Bcc")),
            "a header field from the subject: {head}"
        );
    }

    #[test]
    fn dates_lettre_cannot_print_are_clamped() {
        for (date, shown) in [
            (
                UNIX_EPOCH - Duration::from_secs(1),
                "Thu, 01 Jan 1970 00:00:00 +0000",
            ),
            (
                UNIX_EPOCH + Duration::from_secs(u64::MAX / 4),
                "Fri, 31 Dec 9999 23:59:59 +0000",
            ),
            (email().date, "Wed, 25 Nov 2026 17:00:00 +0000"),
        ] {
            let sent = formatted(&Email { date, ..email() });
            assert!(sent.contains(&format!("Date: {shown}\r\n")), "{sent}");
        }
    }

    #[test]
    fn bad_addresses_and_header_names_are_refused() {
        for to in [
            "",
            "no-at-sign",
            "a@example.com>\r\nRCPT TO:<b@example.com",
            "é@example.com",
        ] {
            let err = build(&Email {
                to: vec![to.into()],
                ..email()
            })
            .unwrap_err();
            assert!(matches!(err, SmtpError::BadAddress(_)), "{to}: {err}");
            assert!(err.is_permanent());
        }
        let err = build(&Email {
            headers: vec![("X-Bad: name".into(), "v".into())],
            ..email()
        })
        .unwrap_err();
        assert!(matches!(err, SmtpError::BadHeader(_)), "{err}");
    }
}
