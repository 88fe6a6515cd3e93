//! `bulkhead exec` as a caller drives it: exit codes, signals, ttys, --detach and pid files,
//! containerd's process.json, failures (bad input, stopped, paused, LSM off), 20 at once.
//! Same Drop-guarded container per test as exec.rs.
//! Run: cargo test --test exec_run -- --test-threads=2

mod exec_common;

use exec_common::*;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn exit_codes_propagate() {
    let ct = Ct::start("exit", |_| {});
    assert_eq!(ct.exec(&[], &["true"]).status.code(), Some(0));
    assert_eq!(ct.exec(&[], &["sh", "-c", "exit 7"]).status.code(), Some(7));
    assert_eq!(ct.exec(&[], &["sh", "-c", "kill -TERM $$"]).status.code(), Some(143));
    assert_eq!(ct.exec(&[], &["sh", "-c", "kill -KILL $$"]).status.code(), Some(137));
    let out = ct.exec(&[], &["sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(text(&out.stdout), "out\n");
    assert!(text(&out.stderr).contains("err\n"));
    ct.assert_only_init();
}

#[test]
fn signals_are_forwarded() {
    let ct = Ct::start("sig", |_| {});
    let mut c = Command::new(&*BIN);
    c.arg("--root").arg(ct.root.path());
    c.args(["exec", &ct.id, "sh", "-c", "trap 'exit 42' USR1; echo ready; while :; do sleep 0.05; done"]);
    c.stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null());
    let mut child = c.spawn().unwrap();
    let pid = child.id() as i32;
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut b = [0u8; 6];
        let _ = stdout.read_exact(&mut b);
        let _ = tx.send(b);
    });
    let got = rx.recv_timeout(TIMEOUT);
    if got.as_ref().map(|b| b != b"ready\n").unwrap_or(true) {
        let _ = child.kill();
        panic!("the exec'd shell did not start: {got:?}");
    }
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    let status = wait_for(TIMEOUT, "exec to exit after SIGUSR1", || child.try_wait().unwrap());
    assert_eq!(status.code(), Some(42));
    ct.assert_only_init();
}

#[test]
fn tty_over_console_socket() {
    let ct = Ct::start("tty", |_| {});
    let recv = ConsoleReceiver::new();
    let pidfile = ct.bundle.path().join("tty.pid");
    let out = ct.cmd(
        &["exec", "-d", "-t", "--console-socket", recv.path.to_str().unwrap(), "--pid-file", pidfile.to_str().unwrap(), &ct.id, "sh", "-c", "tty; test -t 0 && test -t 1 && echo STDIO-IS-TTY; sleep 0.2"],
        true,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (master, name) = recv.receive();
    assert!(name.starts_with("/dev/pts/"), "sent name {name:?}");
    let got = read_pty(&master, Duration::from_secs(5));
    assert!(got.contains("/dev/pts/"), "{got:?}");
    assert!(got.contains("STDIO-IS-TTY"), "{got:?}");
    ct.assert_only_init();
}

#[test]
fn tty_in_the_foreground_is_relayed() {
    let ct = Ct::start("fgtty", |_| {});
    let out = ct.exec(&["-t"], &["sh", "-c", "test -t 1 && echo IS-A-TTY; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("IS-A-TTY"), "{:?}", text(&out.stdout));
    // runc clears ONLCR on the pty it relays: `\n`, not `\r\n`.
    assert!(text(&out.stdout).contains("IS-A-TTY\n") && !text(&out.stdout).contains('\r'), "{:?}", text(&out.stdout));
}

#[test]
fn tty_flag_combinations_rejected_as_runc() {
    let ct = Ct::start("ttybad", |_| {});
    let out = ct.cmd(&["exec", "-d", "-t", &ct.id, "true"], true);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("console socket"), "{}", text(&out.stderr));
    let recv = ConsoleReceiver::new();
    let out = ct.exec(&["--console-socket", recv.path.to_str().unwrap()], &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("console socket"), "{}", text(&out.stderr));
}

#[test]
fn detach_writes_pid_file_and_returns() {
    let ct = Ct::start("detach", |_| {});
    let pidfile = ct.bundle.path().join("sub/dir/../p.pid");
    std::fs::create_dir_all(ct.bundle.path().join("sub/dir")).unwrap();
    let start = std::time::Instant::now();
    let out = ct.cmd(&["exec", "--detach", "--pid-file", pidfile.to_str().unwrap(), &ct.id, "sleep", "100"], true);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(start.elapsed() < Duration::from_secs(10), "detach did not return at once");
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\0100\0");
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(), std::fs::read_link(format!("/proc/{}/ns/pid", ct.init_pid())).unwrap());
    // No temp file left next to it.
    let names: Vec<String> = std::fs::read_dir(ct.bundle.path().join("sub")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.iter().filter(|n| n.contains("tmp")).count(), 0, "{names:?}");
    unsafe { libc::kill(pid, libc::SIGKILL) };
    ct.assert_only_init();
}

#[test]
fn containerd_process_json_form() {
    let ct = Ct::start("procjson", |_| {});
    let pf = ct.bundle.path().join("process.json");
    std::fs::write(
        &pf,
        json!({
            "terminal": false,
            "user": {"uid": 5, "gid": 6, "additionalGids": [9]},
            "args": ["sh", "-c", "echo \"$X $(id -u) $(id -g) $(pwd)\" > /tmp/out; grep Seccomp: /proc/self/status >> /tmp/out"],
            "env": ["PATH=/bin", "X=from-json"],
            "cwd": "/tmp",
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
            "noNewPrivileges": true
        })
        .to_string(),
    )
    .unwrap();
    let pidfile = ct.bundle.path().join("p.pid");
    let out = ct.cmd(&["exec", "--process", pf.to_str().unwrap(), "--detach", "--pid-file", pidfile.to_str().unwrap(), &ct.id], true);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(pidfile.exists());
    let outfile = ct.rootfs().join("tmp/out");
    let got = wait_for(TIMEOUT, "/tmp/out written by the exec'd process", || {
        std::fs::read_to_string(&outfile).ok().filter(|s| s.lines().count() >= 2)
    });
    assert_eq!(got.lines().next().unwrap(), "from-json 5 6 /tmp");
    // The foreground form with a terminal-less process.json, exit code through.
    std::fs::write(&pf, json!({"args": ["sh", "-c", "exit 9"], "cwd": "/", "env": ["PATH=/bin"]}).to_string()).unwrap();
    let out = ct.cmd(&["exec", "-p", pf.to_str().unwrap(), &ct.id], true);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    ct.assert_only_init();
}

#[test]
fn bad_process_json_is_reported() {
    let ct = Ct::start("badjson", |_| {});
    let pf = ct.bundle.path().join("process.json");
    let cases: &[(&str, &str)] = &[
        ("{not json", "process.json"),
        (r#"{"args": [], "cwd": "/"}"#, "args"),
        (r#"{"args": ["true"], "cwd": "relative"}"#, "absolute"),
        (r#"{"args": "true", "cwd": "/"}"#, "args"),
        (r#"{"args": ["true"], "cwd": "/", "user": {"uid": "root"}}"#, "user.uid"),
    ];
    for (body, needle) in cases {
        std::fs::write(&pf, body).unwrap();
        let out = ct.cmd(&["exec", "--process", pf.to_str().unwrap(), &ct.id], true);
        assert_eq!(out.status.code(), Some(255), "{body} accepted");
        assert!(text(&out.stderr).contains(needle), "{body}: {} lacks {needle}", text(&out.stderr));
    }
    let out = ct.cmd(&["exec", "--process", "/nonexistent/p.json", &ct.id], true);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("/nonexistent/p.json"));
    ct.assert_only_init();
}

#[test]
fn missing_binary_names_the_path_and_leaves_nothing() {
    let ct = Ct::start("nobin", |_| {});
    let out = ct.exec(&[], &["no-such-program"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("no-such-program"), "{}", text(&out.stderr));
    let out = ct.exec(&[], &["/opt/nothing/here"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("/opt/nothing/here"), "{}", text(&out.stderr));
    let out = ct.exec(&[], &[]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("args"), "{}", text(&out.stderr));
    ct.assert_only_init();
}

/// The program is found and executable but execve refuses it (ENOEXEC), after the process
/// reported Ready and went on without waiting for the runtime: the failure still reaches
/// the user as runc words it, with exit 255, no pid file and no process left behind.
#[test]
fn execve_failure_after_setup_is_reported() {
    let ct = Ct::start("noexec", |_| {});
    let bogus = ct.rootfs().join("bogus");
    std::fs::write(&bogus, [0u8, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    std::fs::set_permissions(&bogus, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pid_file = ct.root.path().join("exec.pid");
    let out = ct.exec(&["--pid-file", pid_file.to_str().unwrap()], &["/bogus"]);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("exec /bogus: exec format error"), "{}", text(&out.stderr));
    assert!(!pid_file.exists());
    ct.assert_only_init();
}

#[test]
fn stopped_and_unknown_containers() {
    let ct = Ct::start("stopped", |_| {});
    let out = ct.cmd(&["exec", "no-such-container", "true"], true);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("no-such-container"), "{}", text(&out.stderr));
    let init = ct.init_pid();
    unsafe { libc::kill(init, libc::SIGKILL) };
    wait_for(TIMEOUT, "the container to stop", || (ct.state()["status"] == "stopped").then_some(()));
    let out = ct.exec(&[], &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("stopped"), "{}", text(&out.stderr));
}

#[test]
fn paused_container_needs_ignore_paused() {
    let ct = Ct::start("paused", |_| {});
    let (file, frozen, thawed) = ct.freezer_file();
    std::fs::write(&file, frozen).unwrap();
    wait_for(Duration::from_secs(5), "the cgroup to freeze", || std::fs::read_to_string(&file).ok().filter(|s| s.trim() == frozen || s.trim() == "1"));
    let out = ct.exec(&[], &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("paused"), "{}", text(&out.stderr));
    // --ignore-paused --detach: accepted and returns; the process runs once thawed.
    let out = ct.cmd(&["exec", "--ignore-paused", "-d", &ct.id, "sh", "-c", "echo ran > /tmp/after-thaw"], true);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let marker = ct.rootfs().join("tmp/after-thaw");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists(), "ran while the container was frozen");
    std::fs::write(&file, thawed).unwrap();
    wait_for(TIMEOUT, "the exec'd process to run after thaw", || marker.exists().then_some(()));
    // Foreground with --ignore-paused: held until thawed, then its status comes through.
    std::fs::write(&file, frozen).unwrap();
    let (root, id) = (ct.root.path().to_path_buf(), ct.id.clone());
    let fg = std::thread::spawn(move || {
        let mut c = Command::new(&*BIN);
        c.arg("--root").arg(&root).args(["exec", "--ignore-paused", &id, "sh", "-c", "exit 5"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        run_bounded(c)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!fg.is_finished(), "the exec finished while the container was frozen");
    std::fs::write(&file, thawed).unwrap();
    let out = fg.join().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    ct.assert_only_init();
}

#[test]
fn labels_error_when_the_lsm_is_off() {
    if std::path::Path::new("/sys/kernel/security/apparmor").exists() || std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        eprintln!("skipped: an LSM is enabled on this host");
        return;
    }
    let ct = Ct::start("lsm", |_| {});
    let out = ct.exec(&["--apparmor", "some-profile"], &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("some-profile"), "{}", text(&out.stderr));
    let out = ct.exec(&["--process-label", "system_u:system_r:container_t:s0"], &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("SELinux"), "{}", text(&out.stderr));
    ct.assert_only_init();
}

#[test]
fn twenty_concurrent_execs() {
    let ct = Ct::start("conc", |_| {});
    let root = ct.root.path().to_path_buf();
    let id = ct.id.clone();
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let (root, id) = (root.clone(), id.clone());
            std::thread::spawn(move || {
                let mut c = Command::new(&*BIN);
                c.arg("--root").arg(&root).args(["exec", &id, "sh", "-c", &format!("echo ok-{i}; exit {i}")]);
                c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
                (i, run_bounded(c))
            })
        })
        .collect();
    for h in handles {
        let (i, out) = h.join().unwrap();
        assert_eq!(out.status.code(), Some(i), "exec {i}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("ok-{i}\n"));
    }
    ct.assert_only_init();
}
