//! A server's resident memory and CPU time: from `/proc/<pid>` when the process is ours, or
//! from its `/metrics` (`process_resident_memory_bytes`, `process_cpu_seconds_total`).
use std::time::Instant;

use serde::Serialize;

/// Linux's USER_HZ, the unit of `/proc/<pid>/stat` times; 100 on every mainstream platform.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Clone)]
pub enum Probe {
    Pid(u32),
    /// Every process on this machine whose name starts with the prefix, summed: PostgreSQL
    /// runs a process per connection besides its helpers. CPU only (the RSS reads 0): their
    /// resident memory is mostly shared buffers, which a sum would count once per process.
    Processes(&'static str),
    Metrics {
        client: reqwest::Client,
        url: String,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

impl Probe {
    pub async fn sample(&self) -> Option<Sample> {
        match self {
            Probe::Pid(pid) => proc_sample(*pid),
            Probe::Processes(prefix) => Some(processes_sample(prefix)),
            Probe::Metrics { client, url } => {
                let text = client.get(url).send().await.ok()?.text().await.ok()?;
                Some(Sample {
                    at: Instant::now(),
                    cpu_seconds: metric(&text, "process_cpu_seconds_total")?,
                    rss_bytes: metric(&text, "process_resident_memory_bytes")? as u64,
                })
            }
        }
    }
}

/// An unlabelled sample's value in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// A process's name and CPU time (user and system, in seconds) from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(String, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let (head, after) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((name, (utime + stime) / TICKS_PER_SECOND))
}

/// CPU time of every process whose name starts with `prefix` (processes that end between two
/// samples take their time with them, so a window's figure is at least a little low).
fn processes_sample(prefix: &str) -> Sample {
    let cpu_seconds = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_stat)
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, cpu)| cpu)
        .sum();
    Sample {
        at: Instant::now(),
        cpu_seconds,
        rss_bytes: 0,
    }
}

fn proc_sample(pid: u32) -> Option<Sample> {
    let (_, cpu_seconds) = proc_stat(pid)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Sample {
        at: Instant::now(),
        cpu_seconds,
        rss_bytes: rss_kib * 1024,
    })
}

/// CPU and memory of one process over a measurement window.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub process: String,
    /// Average CPU over the window, in percent of one core (200 = both cores of two).
    pub cpu_percent: f64,
    pub rss_mib_end: f64,
    pub rss_mib_max: f64,
}

/// Samples taken through a window; summarised by [`Tracker::usage`].
pub struct Tracker {
    pub label: String,
    pub probe: Probe,
    first: Option<Sample>,
    last: Option<Sample>,
    rss_max: u64,
}

impl Tracker {
    pub fn new(label: impl Into<String>, probe: Probe) -> Self {
        Self {
            label: label.into(),
            probe,
            first: None,
            last: None,
            rss_max: 0,
        }
    }

    /// Forgets earlier samples: the window starts now.
    pub async fn start(&mut self) {
        self.first = self.probe.sample().await;
        self.last = self.first;
        self.rss_max = self.first.map_or(0, |s| s.rss_bytes);
    }

    pub async fn tick(&mut self) {
        if let Some(s) = self.probe.sample().await {
            self.rss_max = self.rss_max.max(s.rss_bytes);
            if self.first.is_none() {
                self.first = Some(s);
            }
            self.last = Some(s);
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        let (a, b) = (self.first?, self.last?);
        let secs = b.at.duration_since(a.at).as_secs_f64();
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        Some(Usage {
            process: self.label.clone(),
            cpu_percent: if secs > 0.0 {
                100.0 * (b.cpu_seconds - a.cpu_seconds) / secs
            } else {
                0.0
            },
            rss_mib_end: mib(b.rss_bytes),
            rss_mib_max: mib(self.rss_max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let s = proc_sample(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0);
        assert!(s.cpu_seconds >= 0.0);
    }

    #[test]
    fn sums_processes_by_name() {
        let me = proc_stat(std::process::id()).unwrap();
        // Busy for a moment, so this process has CPU time to find.
        let until = Instant::now() + std::time::Duration::from_millis(30);
        while Instant::now() < until {}
        // This process first: the other tests' threads add to its CPU time meanwhile.
        let own = proc_sample(std::process::id()).unwrap();
        let mine = processes_sample(&me.0);
        assert!(mine.cpu_seconds >= own.cpu_seconds, "{mine:?} {own:?}");
        assert_eq!(mine.rss_bytes, 0);
        assert_eq!(processes_sample("no such process name").cpu_seconds, 0.0);
    }

    #[test]
    fn reads_prometheus_text() {
        let text = "# HELP x\nprocess_resident_memory_bytes 1.5e6\nprocess_cpu_seconds_total 3\n";
        assert_eq!(metric(text, "process_resident_memory_bytes"), Some(1.5e6));
        assert_eq!(metric(text, "process_cpu_seconds_total"), Some(3.0));
        assert_eq!(metric(text, "process_cpu"), None);
    }
}
