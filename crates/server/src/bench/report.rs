//! What a benchmark run measured, and shared recording state.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::procstat;

const SHARDS: usize = 16;

/// Counters and latency histograms shared by the load tasks. Histograms are sharded so tasks
/// on different threads rarely contend, and one histogram serves many tasks (memory stays
/// flat at 10,000 connections).
pub(crate) struct Recorder {
    recording: AtomicBool,
    pub(crate) stop: AtomicBool,
    messages: AtomicU64,
    histograms: Vec<Mutex<Histogram<u64>>>,
}

impl Recorder {
    pub(crate) fn new() -> Result<Self, String> {
        let histograms = (0..SHARDS)
            .map(|_| Histogram::new_with_bounds(1, 120_000_000, 3).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            recording: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            messages: AtomicU64::new(0),
            histograms,
        })
    }

    /// Records one message that took `latency_us` microseconds, if measuring.
    pub(crate) fn record(&self, shard: usize, latency_us: u64) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        self.messages.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut histogram) = self.histograms[shard % SHARDS].lock() {
            histogram.saturating_record(latency_us.max(1));
        }
    }

    pub(crate) fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub(crate) fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    fn merged(&self) -> Option<Histogram<u64>> {
        let mut merged = Histogram::new_with_bounds(1, 120_000_000, 3).ok()?;
        for shard in &self.histograms {
            if let Ok(h) = shard.lock() {
                merged.add(&*h).ok()?;
            }
        }
        Some(merged)
    }
}

/// CPU time of the generator and (when known) the server at one instant.
pub(crate) struct CpuSnapshot {
    client: Option<procstat::CpuTime>,
    server: Option<procstat::CpuTime>,
    at: tokio::time::Instant,
}

impl CpuSnapshot {
    pub(crate) fn take(server_pid: Option<u32>) -> Self {
        Self {
            client: procstat::cpu_time(None),
            server: server_pid.and_then(|pid| procstat::cpu_time(Some(pid))),
            at: tokio::time::Instant::now(),
        }
    }
}

/// The result of one run.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    pub(crate) label: String,
    pub(crate) mode: String,
    pub(crate) connections: usize,
    pub(crate) size: usize,
    pub(crate) in_flight: usize,
    pub(crate) seconds: f64,
    pub(crate) messages: u64,
    pub(crate) messages_per_second: f64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) p999_us: u64,
    pub(crate) max_us: u64,
    pub(crate) client_cpu_seconds: Option<f64>,
    pub(crate) server_cpu_seconds: Option<f64>,
    /// The part of `server_cpu_seconds` spent in the kernel: system calls and the TCP work
    /// charged to the server. It shrinks with fewer, larger system calls, not with faster
    /// user code.
    pub(crate) server_system_seconds: Option<f64>,
    pub(crate) messages_per_server_cpu_second: Option<f64>,
    pub(crate) server_rss_bytes: Option<u64>,
    pub(crate) server_rss_per_connection: Option<f64>,
    pub(crate) notes: Vec<String>,
}

impl Report {
    /// An empty report describing the run `args` asks for.
    pub(crate) fn new(args: &super::BenchArgs, mode: &str) -> Self {
        Self {
            label: args.label.clone(),
            mode: mode.to_owned(),
            connections: args.connections,
            size: args.size,
            in_flight: args.in_flight,
            ..Self::default()
        }
    }

    /// Runs the warm-up and the measurement window while load tasks run, then stops them and
    /// fills in what was measured.
    pub(crate) async fn measure(
        &mut self,
        args: &super::BenchArgs,
        recorder: &Recorder,
        tasks: &[tokio::task::JoinHandle<()>],
    ) {
        super::sleep_secs(args.warmup).await;
        let start = CpuSnapshot::take(args.server_pid);
        recorder.set_recording(true);
        super::sleep_secs(args.duration).await;
        recorder.set_recording(false);
        let end = CpuSnapshot::take(args.server_pid);
        recorder.stop.store(true, Ordering::Relaxed);
        let ended_early = tasks.iter().filter(|t| t.is_finished()).count();
        for task in tasks {
            task.abort();
        }
        if ended_early > 0 {
            self.notes.push(format!(
                "{ended_early} load tasks ended before the measurement did"
            ));
        }
        self.measured(recorder, &start, &end, args.server_pid);
    }

    /// Fills throughput, latency and CPU figures from a measurement window.
    fn measured(
        &mut self,
        recorder: &Recorder,
        start: &CpuSnapshot,
        end: &CpuSnapshot,
        server_pid: Option<u32>,
    ) {
        let seconds = (end.at - start.at).as_secs_f64();
        self.seconds = seconds;
        self.messages = recorder.messages();
        self.messages_per_second = self.messages as f64 / seconds.max(1e-9);
        if let Some(h) = recorder.merged() {
            self.p50_us = h.value_at_quantile(0.50);
            self.p99_us = h.value_at_quantile(0.99);
            self.p999_us = h.value_at_quantile(0.999);
            self.max_us = h.max();
        }
        let total = |cpu: Option<procstat::CpuTime>| cpu.map(|c| c.total());
        self.client_cpu_seconds = diff(total(start.client), total(end.client));
        self.server_cpu_seconds = diff(total(start.server), total(end.server));
        let system = |cpu: Option<procstat::CpuTime>| cpu.map(|c| c.system);
        self.server_system_seconds = diff(system(start.server), system(end.server));
        self.messages_per_server_cpu_second = self
            .server_cpu_seconds
            .filter(|cpu| *cpu > 0.0)
            .map(|cpu| self.messages as f64 / cpu);
        self.server_rss_bytes = server_pid.and_then(procstat::rss_bytes);
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn diff(a: Option<Duration>, b: Option<Duration>) -> Option<f64> {
    Some(b?.saturating_sub(a?).as_secs_f64())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = if self.label.is_empty() {
            ""
        } else {
            &self.label
        };
        writeln!(
            f,
            "{label} {} connections={} size={} in_flight={}",
            self.mode, self.connections, self.size, self.in_flight
        )?;
        if self.messages > 0 {
            writeln!(
                f,
                "  messages {} in {:.2}s = {:.0} msg/s; latency p50 {} us, p99 {} us, p99.9 {} us, max {} us",
                self.messages, self.seconds, self.messages_per_second, self.p50_us, self.p99_us, self.p999_us, self.max_us
            )?;
        }
        if let Some(cpu) = self.client_cpu_seconds {
            write!(f, "  generator CPU {cpu:.2}s")?;
        }
        if let Some(cpu) = self.server_cpu_seconds {
            write!(f, "; server CPU {cpu:.2}s")?;
            if let Some(system) = self.server_system_seconds.filter(|_| cpu > 0.0) {
                write!(f, " ({:.0}% in the kernel)", 100.0 * system / cpu)?;
            }
        }
        if let Some(rate) = self.messages_per_server_cpu_second {
            write!(f, " = {rate:.0} msg per server CPU-second")?;
        }
        writeln!(f)?;
        if let Some(rss) = self.server_rss_bytes {
            write!(f, "  server RSS {:.1} MiB", rss as f64 / (1024.0 * 1024.0))?;
            if let Some(per) = self.server_rss_per_connection {
                write!(f, "; {:.2} KiB per connection", per / 1024.0)?;
            }
            writeln!(f)?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}
