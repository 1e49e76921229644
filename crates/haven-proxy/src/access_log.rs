//! Access logs: entries with the ALB's fields, a bounded non-blocking sink, and the ALB
//! access-log line format.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The client connection's protocol (`type` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogProtocol {
    /// HTTP/1.x.
    Http,
    /// HTTP/2 (cleartext, prior knowledge).
    H2,
}

/// One request as the ALB would log it, its text borrowed. Times that do not apply are
/// `None` (logged `-1`), as are missing target fields (logged `-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessLogEntry<'a> {
    /// `type`.
    pub protocol: LogProtocol,
    /// `time`: when the response was complete.
    pub time: SystemTime,
    /// `request_creation_time`: when the request arrived.
    pub request_creation_time: SystemTime,
    /// `elb`: the listener's name.
    pub elb: &'a str,
    /// `client:port`.
    pub client: SocketAddr,
    /// `target:port`.
    pub target: Option<SocketAddr>,
    /// `request_processing_time`: arrival until sent to the target.
    pub request_processing_time: Option<Duration>,
    /// `target_processing_time`: sent to the target until its response head arrived.
    pub target_processing_time: Option<Duration>,
    /// `response_processing_time`: response head received until it was handed to the client.
    pub response_processing_time: Option<Duration>,
    /// `elb_status_code`.
    pub elb_status_code: u16,
    /// `target_status_code`.
    pub target_status_code: Option<u16>,
    /// `received_bytes`: request head (estimated from its fields) plus declared body length.
    pub received_bytes: u64,
    /// `sent_bytes`: response body bytes sent, plus the head as estimated from its fields.
    pub sent_bytes: u64,
    /// `request` method.
    pub method: &'a str,
    /// The listener's port, for the `request` URL `http://host:port/path?query`.
    pub port: u16,
    /// The `request` URL's path and query.
    pub path: &'a str,
    /// `request` protocol version, e.g. `HTTP/1.1`.
    pub http_version: &'static str,
    /// `user_agent`.
    pub user_agent: Option<&'a str>,
    /// `target_group_arn` (here the group's name).
    pub target_group: Option<&'a str>,
    /// `trace_id`.
    pub trace_id: Option<&'a str>,
    /// `domain_name`: the Host header (or the HTTP/2 authority); its host part is the URL's.
    pub domain_name: Option<&'a str>,
    /// `actions_executed`, e.g. `forward`.
    pub actions_executed: &'static str,
    /// `error_reason`, e.g. `TargetConnectionError`.
    pub error_reason: Option<&'static str>,
    /// `classification` (desync mitigation), e.g. `Ambiguous`.
    pub classification: Option<&'static str>,
    /// `classification_reason`, e.g. `BothTeClPresent`.
    pub classification_reason: Option<&'static str>,
}

/// Where access-log entries go: bounded buffers, one per shard, that the log writer takes
/// on its own schedule. A request copies its entry's fields and text into its shard as they
/// are (no formatting, no allocation once the shard has grown); the writer formats ALB lines
/// in batches, off the request path. Threads pick shards round-robin, once each, so a
/// request takes an uncontended lock and wakes nobody; when its shard is full the entry is
/// dropped and counted, so logging never slows requests down.
///
/// A sink can be switched off and on while the proxy runs, as an ALB's `access_logs.s3.enabled`
/// attribute can: requests served while it is off leave no entry and cost nothing to log.
#[derive(Clone, Debug)]
pub struct AccessLog {
    inner: Arc<Shards>,
}

#[derive(Debug)]
struct Shards {
    shards: Box<[Shard]>,
    /// Entries a shard holds at most between two drains.
    per_shard: usize,
    dropped: AtomicU64,
    enabled: AtomicBool,
}

/// Text a shard holds at most between two drains (entry places in it are 32-bit).
const SHARD_TEXT_MAX: usize = 64 << 20;

/// One shard, on a cache line of its own so that workers never share one.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(std::sync::Mutex<Buf>);

/// Where a text field of a held entry is in its buffer's text.
#[derive(Clone, Copy, Debug)]
struct Span(u32, u32);

impl Span {
    /// A missing text field.
    const NONE: Self = Self(u32::MAX, 0);
}

/// An entry as a shard holds it: half the size of an [`AccessLogEntry`] (times in
/// microseconds, addresses without their enum, the fields nearly every entry has the same
/// value for out of line), because the proxy's workers write every entry to memory and the
/// writer reads it back on another CPU: its bytes are most of what logging costs them.
#[derive(Debug)]
struct Packed {
    /// `time` and `request_creation_time`, microseconds since the epoch.
    time: u64,
    created: u64,
    received: u64,
    sent: u64,
    client: Addr,
    target: Addr,
    /// Request, target and response processing times in microseconds; `u32::MAX`: none.
    times: [u32; 3],
    elb_status: u16,
    /// 0: none.
    target_status: u16,
    port: u16,
    protocol: LogProtocol,
    /// elb, method, path, user agent, target group, trace id, domain name.
    text: [Span; 7],
    /// The fields that are nearly always the same, when one is not.
    rare: Option<Box<Rare>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rare {
    http_version: &'static str,
    actions_executed: &'static str,
    error_reason: Option<&'static str>,
    classification: Option<&'static str>,
    classification_reason: Option<&'static str>,
}

/// What [`Rare`] holds for nearly every entry.
const USUAL: Rare = Rare {
    http_version: "HTTP/1.1",
    actions_executed: "forward",
    error_reason: None,
    classification: None,
    classification_reason: None,
};

/// A socket address in 20 bytes; port 0 for none (no connection has port 0).
#[derive(Debug, Clone, Copy)]
struct Addr {
    ip: [u8; 16],
    port: u16,
    v6: bool,
}

impl Addr {
    fn pack(a: Option<SocketAddr>) -> Self {
        match a {
            None => Self {
                ip: [0; 16],
                port: 0,
                v6: false,
            },
            Some(SocketAddr::V4(a)) => {
                let mut ip = [0; 16];
                ip[..4].copy_from_slice(&a.ip().octets());
                Self {
                    ip,
                    port: a.port(),
                    v6: false,
                }
            }
            Some(SocketAddr::V6(a)) => Self {
                ip: a.ip().octets(),
                port: a.port(),
                v6: true,
            },
        }
    }

    fn unpack(&self) -> Option<SocketAddr> {
        if self.port == 0 {
            return None;
        }
        Some(if self.v6 {
            SocketAddr::new(std::net::Ipv6Addr::from(self.ip).into(), self.port)
        } else {
            let [a, b, c, d, ..] = self.ip;
            SocketAddr::new(std::net::Ipv4Addr::new(a, b, c, d).into(), self.port)
        })
    }
}

fn micros_since_epoch(t: SystemTime) -> u64 {
    haven_time::unix_micros(t)
}

fn pack_duration(d: Option<Duration>) -> u32 {
    // Saturates at 71 minutes, far beyond any timeout.
    d.map_or(u32::MAX, |d| {
        u32::try_from(d.as_micros()).unwrap_or(u32::MAX - 1)
    })
}

fn unpack_duration(us: u32) -> Option<Duration> {
    (us != u32::MAX).then(|| Duration::from_micros(u64::from(us)))
}

/// Entries held: their fields, with their text fields appended to one string.
#[derive(Debug, Default)]
struct Buf {
    text: String,
    entries: Vec<Packed>,
    /// The last entry's listener and target group names: consecutive entries nearly always
    /// share them, so their text is kept once.
    last_elb: Option<Span>,
    last_group: Option<Span>,
}

impl Buf {
    fn str(&self, s: Span) -> Option<&str> {
        if s.0 == u32::MAX {
            return None;
        }
        self.text.get(s.0 as usize..s.1 as usize)
    }

    /// Appends `v` to the text, or reuses `last` when it holds the same.
    fn put(&mut self, v: &str, last: Option<Span>) -> Span {
        if let Some(l) = last {
            if self.str(l) == Some(v) {
                return l;
            }
        }
        let start = self.text.len();
        self.text.push_str(v);
        // Below SHARD_TEXT_MAX plus one entry's fields: far below 2^32.
        Span(start as u32, self.text.len() as u32)
    }

    fn put_opt(&mut self, v: Option<&str>) -> Span {
        v.map_or(Span::NONE, |v| self.put(v, None))
    }

    fn push(&mut self, e: &AccessLogEntry<'_>) {
        let elb = self.put(e.elb, self.last_elb);
        self.last_elb = Some(elb);
        let group = e.target_group.map(|g| self.put(g, self.last_group));
        self.last_group = group.or(self.last_group);
        let text = [
            elb,
            self.put(e.method, None),
            self.put(e.path, None),
            self.put_opt(e.user_agent),
            group.unwrap_or(Span::NONE),
            self.put_opt(e.trace_id),
            self.put_opt(e.domain_name),
        ];
        let rare = Rare {
            http_version: e.http_version,
            actions_executed: e.actions_executed,
            error_reason: e.error_reason,
            classification: e.classification,
            classification_reason: e.classification_reason,
        };
        self.entries.push(Packed {
            time: micros_since_epoch(e.time),
            created: micros_since_epoch(e.request_creation_time),
            received: e.received_bytes,
            sent: e.sent_bytes,
            client: Addr::pack(Some(e.client)),
            target: Addr::pack(e.target),
            times: [
                pack_duration(e.request_processing_time),
                pack_duration(e.target_processing_time),
                pack_duration(e.response_processing_time),
            ],
            elb_status: e.elb_status_code,
            target_status: e.target_status_code.unwrap_or(0),
            port: e.port,
            protocol: e.protocol,
            text,
            rare: (rare != USUAL).then(|| Box::new(rare)),
        });
    }

    fn get(&self, i: usize) -> Option<AccessLogEntry<'_>> {
        let p = self.entries.get(i)?;
        let rare = p.rare.as_deref().unwrap_or(&USUAL);
        let at = |us: u64| UNIX_EPOCH + Duration::from_micros(us);
        let t = |i: usize| self.str(p.text[i]);
        Some(AccessLogEntry {
            protocol: p.protocol,
            time: at(p.time),
            request_creation_time: at(p.created),
            elb: t(0).unwrap_or_default(),
            // Every entry has a client.
            client: p
                .client
                .unpack()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            target: p.target.unpack(),
            request_processing_time: unpack_duration(p.times[0]),
            target_processing_time: unpack_duration(p.times[1]),
            response_processing_time: unpack_duration(p.times[2]),
            elb_status_code: p.elb_status,
            target_status_code: (p.target_status != 0).then_some(p.target_status),
            received_bytes: p.received,
            sent_bytes: p.sent,
            method: t(1).unwrap_or_default(),
            port: p.port,
            path: t(2).unwrap_or_default(),
            http_version: rare.http_version,
            user_agent: t(3),
            target_group: t(4),
            trace_id: t(5),
            domain_name: t(6),
            actions_executed: rare.actions_executed,
            error_reason: rare.error_reason,
            classification: rare.classification,
            classification_reason: rare.classification_reason,
        })
    }

    fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
        self.last_elb = None;
        self.last_group = None;
    }
}

/// Entries taken from the sink by [`AccessLog::drain`], with buffers kept for reuse.
#[derive(Debug, Default)]
pub struct Batch {
    full: Vec<Buf>,
    spare: Vec<Buf>,
    /// Each entry's time and place, sorted.
    order: Vec<(u64, u32, u32)>,
}

impl Batch {
    /// Entries held.
    pub fn len(&self) -> usize {
        self.full.iter().map(|b| b.entries.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.full.iter().all(|b| b.entries.is_empty())
    }

    /// The entries in the order their responses completed (shards interleave, and workers
    /// finish requests slightly out of order).
    pub fn sorted(&mut self) -> impl Iterator<Item = AccessLogEntry<'_>> {
        self.order.clear();
        for (b, buf) in self.full.iter().enumerate() {
            for (i, e) in buf.entries.iter().enumerate() {
                // Shards and their entries are far fewer than 2^32.
                self.order.push((e.time, b as u32, i as u32));
            }
        }
        self.order.sort_by_key(|(t, ..)| *t);
        let full = &self.full;
        self.order
            .iter()
            .filter_map(move |&(_, b, i)| full.get(b as usize)?.get(i as usize))
    }

    /// Empties the batch, keeping its buffers for the next drain.
    pub fn clear(&mut self) {
        for mut buf in self.full.drain(..) {
            buf.clear();
            self.spare.push(buf);
        }
    }
}

/// Hands threads their shard numbers in turn.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
}

impl AccessLog {
    /// A sink holding up to `capacity` entries per serving thread between two drains.
    pub fn new(capacity: usize) -> Self {
        let n = std::thread::available_parallelism()
            .map_or(4, std::num::NonZeroUsize::get)
            .max(4)
            * 2;
        Self {
            inner: Arc::new(Shards {
                shards: (0..n).map(|_| Shard::default()).collect(),
                per_shard: capacity.max(1),
                dropped: AtomicU64::new(0),
                enabled: AtomicBool::new(true),
            }),
        }
    }

    /// Whether requests are logged (a new sink's are).
    pub fn is_enabled(&self) -> bool {
        // Relaxed: a request that starts just after a switch may still go either way, as on
        // an ALB; nothing else is ordered by the flag.
        self.inner.enabled.load(Ordering::Relaxed)
    }

    /// Starts or stops logging requests that arrive from now on; entries held are kept.
    pub fn set_enabled(&self, on: bool) {
        self.inner.enabled.store(on, Ordering::Relaxed);
    }

    /// Entries dropped because their shard was full.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Adds an entry (what the proxy does for each request), or drops and counts it when
    /// its shard is full.
    pub fn push(&self, entry: &AccessLogEntry<'_>) {
        let shards = &self.inner.shards;
        let shard = &shards[SHARD.with(|s| *s) % shards.len()];
        let mut buf = shard
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buf.entries.len() >= self.inner.per_shard || buf.text.len() >= SHARD_TEXT_MAX {
            drop(buf);
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        buf.push(entry);
    }

    /// Moves every entry held into `out`, taking each shard's lock only to swap buffers.
    pub fn drain(&self, out: &mut Batch) {
        for shard in self.inner.shards.iter() {
            let mut buf = shard
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if buf.entries.is_empty() {
                continue;
            }
            let fresh = out.spare.pop().unwrap_or_default();
            out.full.push(std::mem::replace(&mut *buf, fresh));
        }
    }
}

/// Formats an entry as an ALB access-log line (fields space-separated, quoted where the
/// ALB quotes them, `-` for missing values and `-1` for times that do not apply).
pub fn format_alb_line(e: &AccessLogEntry<'_>) -> String {
    let mut s = Vec::with_capacity(512);
    write_alb_line(&mut s, e);
    // Only text went in: whole fields, escapes and ASCII.
    String::from_utf8(s).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`format_alb_line`] appended to `out`, as bytes and without a temporary string per field:
/// the log writer formats tens of thousands of lines a second into one buffer.
pub fn write_alb_line(out: &mut Vec<u8>, e: &AccessLogEntry<'_>) {
    let protocol: &[u8] = match e.protocol {
        LogProtocol::Http => b"http",
        LogProtocol::H2 => b"h2",
    };
    Fields(out)
        .raw(protocol)
        .time(e.time)
        .raw(e.elb.as_bytes())
        .addr(Some(e.client))
        .addr(e.target)
        .secs(e.request_processing_time)
        .secs(e.target_processing_time)
        .secs(e.response_processing_time)
        .num(u64::from(e.elb_status_code))
        .code(e.target_status_code)
        .num(e.received_bytes)
        .num(e.sent_bytes)
        .quoted_with(|out| {
            push_escaped(out, e.method);
            out.extend_from_slice(b" http://");
            // The Host header without its port; an IPv6 literal keeps its brackets.
            let host = e.domain_name.map_or("-", |h| match h.rsplit_once(':') {
                Some((name, port)) if !port.contains(']') => name,
                _ => h,
            });
            push_escaped(out, host);
            out.push(b':');
            push_u64(out, u64::from(e.port));
            push_escaped(out, e.path);
            out.push(b' ');
            out.extend_from_slice(e.http_version.as_bytes());
        })
        .quoted(e.user_agent)
        // ssl_cipher, ssl_protocol
        .raw(b"-")
        .raw(b"-")
        .raw(e.target_group.unwrap_or("-").as_bytes())
        .quoted(e.trace_id)
        .quoted(e.domain_name)
        // chosen_cert_arn, matched_rule_priority
        .quoted(None)
        .raw(b"-1")
        .time(e.request_creation_time)
        .quoted(Some(e.actions_executed))
        // redirect_url
        .quoted(None)
        .quoted(e.error_reason)
        .quoted_with(|out| dash_or(out, e.target, push_addr))
        .quoted_with(|out| dash_or(out, e.target_status_code, |o, c| push_u64(o, c.into())))
        .quoted(e.classification)
        .quoted(e.classification_reason)
        // conn_trace_id: the last field, no space after it
        .0
        .push(b'-');
}

/// A line's fields: each method appends one field and the space that ends it.
struct Fields<'a>(&'a mut Vec<u8>);

impl Fields<'_> {
    fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self.end()
    }

    fn num(&mut self, n: u64) -> &mut Self {
        push_u64(self.0, n);
        self.end()
    }

    fn time(&mut self, t: SystemTime) -> &mut Self {
        push_iso8601(self.0, t);
        self.end()
    }

    fn addr(&mut self, a: Option<SocketAddr>) -> &mut Self {
        dash_or(self.0, a, push_addr);
        self.end()
    }

    fn code(&mut self, c: Option<u16>) -> &mut Self {
        dash_or(self.0, c, |o, c| push_u64(o, c.into()));
        self.end()
    }

    /// Seconds with microseconds, or `-1` for a time that does not apply.
    fn secs(&mut self, d: Option<Duration>) -> &mut Self {
        match d {
            Some(d) => {
                push_u64(self.0, d.as_secs());
                self.0.push(b'.');
                push_padded(self.0, u64::from(d.subsec_micros()), 6);
            }
            None => self.0.extend_from_slice(b"-1"),
        }
        self.end()
    }

    /// `"value"` escaped, or `"-"`.
    fn quoted(&mut self, v: Option<&str>) -> &mut Self {
        self.quoted_with(|out| dash_or(out, v, push_escaped))
    }

    fn quoted_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        self.0.push(b'"');
        write(self.0);
        self.0.push(b'"');
        self.end()
    }

    fn end(&mut self) -> &mut Self {
        self.0.push(b' ');
        self
    }
}

/// `v` as `write` writes it, or `-` when there is none.
fn dash_or<T>(out: &mut Vec<u8>, v: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        Some(v) => write(out, v),
        None => out.push(b'-'),
    }
}

/// `n` in decimal, without the formatting machinery (the writer formats every field of every
/// request's line).
fn push_u64(out: &mut Vec<u8>, n: u64) {
    push_padded(out, n, 1);
}

/// `n` in decimal, zero-padded to `width` digits (at most 20).
fn push_padded(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else if n > 0 {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    let start = i.min(digits.len().saturating_sub(width));
    out.extend_from_slice(&digits[start..]);
}

/// "00" to "99", for two digits at a time.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// `ip:port`; IPv6 in brackets, as `SocketAddr` displays it.
fn push_addr(out: &mut Vec<u8>, a: SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u64(out, u64::from(*octet));
            }
        }
        // Rare on the twin (it binds 127.0.0.1): the standard formatting is fine.
        SocketAddr::V6(v6) => {
            // Writing into a String cannot fail.
            out.extend_from_slice(format!("[{}]", v6.ip()).as_bytes());
        }
    }
    out.push(b':');
    push_u64(out, u64::from(a.port()));
}

/// Escapes quotes, backslashes and control characters so a field cannot break the line.
fn push_escaped(out: &mut Vec<u8>, v: &str) {
    // Without an early exit the check runs many bytes at a time; nearly every field is clean.
    let clean = v.bytes().fold(true, |clean, b| {
        clean & (b != b'"') & (b != b'\\') & (b >= 0x20) & (b != 0x7f)
    });
    if clean {
        out.extend_from_slice(v.as_bytes());
        return;
    }
    for c in v.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            // Control characters are all below U+00A0: two hex digits.
            c if c.is_control() => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = u32::from(c) as usize;
                out.extend_from_slice(&[b'\\', b'x', HEX[n >> 4 & 0xf], HEX[n & 0xf]]);
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

/// `2024-01-31T12:34:56.123456Z` into `out`: UTC, microseconds as in ALB logs.
fn push_iso8601(out: &mut Vec<u8>, t: SystemTime) {
    thread_local! {
        /// The last second formatted on this thread and its `YYYY-MM-DDTHH:MM:SS`: every line
        /// has two times, nearly always in the same second as the previous line's.
        static SECOND: std::cell::Cell<(u64, [u8; 19])> =
            const { std::cell::Cell::new((u64::MAX, [0; 19])) };
    }
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached != secs {
        let days = i64::try_from(secs / 86_400).unwrap_or(0);
        let rem = secs % 86_400;
        let (y, m, day) = haven_time::civil_from_days(days);
        let mut v = Vec::with_capacity(19);
        push_padded(&mut v, u64::try_from(y).unwrap_or(0) % 10_000, 4);
        v.push(b'-');
        push_padded(&mut v, u64::from(m), 2);
        v.push(b'-');
        push_padded(&mut v, u64::from(day), 2);
        v.push(b'T');
        push_padded(&mut v, rem / 3600, 2);
        v.push(b':');
        push_padded(&mut v, (rem % 3600) / 60, 2);
        v.push(b':');
        push_padded(&mut v, rem % 60, 2);
        text.copy_from_slice(&v);
        SECOND.set((secs, text));
    }
    out.extend_from_slice(&text);
    out.push(b'.');
    push_padded(out, u64::from(d.subsec_micros()), 6);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_match_the_standard_formatting() {
        for n in [0u64, 7, 10, 99, 100, 65_535, 1_700_000_000, u64::MAX] {
            let mut s = Vec::new();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string().as_bytes());
            for width in [2, 4, 6] {
                let mut s = Vec::new();
                push_padded(&mut s, n, width);
                assert_eq!(s, format!("{n:0width$}").as_bytes());
            }
        }
        for a in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:80",
            "10.1.2.3:4001",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            let mut s = Vec::new();
            push_addr(&mut s, a);
            assert_eq!(s, a.to_string().as_bytes());
        }
    }

    #[test]
    fn formats_like_alb() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let iso = |t| {
            let mut s = Vec::new();
            push_iso8601(&mut s, t);
            String::from_utf8(s).unwrap()
        };
        assert_eq!(iso(t), "2023-11-14T22:13:20.123456Z");
        assert_eq!(iso(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let e = AccessLogEntry {
            protocol: LogProtocol::Http,
            time: t,
            request_creation_time: t,
            elb: "app/web",
            client: "10.0.0.1:5555".parse().unwrap(),
            target: None,
            request_processing_time: None,
            target_processing_time: None,
            response_processing_time: None,
            elb_status_code: 503,
            target_status_code: None,
            received_bytes: 10,
            sent_bytes: 20,
            method: "GET",
            port: 80,
            path: "/a\"b",
            http_version: "HTTP/1.1",
            user_agent: Some("curl/8"),
            target_group: None,
            trace_id: None,
            domain_name: Some("x:8080"),
            actions_executed: "forward",
            error_reason: None,
            classification: None,
            classification_reason: None,
        };
        let line = format_alb_line(&e);
        assert!(
            line.ends_with(
                "\"-\" -1 2023-11-14T22:13:20.123456Z \"forward\" \"-\" \"-\" \"-\" \"-\" \"-\" \"-\" -"
            ),
            "{line}"
        );
        let full = AccessLogEntry {
            target: Some("127.0.0.1:8080".parse().unwrap()),
            request_processing_time: Some(Duration::from_micros(12)),
            target_processing_time: Some(Duration::from_micros(3_000_001)),
            response_processing_time: Some(Duration::ZERO),
            target_status_code: Some(200),
            target_group: Some("web-tg"),
            error_reason: Some("TargetConnectionError"),
            ..e
        };
        let line = format_alb_line(&full);
        assert!(
            line.contains(
                " 10.0.0.1:5555 127.0.0.1:8080 0.000012 3.000001 0.000000 503 200 10 20 "
            ),
            "{line}"
        );
        assert!(
            line.ends_with("\"TargetConnectionError\" \"127.0.0.1:8080\" \"200\" \"-\" \"-\" -"),
            "{line}"
        );
        assert!(line.contains(" - - web-tg \"-\" \"x:8080\" "), "{line}");
        let line = format_alb_line(&e);
        assert!(
            line.starts_with(
                "http 2023-11-14T22:13:20.123456Z app/web 10.0.0.1:5555 - -1 -1 -1 503 - 10 20 \"GET http://x:80/a\\\"b HTTP/1.1\" \"curl/8\" - - - \"-\" \"x:8080\""
            ),
            "{line}"
        );
    }

    fn sample(ms: u64, path: &'static str, agent: Option<&'static str>) -> AccessLogEntry<'static> {
        let t = UNIX_EPOCH + Duration::from_millis(ms);
        AccessLogEntry {
            protocol: LogProtocol::H2,
            time: t,
            request_creation_time: t - Duration::from_millis(1),
            elb: "app/web-alb",
            client: "127.0.0.1:5555".parse().unwrap(),
            target: Some("127.0.0.1:4100".parse().unwrap()),
            request_processing_time: Some(Duration::from_micros(30)),
            target_processing_time: Some(Duration::from_micros(700)),
            response_processing_time: Some(Duration::ZERO),
            elb_status_code: 200,
            target_status_code: Some(200),
            received_bytes: 90,
            sent_bytes: 210,
            method: "GET",
            port: 4001,
            path,
            http_version: "HTTP/2.0",
            user_agent: agent,
            target_group: Some("web-tg"),
            trace_id: Some("Root=1-65540000-000000000000000000000001"),
            domain_name: Some("localhost:4001"),
            actions_executed: "forward",
            error_reason: None,
            classification: None,
            classification_reason: None,
        }
    }

    #[test]
    fn the_sink_gives_back_what_was_pushed_in_time_order() {
        let sink = AccessLog::new(16);
        let pushed = [
            sample(3_000, "/c", None),
            sample(1_000, "/a?x=1", Some("curl/8")),
            sample(2_000, "/b", Some("")),
        ];
        // From two threads, so two shards hold entries.
        sink.push(&pushed[0]);
        std::thread::scope(|s| {
            s.spawn(|| {
                sink.push(&pushed[1]);
                sink.push(&pushed[2]);
            });
        });
        let mut batch = Batch::default();
        sink.drain(&mut batch);
        assert_eq!(batch.len(), 3);
        let got: Vec<_> = batch.sorted().collect();
        assert_eq!(got, [pushed[1], pushed[2], pushed[0]]);
        assert!(
            format_alb_line(&got[0])
                .contains("\"GET http://localhost:4001/a?x=1 HTTP/2.0\" \"curl/8\" "),
            "{}",
            format_alb_line(&got[0])
        );
        // Drained: the shards are empty; the batch keeps its buffers for the next drain.
        batch.clear();
        assert!(batch.is_empty());
        sink.drain(&mut batch);
        assert!(batch.is_empty());
        sink.push(&pushed[0]);
        sink.drain(&mut batch);
        assert_eq!(batch.sorted().collect::<Vec<_>>(), [pushed[0]]);
    }

    #[test]
    fn entries_come_back_whole_however_they_differ() {
        let usual = sample(1_000, "/", None);
        let v6 = AccessLogEntry {
            client: "[::1]:6000".parse().unwrap(),
            target: Some("[fe80::1]:4100".parse().unwrap()),
            ..usual
        };
        let refused = AccessLogEntry {
            target: None,
            target_group: None,
            target_status_code: None,
            target_processing_time: None,
            response_processing_time: None,
            elb_status_code: 400,
            http_version: "HTTP/1.0",
            error_reason: Some("DesyncMitigationBlocked"),
            classification: Some("Ambiguous"),
            classification_reason: Some("BothTeClPresent"),
            ..usual
        };
        let other_names = AccessLogEntry {
            elb: "app/web-alb-test",
            target_group: Some("web-tg-green"),
            ..usual
        };
        let long = AccessLogEntry {
            target_processing_time: Some(Duration::from_secs(3 * 3600)),
            ..usual
        };
        let saturated = AccessLogEntry {
            target_processing_time: Some(Duration::from_micros(u64::from(u32::MAX) - 1)),
            ..usual
        };
        let sink = AccessLog::new(16);
        let pushed = [usual, v6, refused, other_names, usual, refused, long];
        for e in &pushed {
            sink.push(e);
        }
        let mut batch = Batch::default();
        sink.drain(&mut batch);
        let got: Vec<_> = batch.sorted().collect();
        let mut want = pushed.to_vec();
        // Times past 71 minutes saturate.
        want[6] = saturated;
        assert_eq!(got, want);
    }

    #[test]
    fn a_full_shard_drops_and_counts() {
        let sink = AccessLog::new(2);
        for _ in 0..5 {
            sink.push(&sample(1_000, "/", None));
        }
        assert_eq!(sink.dropped(), 3);
        let mut batch = Batch::default();
        sink.drain(&mut batch);
        assert_eq!(batch.len(), 2);
        // Room again once drained.
        sink.push(&sample(1_000, "/", None));
        assert_eq!(sink.dropped(), 3);
    }

    #[test]
    fn fields_cannot_break_the_line() {
        let e = AccessLogEntry {
            path: "/a\\b",
            ..sample(1_000, "/", Some("x\ny\"z\u{7f}é"))
        };
        let line = format_alb_line(&e);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains(" \"x\\x0ay\\\"z\\x7fé\" "), "{line}");
        assert!(line.contains("/a\\\\b HTTP/2.0"), "{line}");
    }

    #[test]
    fn the_url_has_the_host_headers_host_and_the_listeners_port() {
        for (host, url) in [
            (Some("example.com:8080"), "http://example.com:4001/"),
            (Some("example.com"), "http://example.com:4001/"),
            (Some("[::1]:8080"), "http://[::1]:4001/"),
            (Some("[::1]"), "http://[::1]:4001/"),
            (None, "http://-:4001/"),
        ] {
            let e = AccessLogEntry {
                domain_name: host,
                ..sample(1_000, "/", None)
            };
            let line = format_alb_line(&e);
            assert!(
                line.contains(&format!("\"GET {url} HTTP/2.0\"")),
                "{host:?}: {line}"
            );
        }
    }
}
