//! process.terminal with --console-socket: the runtime hands the pty master over.
mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const TTY_WAIT: Duration = Duration::from_secs(20);

#[test]
fn console_socket_receives_working_pty() {
    let mut c = Ctx::new("console");
    c.config["process"]["terminal"] = json!(true);
    c.set_args(&[
        "sh",
        "-c",
        "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo stdio-is-tty; \
         echo \"console-major $(stat -c %t /dev/console)\"; \
         echo hello-from-tty; read line; echo \"got:$line\"",
    ]);
    let sock = ConsoleSocket::new(&c.dir);
    c.try_create(&["--console-socket", sock.path.to_str().unwrap()])
        .assert_ok();
    let master = sock.master();
    c.start();
    let text = read_until(&master, "hello-from-tty", TTY_WAIT);
    assert!(text.contains("stdio-is-tty"), "{text:?}");
    // /dev/console is the pty slave: Unix98 pty major 136 = 0x88
    assert!(text.contains("console-major 88"), "{text:?}");
    write_fd(&master, b"ping\n");
    read_until(&master, "got:ping", TTY_WAIT);
    c.wait_status("stopped");
}

#[test]
fn console_size_applied() {
    let mut c = Ctx::new("console-size");
    c.config["process"]["terminal"] = json!(true);
    c.config["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    c.set_args(&["sh", "-c", "echo \"size=$(stty size)\"; sleep 1000"]);
    let sock = ConsoleSocket::new(&c.dir);
    c.try_create(&["--console-socket", sock.path.to_str().unwrap()])
        .assert_ok();
    let master = sock.master();
    c.start();
    let text = read_until(&master, "size=", TTY_WAIT);
    let text = read_until_more(&master, text);
    assert!(text.contains("size=33 111"), "{text:?}");
}

/// Keep reading until a full line after "size=" arrived.
fn read_until_more(master: &std::os::fd::OwnedFd, so_far: String) -> String {
    if so_far
        .split("size=")
        .nth(1)
        .is_some_and(|r| r.contains('\n'))
    {
        return so_far;
    }
    let more = read_until(master, "\n", TTY_WAIT);
    so_far + &more
}

#[test]
fn terminal_without_console_socket_is_refused() {
    let mut c = Ctx::new("console-missing");
    c.config["process"]["terminal"] = json!(true);
    c.set_args(&["sh"]);
    // create detaches, so there is no terminal to attach the pty to
    c.try_create(&[]).assert_fail_msg();
    c.assert_nothing_left(&c.id.clone());
}

/// Issue 15 item 1: with process.user 1000:1000 the pty belongs to that user, for the init
/// and for `exec -t --user`; the group stays the one devpts gives.
#[test]
fn terminal_belongs_to_the_process_user() {
    let mut c = Ctx::new("console-owner");
    c.config["process"]["terminal"] = json!(true);
    c.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c.set_args(&["sh", "-c", "echo \"init-owner $(stat -L -c %u /proc/self/fd/0)\"; sleep 1000"]);
    let sock = ConsoleSocket::new(&c.dir);
    c.try_create(&["--console-socket", sock.path.to_str().unwrap()]).assert_ok();
    let master = sock.master();
    c.start();
    let text = read_until(&master, "init-owner", TTY_WAIT);
    let text = if text.contains("init-owner 1000") { text } else { text + &read_until(&master, "\n", TTY_WAIT) };
    assert!(text.contains("init-owner 1000"), "{text:?}");

    let dir = c.dir.join("exec-console");
    std::fs::create_dir_all(&dir).unwrap();
    let esock = ConsoleSocket::new(&dir);
    let script = "echo \"exec-owner $(stat -L -c %u /proc/self/fd/0)\"; sleep 0.5";
    c.cmd(&["exec", "-d", "-t", "--user", "2000:2000", "--console-socket", esock.path.to_str().unwrap(), &c.id, "sh", "-c", script]).assert_ok();
    let emaster = esock.master();
    let text = read_until(&emaster, "exec-owner", TTY_WAIT);
    let text = if text.contains("exec-owner 2000") { text } else { text + &read_until(&emaster, "\n", TTY_WAIT) };
    assert!(text.contains("exec-owner 2000"), "{text:?}");
}

/// runc clears ONLCR on the pty it relays (tty.go recvtty): a foreground `run` with a terminal,
/// its stdout piped (`RUNTIME run ID | cat`), gives `\n`-terminated lines, not `\r\n`. As
/// runc needs a controlling terminal for that, script(1) provides one.
#[test]
fn foreground_terminal_output_has_no_carriage_returns() {
    let mut c = Ctx::new("console-onlcr");
    c.config["process"]["terminal"] = json!(true);
    c.set_args(&["sh", "-c", "echo line-one; echo line-two"]);
    c.write_config();
    let piped = c.dir.join("piped");
    let line = format!(
        "{} --root {} run --bundle {} {} | cat > {}",
        runtime().display(),
        c.root.display(),
        c.bundle.display(),
        c.id,
        piped.display()
    );
    exec(std::process::Command::new("script").args(["-q", "-e", "-c", &line, "/dev/null"]), CMD_TIMEOUT).assert_ok();
    let text = std::fs::read_to_string(&piped).unwrap();
    // script's stdin (null) reaches the pty as an EOF the tty echoes as "^@", at any point.
    assert_eq!(text.replace("^@", ""), "line-one\nline-two\n");
}
