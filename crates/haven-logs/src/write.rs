//! Writing events to stamped streams: each event one line `<RFC 3339 ms> <message>`, a batch
//! appended with one write.

use haven_fs::WithPath;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::error::Result;
use crate::time;

/// Appends one event to `buf` as a stream line. Line breaks inside the message become spaces,
/// so that one event stays one line.
pub fn push_event(buf: &mut Vec<u8>, timestamp_ms: u64, message: &[u8]) {
    buf.extend_from_slice(time::rfc3339(timestamp_ms).as_bytes());
    push_stamped(buf, b"", message);
}

/// Like [`push_event`] with the time already formatted (a batch shares one ingestion time).
pub(crate) fn push_stamped(buf: &mut Vec<u8>, stamp: &[u8], message: &[u8]) {
    buf.extend_from_slice(stamp);
    buf.push(b' ');
    let start = buf.len();
    buf.extend_from_slice(message);
    for b in &mut buf[start..] {
        if *b == b'\n' || *b == b'\r' {
            *b = b' ';
        }
    }
    buf.push(b'\n');
}

/// Appends formatted lines to a stream's file (created, with its directory, if missing).
pub fn append(path: &Path, lines: &[u8]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut f = open_append(path)?;
    Ok(f.write_all(lines).with_path(path)?)
}

/// Creates a stream's file if it does not exist (CreateLogStream).
pub fn create_stream(path: &Path) -> Result<()> {
    open_append(path).map(drop)
}

/// Opens a stream's file for appending (created, with its directory, if missing).
pub(crate) fn open_append(path: &Path) -> Result<std::fs::File> {
    let open = || OpenOptions::new().create(true).append(true).open(path);
    match open() {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_path(dir)?;
            }
            Ok(open().with_path(path)?)
        }
        Err(e) => Err(haven_fs::IoError::new(path, e).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_is_one_line() {
        let mut buf = Vec::new();
        push_event(&mut buf, 1_700_000_000_123, b"two\nlines\r");
        assert_eq!(buf, b"2023-11-14T22:13:20.123Z two lines \n");
    }
}
