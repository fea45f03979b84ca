//! CPU time and memory of a process, read from /proc (Linux).

use std::time::Duration;

/// CPU time of a process, split as the kernel accounts it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuTime {
    /// Time running the process's own code.
    pub(crate) user: Duration,
    /// Time in the kernel on its behalf (system calls, and the network stack's work charged
    /// to it: on loopback, a send also runs the receiver's side of TCP).
    pub(crate) system: Duration,
}

impl CpuTime {
    /// User plus system time.
    pub(crate) fn total(&self) -> Duration {
        self.user + self.system
    }
}

/// The CPU time of `pid` (or this process when `None`).
pub(crate) fn cpu_time(pid: Option<u32>) -> Option<CpuTime> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => String::from("/proc/self/stat"),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = clock_ticks_per_second() as f64;
    Some(CpuTime {
        user: Duration::from_secs_f64(utime as f64 / ticks),
        system: Duration::from_secs_f64(stime as f64 / ticks),
    })
}

fn clock_ticks_per_second() -> u64 {
    // USER_HZ is 100 on every Linux architecture in use.
    100
}

/// Resident set size of `pid` in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let cpu = cpu_time(Some(pid)).unwrap();
        assert_eq!(cpu.total(), cpu.user + cpu.system);
        assert!(cpu_time(None).is_some());
        assert!(rss_bytes(pid).unwrap() > 0);
    }
}
