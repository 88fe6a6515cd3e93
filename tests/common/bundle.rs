//! Bundles: the busybox rootfs and the runtime's default config.json.

use super::{CMD_TIMEOUT, exec, rt_raw};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

fn busybox_applets() -> &'static [String] {
    static V: OnceLock<Vec<String>> = OnceLock::new();
    V.get_or_init(|| {
        let out = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("/bin/busybox --list (is busybox-static installed?)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty() && !l.contains('/') && l != "busybox")
            .collect()
    })
}

/// A busybox rootfs: /bin/busybox plus one symlink per applet, and the usual dirs.
pub fn build_rootfs(rootfs: &Path) {
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    for d in ["proc", "sys", "dev", "tmp", "etc", "root"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy /bin/busybox");
    for a in busybox_applets() {
        let _ = symlink("busybox", rootfs.join("bin").join(a));
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
}

/// The runtime's default config (`<runtime> spec --bundle DIR`), generated once per process.
pub fn default_spec() -> Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("bulkhead-spec-")
            .tempdir()
            .unwrap();
        let out = exec(
            rt_raw().arg("spec").arg("--bundle").arg(dir.path()),
            CMD_TIMEOUT,
        );
        out.assert_ok();
        let text = fs::read_to_string(dir.path().join("config.json"))
            .unwrap_or_else(|e| panic!("spec wrote no config.json: {e}\n{out}"));
        serde_json::from_str(&text).expect("spec output is JSON")
    })
    .clone()
}
