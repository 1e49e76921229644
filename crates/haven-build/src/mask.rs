//! Secret masking for the build log: every occurrence of a secret value becomes `***`.
//!
//! Output arrives in arbitrary chunks, so a secret may be split across two reads. Masking is
//! therefore done on whole lines ([`Lines`] buffers the partial one); a line longer than
//! [`MAX_LINE`] without a newline (progress bars, binary noise) is cut at a point no secret
//! occurrence straddles, keeping enough of its tail to catch a secret that continues.

/// What replaces a secret, as in CodeBuild's logs.
pub const MASK: &[u8] = b"***";

/// The longest partial line kept in memory before it is written out anyway.
pub const MAX_LINE: usize = 64 * 1024;

/// The secret values to hide.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    /// Longest first, so that a secret containing another is masked whole.
    secrets: Vec<Vec<u8>>,
}

impl Masker {
    /// A masker for `values`. Empty values are ignored (they would match everywhere); a
    /// multi-line value is also masked line by line, since the log is masked per line.
    pub fn new<I, S>(values: I) -> Masker
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut secrets: Vec<Vec<u8>> = Vec::new();
        for v in values {
            let v = v.as_ref();
            let mut pieces = vec![v];
            if v.contains('\n') {
                pieces.extend(v.split('\n'));
            }
            for p in pieces {
                let p = p.trim_end_matches('\r');
                if !p.is_empty() && !secrets.iter().any(|s| s == p.as_bytes()) {
                    secrets.push(p.as_bytes().to_vec());
                }
            }
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Masker { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    fn longest(&self) -> usize {
        self.secrets.first().map_or(0, Vec::len)
    }

    /// The secret starting at `data[i..]`, if any (longest first).
    fn at(&self, data: &[u8], i: usize) -> Option<usize> {
        self.secrets
            .iter()
            .find(|s| data[i..].starts_with(s))
            .map(Vec::len)
    }

    /// Appends `data` to `out` with every secret replaced by [`MASK`].
    pub fn mask_into(&self, data: &[u8], out: &mut Vec<u8>) {
        if self.secrets.is_empty() {
            out.extend_from_slice(data);
            return;
        }
        let mut i = 0;
        while i < data.len() {
            match self.at(data, i) {
                Some(len) => {
                    out.extend_from_slice(MASK);
                    i += len;
                }
                None => {
                    out.push(data[i]);
                    i += 1;
                }
            }
        }
    }

    /// `data` masked, as a new buffer.
    pub fn mask(&self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        self.mask_into(data, &mut out);
        out
    }

    /// `text` masked, as a string.
    pub fn mask_str(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.mask(text.as_bytes())).into_owned()
    }

    /// Where a long partial line can be cut: no secret occurrence starts before the cut and
    /// ends after it, and the kept tail is long enough to hold the start of any secret.
    fn safe_cut(&self, data: &[u8]) -> usize {
        let keep = self.longest().saturating_sub(1);
        let mut cut = data.len().saturating_sub(keep);
        let mut i = 0;
        while i < cut {
            match self.at(data, i) {
                Some(len) => {
                    i += len;
                    // An occurrence straddling the cut moves the cut to its end.
                    cut = cut.max(i);
                }
                None => i += 1,
            }
        }
        cut
    }
}

/// Turns a stream of chunks into masked lines.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Feeds `chunk`; appends every completed line (masked, with its `\n`) to `out`.
    pub fn push(&mut self, masker: &Masker, chunk: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(chunk);
        if let Some(last_nl) = self.pending.iter().rposition(|b| *b == b'\n') {
            for line in self.pending[..=last_nl].split_inclusive(|b| *b == b'\n') {
                masker.mask_into(line, out);
            }
            self.pending.drain(..=last_nl);
        }
        if self.pending.len() > MAX_LINE {
            let cut = masker.safe_cut(&self.pending);
            masker.mask_into(&self.pending[..cut], out);
            self.pending.drain(..cut);
        }
    }

    /// Ends the partial line, if any, with a newline (before a line of haven's own, or at the
    /// end of the build).
    pub fn finish_line(&mut self, masker: &Masker, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            masker.mask_into(&self.pending, out);
            out.push(b'\n');
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(masker: &Masker, chunks: &[&[u8]]) -> String {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        for c in chunks {
            lines.push(masker, c, &mut out);
        }
        lines.finish_line(masker, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn masks_every_occurrence() {
        let m = Masker::new(["s3cr3t", "", "ab"]);
        assert_eq!(m.mask_str("x s3cr3t y s3cr3ts3cr3t"), "x *** y ******");
        assert_eq!(m.mask_str("abab a"), "****** a");
        assert_eq!(Masker::new(Vec::<String>::new()).mask_str("abc"), "abc");
    }

    #[test]
    fn longest_secret_wins() {
        let m = Masker::new(["pass", "password1"]);
        assert_eq!(m.mask_str("password1 pass"), "*** ***");
    }

    #[test]
    fn secret_split_across_chunks() {
        let m = Masker::new(["hunter2"]);
        let out = feed(&m, &[b"pw: hun", b"ter2\nnext hu", b"nter2"]);
        assert_eq!(out, "pw: ***\nnext ***\n");
    }

    #[test]
    fn multi_line_secret_masked_per_line() {
        let m = Masker::new(["line-one\nline-two"]);
        assert_eq!(feed(&m, &[b"a line-one\nline-two b\n"]), "a ***\n*** b\n");
    }

    #[test]
    fn long_lines_are_cut_without_splitting_a_secret() {
        let m = Masker::new(["SECRETVALUE"]);
        let mut big = vec![b'x'; MAX_LINE - 3];
        big.extend_from_slice(b"SECRET");
        let out = feed(&m, &[&big, b"VALUE tail\n"]);
        assert!(out.ends_with("x*** tail\n"), "{}", &out[out.len() - 20..]);
        assert!(!out.contains("SECRET"));
    }
}
