//! The compiled filter saved in the container's state directory at `create`, so that each
//! `exec` loads it instead of parsing and compiling `linux.seccomp` again: for a docker-sized
//! profile that was ~0.6 ms of every exec on the build host (a thousand name lookups, the
//! tables' pages faulted in, the program assembled). The state directory is the runtime's
//! (0700, its user's), as are state.json and config.json beside it, which exec trusts alike.
//!
//! Format (native endianness; it never leaves the host): the magic line, then
//! `flags: u32`, `needs_listener: u8`, listenerPath and listenerMetadata (each `len: u32` and
//! UTF-8 bytes, `u32::MAX` for none), `len: u32` and the program's `sock_filter`s
//! (`code: u16, jt: u8, jf: u8, k: u32`). A file that does not read back as that is refused,
//! and exec compiles; one that does is handed to seccomp(2) as it is, and a program the kernel
//! refuses fails the exec (closed, not open).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

use super::{BPF_MAXINSNS, CompiledFilter, sock_filter};

/// The file's name in the state directory.
pub const FILE: &str = "seccomp.bpf";

const MAGIC: &[u8] = b"bulkhead seccomp filter 1\n";
const NONE: u32 = u32::MAX;

/// Writes `f` into the state directory `dir` (0600, as state.json).
pub fn save(dir: &Path, f: &CompiledFilter) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let p = dir.join(FILE);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&p)
        .and_then(|mut file| file.write_all(&encode(f)))
        .with_context(|| format!("writing {}", p.display()))
}

/// The filter saved in `dir`; None when there is none (a container created by an earlier
/// bulkhead) or it cannot be read back.
pub fn load(dir: &Path) -> Option<CompiledFilter> {
    decode(&std::fs::read(dir.join(FILE)).ok()?)
}

fn encode(f: &CompiledFilter) -> Vec<u8> {
    let mut b = Vec::with_capacity(MAGIC.len() + 32 + 8 * f.program.len());
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&f.flags.to_ne_bytes());
    b.push(u8::from(f.needs_listener));
    let text = |b: &mut Vec<u8>, s: Option<&str>| match s {
        Some(s) => {
            b.extend_from_slice(&(s.len() as u32).to_ne_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        None => b.extend_from_slice(&NONE.to_ne_bytes()),
    };
    // listenerPath came from JSON: always UTF-8.
    text(&mut b, f.listener_path.as_deref().map(|p| p.to_string_lossy()).as_deref());
    text(&mut b, f.listener_metadata.as_deref());
    b.extend_from_slice(&(f.program.len() as u32).to_ne_bytes());
    for i in &f.program {
        b.extend_from_slice(&i.code.to_ne_bytes());
        b.push(i.jt);
        b.push(i.jf);
        b.extend_from_slice(&i.k.to_ne_bytes());
    }
    b
}

/// Reads what [`encode`] wrote, front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_ne_bytes(self.take(4)?.try_into().ok()?))
    }
    fn text(&mut self) -> Option<Option<String>> {
        match self.u32()? {
            NONE => Some(None),
            n => Some(Some(String::from_utf8(self.take(n as usize)?.to_vec()).ok()?)),
        }
    }
}

fn decode(bytes: &[u8]) -> Option<CompiledFilter> {
    let mut r = Reader(bytes.strip_prefix(MAGIC)?);
    let flags = r.u32()?;
    let needs_listener = match r.take(1)? {
        [0] => false,
        [1] => true,
        _ => return None,
    };
    let listener_path = r.text()?.map(PathBuf::from);
    let listener_metadata = r.text()?;
    let len = r.u32()? as usize;
    if len == 0 || len > BPF_MAXINSNS || r.0.len() != 8 * len {
        return None;
    }
    let program = r
        .0
        .chunks_exact(8)
        .map(|i| sock_filter {
            code: u16::from_ne_bytes([i[0], i[1]]),
            jt: i[2],
            jf: i[3],
            k: u32::from_ne_bytes([i[4], i[5], i[6], i[7]]),
        })
        .collect();
    Some(CompiledFilter {
        program,
        flags,
        needs_listener,
        skipped_syscalls: Vec::new(),
        ignored_architectures: Vec::new(),
        listener_path,
        listener_metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(v: serde_json::Value) -> CompiledFilter {
        super::super::compile(&super::super::parse_json(&v).unwrap()).unwrap()
    }

    fn same(a: &CompiledFilter, b: &CompiledFilter) {
        let insns = |f: &CompiledFilter| f.program().iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect::<Vec<_>>();
        assert_eq!(insns(a), insns(b));
        assert_eq!((a.flags(), a.needs_listener()), (b.flags(), b.needs_listener()));
        assert_eq!((a.listener_path(), a.listener_metadata()), (b.listener_path(), b.listener_metadata()));
    }

    #[test]
    fn what_is_saved_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let plain = filter(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}]}));
        save(dir.path(), &plain).unwrap();
        same(&load(dir.path()).unwrap(), &plain);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.path().join(FILE)).unwrap().permissions().mode() & 0o777, 0o600);
        let notify = filter(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/agent.sock", "listenerMetadata": "meta",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}));
        std::fs::remove_file(dir.path().join(FILE)).unwrap();
        save(dir.path(), &notify).unwrap();
        let back = load(dir.path()).unwrap();
        same(&back, &notify);
        assert!(back.needs_listener() && back.listener_path().is_some());
    }

    #[test]
    fn none_or_damaged_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).is_none());
        let f = filter(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}));
        let good = encode(&f);
        for bad in [&good[..good.len() - 1], &good[1..], &[good.as_slice(), &[0]].concat(), b"bulkhead seccomp filter 2\n"] {
            std::fs::write(dir.path().join(FILE), bad).unwrap();
            assert!(load(dir.path()).is_none());
        }
    }
}
