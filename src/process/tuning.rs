//! Scheduling attributes a process may ask for (runtime-spec 1.3): `process.scheduler`
//! (sched_setattr), `process.ioPriority` (ioprio_set), `linux.memoryPolicy` (set_mempolicy)
//! and `process.execCPUAffinity` (sched_setaffinity, `exec` only). Each costs a syscall only
//! when the config asks for it; `validate` runs with the other config checks, before anything
//! is created, with runc's rules.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{
    ExecCPUAffinity, IOPriorityClass, LinuxIOPriority, LinuxMemoryPolicy, LinuxSchedulerFlag, LinuxSchedulerPolicy,
    MemoryPolicyFlagType, MemoryPolicyModeType, Process, Scheduler, Spec,
};

/// struct sched_attr (SCHED_ATTR_SIZE_VER1, with the util clamps).
#[repr(C)]
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

pub fn sched_policy(p: LinuxSchedulerPolicy) -> u32 {
    use LinuxSchedulerPolicy::*;
    match p {
        SchedOther => 0,
        SchedFifo => 1,
        SchedRr => 2,
        SchedBatch => 3,
        SchedIso => 4,
        SchedIdle => 5,
        SchedDeadline => 6,
    }
}

fn sched_flag(f: LinuxSchedulerFlag) -> u64 {
    use LinuxSchedulerFlag::*;
    match f {
        SchedResetOnFork => 0x01,
        SchedFlagReclaim => 0x02,
        SchedFlagDLOverrun => 0x04,
        SchedFlagKeepPolicy => 0x08,
        SchedFlagKeepParams => 0x10,
        SchedFlagUtilClampMin => 0x20,
        SchedFlagUtilClampMax => 0x40,
    }
}

/// process.scheduler → sched_attr, as runc's ToSchedAttr.
pub fn sched_attr(s: &Scheduler) -> SchedAttr {
    SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: sched_policy(*s.policy()),
        flags: s.flags().iter().flatten().map(|f| sched_flag(*f)).fold(0, |a, b| a | b),
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    }
}

/// process.ioPriority → the ioprio_set value: class << 13 | level.
pub fn ioprio_value(p: &LinuxIOPriority) -> i64 {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    (class << 13) | p.priority()
}

/// "0-3,7" → a bitmask in 64-bit words (CPU sets and NUMA node masks share the format).
pub fn parse_list(s: &str) -> Result<Vec<u64>> {
    let mut words: Vec<u64> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let (a, b): (usize, usize) = (a.parse().with_context(|| format!("{part:?} is not a number or range"))?, b.parse().with_context(|| format!("{part:?} is not a number or range"))?);
        if a > b || b >= 8192 {
            bail!("{part:?} is not a valid range (0-8191, low-high)");
        }
        for i in a..=b {
            if words.len() <= i / 64 {
                words.resize(i / 64 + 1, 0);
            }
            words[i / 64] |= 1 << (i % 64);
        }
    }
    Ok(words)
}

/// What `features` advertises: every mode and flag `apply` passes to set_mempolicy.
pub const MPOL_MODES: &[&str] =
    &["MPOL_BIND", "MPOL_DEFAULT", "MPOL_INTERLEAVE", "MPOL_LOCAL", "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"];
pub const MPOL_FLAGS: &[&str] = &["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"];

pub fn mpol_mode(m: MemoryPolicyModeType) -> i32 {
    use MemoryPolicyModeType::*;
    match m {
        MpolDefault => 0,
        MpolPreferred => 1,
        MpolBind => 2,
        MpolInterleave => 3,
        MpolLocal => 4,
        MpolPreferredMany => 5,
        MpolWeightedInterleave => 6,
    }
}

fn mpol_flag(f: MemoryPolicyFlagType) -> i32 {
    match f {
        MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
        MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
    }
}

/// linux.memoryPolicy → (mode | flags, node mask).
pub fn mempolicy_args(mp: &LinuxMemoryPolicy) -> Result<(i32, Vec<u64>)> {
    let nodes = parse_list(mp.nodes().as_deref().unwrap_or("")).context("linux.memoryPolicy.nodes")?;
    let flags = mp.flags().iter().flatten().map(|f| mpol_flag(*f)).fold(0, |a, b| a | b);
    Ok((mpol_mode(mp.mode()) | flags, nodes))
}

/// runc's rules (configs/validate), so a bad value fails `create` before anything exists.
pub fn validate(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        validate_process(p)?;
    }
    if let Some(mp) = spec.linux().as_ref().and_then(|l| l.memory_policy().as_ref()) {
        let (_, nodes) = mempolicy_args(mp)?;
        let count: u32 = nodes.iter().map(|w| w.count_ones()).sum();
        use MemoryPolicyModeType::*;
        match mp.mode() {
            MpolDefault | MpolLocal if count != 0 => bail!("linux.memoryPolicy: mode {} takes no nodes, got {count}", mp.mode()),
            MpolBind | MpolInterleave | MpolPreferredMany | MpolWeightedInterleave if count == 0 => {
                bail!("linux.memoryPolicy: mode {} needs at least one node in nodes", mp.mode())
            }
            _ => {}
        }
    }
    Ok(())
}

/// The checks on one process (the init's, or the one `exec` runs).
pub fn validate_process(p: &Process) -> Result<()> {
    if let Some(s) = p.scheduler() {
        use LinuxSchedulerPolicy::*;
        let policy = *s.policy();
        let nice = s.nice().unwrap_or(0);
        if matches!(policy, SchedOther | SchedBatch) && !(-20..=19).contains(&nice) {
            bail!("process.scheduler.nice: {nice} is out of range -20..19 for {policy}");
        }
        if s.priority().unwrap_or(0) != 0 && !matches!(policy, SchedFifo | SchedRr) {
            bail!("process.scheduler.priority: only SCHED_FIFO and SCHED_RR take a priority (policy is {policy})");
        }
        if policy != SchedDeadline && (s.runtime().unwrap_or(0) != 0 || s.deadline().unwrap_or(0) != 0 || s.period().unwrap_or(0) != 0) {
            bail!("process.scheduler: runtime/deadline/period are for SCHED_DEADLINE only (policy is {policy})");
        }
    }
    if let Some(io) = p.io_priority()
        && !(0..=7).contains(&io.priority())
    {
        bail!("process.ioPriority.priority: {} is out of range 0..7", io.priority());
    }
    if let Some(a) = p.exec_cpu_affinity() {
        for (name, v) in [("initial", a.initial()), ("final", a.cpu_affinity_final())] {
            if let Some(v) = v {
                parse_list(v).with_context(|| format!("process.execCPUAffinity.{name}"))?;
            }
        }
    }
    Ok(())
}

/// In the init (and `exec`'s child), after the identity switch, as runc: scheduler, I/O
/// priority, memory policy. Nothing happens for a config without them.
pub fn apply(p: &Process, memory_policy: Option<&LinuxMemoryPolicy>) -> Result<()> {
    if let Some(s) = p.scheduler() {
        let attr = sched_attr(s);
        if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } != 0 {
            let e = std::io::Error::last_os_error();
            let why = if e.raw_os_error() == Some(libc::EPERM) { " (real-time and deadline policies need CAP_SYS_NICE in process.capabilities; SCHED_DEADLINE also refuses a restricted cpuset)" } else { "" };
            return Err(e).with_context(|| format!("process.scheduler: sched_setattr({}){why}", s.policy()));
        }
    }
    if let Some(io) = p.io_priority() {
        const IOPRIO_WHO_PROCESS: i64 = 1;
        if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, ioprio_value(io)) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("process.ioPriority: ioprio_set({}, {})", io.class(), io.priority()));
        }
    }
    if let Some(mp) = memory_policy {
        let (mode, nodes) = mempolicy_args(mp)?;
        let maxnode = nodes.len() as u64 * 64 + 1;
        let ptr = if nodes.is_empty() { std::ptr::null() } else { nodes.as_ptr() };
        if unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, if nodes.is_empty() { 0 } else { maxnode }) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("linux.memoryPolicy: set_mempolicy({})", mp.mode()));
        }
    }
    Ok(())
}

/// sched_setaffinity(pid, list); pid 0 is the caller.
pub fn set_affinity(pid: i32, list: &str, field: &str) -> Result<()> {
    let mask = parse_list(list).with_context(|| format!("process.execCPUAffinity.{field}"))?;
    if unsafe { libc::syscall(libc::SYS_sched_setaffinity, pid, mask.len() * 8, mask.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("process.execCPUAffinity.{field}: sched_setaffinity({list:?})"));
    }
    Ok(())
}

/// `exec`, before its child is cloned: the runtime takes the initial affinity, which the
/// child inherits from its first instruction (runc sets it on the thread that starts
/// `runc init`). Returns the runtime's own affinity, for `restore_affinity` after the clone.
pub fn initial_affinity(a: Option<&ExecCPUAffinity>) -> Result<Option<libc::cpu_set_t>> {
    let Some(list) = a.and_then(|a| a.initial().as_deref()) else { return Ok(None) };
    let mut old: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut old) } != 0 {
        return Err(std::io::Error::last_os_error()).context("sched_getaffinity");
    }
    set_affinity(0, list, "initial")?;
    Ok(Some(old))
}

/// The runtime's own affinity back once the child is cloned (best effort: only the runtime's
/// own scheduling is at stake).
pub fn restore_affinity(old: Option<libc::cpu_set_t>) {
    if let Some(old) = old {
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &old) };
    }
}

/// `exec`, once the child is in the container's cgroup: the final affinity.
pub fn final_affinity(a: Option<&ExecCPUAffinity>, pid: i32) -> Result<()> {
    match a.and_then(|a| a.cpu_affinity_final().as_deref()) {
        Some(list) => set_affinity(pid, list, "final"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(v: serde_json::Value) -> Process {
        let mut base = serde_json::json!({"cwd": "/", "user": {"uid": 0, "gid": 0}});
        base.as_object_mut().unwrap().extend(v.as_object().unwrap().clone());
        serde_json::from_slice(&crate::spec::scheduler_flag_spellings(base.to_string().as_bytes())).unwrap()
    }

    #[test]
    fn scheduler_translation() {
        let p = process(serde_json::json!({"scheduler": {"policy": "SCHED_DEADLINE", "runtime": 1000, "deadline": 2000, "period": 3000, "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]}}));
        let a = sched_attr(p.scheduler().as_ref().unwrap());
        assert_eq!((a.policy, a.flags, a.runtime, a.deadline, a.period), (6, 0x05, 1000, 2000, 3000));
        assert_eq!(a.size, 56);
        let p = process(serde_json::json!({"scheduler": {"policy": "SCHED_BATCH", "nice": 5}}));
        let a = sched_attr(p.scheduler().as_ref().unwrap());
        assert_eq!((a.policy, a.nice, a.priority), (3, 5, 0));
    }

    #[test]
    fn scheduler_rules_as_runc() {
        let bad = [
            serde_json::json!({"scheduler": {"policy": "SCHED_OTHER", "nice": 20}}),
            serde_json::json!({"scheduler": {"policy": "SCHED_OTHER", "priority": 3}}),
            serde_json::json!({"scheduler": {"policy": "SCHED_FIFO", "runtime": 3}}),
            serde_json::json!({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 8}}),
            serde_json::json!({"execCPUAffinity": {"final": "3-1"}}),
        ];
        for v in bad {
            assert!(validate_process(&process(v.clone())).is_err(), "{v}");
        }
        validate_process(&process(serde_json::json!({"scheduler": {"policy": "SCHED_RR", "priority": 3}}))).unwrap();
    }

    #[test]
    fn ioprio_and_lists() {
        let io: LinuxIOPriority = serde_json::from_value(serde_json::json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0})).unwrap();
        assert_eq!(ioprio_value(&io), 3 << 13);
        let io: LinuxIOPriority = serde_json::from_value(serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 6})).unwrap();
        assert_eq!(ioprio_value(&io), (2 << 13) | 6);
        assert_eq!(parse_list("0-3,7").unwrap(), vec![0x8f]);
        assert_eq!(parse_list("64").unwrap(), vec![0, 1]);
        assert!(parse_list("a").is_err());
        assert_eq!(parse_list("").unwrap(), Vec::<u64>::new());
    }

    /// Each advertised mode (with node 0 where it needs nodes) and flag reaches the kernel:
    /// set_mempolicy is per thread, so the test thread tries them and resets to the default.
    #[test]
    fn every_advertised_policy_applies() {
        let p = process(serde_json::json!({}));
        let try_one = |v: serde_json::Value| {
            let mp: LinuxMemoryPolicy = serde_json::from_value(v.clone()).unwrap();
            let r = apply(&p, Some(&mp));
            let _ = apply(&p, Some(&serde_json::from_value(serde_json::json!({"mode": "MPOL_DEFAULT"})).unwrap()));
            r.unwrap_or_else(|e| panic!("{v}: {e:#}"));
        };
        for m in MPOL_MODES {
            let nodes = if matches!(*m, "MPOL_DEFAULT" | "MPOL_LOCAL") { "" } else { "0" };
            try_one(serde_json::json!({"mode": m, "nodes": nodes}));
        }
        for f in MPOL_FLAGS {
            // NUMA balancing combines with MPOL_BIND only (and needs CONFIG_NUMA_BALANCING).
            if *f == "MPOL_F_NUMA_BALANCING" && !std::path::Path::new("/proc/sys/kernel/numa_balancing").exists() {
                continue;
            }
            let mode = if *f == "MPOL_F_NUMA_BALANCING" { "MPOL_BIND" } else { "MPOL_INTERLEAVE" };
            try_one(serde_json::json!({"mode": mode, "nodes": "0", "flags": [f]}));
        }
    }

    #[test]
    fn mempolicy_translation_and_rules() {
        let mp: LinuxMemoryPolicy = serde_json::from_value(serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0,2", "flags": ["MPOL_F_STATIC_NODES"]})).unwrap();
        assert_eq!(mempolicy_args(&mp).unwrap(), (3 | 1 << 15, vec![0b101]));
        let spec = |mp: serde_json::Value| crate::spec::parse(serde_json::json!({"ociVersion": "1.3.0", "linux": {"memoryPolicy": mp}}).to_string().as_bytes()).unwrap();
        assert!(validate(&spec(serde_json::json!({"mode": "MPOL_BIND"}))).is_err());
        assert!(validate(&spec(serde_json::json!({"mode": "MPOL_LOCAL", "nodes": "0"}))).is_err());
        validate(&spec(serde_json::json!({"mode": "MPOL_PREFERRED"}))).unwrap();
    }
}
