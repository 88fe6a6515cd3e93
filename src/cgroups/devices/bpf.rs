//! bpf(2) for the cgroup v2 device filter: load the program (`ebpf.rs`), and swap it for the
//! ones attached to the cgroup so that no device access changes except by the rules changing.
//!
//! With several programs attached (BPF_F_ALLOW_MULTI) an access must pass all of them, and
//! with none attached everything passes. So the new program goes in first and the old ones
//! after: in between, a device both allow stays allowed, and one both deny stays denied
//! (detaching first would allow everything for that moment). With exactly one old program,
//! as runc does, BPF_F_REPLACE swaps them in one step (kernels since 5.6).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use oci_spec::runtime::LinuxDeviceCgroup;

use super::ebpf::{program, Insn};
use super::parse_rules;
use crate::cgroups::resources::errtext;

const BPF_PROG_LOAD: i32 = 5;
const BPF_PROG_ATTACH: i32 = 8;
const BPF_PROG_DETACH: i32 = 9;
const BPF_PROG_GET_FD_BY_ID: i32 = 13;
const BPF_PROG_QUERY: i32 = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_F_REPLACE: u32 = 4;

/// union bpf_attr, as raw bytes (zeroed tail, as the kernel requires).
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().unwrap())
    }
}

fn bpf(cmd: i32, attr: &mut Attr) -> std::io::Result<i64> {
    // SAFETY: attr is a valid, writable buffer of the size passed.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache";
    let try_load = |log: Option<&mut Vec<u8>>| -> std::io::Result<OwnedFd> {
        let mut a = Attr::new();
        a.u32(0, BPF_PROG_TYPE_CGROUP_DEVICE)
            .u32(4, prog.len() as u32)
            .u64(8, prog.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64);
        if let Some(buf) = log {
            a.u32(24, 1)
                .u32(28, buf.len() as u32)
                .u64(32, buf.as_mut_ptr() as u64);
            let fd = bpf(BPF_PROG_LOAD, &mut a)?;
            // SAFETY: the kernel returned a new fd.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let fd = bpf(BPF_PROG_LOAD, &mut a)?;
        // SAFETY: the kernel returned a new fd.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    };
    match try_load(None) {
        Ok(fd) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            // Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
            let inf = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: plain setrlimit.
            unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) };
            try_load(None).map_err(|e| {
                anyhow!(
                    "linux.resources.devices: bpf(BPF_PROG_LOAD): {}",
                    errtext(&e)
                )
            })
        }
        Err(e) => {
            let mut log = vec![0u8; 65536];
            let _ = try_load(Some(&mut log));
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            Err(anyhow!(
                "linux.resources.devices: bpf(BPF_PROG_LOAD) of the device filter: {}; verifier log: {}",
                errtext(&e),
                String::from_utf8_lossy(&log[..end]).trim()
            ))
        }
    }
}

/// IDs of the device programs attached to the cgroup.
fn query(cg: &OwnedFd) -> std::io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut a = Attr::new();
    a.u32(0, cg.as_raw_fd() as u32)
        .u32(4, BPF_CGROUP_DEVICE)
        .u64(16, ids.as_mut_ptr() as u64)
        .u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut a)?;
    let n = a.get_u32(24) as usize;
    ids.truncate(n.min(64));
    Ok(ids)
}

/// Load a program for `rules` and put it in place of the device programs attached to the
/// cgroup v2 directory `dir`.
pub fn apply_v2(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let prog = load(&program(&parse_rules(rules)?))?;
    let cg: OwnedFd = std::fs::File::open(dir)
        .with_context(|| format!("linux.resources.devices: opening {}", dir.display()))?
        .into();
    swap(&mut Cgroup(cg), prog).map_err(|e| anyhow!("linux.resources.devices: {} on {}", e, dir.display()))
}

/// The device programs of one cgroup, as [`swap`] needs them (faked in the tests).
trait Slot {
    type Prog;
    /// The programs attached now; an error when the kernel cannot list them (before 4.15).
    fn attached(&mut self) -> io::Result<Vec<Self::Prog>>;
    /// Attach `prog`, with BPF_F_ALLOW_MULTI or without; with `replace`, in its place
    /// (BPF_F_REPLACE).
    fn attach(&mut self, prog: &Self::Prog, multi: bool, replace: Option<&Self::Prog>) -> io::Result<()>;
    fn detach(&mut self, prog: &Self::Prog) -> io::Result<()>;
}

/// Put `new` in place of the attached programs, never with none attached in between.
fn swap<S: Slot>(slot: &mut S, new: S::Prog) -> Result<(), String> {
    let old = match slot.attached() {
        Ok(old) => old,
        // Kernels without BPF_PROG_QUERY have no multi-attach either: a plain attach replaces
        // the one program in one step.
        Err(_) => return slot.attach(&new, false, None).map_err(|e| format!("attaching the device filter: {}", errtext(&e))),
    };
    if let [one] = old.as_slice()
        && slot.attach(&new, true, Some(one)).is_ok()
    {
        return Ok(());
    }
    // BPF_F_REPLACE refused (before 5.6), or not one old program.
    if let Err(e) = slot.attach(&new, true, None) {
        // A program attached without BPF_F_ALLOW_MULTI: a plain attach replaces it.
        return slot.attach(&new, false, None).map_err(|e2| {
            format!("attaching the device filter: {} (without BPF_F_ALLOW_MULTI: {})", errtext(&e), errtext(&e2))
        });
    }
    for p in &old {
        slot.detach(p).map_err(|e| format!("detaching the old device filter: {}", errtext(&e)))?;
    }
    Ok(())
}

/// The real slot: a cgroup v2 directory.
struct Cgroup(OwnedFd);

impl Slot for Cgroup {
    type Prog = OwnedFd;

    fn attached(&mut self) -> io::Result<Vec<OwnedFd>> {
        // A program that is gone by now, or not ours to open, is left out (as runc).
        Ok(query(&self.0)?.into_iter().filter_map(get_fd_by_id).collect())
    }

    fn attach(&mut self, prog: &OwnedFd, multi: bool, replace: Option<&OwnedFd>) -> io::Result<()> {
        let mut flags = if multi { BPF_F_ALLOW_MULTI } else { 0 };
        let mut a = Attr::new();
        if let Some(old) = replace {
            flags |= BPF_F_REPLACE;
            a.u32(16, old.as_raw_fd() as u32);
        }
        a.u32(0, self.0.as_raw_fd() as u32)
            .u32(4, prog.as_raw_fd() as u32)
            .u32(8, BPF_CGROUP_DEVICE)
            .u32(12, flags);
        bpf(BPF_PROG_ATTACH, &mut a).map(drop)
    }

    fn detach(&mut self, prog: &OwnedFd) -> io::Result<()> {
        let mut d = Attr::new();
        d.u32(0, self.0.as_raw_fd() as u32).u32(4, prog.as_raw_fd() as u32).u32(8, BPF_CGROUP_DEVICE);
        bpf(BPF_PROG_DETACH, &mut d).map(drop)
    }
}

/// How many device programs the cgroup v2 directory `dir` has attached (root tests).
#[cfg(test)]
pub(crate) fn attached_count(dir: &Path) -> usize {
    query(&std::fs::File::open(dir).unwrap().into()).unwrap().len()
}

fn get_fd_by_id(id: u32) -> Option<OwnedFd> {
    let mut g = Attr::new();
    g.u32(0, id);
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut g).ok()?;
    // SAFETY: a new fd from the kernel.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Programs are the sets of devices they allow; an access passes when every attached
    /// program allows it, and with none attached (the kernel's default).
    #[derive(Default)]
    struct Fake {
        attached: Vec<BTreeSet<&'static str>>,
        replace_supported: bool,
        ops: Vec<String>,
        /// What each device looked like after every step.
        seen: Vec<(&'static str, bool)>,
    }

    impl Fake {
        fn allows(&self, dev: &str) -> bool {
            self.attached.iter().all(|p| p.contains(dev))
        }
        fn observe(&mut self) {
            for dev in ["null", "sda", "zero"] {
                let ok = self.allows(dev);
                self.seen.push((dev, ok));
            }
        }
    }

    impl Slot for Fake {
        type Prog = BTreeSet<&'static str>;
        fn attached(&mut self) -> io::Result<Vec<Self::Prog>> {
            Ok(self.attached.clone())
        }
        fn attach(&mut self, prog: &Self::Prog, multi: bool, replace: Option<&Self::Prog>) -> io::Result<()> {
            match replace {
                Some(_) if !self.replace_supported => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
                Some(old) => {
                    let i = self.attached.iter().position(|p| p == old).unwrap();
                    self.attached[i] = prog.clone();
                    self.ops.push("replace".into());
                }
                None => {
                    assert!(multi);
                    self.attached.push(prog.clone());
                    self.ops.push("attach".into());
                }
            }
            self.observe();
            Ok(())
        }
        fn detach(&mut self, prog: &Self::Prog) -> io::Result<()> {
            self.attached.retain(|p| p != prog);
            self.ops.push("detach".into());
            self.observe();
            Ok(())
        }
    }

    fn set(devs: &[&'static str]) -> BTreeSet<&'static str> {
        devs.iter().copied().collect()
    }

    /// /dev/null is allowed before and after, /dev/sda denied before and after, /dev/zero
    /// changes: at no step may the first two differ from that.
    fn check(f: &Fake) {
        for (dev, ok) in &f.seen {
            match *dev {
                "null" => assert!(ok, "/dev/null denied during the swap: {:?}", f.ops),
                "sda" => assert!(!ok, "/dev/sda allowed during the swap: {:?}", f.ops),
                _ => {}
            }
        }
        assert_eq!(f.attached, vec![set(&["null", "zero"])], "{:?}", f.ops);
    }

    #[test]
    fn one_old_program_is_replaced_in_one_step() {
        let mut f = Fake { attached: vec![set(&["null"])], replace_supported: true, ..Default::default() };
        swap(&mut f, set(&["null", "zero"])).unwrap();
        assert_eq!(f.ops, ["replace"]);
        check(&f);
    }

    #[test]
    fn without_replace_the_new_program_goes_in_first() {
        let mut f = Fake { attached: vec![set(&["null"])], ..Default::default() };
        swap(&mut f, set(&["null", "zero"])).unwrap();
        assert_eq!(f.ops, ["attach", "detach"]);
        check(&f);
        let mut f = Fake { attached: vec![set(&["null"]), set(&["null", "tty"])], replace_supported: true, ..Default::default() };
        swap(&mut f, set(&["null", "zero"])).unwrap();
        assert_eq!(f.ops, ["attach", "detach", "detach"]);
        check(&f);
    }
}
