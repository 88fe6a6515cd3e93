//! Unit tests of the translations against an in-memory fake cgroup ([`Fake`]).
//! This module holds the fake and the shared fixtures; tests by concern below.

use super::*;
use oci_spec::runtime::LinuxResources;

mod cgroup_v1;
mod cgroup_v2;
mod conversions;

/// In-memory cgroup: files per (controller, name); every write is recorded; errors can
/// be injected for a (file, value) pair.
#[derive(Default)]
pub struct Fake {
    pub controllers: Vec<&'static str>,
    pub files: HashMap<String, String>,
    pub writes: Vec<(String, String)>,
    pub fail: HashMap<(String, String), i32>,
}

impl Fake {
    pub fn new(controllers: &[&'static str], files: &[(&str, &str)]) -> Self {
        Fake {
            controllers: controllers.to_vec(),
            files: files
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ..Default::default()
        }
    }
    pub fn fail_on(mut self, file: &str, value: &str, errno: i32) -> Self {
        self.fail.insert((file.into(), value.into()), errno);
        self
    }
    pub fn w(&self) -> Vec<(&str, &str)> {
        self.writes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect()
    }
}

impl Files for Fake {
    fn has_controller(&self, c: &str) -> bool {
        self.controllers.contains(&c)
    }
    fn path(&self, c: &str, file: &str) -> PathBuf {
        PathBuf::from(format!("/cg/{c}/{file}"))
    }
    fn exists(&self, _c: &str, file: &str) -> bool {
        self.files.contains_key(file)
    }
    fn read(&self, _c: &str, file: &str) -> io::Result<String> {
        self.files
            .get(file)
            .cloned()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }
    fn write(&mut self, _c: &str, file: &str, value: &str) -> io::Result<()> {
        if let Some(e) = self.fail.get(&(file.to_string(), value.to_string())) {
            return Err(io::Error::from_raw_os_error(*e));
        }
        if !self.files.contains_key(file) {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        self.writes.push((file.to_string(), value.to_string()));
        self.files.insert(file.to_string(), value.to_string());
        Ok(())
    }
}

pub fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

pub(super) const V1_MEM: &[(&str, &str)] = &[
    ("memory.limit_in_bytes", "9223372036854771712"),
    ("memory.memsw.limit_in_bytes", "9223372036854771712"),
    ("memory.soft_limit_in_bytes", "9223372036854771712"),
    ("memory.usage_in_bytes", "4096"),
    ("memory.max_usage_in_bytes", "8192"),
    ("memory.swappiness", "60"),
    ("memory.oom_control", "0"),
    ("memory.use_hierarchy", "1"),
];
pub(super) const V1_ALL: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
];

pub(super) fn v1(fake: &mut Fake, json: &str) -> Result<Vec<String>> {
    let mut cx = Ctx::new(fake);
    apply_v1(&mut cx, &res(json))?;
    Ok(cx.warnings)
}
pub(super) fn v2(fake: &mut Fake, json: &str) -> Result<Vec<String>> {
    let mut cx = Ctx::new(fake);
    apply_v2(&mut cx, &res(json))?;
    Ok(cx.warnings)
}
pub(super) const V2_ALL: &[&str] = &["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma"];
pub(super) const V2_FILES: &[(&str, &str)] = &[
    ("memory.max", "max"),
    ("memory.low", "0"),
    ("memory.swap.max", "max"),
    ("memory.current", "1000"),
    ("cpu.weight", "100"),
    ("cpu.max", "max 100000"),
    ("cpu.max.burst", "0"),
    ("cpu.idle", "0"),
    ("cpuset.cpus", ""),
    ("cpuset.mems", ""),
    ("pids.max", "max"),
    ("io.weight", "default 100"),
    ("io.max", ""),
    ("hugetlb.2MB.max", "max"),
    ("hugetlb.2MB.rsvd.max", "max"),
    ("rdma.max", ""),
];
