//! Running buildah: found and checked by [`probe`], always on a storage of the caller's (vfs
//! driver under a directory it gives, never the user's global storage), in a network
//! namespace of its own, with its output streamed line by line.
//!
//! buildah's chroot isolation refuses `--network none`, so the isolation is done around it:
//! buildah itself starts in a fresh network namespace (only a loopback that is down), so
//! neither a pull nor a `RUN` step can reach any network. As root that is `unshare(2)` of the
//! network namespace; as another user it is a user namespace mapping the user to root (as
//! `unshare -rn` does), in which buildah runs rootful on a storage the user owns.

use std::ffi::{CStr, OsString};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;

use haven_fs::WithPath;

use crate::error::{Error, Result, Unavailable};

/// The program looked up on PATH.
pub const PROGRAM: &str = "buildah";

/// A usable buildah: on PATH, answering, and able to open a storage as this user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildah {
    program: String,
    version: String,
}

/// Checks that buildah can build here with its storage under `storage_root` (created if
/// absent): it is on PATH, says its version, and lists that storage's images from inside
/// the network namespace builds run in.
pub fn probe(storage_root: &Path) -> Result<Buildah, Unavailable> {
    probe_program(PROGRAM, storage_root)
}

/// [`probe`] of a given program (a name looked up on PATH, or a path).
pub fn probe_program(program: &str, storage_root: &Path) -> Result<Buildah, Unavailable> {
    let program = program.to_owned();
    let output = Command::new(&program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Unavailable::NotInstalled {
                program: program.clone(),
            },
            _ => Unavailable::Version {
                program: program.clone(),
                reason: e.to_string(),
            },
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    // `buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)`
    let version = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .filter(|_| output.status.success())
        .ok_or_else(|| Unavailable::Version {
            program: program.clone(),
            reason: last_line(&String::from_utf8_lossy(&output.stderr))
                .unwrap_or_else(|| format!("{} and no version", output.status)),
        })?
        .to_owned();
    let buildah = Buildah { program, version };
    let storage = Storage::prepare(storage_root)?;
    let run = buildah
        .run(&storage, &["images", "--quiet"], &mut |_, _| {})
        .map_err(|e| match e {
            Error::Unavailable(u) => u,
            other => Unavailable::Storage {
                root: storage.root.clone(),
                reason: other.to_string(),
            },
        })?;
    if !run.status.success() {
        return Err(Unavailable::Storage {
            root: storage.root.clone(),
            reason: run.message(),
        });
    }
    Ok(buildah)
}

impl Buildah {
    /// The version buildah reports, e.g. `1.28.2`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The working containers in the storage under `storage_root`: empty between builds.
    pub fn containers(&self, storage_root: &Path) -> Result<Vec<String>> {
        self.list(storage_root, "containers")
    }

    /// The images in the storage under `storage_root` (intermediate ones included): base
    /// images a user loaded, nothing a build left behind.
    pub fn images(&self, storage_root: &Path) -> Result<Vec<String>> {
        self.list(storage_root, "images")
    }

    fn list(&self, storage_root: &Path, what: &'static str) -> Result<Vec<String>> {
        let storage = Storage::prepare(storage_root)?;
        let mut ids = Vec::new();
        let run = self.run(
            &storage,
            &[what, "--all", "--quiet"],
            &mut |stream, line| {
                if stream == Stream::Stdout && !line.trim().is_empty() {
                    ids.push(line.trim().to_owned());
                }
            },
        )?;
        run.check(what)?;
        Ok(ids)
    }

    /// Runs `buildah <storage options> <args>` in its own network namespace, giving each
    /// line it prints (stdout and stderr, as they come) to `on_line`.
    pub(crate) fn run<S: AsRef<std::ffi::OsStr>>(
        &self,
        storage: &Storage,
        args: &[S],
        on_line: &mut dyn FnMut(Stream, &str),
    ) -> Result<Run> {
        let mut cmd = Command::new(&self.program);
        cmd.args(storage.options())
            .args(args)
            // buildah's large temp files (layer blobs on push) stay in the storage's
            // filesystem, not in a small /tmp or /var/tmp.
            .env("TMPDIR", &storage.tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        isolate(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|source| spawn_error(&self.program, source))?;
        let (tx, rx) = mpsc::channel::<(Stream, String)>();
        let readers: Vec<_> = [
            (
                Stream::Stdout,
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            ),
            (
                Stream::Stderr,
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            ),
        ]
        .into_iter()
        .filter_map(|(which, stream)| stream.map(|s| (which, s)))
        .map(|(which, stream)| {
            let tx = tx.clone();
            std::thread::spawn(move || forward_lines(which, stream, &tx))
        })
        .collect();
        drop(tx);
        let mut errors = Vec::new();
        let mut last = None;
        // Ends when both streams are closed: buildah has exited (or closed them).
        for (stream, line) in rx {
            on_line(stream, &line);
            if let Some(message) = line.strip_prefix("Error: ") {
                errors.push(message.to_owned());
            } else if !line.trim().is_empty() {
                last = Some(line);
            }
        }
        for reader in readers {
            // A reader that panicked lost lines only; the exit status still tells the outcome.
            reader.join().ok();
        }
        let status = child.wait().map_err(|source| Error::Spawn {
            program: self.program.clone(),
            source,
        })?;
        Ok(Run {
            status,
            error: errors.pop().or(last),
        })
    }
}

/// Which of buildah's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// How one run of buildah ended: its status, and what it last said was wrong.
pub(crate) struct Run {
    pub(crate) status: ExitStatus,
    /// Its last `Error: ` line, else its last line.
    pub(crate) error: Option<String>,
}

impl Run {
    pub(crate) fn message(&self) -> String {
        self.error
            .clone()
            .unwrap_or_else(|| "buildah said nothing about why".to_owned())
    }

    pub(crate) fn check(&self, command: &'static str) -> Result<()> {
        if self.status.success() {
            Ok(())
        } else {
            Err(Error::Buildah {
                command,
                status: self.status,
                message: self.message(),
            })
        }
    }
}

/// A build storage: `<root>/storage` (images and layers), `<root>/run` (locks and mount
/// state) and `<root>/tmp` (buildah's temp files and each build's output).
pub(crate) struct Storage {
    pub(crate) root: PathBuf,
    graph: PathBuf,
    run: PathBuf,
    pub(crate) tmp: PathBuf,
}

impl Storage {
    pub(crate) fn prepare(root: &Path) -> Result<Self, haven_fs::IoError> {
        let storage = Self {
            root: root.to_path_buf(),
            graph: root.join("storage"),
            run: root.join("run"),
            tmp: root.join("tmp"),
        };
        for dir in [&storage.graph, &storage.run, &storage.tmp] {
            std::fs::create_dir_all(dir).with_path(dir)?;
        }
        Ok(storage)
    }

    /// The global options that pin buildah to this storage, whatever storage.conf says.
    fn options(&self) -> Vec<OsString> {
        vec![
            "--root".into(),
            self.graph.clone().into(),
            "--runroot".into(),
            self.run.clone().into(),
            // vfs: plain directories, so no overlay module, fuse-overlayfs or mount
            // privileges are needed; it costs a full copy per layer, small for services.
            "--storage-driver".into(),
            "vfs".into(),
        ]
    }
}

/// Sends each line `stream` prints to `tx`, until it closes. Bytes that are not UTF-8 are
/// replaced rather than lost.
fn forward_lines(which: Stream, stream: Box<dyn Read + Send>, tx: &mpsc::Sender<(Stream, String)>) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']);
                if tx.send((which, line.to_owned())).is_err() {
                    return;
                }
            }
        }
    }
}

/// Starts the child in a network namespace of its own (see the module's documentation), and
/// kills it if this thread dies: an orphaned build would hold the storage's lock.
fn isolate(cmd: &mut Command) {
    // SAFETY: geteuid and getegid cannot fail and have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // Prepared before the fork: the child may not allocate.
    let maps = (uid != 0).then(|| (format!("0 {uid} 1"), format!("0 {gid} 1")));
    // SAFETY: the closure runs in the child between fork and exec, and only makes system
    // calls (prctl, unshare, open, write, close) on memory prepared before the fork: no
    // allocation, no locks.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            let flags = match maps {
                Some(_) => libc::CLONE_NEWUSER | libc::CLONE_NEWNET,
                None => libc::CLONE_NEWNET,
            };
            if libc::unshare(flags) != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some((uid_map, gid_map)) = &maps {
                // An unprivileged process may map only itself, and only after giving up
                // setgroups(2).
                write_proc(c"/proc/self/setgroups", b"deny")?;
                write_proc(c"/proc/self/uid_map", uid_map.as_bytes())?;
                write_proc(c"/proc/self/gid_map", gid_map.as_bytes())?;
            }
            Ok(())
        });
    }
}

/// Writes `bytes` to a /proc file with raw system calls (async-signal-safe, for `pre_exec`).
fn write_proc(path: &CStr, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `bytes` is valid for `bytes.len()` bytes; `fd` is open and ours.
    let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    let result = if usize::try_from(written).ok() == Some(bytes.len()) {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    };
    // SAFETY: `fd` is open and closed exactly once.
    unsafe { libc::close(fd) };
    result
}

/// A failed spawn: buildah missing, or the namespace refused (the child's `pre_exec` error
/// comes back from `spawn`).
fn spawn_error(program: &str, source: io::Error) -> Error {
    match (source.kind(), source.raw_os_error()) {
        (io::ErrorKind::NotFound, _) => Unavailable::NotInstalled {
            program: program.to_owned(),
        }
        .into(),
        (_, Some(libc::EPERM | libc::EINVAL | libc::ENOSPC | libc::EUSERS)) => {
            Unavailable::Namespace {
                reason: source.to_string(),
            }
            .into()
        }
        _ => Error::Spawn {
            program: program.to_owned(),
            source,
        },
    }
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().trim_start_matches("Error: ").to_owned())
}
