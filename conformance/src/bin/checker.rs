//! conf-checker: runs as the container's process and verifies, from inside,
//! that the configuration was applied. Static binary (musl), deps: libc + serde_json.
//!
//! Usage: conf-checker <checks.json> [extra args...]
//! The checks file is a JSON array of objects `{"kind": ..., ...}` written by
//! the runner into the rootfs. The result is printed on stdout as one line:
//!   CONFCHECK {"results":[{"ok":bool,"msg":"..."}, ...]}
//! in the order of the checks. Exit status is 0 whenever the checks ran.

use serde_json::{json, Value};
use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

type R = Result<(), String>;

fn s<'a>(c: &'a Value, k: &str) -> &'a str {
    c.get(k).and_then(|v| v.as_str()).unwrap_or("")
}
fn u(c: &Value, k: &str) -> Option<u64> {
    c.get(k).and_then(|v| v.as_u64())
}
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

struct MountEntry {
    mnt_id: u64,
    parent: u64,
    target: String,
    opts: Vec<String>,
    optional: Vec<String>,
    fstype: String,
    source: String,
    super_opts: Vec<String>,
}

fn unescape(p: &str) -> String {
    // mountinfo escapes space, tab, newline, backslash as \ooo
    let b = p.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("x"), 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mountinfo() -> Vec<MountEntry> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 10 {
            continue;
        }
        let sep = match f.iter().position(|x| *x == "-") {
            Some(p) => p,
            None => continue,
        };
        v.push(MountEntry {
            mnt_id: f[0].parse().unwrap_or(0),
            parent: f[1].parse().unwrap_or(0),
            target: unescape(f[4]),
            opts: f[5].split(',').map(String::from).collect(),
            optional: f[6..sep].iter().map(|x| x.to_string()).collect(),
            fstype: f.get(sep + 1).unwrap_or(&"").to_string(),
            source: f.get(sep + 2).map(|x| unescape(x)).unwrap_or_default(),
            super_opts: f.get(sep + 3).unwrap_or(&"").split(',').map(String::from).collect(),
        });
    }
    v
}

/// The visible (topmost) mount at `target`.
fn top_mount(target: &str) -> Option<MountEntry> {
    let all = mountinfo();
    let cands: Vec<&MountEntry> = all.iter().filter(|m| m.target == target).collect();
    // topmost: one whose id is not the parent of another mount at the same target
    let top = cands
        .iter()
        .find(|m| !cands.iter().any(|o| o.parent == m.mnt_id))
        .or(cands.last())
        .map(|m| m.mnt_id)?;
    all.into_iter().find(|m| m.mnt_id == top)
}

fn check_mount(c: &Value) -> R {
    let target = s(c, "target");
    let m = top_mount(target).ok_or_else(|| format!("no mount at {target} in /proc/self/mountinfo"))?;
    if let Some(t) = c.get("fstype").and_then(|v| v.as_str()) {
        if m.fstype != t {
            return Err(format!("{target}: fstype {} != {t}", m.fstype));
        }
    }
    if let Some(t) = c.get("source").and_then(|v| v.as_str()) {
        if m.source != t {
            return Err(format!("{target}: source {} != {t}", m.source));
        }
    }
    let all: Vec<&String> = m.opts.iter().chain(m.super_opts.iter()).collect();
    if let Some(opts) = c.get("opts").and_then(|v| v.as_array()) {
        for o in opts {
            let o = o.as_str().unwrap_or("");
            if !all.iter().any(|x| *x == o) {
                return Err(format!("{target}: option {o} missing (mount opts {:?}, super opts {:?})", m.opts, m.super_opts));
            }
        }
    }
    if let Some(opts) = c.get("absent").and_then(|v| v.as_array()) {
        for o in opts {
            let o = o.as_str().unwrap_or("");
            if all.iter().any(|x| *x == o) {
                return Err(format!("{target}: option {o} present but must not be ({:?} / {:?})", m.opts, m.super_opts));
            }
        }
    }
    Ok(())
}

fn check_propagation(c: &Value) -> R {
    let target = s(c, "target");
    let m = top_mount(target).ok_or_else(|| format!("no mount at {target}"))?;
    let shared = m.optional.iter().any(|x| x.starts_with("shared:"));
    let master = m.optional.iter().any(|x| x.starts_with("master:"));
    let unbindable = m.optional.iter().any(|x| x == "unbindable");
    let want = s(c, "mode");
    let ok = match want {
        "shared" => shared,
        "slave" => master && !shared,
        "private" => !shared && !master && !unbindable,
        "unbindable" => unbindable,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{target}: propagation fields {:?}, want {want}", m.optional))
    }
}

fn check_device(c: &Value) -> R {
    let path = s(c, "path");
    let md = fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
    let ft = md.file_type();
    let ty = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        "other"
    };
    if ty != s(c, "type") {
        return Err(format!("{path}: type {ty}, want {}", s(c, "type")));
    }
    let rdev = md.rdev();
    let (maj, min) = (libc::major(rdev) as u64, libc::minor(rdev) as u64);
    if Some(maj) != u(c, "major") || Some(min) != u(c, "minor") {
        return Err(format!("{path}: {maj}:{min}, want {:?}:{:?}", u(c, "major"), u(c, "minor")));
    }
    if let Some(mode) = u(c, "mode") {
        if (md.mode() & 0o7777) as u64 != mode {
            return Err(format!("{path}: mode {:o}, want {:o}", md.mode() & 0o7777, mode));
        }
    }
    if let Some(uid) = u(c, "uid") {
        if md.uid() as u64 != uid {
            return Err(format!("{path}: uid {}, want {uid}", md.uid()));
        }
    }
    if let Some(gid) = u(c, "gid") {
        if md.gid() as u64 != gid {
            return Err(format!("{path}: gid {}, want {gid}", md.gid()));
        }
    }
    Ok(())
}

fn check_masked(c: &Value) -> R {
    let path = s(c, "path");
    let md = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Err(format!("{path}: {e} (masked paths must still exist, masked)")),
    };
    if md.is_dir() {
        let n = fs::read_dir(path).map(|d| d.count()).unwrap_or(0);
        if n != 0 {
            return Err(format!("{path}: directory readable with {n} entries"));
        }
        return Ok(());
    }
    match fs::File::open(path) {
        Err(_) => Ok(()),
        Ok(mut f) => {
            let mut buf = [0u8; 64];
            match f.read(&mut buf) {
                Ok(0) | Err(_) => Ok(()),
                Ok(n) => Err(format!("{path}: read {n} bytes")),
            }
        }
    }
}

fn statvfs_ro(path: &str) -> Result<bool, String> {
    let p = CString::new(path).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(p.as_ptr(), &mut st) } != 0 {
        return Err(format!("statvfs {path}: errno {}", errno()));
    }
    Ok(st.f_flag & libc::ST_RDONLY != 0)
}

fn check_ro(c: &Value) -> R {
    let path = s(c, "path");
    let want = c.get("ro").and_then(|v| v.as_bool()).unwrap_or(true);
    let ro = statvfs_ro(path)?;
    if ro != want {
        return Err(format!("{path}: read-only={ro}, want {want}"));
    }
    Ok(())
}

/// Try to create a file in directory `path` (or open `path` for writing when `file` is set).
fn check_writable(c: &Value) -> R {
    let path = s(c, "path");
    let want = c.get("expect").and_then(|v| v.as_bool()).unwrap_or(true);
    let is_file = c.get("file").and_then(|v| v.as_bool()).unwrap_or(false);
    let target = if is_file { path.to_string() } else { format!("{}/.conf-write-test", path.trim_end_matches('/')) };
    let p = CString::new(target.clone()).unwrap();
    let flags = if is_file { libc::O_WRONLY } else { libc::O_WRONLY | libc::O_CREAT };
    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
    let err = errno();
    if fd >= 0 {
        unsafe { libc::close(fd) };
        if !is_file {
            let _ = fs::remove_file(&target);
        }
        if want {
            Ok(())
        } else {
            Err(format!("{target}: writable, want not writable"))
        }
    } else if want {
        Err(format!("{target}: not writable (errno {err})"))
    } else if let Some(e) = u(c, "errno") {
        if err as u64 == e {
            Ok(())
        } else {
            Err(format!("{target}: errno {err}, want {e}"))
        }
    } else {
        Ok(())
    }
}

fn check_open(c: &Value) -> R {
    // open path O_RDONLY; "errno": expected errno, or absent/0 => must succeed; "not_errno": must not fail with it
    let path = s(c, "path");
    let p = CString::new(path).unwrap();
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK) };
    let err = if fd < 0 { errno() } else { 0 };
    if fd >= 0 {
        unsafe { libc::close(fd) };
    }
    if let Some(ne) = u(c, "not_errno") {
        return if err as u64 == ne { Err(format!("open {path}: errno {err}")) } else { Ok(()) };
    }
    let want = u(c, "errno").unwrap_or(0);
    if err as u64 == want {
        Ok(())
    } else {
        Err(format!("open {path}: errno {err}, want {want}"))
    }
}

fn check_file(c: &Value) -> R {
    let path = s(c, "path");
    let got = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let got = got.trim();
    if let Some(w) = c.get("value").and_then(|v| v.as_str()) {
        if got != w {
            return Err(format!("{path}: {got:?}, want {w:?}"));
        }
    }
    if let Some(w) = c.get("suffix").and_then(|v| v.as_str()) {
        if !got.ends_with(w) {
            return Err(format!("{path}: {got:?}, want suffix {w:?}"));
        }
    }
    if let Some(w) = c.get("contains").and_then(|v| v.as_str()) {
        if !got.contains(w) {
            return Err(format!("{path}: {got:?}, want it to contain {w:?}"));
        }
    }
    Ok(())
}

fn status_field(name: &str) -> Option<String> {
    let t = fs::read_to_string("/proc/self/status").ok()?;
    for l in t.lines() {
        if let Some(rest) = l.strip_prefix(name) {
            if let Some(v) = rest.strip_prefix(':') {
                return Some(v.trim().to_string());
            }
        }
    }
    None
}

fn check_status(c: &Value) -> R {
    let f = s(c, "field");
    let got = status_field(f).ok_or_else(|| format!("/proc/self/status has no {f}"))?;
    if let Some(hex) = c.get("hex").and_then(|v| v.as_u64()) {
        let g = u64::from_str_radix(&got, 16).map_err(|e| format!("{f}: {got}: {e}"))?;
        if g != hex {
            return Err(format!("{f}: {g:#x}, want {hex:#x}"));
        }
        return Ok(());
    }
    let w = s(c, "value");
    if got != w {
        return Err(format!("{f}: {got:?}, want {w:?}"));
    }
    Ok(())
}

fn check_rlimit(c: &Value) -> R {
    let res = u(c, "resource").unwrap_or(99) as i32;
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    if unsafe { libc::getrlimit(res as _, &mut rl) } != 0 {
        return Err(format!("getrlimit({res}): errno {}", errno()));
    }
    let (ws, wh) = (u(c, "soft").unwrap_or(0), u(c, "hard").unwrap_or(0));
    if rl.rlim_cur as u64 != ws || rl.rlim_max as u64 != wh {
        return Err(format!("rlimit {res}: soft {} hard {}, want {ws} {wh}", rl.rlim_cur, rl.rlim_max));
    }
    Ok(())
}

fn check_ids(c: &Value) -> R {
    let (uid, gid, euid, egid) = unsafe { (libc::getuid(), libc::getgid(), libc::geteuid(), libc::getegid()) };
    if let Some(w) = u(c, "uid") {
        if uid as u64 != w || euid as u64 != w {
            return Err(format!("uid {uid} euid {euid}, want {w}"));
        }
    }
    if let Some(w) = u(c, "gid") {
        if gid as u64 != w || egid as u64 != w {
            return Err(format!("gid {gid} egid {egid}, want {w}"));
        }
    }
    if let Some(gs) = c.get("groups").and_then(|v| v.as_array()) {
        let mut want: Vec<u64> = gs.iter().filter_map(|x| x.as_u64()).collect();
        want.sort();
        want.dedup();
        let mut buf = vec![0 as libc::gid_t; 256];
        let n = unsafe { libc::getgroups(256, buf.as_mut_ptr()) };
        if n < 0 {
            return Err(format!("getgroups: errno {}", errno()));
        }
        let mut got: Vec<u64> = buf[..n as usize].iter().map(|g| *g as u64).collect();
        got.sort();
        got.dedup();
        if got != want {
            return Err(format!("supplementary groups {got:?}, want {want:?}"));
        }
    }
    Ok(())
}

fn check_ns(c: &Value) -> R {
    let ns = s(c, "ns");
    let p = format!("/proc/self/ns/{ns}");
    let ino = fs::metadata(&p).map_err(|e| format!("{p}: {e}"))?.ino();
    let want = u(c, "ino").unwrap_or(0);
    match s(c, "op") {
        "eq" if ino != want => Err(format!("{ns} ns inode {ino}, want {want} (joined/inherited)")),
        "ne" if ino == want => Err(format!("{ns} ns inode {ino} equals host's: no new namespace")),
        _ => Ok(()),
    }
}

fn check_uname(c: &Value) -> R {
    let mut un: libc::utsname = unsafe { std::mem::zeroed() };
    unsafe { libc::uname(&mut un) };
    let field = match s(c, "field") {
        "domainname" => &un.domainname[..],
        "machine" => &un.machine[..],
        _ => &un.nodename[..],
    };
    let bytes: Vec<u8> = field.iter().take_while(|b| **b != 0).map(|b| *b as u8).collect();
    let got = String::from_utf8_lossy(&bytes).to_string();
    let w = s(c, "value");
    if got != w {
        return Err(format!("{}: {got:?}, want {w:?}", s(c, "field")));
    }
    Ok(())
}

fn check_syscall(c: &Value) -> R {
    let nr = u(c, "nr").unwrap_or(0) as libc::c_long;
    let ret = unsafe { libc::syscall(nr, 0, 0, 0, 0, 0, 0) };
    let err = errno();
    match u(c, "errno") {
        Some(e) => {
            if ret == -1 && err as u64 == e {
                Ok(())
            } else {
                Err(format!("syscall {nr}: ret {ret} errno {err}, want -1/{e}"))
            }
        }
        None => {
            if ret >= 0 {
                Ok(())
            } else {
                Err(format!("syscall {nr}: ret {ret} errno {err}, want success"))
            }
        }
    }
}

fn check(c: &Value, argv: &[String]) -> R {
    match s(c, "kind") {
        "ns" => check_ns(c),
        "uname" => check_uname(c),
        "mount" => check_mount(c),
        "nomount" => match top_mount(s(c, "target")) {
            None => Ok(()),
            Some(m) => Err(format!("{} is mounted ({})", m.target, m.fstype)),
        },
        "propagation" => check_propagation(c),
        "device" => check_device(c),
        "masked" => check_masked(c),
        "ro" => check_ro(c),
        "writable" => check_writable(c),
        "open" => check_open(c),
        "file" => check_file(c),
        "status" => check_status(c),
        "rlimit" => check_rlimit(c),
        "ids" => check_ids(c),
        "cwd" => {
            let got = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
            if got == s(c, "value") { Ok(()) } else { Err(format!("cwd {got:?}, want {:?}", s(c, "value"))) }
        }
        "env" => {
            let got = std::env::var(s(c, "name")).ok();
            let want = c.get("value").and_then(|v| v.as_str()).map(String::from);
            if got == want { Ok(()) } else { Err(format!("env {}={got:?}, want {want:?}", s(c, "name"))) }
        }
        "argv" => {
            let want: Vec<String> = c["value"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect()).unwrap_or_default();
            if argv == want.as_slice() { Ok(()) } else { Err(format!("argv {argv:?}, want {want:?}")) }
        }
        "getpid" => {
            let p = unsafe { libc::getpid() } as u64;
            if Some(p) == u(c, "value") { Ok(()) } else { Err(format!("getpid() = {p}, want {:?}", u(c, "value"))) }
        }
        "syscall" => check_syscall(c),
        "symlink" => {
            let p = s(c, "path");
            match fs::read_link(p) {
                Ok(t) if t.display().to_string() == s(c, "target") => Ok(()),
                Ok(t) => Err(format!("{p} -> {}, want {}", t.display(), s(c, "target"))),
                Err(e) => Err(format!("{p}: {e}")),
            }
        }
        "exists" => {
            let p = s(c, "path");
            let e = fs::symlink_metadata(p).is_ok();
            let want = c.get("expect").and_then(|v| v.as_bool()).unwrap_or(true);
            if e == want { Ok(()) } else { Err(format!("{p}: exists={e}, want {want}")) }
        }
        k => Err(format!("unknown check kind {k:?}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).cloned().unwrap_or_else(|| "/conformance/checks.json".into());
    let checks: Value = match fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string())) {
        Ok(v) => v,
        Err(e) => {
            println!("CONFCHECK {}", json!({"error": format!("cannot read {path}: {e}")}));
            return;
        }
    };
    let mut results = Vec::new();
    for c in checks.as_array().cloned().unwrap_or_default() {
        let r = check(&c, &args);
        results.push(match r {
            Ok(()) => json!({"ok": true}),
            Err(m) => json!({"ok": false, "msg": m}),
        });
    }
    println!("CONFCHECK {}", json!({ "results": results }));
}
