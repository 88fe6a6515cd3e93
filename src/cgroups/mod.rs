//! Placeholder cgroup manager (join + destroy on v1/hybrid); the full module replaces it.
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Cgroup {
    path: String,
    dirs: Vec<(String, PathBuf)>,
}

fn hierarchies() -> Vec<(String, PathBuf, String)> {
    // (name under /sys/fs/cgroup, mount point, root of mount)
    let mut out = Vec::new();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mi.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let f: Vec<&str> = pre.split(' ').collect();
        let p: Vec<&str> = post.split(' ').collect();
        if p[0] == "cgroup" || p[0] == "cgroup2" {
            let mp = PathBuf::from(f[4]);
            let name = mp.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push((name, mp, f[3].to_string()));
        }
    }
    out
}

impl Cgroup {
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let rel = cgroups_path.unwrap_or(id).to_string();
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mut dirs = Vec::new();
        for (name, mp, _root) in hierarchies() {
            let sub = if rel.starts_with('/') {
                rel.trim_start_matches('/').to_string()
            } else {
                let mine = own
                    .lines()
                    .find_map(|l| {
                        let mut it = l.splitn(3, ':');
                        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
                        let matches = if name == "unified" || ctrls.is_empty() { ctrls.is_empty() } else { ctrls.split(',').any(|c| c == name || c == format!("name={name}")) };
                        matches.then(|| path.trim_start_matches('/').to_string())
                    })
                    .unwrap_or_default();
                format!("{mine}/{rel}").trim_start_matches('/').to_string()
            };
            dirs.push((name, mp.join(sub)));
        }
        Ok(Cgroup { path: rel, dirs })
    }
    pub fn create(&self) -> Result<()> {
        for (_, d) in &self.dirs {
            std::fs::create_dir_all(d).with_context(|| format!("creating cgroup {}", d.display()))?;
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let (Ok(cur), Some(parent)) = (std::fs::read_to_string(d.join(f)), d.parent()) {
                    if cur.trim().is_empty() {
                        let v = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                        let _ = std::fs::write(d.join(f), v.trim());
                    }
                }
            }
        }
        Ok(())
    }
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for (_, d) in &self.dirs {
            std::fs::write(d.join("cgroup.procs"), pid.to_string()).with_context(|| format!("joining cgroup {}", d.display()))?;
        }
        Ok(())
    }
    pub fn apply_resources(&self, _r: &oci_spec::runtime::LinuxResources) -> Result<()> {
        Ok(())
    }
    pub fn pids(&self) -> Result<Vec<i32>> {
        let d = &self.dirs.first().context("no cgroup hierarchy")?.1;
        let s = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        Ok(s.lines().filter_map(|l| l.parse().ok()).collect())
    }
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        for p in self.pids()? {
            unsafe { libc::kill(p, signal) };
        }
        Ok(())
    }
    pub fn destroy(&self) -> Result<()> {
        for _ in 0..200 {
            let pids = self.pids().unwrap_or_default();
            if pids.is_empty() {
                break;
            }
            self.kill_all(libc::SIGKILL)?;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for (_, d) in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
        Ok(())
    }
    pub fn mount_sources(&self) -> Vec<(String, PathBuf)> {
        self.dirs.clone()
    }
    pub fn path(&self) -> &str {
        &self.path
    }
}
