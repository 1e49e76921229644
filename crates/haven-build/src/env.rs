//! What a build's commands see: a clean environment, CodeBuild's variables, and shell state
//! (working directory and variables) carried from one command to the next.
//!
//! # The environment
//!
//! A build does not inherit haven's environment. It starts from [`PASSTHROUGH`] (the host's
//! `PATH`, `HOME`, locale and the Rust toolchain locations, so that builds use the machine's
//! toolchains offline), then, later entries replacing earlier ones as CodeBuild documents:
//! CodeBuild's own variables (`CODEBUILD_*`, `AWS_REGION`, …), the buildspec's
//! `env.variables`, its `env.parameter-store` values, and last the variables of the request
//! (CodeBuild's "start build" overrides take precedence over the buildspec).
//!
//! # Shell state
//!
//! In buildspec 0.2 a command sees what earlier commands did — `cd`, `export`, and plain
//! assignments (`TAG=$(...)` in `pre_build` used in `build`, as AWS's own samples do) — across
//! phases too. Each command runs in its own shell process (so that each has an exit status, a
//! log line and a process group to kill), started with the state the previous one left:
//! `set -a` makes assignments exported, and an `EXIT` trap saves `env -0` and `pwd` to files
//! that the next command starts from. Shell functions, aliases and `set` options do not carry
//! over, and a command that replaces the `EXIT` trap keeps its changes to itself.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Host variables a build inherits when they are set.
pub const PASSTHROUGH: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
];

/// `PATH` when the host has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `LANG` when the host has none: UTF-8 output, like CodeBuild's standard images.
pub const DEFAULT_LANG: &str = "C.UTF-8";

/// The image name a build sees in `CODEBUILD_BUILD_IMAGE`.
pub const BUILD_IMAGE: &str = "haven/local";

/// Variables the shell itself maintains or that only the state-saving trap sets; they are not
/// carried from one command to the next.
const NOT_CARRIED: &[&str] = &["__haven_rc", "SHLVL", "_", "PWD"];

/// The environment and working directory the next command starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShellState {
    /// Names and values as UTF-8 (others are converted lossily): `haven_process::spawn` takes
    /// strings, and so does everything a build reports.
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

impl ShellState {
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.env.insert(key.into(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }
}

/// The host part of the environment: [`PASSTHROUGH`] variables that are set, with defaults
/// for `PATH` and `LANG`.
pub(crate) fn host_environment(
    lookup: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for name in PASSTHROUGH {
        if let Some(value) = lookup(name) {
            env.insert((*name).to_owned(), value);
        }
    }
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    env.entry("LANG".into())
        .or_insert_with(|| DEFAULT_LANG.into());
    env
}

/// Per-build files the `EXIT` trap writes, in a private temporary directory.
pub(crate) struct StateFiles {
    dir: PathBuf,
    env_file: PathBuf,
    pwd_file: PathBuf,
    /// Where commands write their output (see [`crate::log`]).
    pub fifo: PathBuf,
    /// Scratch output of helper commands (the artifact name).
    pub scratch: PathBuf,
    /// Absolute path of `env`, so a build that changes `PATH` cannot break state saving.
    env_program: PathBuf,
}

impl StateFiles {
    pub fn create(build_id: &str) -> io::Result<StateFiles> {
        let env_program = ["/usr/bin/env", "/bin/env"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "no env program in /usr/bin or /bin",
                )
            })?;
        let safe: String = build_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(64)
            .collect();
        let dir = std::env::temp_dir().join(format!(
            "haven-build-{safe}-{}-{}",
            std::process::id(),
            haven_fs::random::id_hex(4)
        ));
        fs::create_dir(&dir)?;
        Ok(StateFiles {
            env_file: dir.join("env"),
            pwd_file: dir.join("pwd"),
            fifo: dir.join("output"),
            scratch: dir.join("scratch"),
            dir,
            env_program,
        })
    }

    /// The script a command runs as: restore nothing (the process is started with the state),
    /// save the state on exit, keep the command's exit status.
    pub fn script(&self, command: &str) -> String {
        format!(
            "__haven_save() {{ __haven_rc=$?; {env} -0 >{envf} 2>/dev/null; pwd >{pwdf} 2>/dev/null; exit $__haven_rc; }}\n\
             trap __haven_save EXIT\n\
             set -a\n\
             {command}\n",
            env = sh_quote(self.env_program.as_os_str()),
            envf = sh_quote(self.env_file.as_os_str()),
            pwdf = sh_quote(self.pwd_file.as_os_str()),
        )
    }

    /// Forgets the previous command's saved state, so a command that dies before saving
    /// cannot be mistaken for one that saved.
    pub fn clear(&self) -> io::Result<()> {
        for f in [&self.env_file, &self.pwd_file] {
            match fs::remove_file(f) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Applies what the last command saved to `state`; leaves it unchanged if nothing was
    /// saved (the command was killed, or replaced the trap).
    pub fn read_back(&self, state: &mut ShellState) -> io::Result<()> {
        match fs::read(&self.env_file) {
            Ok(bytes) if !bytes.is_empty() => state.env = parse_env0(&bytes),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match fs::read(&self.pwd_file) {
            Ok(bytes) => {
                let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
                if !line.is_empty() {
                    state.cwd = PathBuf::from(OsStr::from_bytes(line));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

impl Drop for StateFiles {
    fn drop(&mut self) {
        // Best effort: the directory is private and small; a leftover only costs disk space.
        fs::remove_dir_all(&self.dir).ok();
    }
}

/// Parses `env -0` output: `KEY=VALUE\0` records.
fn parse_env0(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for rec in bytes.split(|b| *b == 0) {
        let Some(eq) = rec.iter().position(|b| *b == b'=') else {
            continue;
        };
        let (k, v) = (&rec[..eq], &rec[eq + 1..]);
        if k.is_empty() || NOT_CARRIED.iter().any(|n| n.as_bytes() == k) {
            continue;
        }
        env.insert(
            String::from_utf8_lossy(k).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        );
    }
    env
}

/// Single-quotes `s` for the shell.
pub(crate) fn sh_quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `project:8-4-4-4-12` — a CodeBuild build ID with a random (version 4) UUID.
pub fn new_build_id(project: &str) -> String {
    let mut b = haven_fs::random::id_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{project}:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Whether `path` is a directory the build can start in.
pub(crate) fn check_source(path: &Path) -> io::Result<PathBuf> {
    let abs = fs::canonicalize(path)?;
    if abs.is_dir() {
        Ok(abs)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a directory", abs.display()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env0_parsing_drops_shell_internals() {
        let env = parse_env0(b"A=1\0B=x=y\0SHLVL=3\0__haven_rc=0\0MULTI=a\nb\0junk\0");
        let keys: Vec<_> = env.keys().collect();
        assert_eq!(keys, ["A", "B", "MULTI"]);
        assert_eq!(env["B"], "x=y");
        assert_eq!(env["MULTI"], "a\nb");
    }

    #[test]
    fn quoting_and_ids() {
        assert_eq!(sh_quote(OsStr::new("it's")), r"'it'\''s'");
        let id = new_build_id("hello");
        assert!(id.starts_with("hello:"), "{id}");
        assert_eq!(id.len(), "hello:".len() + 36);
        assert_eq!(&id[6 + 14..6 + 15], "4");
        assert_ne!(new_build_id("a"), new_build_id("a"));
    }

    #[test]
    fn host_environment_is_filtered() {
        let env = host_environment(|k| match k {
            "HOME" => Some("/home/me".into()),
            "SECRET_TOKEN" => Some("no".into()),
            _ => None,
        });
        assert_eq!(env.len(), 3, "{env:?}");
        assert_eq!(env["PATH"], DEFAULT_PATH);
        assert_eq!(env["LANG"], DEFAULT_LANG);
    }
}
