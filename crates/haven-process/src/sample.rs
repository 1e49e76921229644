//! CPU and memory sampling of a task's processes from `/proc`, in ECS reservation units.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::procfs::read_stat;

/// ECS CPU units per vCPU.
pub const CPU_UNITS_PER_VCPU: f64 = 1024.0;

/// One sample of a set of processes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// CPU used since the previous sample, as a fraction of one core (2.0 = two cores
    /// busy). `None` on the first sample: usage needs an interval.
    pub cpu_cores: Option<f64>,
    /// Sum of resident set sizes. Pages shared between the processes are counted once per
    /// process, so this overstates a little; it is what `ps` would add up to. The kernel
    /// batches these counters per CPU, so a process that has just started can read 0.
    pub rss_bytes: u64,
    /// How many of the requested pids were alive and counted.
    pub processes: usize,
    /// Time since the previous sample, if there was one.
    pub interval: Option<Duration>,
}

impl Sample {
    /// CPU use as a percentage of a reservation in ECS CPU units (1024 units = 1 vCPU).
    /// `None` for the first sample or a zero reservation.
    pub fn cpu_percent_of_units(&self, units: u32) -> Option<f64> {
        let cores = self.cpu_cores?;
        (units > 0).then(|| cores / (f64::from(units) / CPU_UNITS_PER_VCPU) * 100.0)
    }

    /// Resident memory as a percentage of a reservation in MiB. `None` for a zero reservation.
    pub fn memory_percent_of_mib(&self, mib: u64) -> Option<f64> {
        (mib > 0).then(|| self.rss_bytes as f64 / (mib as f64 * 1024.0 * 1024.0) * 100.0)
    }
}

/// Remembers CPU counters between samples so each sample reports usage over its interval.
/// Keep one per task; feed it the task's pids (see [`crate::process_tree`]) each time.
#[derive(Debug)]
pub struct Sampler {
    clk_tck: u64,
    page_size: u64,
    prev: Option<Previous>,
}

#[derive(Debug)]
struct Previous {
    /// CLOCK_BOOTTIME, the clock `/proc/<pid>/stat` start times are measured on.
    at: Duration,
    /// (pid, start time) → utime + stime, in clock ticks.
    ticks: HashMap<(u32, u64), u64>,
}

impl Sampler {
    pub fn new() -> Result<Sampler> {
        Ok(Sampler {
            clk_tck: sysconf(libc::_SC_CLK_TCK, "_SC_CLK_TCK")?,
            page_size: sysconf(libc::_SC_PAGESIZE, "_SC_PAGESIZE")?,
            prev: None,
        })
    }

    /// Samples `pids`; pids that no longer exist are skipped.
    ///
    /// CPU counts, per process, the ticks since the previous sample; a process not seen
    /// before counts fully if it started after the previous sample, and from now on
    /// otherwise. CPU of processes that exited during the interval is lost (they are no
    /// longer in `/proc`), so short-lived helpers are under-reported.
    pub fn sample(&mut self, pids: &[u32]) -> Result<Sample> {
        let now = boottime()?;
        let mut ticks = HashMap::with_capacity(pids.len());
        let mut rss_pages = 0u64;
        let mut used_ticks = 0u64;
        let prev_ticks = self
            .prev
            .as_ref()
            .map(|p| duration_to_ticks(p.at, self.clk_tck));
        for &pid in pids {
            let Some(stat) = read_stat(pid)? else {
                continue;
            };
            if stat.is_dead() {
                continue;
            }
            let cpu = stat.utime + stat.stime;
            let key = (pid, stat.start_time);
            if ticks.insert(key, cpu).is_some() {
                // Duplicate pid in the input: count it once.
                continue;
            }
            rss_pages += stat.rss_pages;
            if let (Some(prev), Some(prev_ticks)) = (&self.prev, prev_ticks) {
                used_ticks += match prev.ticks.get(&key) {
                    Some(&before) => cpu.saturating_sub(before),
                    None if stat.start_time >= prev_ticks => cpu,
                    None => 0,
                };
            }
        }
        let processes = ticks.len();
        let (cpu_cores, interval) = match self.prev.take() {
            Some(prev) if now > prev.at => {
                let interval = now - prev.at;
                let cpu_secs = used_ticks as f64 / self.clk_tck as f64;
                (Some(cpu_secs / interval.as_secs_f64()), Some(interval))
            }
            _ => (None, None),
        };
        self.prev = Some(Previous { at: now, ticks });
        Ok(Sample {
            cpu_cores,
            rss_bytes: rss_pages * self.page_size,
            processes,
            interval,
        })
    }
}

fn duration_to_ticks(d: Duration, clk_tck: u64) -> u64 {
    (d.as_nanos() * u128::from(clk_tck) / 1_000_000_000) as u64
}

fn sysconf(name: libc::c_int, label: &'static str) -> Result<u64> {
    // SAFETY: sysconf takes an integer name and has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v)
        .ok()
        .filter(|v| *v > 0)
        .ok_or(Error::Sysconf { name: label })
}

fn boottime() -> Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a pointer valid for the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return Err(Error::Sysconf {
            name: "clock_gettime(CLOCK_BOOTTIME)",
        });
    }
    Ok(Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_of_reservations() {
        let s = Sample {
            cpu_cores: Some(0.5),
            rss_bytes: 64 * 1024 * 1024,
            processes: 1,
            interval: Some(Duration::from_secs(1)),
        };
        // Half a core of a 256-unit (quarter vCPU) reservation is 200 %.
        let pct = s.cpu_percent_of_units(256).expect("cpu");
        assert!((pct - 200.0).abs() < 1e-9, "{pct}");
        assert_eq!(s.cpu_percent_of_units(0), None);
        let mem = s.memory_percent_of_mib(512).expect("mem");
        assert!((mem - 12.5).abs() < 1e-9, "{mem}");
        assert_eq!(s.memory_percent_of_mib(0), None);
    }

    #[test]
    fn first_sample_has_no_cpu_and_self_has_memory() {
        let mut sampler = Sampler::new().expect("sampler");
        let s = sampler.sample(&[std::process::id()]).expect("sample");
        assert_eq!(s.cpu_cores, None);
        assert_eq!(s.processes, 1);
        assert!(s.rss_bytes > 0);
        let s = sampler
            .sample(&[std::process::id(), u32::MAX])
            .expect("sample");
        assert!(s.cpu_cores.is_some());
        assert_eq!(s.processes, 1);
    }
}
