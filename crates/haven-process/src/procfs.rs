//! `/proc` reading: process identities (pid + start time), parent links and process groups.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;

use crate::error::{Error, Result};

/// The fields of `/proc/<pid>/stat` this crate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub pid: u32,
    /// Field 3: R, S, D, Z, T, t, X, I, ...
    pub state: u8,
    /// Field 4.
    pub ppid: u32,
    /// Field 5.
    pub pgrp: u32,
    /// Field 14, clock ticks.
    pub utime: u64,
    /// Field 15, clock ticks.
    pub stime: u64,
    /// Field 22, clock ticks since boot.
    pub start_time: u64,
    /// Field 24, pages (same counter as statm's `resident` and status's `VmRSS`).
    pub rss_pages: u64,
}

impl Stat {
    /// Zombies ('Z') and dead tasks ('X') hold a pid but run nothing and cannot be stopped.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may contain spaces and ')' so
/// fields are counted from the *last* ')'.
pub(crate) fn parse_stat(pid: u32, text: &str) -> Result<Stat> {
    let bad = |detail: &str| Error::ParseProc {
        pid,
        file: "stat",
        detail: detail.to_owned(),
    };
    let close = text.rfind(')').ok_or_else(|| bad("no ')' after comm"))?;
    let rest: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    // rest[0] is field 3, so field N is rest[N - 3].
    let field = |n: usize| -> Result<&str> {
        rest.get(n - 3)
            .copied()
            .ok_or_else(|| bad(&format!("missing field {n}")))
    };
    let num = |n: usize| -> Result<u64> {
        field(n)?
            .parse::<u64>()
            .map_err(|_| bad(&format!("field {n} is not a number")))
    };
    let small = |n: usize| -> Result<u32> {
        // ppid/pgrp are 0 for kernel threads and init; never negative for real processes.
        let v = field(n)?
            .parse::<i64>()
            .map_err(|_| bad(&format!("field {n} is not a number")))?;
        u32::try_from(v).map_err(|_| bad(&format!("field {n} out of range")))
    };
    let state = *field(3)?
        .as_bytes()
        .first()
        .ok_or_else(|| bad("empty state"))?;
    Ok(Stat {
        pid,
        state,
        ppid: small(4)?,
        pgrp: small(5)?,
        utime: num(14)?,
        stime: num(15)?,
        start_time: num(22)?,
        rss_pages: field(24)?
            .parse::<i64>()
            .map(|v| v.max(0) as u64)
            .map_err(|_| bad("field 24 is not a number"))?,
    })
}

/// Whether an I/O error on `/proc/<pid>/…` means the process simply is not there (any more).
fn is_gone(err: &io::Error) -> bool {
    // ESRCH shows up when the task dies between open() and read().
    err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ESRCH)
}

/// A `/proc` file of one line, usually in a single `read`: the kernel generates such a file
/// whole on the first read. (`std::fs::read_to_string` would also stat it and read it in
/// growing pieces, five system calls more per process and scan.) A longer file is read
/// whole all the same.
fn read_small<'b>(path: &str, buf: &'b mut [u8; 1024]) -> io::Result<std::borrow::Cow<'b, str>> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut len = 0;
    while len < buf.len() && !buf[..len].ends_with(b"\n") {
        match file.read(&mut buf[len..])? {
            0 => break,
            n => len += n,
        }
    }
    let invalid = |e| io::Error::new(io::ErrorKind::InvalidData, e);
    if len < buf.len() {
        return std::str::from_utf8(&buf[..len])
            .map(std::borrow::Cow::Borrowed)
            .map_err(invalid);
    }
    let mut rest = buf.to_vec();
    file.read_to_end(&mut rest)?;
    String::from_utf8(rest)
        .map(std::borrow::Cow::Owned)
        .map_err(|e| invalid(e.utf8_error()))
}

/// Reads `/proc/<pid>/stat`; `Ok(None)` when no such process exists.
pub(crate) fn read_stat(pid: u32) -> Result<Option<Stat>> {
    if pid == 0 {
        // /proc/0 does not exist, but be explicit: pid 0 is never a process we track.
        return Ok(None);
    }
    let mut buf = [0u8; 1024];
    match read_small(&format!("/proc/{pid}/stat"), &mut buf) {
        Ok(text) => parse_stat(pid, &text).map(Some),
        Err(e) if is_gone(&e) => Ok(None),
        Err(source) => Err(Error::ReadProc {
            pid,
            file: "stat",
            source,
        }),
    }
}

/// Reads every process's stat. Processes that vanish mid-scan are skipped; unparsable
/// entries are skipped too, because one odd process must not blind the supervisor.
pub(crate) fn scan() -> Result<Vec<Stat>> {
    let dir = std::fs::read_dir("/proc").map_err(|source| Error::ScanProc { source })?;
    let mut out = Vec::new();
    for entry in dir {
        let entry = entry.map_err(|source| Error::ScanProc { source })?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        match read_stat(pid) {
            Ok(Some(stat)) => out.push(stat),
            Ok(None) => {}
            Err(e) => tracing::debug!(pid, error = %e, "skipping unreadable /proc entry"),
        }
    }
    Ok(out)
}

/// Who a process is: pid plus start time, so a recycled pid is never mistaken for it.
///
/// Callers persist the three numbers (e.g. in the state database) and rebuild the value
/// after a crash to find and stop processes a previous run left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessIdentity {
    pub pid: u32,
    /// `/proc/<pid>/stat` field 22: clock ticks since boot when the process started.
    pub start_time: u64,
    /// Process group at the time the identity was taken.
    pub pgid: u32,
}

/// Where a recorded process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Running (or stopped/sleeping): it can still do work and receive signals.
    Alive,
    /// Exited but not yet reaped by its parent. It holds its pid, so the pid cannot be reused yet.
    Zombie,
    /// Reaped, or the pid now belongs to a different process.
    Gone,
}

impl ProcessIdentity {
    /// Reads the identity of a live (or zombie) process.
    pub fn of(pid: u32) -> Result<ProcessIdentity> {
        let stat = read_stat(pid)?.ok_or(Error::NotFound { pid })?;
        Ok(ProcessIdentity {
            pid,
            start_time: stat.start_time,
            pgid: stat.pgrp,
        })
    }

    /// True only if the pid exists, started at the recorded time, and is not a zombie.
    pub fn is_alive(&self) -> bool {
        // A /proc read error other than "gone" is reported as not alive: a bool cannot say
        // more, and `liveness` exposes the error to callers that care.
        matches!(self.liveness(), Ok(Liveness::Alive))
    }

    /// Alive, zombie, or gone (reaped or pid reused).
    pub fn liveness(&self) -> Result<Liveness> {
        Ok(match self.current_stat()? {
            None => Liveness::Gone,
            Some(stat) if stat.is_dead() => Liveness::Zombie,
            Some(_) => Liveness::Alive,
        })
    }

    /// Whether the process led its own process group when the identity was taken.
    pub fn leads_group(&self) -> bool {
        self.pgid == self.pid
    }

    /// The current stat of the pid if it is still this process (same start time).
    pub(crate) fn current_stat(&self) -> Result<Option<Stat>> {
        Ok(read_stat(self.pid)?.filter(|s| s.start_time == self.start_time))
    }
}

/// Live (non-zombie) descendants of `pid` — children, grandchildren, ... — by following
/// parent links in `/proc`. Processes already re-parented away (orphans) are not found;
/// use [`group_members`] for those.
pub fn descendants(pid: u32) -> Result<Vec<u32>> {
    Ok(descendants_in(&scan()?, pid))
}

pub(crate) fn descendants_in(stats: &[Stat], root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<&Stat>> = HashMap::new();
    for s in stats {
        children.entry(s.ppid).or_default().push(s);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::from([root]);
    let mut queue = VecDeque::from([root]);
    while let Some(p) = queue.pop_front() {
        for child in children.get(&p).into_iter().flatten() {
            if seen.insert(child.pid) {
                queue.push_back(child.pid);
                if !child.is_dead() {
                    out.push(child.pid);
                }
            }
        }
    }
    out
}

/// Live (non-zombie) members of process group `pgid`, found by scanning `/proc`.
pub fn group_members(pgid: u32) -> Result<Vec<u32>> {
    if pgid == 0 {
        return Ok(Vec::new());
    }
    Ok(scan()?
        .into_iter()
        .filter(|s| s.pgrp == pgid && !s.is_dead())
        .map(|s| s.pid)
        .collect())
}

/// Every live process that belongs to a task: the process itself, its descendants, and —
/// when it leads a process group — all members of that group (which includes grandchildren
/// that were orphaned and re-parented to a subreaper). Sorted, no duplicates; empty when
/// the identity no longer matches. This is the pid set to hand to [`crate::Sampler`].
/// For several tasks at once, scan once with [`ProcessTable`].
pub fn process_tree(identity: &ProcessIdentity) -> Result<Vec<u32>> {
    Ok(ProcessTable::scan()?.tree(identity))
}

/// Every process's stat at one moment: one scan of `/proc` to answer [`ProcessTable::tree`]
/// for any number of tasks (a scan reads a file per process on the machine).
#[derive(Debug)]
pub struct ProcessTable {
    stats: Vec<Stat>,
}

impl ProcessTable {
    pub fn scan() -> Result<Self> {
        Ok(Self { stats: scan()? })
    }

    /// [`process_tree`] of `identity` as of the scan.
    pub fn tree(&self, identity: &ProcessIdentity) -> Vec<u32> {
        let stats = &self.stats;
        let me = stats
            .iter()
            .find(|s| s.pid == identity.pid && s.start_time == identity.start_time);
        let mut pids: Vec<u32> = Vec::new();
        if let Some(me) = me {
            if !me.is_dead() {
                pids.push(me.pid);
            }
            pids.extend(descendants_in(stats, me.pid));
        }
        let group_is_ours = identity.leads_group()
            && stats
                .iter()
                .find(|s| s.pid == identity.pgid)
                .is_none_or(|s| s.start_time == identity.start_time);
        if group_is_ours {
            pids.extend(
                stats
                    .iter()
                    .filter(|s| s.pgrp == identity.pgid && !s.is_dead())
                    .map(|s| s.pid),
            );
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_read_like_read_to_string() {
        let mut buf = [0u8; 1024];
        // /proc/self/stat is this test's own; its fault counts (from the tenth field) and CPU
        // times move between two reads, so compare the fields before them.
        let got = read_small("/proc/self/stat", &mut buf)
            .unwrap()
            .into_owned();
        let want = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(got.ends_with('\n'));
        assert_eq!(
            got.split(' ').take(9).collect::<Vec<_>>(),
            want.split(' ').take(9).collect::<Vec<_>>()
        );
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 5, 1023, 1024, 1025, 5000] {
            let path = dir.path().join(format!("f{len}"));
            let text = "x".repeat(len);
            std::fs::write(&path, &text).unwrap();
            let got = read_small(path.to_str().unwrap(), &mut buf).unwrap();
            assert_eq!(got, text, "{len} bytes");
        }
        let path = dir.path().join("bad");
        std::fs::write(&path, b"\xff\n").unwrap();
        let err = read_small(path.to_str().unwrap(), &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    fn stat_line(comm: &str) -> String {
        // Real layout: 52 fields; values chosen so each tested field is distinguishable.
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[0] = "S".into(); // 3 state
        fields[1] = "77".into(); // 4 ppid
        fields[2] = "88".into(); // 5 pgrp
        fields[11] = "1400".into(); // 14 utime
        fields[12] = "1500".into(); // 15 stime
        fields[19] = "2200".into(); // 22 starttime
        fields[21] = "2400".into(); // 24 rss
        format!("123 ({comm}) {}\n", fields.join(" "))
    }

    #[test]
    fn parses_comm_with_spaces_and_parens() {
        let s = parse_stat(123, &stat_line("evil ) (name) x")).expect("parse");
        assert_eq!(s.state, b'S');
        assert_eq!((s.ppid, s.pgrp), (77, 88));
        assert_eq!((s.utime, s.stime), (1400, 1500));
        assert_eq!(s.start_time, 2200);
        assert_eq!(s.rss_pages, 2400);
    }

    #[test]
    fn rejects_truncated_stat() {
        let err = parse_stat(9, "9 (x) S 1 2").expect_err("truncated");
        assert!(err.to_string().contains("/proc/9/stat"), "{err}");
    }

    #[test]
    fn own_identity_is_alive_and_wrong_start_time_is_not() {
        let me = ProcessIdentity::of(std::process::id()).expect("self");
        assert!(me.is_alive());
        let forged = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!forged.is_alive());
        assert_eq!(forged.liveness().expect("liveness"), Liveness::Gone);
    }

    #[test]
    fn descendants_walks_tree_and_skips_zombies() {
        let mk = |pid, ppid, state| Stat {
            pid,
            state,
            ppid,
            pgrp: 1,
            utime: 0,
            stime: 0,
            start_time: 0,
            rss_pages: 0,
        };
        let stats = [
            mk(10, 1, b'S'),
            mk(11, 10, b'S'),
            mk(12, 11, b'R'),
            mk(13, 10, b'Z'),
            mk(14, 1, b'S'),
        ];
        let mut d = descendants_in(&stats, 10);
        d.sort_unstable();
        assert_eq!(d, vec![11, 12]);
    }
}
