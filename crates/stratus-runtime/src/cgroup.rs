//! Per-instance control groups: the kernel enforces `MemorySize` (and counts the peak for
//! `Max Memory Used`), bounds the number of processes, and gives CPU in proportion to memory
//! (1,769 MB = one full vCPU, as on AWS). cgroup v2 where the host has it, else the v1
//! `memory`, `pids` and `cpu` hierarchies. Without a writable hierarchy the instance runs
//! unconfined and reports its peak from `/proc`.

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";
const GROUP: &str = "stratus";
/// Most processes (threads included) an instance may run.
const PIDS_MAX: u32 = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    V1,
    V2,
}

/// Which hierarchy this host offers, if we may write to it. Empty groups left by a server
/// that was killed are removed.
pub fn detect() -> Option<Flavor> {
    let flavor = probe()?;
    let root = Path::new(ROOT);
    let parents = match flavor {
        Flavor::V2 => vec![root.join(GROUP)],
        Flavor::V1 => ["memory", "pids", "cpu"]
            .iter()
            .map(|c| root.join(c).join(GROUP))
            .collect(),
    };
    for parent in parents {
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    // Fails (harmlessly) while the group still has processes.
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
    }
    Some(flavor)
}

fn probe() -> Option<Flavor> {
    let root = Path::new(ROOT);
    if root.join("cgroup.controllers").exists() {
        let ok = std::fs::create_dir_all(root.join(GROUP)).is_ok();
        if ok {
            // Delegate the controllers we use to our subtree.
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+memory +pids +cpu");
            let _ = std::fs::write(
                root.join(GROUP).join("cgroup.subtree_control"),
                "+memory +pids +cpu",
            );
        }
        return ok.then_some(Flavor::V2);
    }
    let ok = std::fs::create_dir_all(root.join("memory").join(GROUP)).is_ok();
    ok.then_some(Flavor::V1)
}

/// One instance's groups; removed on drop once its processes are gone.
#[derive(Debug)]
pub struct Cgroup {
    flavor: Flavor,
    dirs: Vec<PathBuf>,
    /// The peak-usage file, held open: every call reports its peak, and a positioned read
    /// costs one system call where opening the file costs five.
    peak: Option<std::fs::File>,
}

impl Cgroup {
    pub fn create(flavor: Flavor, name: &str, memory_mb: u64) -> std::io::Result<Cgroup> {
        let root = Path::new(ROOT);
        let bytes = memory_mb * 1024 * 1024;
        // cpu.shares (v1) / cpu.weight (v2) proportional to memory: 1769 MB = 1024 shares.
        let shares = (memory_mb * 1024 / 1769).max(2);
        match flavor {
            Flavor::V2 => {
                let dir = root.join(GROUP).join(name);
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join("memory.max"), bytes.to_string())?;
                let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                let _ = std::fs::write(dir.join("pids.max"), PIDS_MAX.to_string());
                let weight = (shares * 100 / 1024).clamp(1, 10_000);
                let _ = std::fs::write(dir.join("cpu.weight"), weight.to_string());
                Ok(Cgroup::new(flavor, vec![dir]))
            }
            Flavor::V1 => {
                let mem = root.join("memory").join(GROUP).join(name);
                std::fs::create_dir_all(&mem)?;
                std::fs::write(mem.join("memory.limit_in_bytes"), bytes.to_string())?;
                let _ = std::fs::write(mem.join("memory.memsw.limit_in_bytes"), bytes.to_string());
                let _ = std::fs::write(mem.join("memory.swappiness"), "0");
                let mut dirs = vec![mem];
                let pids = root.join("pids").join(GROUP).join(name);
                if std::fs::create_dir_all(&pids).is_ok() {
                    let _ = std::fs::write(pids.join("pids.max"), PIDS_MAX.to_string());
                    dirs.push(pids);
                }
                let cpu = root.join("cpu").join(GROUP).join(name);
                if std::fs::create_dir_all(&cpu).is_ok() {
                    let _ = std::fs::write(cpu.join("cpu.shares"), shares.to_string());
                    dirs.push(cpu);
                }
                Ok(Cgroup::new(flavor, dirs))
            }
        }
    }

    fn new(flavor: Flavor, dirs: Vec<PathBuf>) -> Cgroup {
        let file = match flavor {
            Flavor::V2 => "memory.peak",
            Flavor::V1 => "memory.max_usage_in_bytes",
        };
        let peak = std::fs::File::open(dirs[0].join(file)).ok();
        Cgroup { flavor, dirs, peak }
    }

    /// The `cgroup.procs` files a process writes its pid into to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Peak memory use so far, in bytes.
    pub fn peak_bytes(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 32];
        let n = self.peak.as_ref()?.read_at(&mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
    }

    /// Whether the kernel's OOM killer has killed a process of this group.
    pub fn oom_killed(&self) -> bool {
        let (file, key) = match self.flavor {
            Flavor::V2 => ("memory.events", "oom_kill"),
            Flavor::V1 => ("memory.oom_control", "oom_kill"),
        };
        std::fs::read_to_string(self.dirs[0].join(file))
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse::<u64>().ok()))
            })
            .is_some_and(|n| n > 0)
    }

    /// Kills every process still in the group.
    pub fn kill_all(&self) {
        if self.flavor == Flavor::V2 {
            let _ = std::fs::write(self.dirs[0].join("cgroup.kill"), "1");
        }
        for _ in 0..3 {
            let pids: Vec<i32> = std::fs::read_to_string(self.dirs[0].join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.peak = None;
        self.kill_all();
        for dir in &self.dirs {
            // The last processes may take a moment to be reaped.
            for _ in 0..100 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}
