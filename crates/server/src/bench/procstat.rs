//! CPU time and memory of a process, read from /proc (Linux).

use std::time::Duration;

/// CPU time of a process, split as the kernel accounts it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuTime {
    /// Time running the process's own code.
    pub(crate) user: Duration,
    /// Time in the kernel on its behalf: system calls, and the network stack's work charged
    /// to it (on loopback a send may also run the receiver's side of TCP, depending on how the
    /// kernel accounts interrupt time).
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
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// The CPU times in a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<CpuTime> {
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
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
        assert!(cpu_time(Some(pid)).is_some());
        assert!(cpu_time(None).is_some());
        assert!(rss_bytes(pid).unwrap() > 0);
    }

    #[test]
    fn user_and_system_times_are_told_apart() {
        // A command name with spaces and a parenthesis; utime 250 and stime 75 ticks.
        let line = "4242 (bench (x) 2) R 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 1 0";
        let cpu = parse_stat(line).unwrap();
        assert_eq!(cpu.user, Duration::from_millis(2500));
        assert_eq!(cpu.system, Duration::from_millis(750));
        assert_eq!(cpu.total(), Duration::from_millis(3250));
        assert!(parse_stat("4242 (truncated) R 1 2").is_none());
        assert!(parse_stat("4242 (cut)").is_none());
    }
}
