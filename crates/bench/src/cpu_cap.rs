//! A CPU budget for a benchmarked process: a cgroup of its own with a CFS quota (cgroup v1's
//! `cpu` controller, or v2's `cpu.max`), as a container's CPU limit is. Scale-out is a claim
//! about nodes that each have a machine (or a container's share) of their own; on one small
//! machine, capping every node at the same budget measures what a second node adds while the
//! load generator, PostgreSQL and Redis keep the rest of the cores.
//!
//! A quota alone still lets a node's threads run on every core, beside the other node, the
//! generator and PostgreSQL, so two nodes share both cores' caches where two machines would
//! not; [`pin`] gives each node a core of its own as well.
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Result;

/// The CFS period the quotas are a share of.
const PERIOD_US: u64 = 100_000;

/// A cgroup with a quota; removed (its processes moved back to the root group) when dropped.
pub struct CpuCap {
    dir: PathBuf,
    root: PathBuf,
    pids: Vec<u32>,
}

impl CpuCap {
    /// A group named `name` allowed `cores` of CPU (0.5: half of one core).
    pub fn new(name: &str, cores: f64) -> Result<Self> {
        if !(cores > 0.0 && cores.is_finite()) {
            return Err(format!("a CPU budget must be above zero, not {cores}").into());
        }
        let quota = (cores * PERIOD_US as f64).round() as u64;
        let (root, v2) = hierarchy()?;
        let dir = root.join(format!("{name}-{}", std::process::id()));
        fs::create_dir_all(&dir)
            .map_err(|e| format!("creating the cgroup {}: {e}", dir.display()))?;
        let cap = Self {
            dir,
            root,
            pids: Vec::new(),
        };
        if v2 {
            write(&cap.dir.join("cpu.max"), &format!("{quota} {PERIOD_US}"))?;
        } else {
            write(&cap.dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
            write(&cap.dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
        }
        Ok(cap)
    }

    /// Puts the process `pid` (all its threads) under the budget.
    pub fn add(&mut self, pid: u32) -> Result<()> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())?;
        self.pids.push(pid);
        Ok(())
    }
}

impl Drop for CpuCap {
    fn drop(&mut self) {
        // A process still running (the run's own server) goes back to the root group; one
        // that ended has left already. The group can be removed once empty.
        for pid in &self.pids {
            let _ = fs::write(self.root.join("cgroup.procs"), pid.to_string());
        }
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Pins every thread of `pid` to CPU `cpu` (`taskset -a`); threads it starts later inherit
/// that from the thread that starts them.
pub fn pin(pid: u32, cpu: usize) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpu >= cores {
        return Err(format!("cannot pin to CPU {cpu}: this machine has {cores}").into());
    }
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("running taskset (util-linux) to pin a node: {e}"))?;
    if !status.success() {
        return Err(format!("taskset could not pin process {pid} to CPU {cpu}: {status}").into());
    }
    Ok(())
}

/// The `cpu` controller's root directory, and whether it is cgroup v2.
fn hierarchy() -> Result<(PathBuf, bool)> {
    let v1 = Path::new("/sys/fs/cgroup/cpu");
    if v1.join("cpu.cfs_quota_us").exists() {
        return Ok((v1.to_path_buf(), false));
    }
    let v2 = Path::new("/sys/fs/cgroup");
    let controllers = fs::read_to_string(v2.join("cgroup.subtree_control")).unwrap_or_default();
    if controllers.split_whitespace().any(|c| c == "cpu") {
        return Ok((v2.to_path_buf(), true));
    }
    Err("no writable cgroup cpu controller here (needs root, and cgroup v1's cpu or v2's cpu in /sys/fs/cgroup/cgroup.subtree_control): run without --node-cpu".into())
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| format!("writing {value} to {}: {e}", path.display()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(pid: u32) -> String {
        fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_owned()
    }

    #[test]
    fn a_pinned_process_runs_on_that_cpu_only_and_a_missing_cpu_is_refused() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let last = std::thread::available_parallelism().unwrap().get() - 1;
        pin(child.id(), last).unwrap();
        assert_eq!(allowed(child.id()), last.to_string());
        let err = pin(child.id(), last + 1).unwrap_err().to_string();
        assert!(err.contains("this machine has"), "{err}");
        assert_eq!(allowed(child.id()), last.to_string());
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
