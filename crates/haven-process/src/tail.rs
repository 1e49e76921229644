//! The last lines of a log file, read backwards from the end so big logs cost little.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

const CHUNK: u64 = 8 * 1024;

/// At most this many bytes are read from the end. A crash report needs the last few
/// lines, not a megabyte-long one; a longer line is returned cut at its start.
pub const MAX_TAIL_BYTES: u64 = 1024 * 1024;

/// The last `n` lines of the file at `path`, oldest first.
///
/// A final line without a trailing newline counts as a line; a trailing newline does not
/// start an empty one. `\r\n` endings are trimmed; invalid UTF-8 is replaced.
pub fn tail_lines(path: impl AsRef<Path>, n: usize) -> Result<Vec<String>> {
    let path = path.as_ref();
    let err = |source| Error::ReadLog {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    if n == 0 || len == 0 {
        return Ok(Vec::new());
    }
    // Chunks from the end, newest first.
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut pos = len;
    let mut newlines = 0usize;
    let floor = len.saturating_sub(MAX_TAIL_BYTES);
    while pos > floor {
        let size = CHUNK.min(pos - floor);
        pos -= size;
        // `size` <= CHUNK, which fits in usize everywhere.
        let mut buf = vec![0u8; size as usize];
        // If the file shrinks meanwhile (truncated by rotation) this fails; that is reported.
        file.read_exact_at(&mut buf, pos).map_err(err)?;
        let mut counted = buf.iter().filter(|&&b| b == b'\n').count();
        if pos + size == len && buf.last() == Some(&b'\n') {
            counted -= 1; // The file's final newline ends the last line; it separates nothing.
        }
        newlines += counted;
        chunks.push(buf);
        // n lines need the n-th separating newline from the end before the first of them.
        if newlines >= n {
            break;
        }
    }
    let mut bytes = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
    for chunk in chunks.iter().rev() {
        bytes.extend_from_slice(chunk);
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..]
        .iter()
        .map(|line| String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("tempfile");
        f.write_all(content).expect("write");
        f
    }

    #[test]
    fn many_lines_without_trailing_newline() {
        let body: Vec<String> = (0..10_000).map(|i| format!("line {i}")).collect();
        let f = file_with(body.join("\n").as_bytes());
        let got = tail_lines(f.path(), 3).expect("tail");
        assert_eq!(got, ["line 9997", "line 9998", "line 9999"]);
    }

    #[test]
    fn trailing_newline_and_crlf() {
        let f = file_with(b"a\r\nb\r\nc\r\n");
        assert_eq!(tail_lines(f.path(), 2).expect("tail"), ["b", "c"]);
    }

    #[test]
    fn fewer_lines_than_asked_and_empty_lines_kept() {
        let f = file_with(b"one\n\nthree\n");
        assert_eq!(
            tail_lines(f.path(), 10).expect("tail"),
            ["one", "", "three"]
        );
        let f = file_with(b"");
        assert!(tail_lines(f.path(), 10).expect("tail").is_empty());
        let f = file_with(b"x\n");
        assert!(tail_lines(f.path(), 0).expect("tail").is_empty());
        assert_eq!(tail_lines(f.path(), 1).expect("tail"), ["x"]);
    }

    #[test]
    fn lines_spanning_chunks() {
        let long = "y".repeat(20_000);
        let f = file_with(format!("first\n{long}\nlast").as_bytes());
        assert_eq!(
            tail_lines(f.path(), 2).expect("tail"),
            [long.as_str(), "last"]
        );
        assert_eq!(
            tail_lines(f.path(), 3).expect("tail"),
            ["first", long.as_str(), "last"]
        );
    }

    #[test]
    fn missing_file_names_path() {
        let err = tail_lines(Path::new("/nonexistent/haven.log"), 5).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/haven.log"), "{err}");
    }
}
