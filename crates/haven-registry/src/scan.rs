//! Image scanning, as ECR's scan on push: every layer's files searched for secrets (private
//! keys, cloud and service tokens), and every `Cargo.lock` (in the layers, or given from the
//! build's source) checked against a RustSec advisory database. The report is kept next to
//! the image (`scans/<hex>.json`), as ECR keeps findings for `DescribeImageScanFindings`.
//!
//! Layers hold binaries, and binaries hold strings (a TLS library has `-----BEGIN RSA PRIVATE
//! KEY-----` as a constant), so only high-confidence patterns are flagged: a PEM key needs its
//! base64 body and its END line, a token its exact length and alphabet with word boundaries.
//! Findings never contain the secret itself, only what it is and where.

use haven_fs::WithPath;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use semver::Version;
use serde::{Deserialize, Serialize};
use toml_edit::{DocumentMut, Item};

use crate::advisory::AdvisoryDb;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::Registry;
use crate::time::now_rfc3339;
use haven_ecr::Severity;

/// Files larger than this are scanned up to this size only (and the report says so): a
/// secret is as likely at the start of a file as anywhere, and memory stays bounded.
pub const MAX_SCAN_FILE: u64 = 16 << 20;

/// What a scan checks besides the image's own files.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Lock files from the build's source (the image holds the binary, not its Cargo.lock).
    pub lockfiles: Vec<PathBuf>,
    /// Without a database, dependencies are listed but not checked.
    pub advisories: Option<AdvisoryDb>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    Secret,
    Vulnerability,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    /// A secret's kind (`private-key`, `aws-access-key-id`, ...) or an advisory's id.
    pub id: String,
    pub title: String,
    /// A file in the image (`/etc/key.pem:1`; no line for binary files) or a lock file.
    pub location: String,
    /// The layer holding the file, for findings in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Versions with the fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patched: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A scan's result, as saved with the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    pub digest: Digest,
    /// RFC 3339.
    pub scanned_at: String,
    /// Most severe first.
    pub findings: Vec<Finding>,
    /// Regular files searched for secrets.
    pub files_scanned: u64,
    /// The lock files checked: paths in the image, and the given ones.
    pub lockfiles: Vec<String>,
    /// Packages in those lock files.
    pub packages: usize,
    /// The advisory database used, and how many advisories it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory_db: Option<String>,
    pub advisories: usize,
    /// What was not fully checked, and why (a file scanned in part, a lock file in the image
    /// that does not parse).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ScanReport {
    /// The worst finding's severity; `None` without findings.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether a build with this threshold fails: a finding at or above it. A threshold of
    /// `none` never fails (the gate is off).
    pub fn fails_at(&self, threshold: Severity) -> bool {
        threshold != Severity::None && self.max_severity().is_some_and(|s| s >= threshold)
    }

    /// Findings per severity, most severe first.
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
        for f in &self.findings {
            *counts.entry(f.severity).or_default() += 1;
        }
        counts.into_iter().rev().collect()
    }

    /// `no findings`, or `3 findings: 1 CRITICAL, 2 HIGH`.
    pub fn summary(&self) -> String {
        if self.findings.is_empty() {
            return "no findings".to_owned();
        }
        let counts: Vec<String> = self
            .counts()
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        let n = self.findings.len();
        format!(
            "{n} finding{}: {}",
            if n == 1 { "" } else { "s" },
            counts.join(", ")
        )
    }
}

/// Packages of one lock file, with where it is.
struct Lockfile {
    location: String,
    layer: Option<Digest>,
    packages: Vec<Locked>,
}

struct Locked {
    name: String,
    version: String,
    source: Option<String>,
}

/// What walking the layers found.
#[derive(Default)]
struct Walk {
    findings: Vec<Finding>,
    files: u64,
    lockfiles: Vec<Lockfile>,
    notes: Vec<String>,
}

impl Registry {
    /// Scans the image `reference` names (every layer verified as it is read) and saves the
    /// report next to it. A given lock file that cannot be read or parsed is an error naming
    /// it, before anything is saved.
    pub fn scan(&self, reference: &str, opts: &ScanOptions) -> Result<ScanReport> {
        let mut walk = Walk::default();
        for path in &opts.lockfiles {
            let text = std::fs::read_to_string(path).with_path(path)?;
            let packages = parse_lockfile(&text).map_err(|reason| Error::Lockfile {
                path: path.clone(),
                reason,
            })?;
            walk.lockfiles.push(Lockfile {
                location: path.display().to_string(),
                layer: None,
                packages,
            });
        }
        let image = self.load(reference)?;
        let diff_ids = &image.config.rootfs.diff_ids;
        for (i, layer) in image.manifest.layers.iter().enumerate() {
            self.read_layer(layer, diff_ids.get(i), |tar, blob| {
                walk_layer(tar, blob, &layer.digest, &mut walk)
            })?;
        }
        let digest = image.entry.digest.clone();
        let mut findings = walk.findings;
        if let Some(db) = &opts.advisories {
            findings.extend(vulnerabilities(db, &walk.lockfiles, &mut walk.notes));
        }
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.kind.cmp(&b.kind))
                .then_with(|| a.id.cmp(&b.id))
                .then_with(|| a.location.cmp(&b.location))
                .then_with(|| a.package.cmp(&b.package))
        });
        findings.dedup();
        let report = ScanReport {
            digest,
            scanned_at: now_rfc3339(),
            findings,
            files_scanned: walk.files,
            lockfiles: walk.lockfiles.iter().map(|l| l.location.clone()).collect(),
            packages: walk.lockfiles.iter().map(|l| l.packages.len()).sum(),
            advisory_db: opts
                .advisories
                .as_ref()
                .map(|db| db.root().display().to_string()),
            advisories: opts.advisories.as_ref().map_or(0, AdvisoryDb::len),
            notes: walk.notes,
        };
        self.save_scan(&report)?;
        Ok(report)
    }

    /// The last scan's report of the image `reference` names (ECR's
    /// `DescribeImageScanFindings`), or `None` if it was never scanned.
    pub fn scan_findings(&self, reference: &str) -> Result<Option<ScanReport>> {
        let digest = self.resolve(reference)?;
        let path = self.scan_path(&digest);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(haven_fs::IoError::new(&path, e).into()),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::Json {
                path,
                what: "scan report",
                source,
            })
    }

    fn scan_path(&self, digest: &Digest) -> PathBuf {
        self.root()
            .join("scans")
            .join(format!("{}.json", digest.hex()))
    }

    fn save_scan(&self, report: &ScanReport) -> Result<()> {
        let path = self.scan_path(&report.digest);
        let dir = self.root().join("scans");
        std::fs::create_dir_all(&dir).with_path(&dir)?;
        let mut text = serde_json::to_vec_pretty(report).map_err(|source| Error::Json {
            path: path.clone(),
            what: "scan report",
            source,
        })?;
        text.push(b'\n');
        self.write_atomic(&path, &text)
    }

    /// Deletes the reports of images no longer here; the caller holds the lock.
    pub(crate) fn remove_stale_scans(
        &self,
        live: &std::collections::BTreeSet<Digest>,
    ) -> Result<()> {
        let dir = self.root().join("scans");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(haven_fs::IoError::new(&dir, e).into()),
        };
        for entry in entries {
            let entry = entry.with_path(&dir)?;
            let name = entry.file_name();
            let Some(digest) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|hex| Digest::parse(&format!("sha256:{hex}")).ok())
            else {
                continue;
            };
            if !live.contains(&digest) {
                let path = entry.path();
                std::fs::remove_file(&path).with_path(&path)?;
            }
        }
        Ok(())
    }
}

fn walk_layer(reader: &mut dyn Read, blob: &Path, digest: &Digest, walk: &mut Walk) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().with_path(blob)? {
        let mut entry = entry.with_path(blob)?;
        if !matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        ) {
            continue;
        }
        let raw = entry.path().with_path(blob)?;
        let path = format!("/{}", raw.to_string_lossy().trim_start_matches("./"));
        let is_lockfile = raw.file_name().is_some_and(|n| n == "Cargo.lock");
        let size = entry.size();
        let mut bytes = Vec::with_capacity(usize::try_from(size.min(MAX_SCAN_FILE)).unwrap_or(0));
        (&mut entry)
            .take(MAX_SCAN_FILE)
            .read_to_end(&mut bytes)
            .with_path(blob)?;
        walk.files += 1;
        if size > MAX_SCAN_FILE {
            walk.notes.push(format!(
                "{path}: only the first {} MiB of {size} bytes were searched",
                MAX_SCAN_FILE >> 20
            ));
        }
        let text = !bytes[..bytes.len().min(8192)].contains(&0);
        for hit in find_secrets(&bytes) {
            let location = if text {
                let line = bytes[..hit.offset].iter().filter(|b| **b == b'\n').count() + 1;
                format!("{path}:{line}")
            } else {
                path.clone()
            };
            walk.findings.push(Finding {
                severity: hit.rule.severity(),
                kind: FindingKind::Secret,
                id: hit.rule.id().to_owned(),
                title: hit.rule.title().to_owned(),
                location,
                layer: Some(digest.clone()),
                package: None,
                version: None,
                patched: Vec::new(),
                url: None,
            });
        }
        if is_lockfile {
            let parsed = std::str::from_utf8(&bytes)
                .map_err(|_| "it is not UTF-8".to_owned())
                .and_then(parse_lockfile);
            match parsed {
                Ok(packages) if size <= MAX_SCAN_FILE => walk.lockfiles.push(Lockfile {
                    location: path,
                    layer: Some(digest.clone()),
                    packages,
                }),
                Ok(_) => walk
                    .notes
                    .push(format!("{path}: too large to check its dependencies")),
                Err(e) => walk
                    .notes
                    .push(format!("{path}: not checked, not a valid Cargo.lock: {e}")),
            }
        }
    }
    Ok(())
}

/// The advisories affecting the lock files' packages. Packages from git are skipped: their
/// version numbers are not crates.io releases, which is what advisories are about.
fn vulnerabilities(
    db: &AdvisoryDb,
    lockfiles: &[Lockfile],
    notes: &mut Vec<String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for lock in lockfiles {
        for p in &lock.packages {
            if p.source.as_deref().is_some_and(|s| s.starts_with("git+")) {
                continue;
            }
            let Ok(version) = Version::parse(&p.version) else {
                notes.push(format!(
                    "{}: {} has version `{}`, not semver; not checked",
                    lock.location, p.name, p.version
                ));
                continue;
            };
            for a in db.affecting(&p.name, &version) {
                out.push(Finding {
                    severity: a.severity,
                    kind: FindingKind::Vulnerability,
                    id: a.id.clone(),
                    title: a.title.clone(),
                    location: lock.location.clone(),
                    layer: lock.layer.clone(),
                    package: Some(p.name.clone()),
                    version: Some(p.version.clone()),
                    patched: a.patched.clone(),
                    url: a.url.clone(),
                });
            }
        }
    }
    out
}

/// The `[[package]]` entries of a Cargo.lock (any version of the format).
fn parse_lockfile(text: &str) -> Result<Vec<Locked>, String> {
    let doc: DocumentMut = text.parse().map_err(|e| format!("not valid TOML: {e}"))?;
    let Some(item) = doc.get("package") else {
        return Ok(Vec::new());
    };
    let tables = item
        .as_array_of_tables()
        .ok_or("`package` is not an array of tables")?;
    tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let field = |key: &str| t.get(key).and_then(Item::as_str).map(str::to_owned);
            Ok(Locked {
                name: field("name").ok_or_else(|| format!("package {} has no name", i + 1))?,
                version: field("version")
                    .ok_or_else(|| format!("package {} has no version", i + 1))?,
                source: field("source"),
            })
        })
        .collect()
}

/// A kind of secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretRule {
    PrivateKey,
    EncryptedPrivateKey,
    AwsAccessKeyId,
    AwsSecretAccessKey,
    GithubToken,
    SlackToken,
    SlackWebhook,
    StripeKey,
    GoogleApiKey,
}

impl SecretRule {
    /// Its id in reports, its title and its severity.
    fn describe(self) -> (&'static str, &'static str, Severity) {
        use Severity::{Critical, High, Medium};
        match self {
            Self::PrivateKey => ("private-key", "private key (PEM or OpenSSH)", Critical),
            Self::EncryptedPrivateKey => (
                "encrypted-private-key",
                "passphrase-protected private key",
                High,
            ),
            Self::AwsAccessKeyId => ("aws-access-key-id", "AWS access key id", High),
            Self::AwsSecretAccessKey => {
                ("aws-secret-access-key", "AWS secret access key", Critical)
            }
            Self::GithubToken => ("github-token", "GitHub token", High),
            Self::SlackToken => ("slack-token", "Slack token", High),
            Self::SlackWebhook => ("slack-webhook", "Slack incoming webhook URL", Medium),
            Self::StripeKey => ("stripe-live-key", "Stripe live secret key", High),
            Self::GoogleApiKey => ("google-api-key", "Google API key", Medium),
        }
    }

    pub(crate) fn id(self) -> &'static str {
        self.describe().0
    }

    pub(crate) fn title(self) -> &'static str {
        self.describe().1
    }

    pub(crate) fn severity(self) -> Severity {
        self.describe().2
    }
}

/// A secret found at `offset`.
pub(crate) struct Hit {
    pub(crate) rule: SecretRule,
    pub(crate) offset: usize,
}

/// The secrets in `b`, the first of each kind. One pass, dispatching on the first byte.
pub(crate) fn find_secrets(b: &[u8]) -> Vec<Hit> {
    let mut hits: Vec<Hit> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let found = match b[i] {
            b'-' => pem_private_key(b, i),
            b'A' => aws_key_id(b, i).or_else(|| google_api_key(b, i)),
            b'g' => github_token(b, i),
            b'x' => slack_token(b, i),
            b'h' => slack_webhook(b, i),
            b'r' => stripe_key(b, i),
            b's' => stripe_key(b, i).or_else(|| aws_secret_key(b, i)),
            b'S' => aws_secret_key(b, i),
            _ => None,
        };
        match found {
            Some((rule, len)) => {
                if !hits.iter().any(|h| h.rule == rule) {
                    hits.push(Hit { rule, offset: i });
                }
                i += len.max(1);
            }
            None => i += 1,
        }
    }
    hits
}

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// No letter or digit right before `i`: the match starts a word.
fn starts_word(b: &[u8], i: usize) -> bool {
    i == 0 || !alnum(b[i - 1])
}

/// How many bytes from `at` satisfy `f`.
fn run(b: &[u8], at: usize, f: impl Fn(u8) -> bool) -> usize {
    b.get(at..)
        .map_or(0, |s| s.iter().take_while(|c| f(**c)).count())
}

/// `-----BEGIN <label> PRIVATE KEY-----`, a base64 body of at least 64 characters, and the
/// END line: a string constant in a binary has no body.
fn pem_private_key(b: &[u8], i: usize) -> Option<(SecretRule, usize)> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    if !b[i..].starts_with(BEGIN) {
        return None;
    }
    let label_start = i + BEGIN.len();
    let label_len = run(b, label_start, |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' '
    });
    let label = &b[label_start..label_start + label_len];
    if label_len > 40
        || !(label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK"))
        || !b[label_start + label_len..].starts_with(b"-----")
    {
        return None;
    }
    let body_start = label_start + label_len + 5;
    let window = &b[body_start..b.len().min(body_start + (64 << 10))];
    let end = window.windows(9).position(|w| w == b"-----END ")?;
    let body = &window[..end];
    if body
        .iter()
        .any(|c| !(c.is_ascii_graphic() || c.is_ascii_whitespace()))
    {
        return None;
    }
    let base64 = body
        .iter()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        .count();
    if base64 < 64 {
        return None;
    }
    let encrypted = label.starts_with(b"ENCRYPTED") || body.windows(9).any(|w| w == b"ENCRYPTED");
    let rule = if encrypted {
        SecretRule::EncryptedPrivateKey
    } else {
        SecretRule::PrivateKey
    };
    Some((rule, body_start - i + end))
}

/// `AKIA` (long-term) or `ASIA` (temporary) and 16 of `[A-Z0-9]`, a word of its own. AWS's
/// documentation keys (ending in `EXAMPLE`) are not secrets.
fn aws_key_id(b: &[u8], i: usize) -> Option<(SecretRule, usize)> {
    let prefix = b.get(i..i + 4)?;
    if !(prefix == b"AKIA" || prefix == b"ASIA") || !starts_word(b, i) {
        return None;
    }
    let n = run(b, i + 4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if n != 16 || b.get(i + 20).is_some_and(|c| alnum(*c)) || b[i + 13..i + 20] == *b"EXAMPLE" {
        return None;
    }
    Some((SecretRule::AwsAccessKeyId, 20))
}

/// `aws_secret_access_key = <40 of [A-Za-z0-9/+]>` and its spellings (`SecretAccessKey` in
/// JSON, `AWS_SECRET_ACCESS_KEY=` in env files): the name makes the 40 characters a key.
fn aws_secret_key(b: &[u8], i: usize) -> Option<(SecretRule, usize)> {
    const NAMES: [&[u8]; 3] = [
        b"secret_access_key",
        b"secret-access-key",
        b"secretaccesskey",
    ];
    let name = NAMES.iter().find(|n| {
        b.get(i..i + n.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(n))
    })?;
    let mut j = i + name.len();
    let quote_or_space = |c: u8| matches!(c, b'"' | b'\'' | b' ' | b'\t');
    j += run(b, j, quote_or_space).min(4);
    if !matches!(b.get(j), Some(b'=' | b':')) {
        return None;
    }
    j += 1;
    j += run(b, j, |c| c == b'>' || c == b'=').min(1);
    j += run(b, j, quote_or_space).min(4);
    let is_key_char = |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+';
    let n = run(b, j, is_key_char);
    if n != 40 || b.get(j + n) == Some(&b'=') {
        return None;
    }
    let value = &b[j..j + n];
    if value.windows(7).any(|w| w == b"EXAMPLE") {
        return None;
    }
    Some((SecretRule::AwsSecretAccessKey, j + n - i))
}

/// `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and 36 alphanumerics; `github_pat_` and 82.
fn github_token(b: &[u8], i: usize) -> Option<(SecretRule, usize)> {
    if !starts_word(b, i) {
        return None;
    }
    let rest = &b[i..];
    if rest.starts_with(b"github_pat_") {
        let n = run(b, i + 11, |c| alnum(c) || c == b'_');
        return (n == 82).then_some((SecretRule::GithubToken, 11 + n));
    }
    let classic = rest.len() >= 4
        && rest.starts_with(b"gh")
        && matches!(rest[2], b'p' | b'o' | b'u' | b's' | b'r')
        && rest[3] == b'_';
    if !classic {
        return None;
    }
    let n = run(b, i + 4, alnum);
    (n == 36 && b.get(i + 40) != Some(&b'_')).then_some((SecretRule::GithubToken, 40))
}

/// `xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`, then a numeric id of 8+ digits, `-`, and 8+
/// more token characters.
fn slack_token(b: &[u8], i: usize) -> Option<(SecretRule, usize)> {
    let rest = &b[i..];
    if !(rest.len() > 5
        && rest.starts_with(b"xox")
        && matches!(rest[3], b'b' | b'p' | b'a' | b'r' | b's')
        && rest[4] == b'-'
        && starts_word(b, i))
    {
        return None;
    }
    let digits = run(b, i + 5, |c| c.is_ascii_digit());
    if digits < 8 || b.get(i + 5 + digits) != Some(&b'-') {
        return None;
    }
    let tail = run(b, i + 6 + digits, |c| alnum(c) || c == b'-');
    (tail >= 8).then_some((SecretRule::SlackToken, 6 + digits + tail))
}

/// `https://hooks.slack.com/services/T.../B.../<secret>`.
fn slack_webhook(b: &[u8], i: usize) -> Option<(SecretRule, usize)> {
    const PREFIX: &[u8] = b"hooks.slack.com/services/T";
    if !b[i..].starts_with(PREFIX) {
        return None;
    }
    let upper = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let mut j = i + PREFIX.len();
    let team = run(b, j, upper);
    j += team;
    if team < 8 || !b[j..].starts_with(b"/B") {
        return None;
    }
    j += 2;
    let channel = run(b, j, upper);
    j += channel;
    if channel < 8 || b.get(j) != Some(&b'/') {
        return None;
    }
    let secret = run(b, j + 1, alnum);
    (secret >= 20).then_some((SecretRule::SlackWebhook, j + 1 + secret - i))
}

/// `sk_live_` or `rk_live_` and 24+ alphanumerics.
fn stripe_key(b: &[u8], i: usize) -> Option<(SecretRule, usize)> {
    let rest = &b[i..];
    if !(rest.starts_with(b"sk_live_") || rest.starts_with(b"rk_live_")) || !starts_word(b, i) {
        return None;
    }
    let n = run(b, i + 8, alnum);
    (n >= 24).then_some((SecretRule::StripeKey, 8 + n))
}

/// `AIza` and 35 of `[A-Za-z0-9_-]`, a word of its own.
fn google_api_key(b: &[u8], i: usize) -> Option<(SecretRule, usize)> {
    if !b[i..].starts_with(b"AIza") || !starts_word(b, i) {
        return None;
    }
    let n = run(b, i + 4, |c| alnum(c) || c == b'_' || c == b'-');
    (n == 35).then_some((SecretRule::GoogleApiKey, 39))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built at run time, so that this source file holds no string a scanner would flag.
    fn key(parts: &[&str]) -> String {
        parts.concat()
    }

    fn pem(label: &str, body_len: usize) -> String {
        let body: String = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
            .chars()
            .cycle()
            .take(body_len)
            .collect();
        let lines: Vec<String> = body
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    /// Text → the ids found, in order.
    fn check(text: &str, expect: &[&str]) {
        let ids: Vec<&str> = find_secrets(text.as_bytes())
            .iter()
            .map(|h| h.rule.id())
            .collect();
        assert_eq!(ids, expect, "{text:?}");
    }

    #[test]
    fn high_confidence_secrets_are_found() {
        let akia = key(&["AKIA", "Z3X7Q2LMN4PRT6VW"]);
        let secret = key(&["Zm9vYmFyYmF6cXV4", "MTIzNDU2Nzg5MGFiY2RlZmdoaWpr"])[..40].to_owned();
        check(&pem("RSA PRIVATE KEY", 900), &["private-key"]);
        check(&pem("OPENSSH PRIVATE KEY", 300), &["private-key"]);
        check(&pem("PRIVATE KEY", 64), &["private-key"]);
        check(
            &pem("ENCRYPTED PRIVATE KEY", 300),
            &["encrypted-private-key"],
        );
        check(&format!("id = \"{akia}\"\n"), &["aws-access-key-id"]);
        check(
            &format!("{}\n", akia.replace("AKIA", "ASIA")),
            &["aws-access-key-id"],
        );
        check(
            &format!("aws_access_key_id = {akia}\naws_secret_access_key = {secret}\n"),
            &["aws-access-key-id", "aws-secret-access-key"],
        );
        check(
            &format!("AWS_SECRET_ACCESS_KEY={secret}"),
            &["aws-secret-access-key"],
        );
        check(
            &format!("{{\"SecretAccessKey\": \"{secret}\"}}"),
            &["aws-secret-access-key"],
        );
        check(
            &format!("token: {}", key(&["ghp_", &"a1B2".repeat(9)])),
            &["github-token"],
        );
        check(
            &key(&["github_pat_", &"x".repeat(22), "_", &"Y".repeat(59)]),
            &["github-token"],
        );
        check(
            &key(&[
                "xoxb-",
                "1234567890",
                "-",
                "1234567890123-",
                "AbCdEfGhIjKlMnOpQrStUvWx",
            ]),
            &["slack-token"],
        );
        check(
            &key(&[
                "https://hooks.slack.com/services/",
                "T01ABCDEF/",
                "B02GHIJKL/",
                &"q".repeat(24),
            ]),
            &["slack-webhook"],
        );
        check(
            &key(&["sk_live_", "4eC39HqLyjWDarjtT1zdp7dc"]),
            &["stripe-live-key"],
        );
        check(
            &key(&["AIza", "SyA-1234567890abcdefghijklmnopqrstu"]),
            &["google-api-key"],
        );
        // One finding per kind, at the first occurrence.
        let twice = format!("{akia}\n{akia}\n");
        assert_eq!(find_secrets(twice.as_bytes()).len(), 1);
    }

    #[test]
    fn look_alikes_are_not_flagged() {
        let akia = key(&["AKIA", "Z3X7Q2LMN4PRT6VW"]);
        // A PEM header alone, as a TLS library holds it; one without a body; a public key.
        check(
            "\0-----BEGIN RSA PRIVATE KEY-----\0-----END RSA PRIVATE KEY-----\0",
            &[],
        );
        check(&pem("RSA PRIVATE KEY", 40), &[]);
        check(&pem("PUBLIC KEY", 400), &[]);
        check(&pem("CERTIFICATE", 400), &[]);
        // AWS's documentation key, ids too long or inside a word.
        check(&key(&["AKIA", "IOSFODNN7", "EXAMPLE"]), &[]);
        check(&format!("{akia}X"), &[]);
        check(&format!("X{akia}"), &[]);
        check(&akia[..19], &[]);
        let example = key(&["wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY"]);
        check(&format!("aws_secret_access_key = {example}"), &[]);
        // 40 characters without the name are just 40 characters (a hash, say).
        check(&"a".repeat(40), &[]);
        check("aws_secret_access_key = short", &[]);
        check(&key(&["ghp_", "tooshort"]), &[]);
        check("xoxb-notatoken", &[]);
        check("sk_test_4eC39HqLyjWDarjtT1zdp7dc", &[]);
    }
}
