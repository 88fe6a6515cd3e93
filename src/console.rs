//! Terminals: with `process.terminal`, the init makes a pty inside the container (from the
//! container's own devpts), makes the slave its controlling terminal and stdio, and sends the
//! master over the console socket with SCM_RIGHTS — runc's protocol, which containerd and
//! podman's conmon speak. A foreground `run` receives the master itself and relays it.

use anyhow::{Context, Result};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Connects to the `--console-socket` path (in the parent, before the init exists).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path).with_context(|| format!("--console-socket: connecting to {}", path.display()))?;
    Ok(OwnedFd::from(s))
}

/// A socket pair standing in for --console-socket when the runtime relays the pty itself
/// (foreground `run`, `exec -t`): the container's side sends the master over one end, the
/// runtime receives it on the other (`recv_fd`).
pub fn relay_pair() -> Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC).context("socketpair for the terminal")
}

pub fn send_fd(sock: RawFd, fd: RawFd, name: &str) -> Result<()> {
    send_named_fd(sock, fd, name).context("sending the pty master over the console socket")
}

/// One SCM_RIGHTS message: `fd`, with `name` as the payload (runc's cmsg.SendFile shape).
fn send_named_fd(sock: RawFd, fd: RawFd, name: &str) -> nix::Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None).map(drop)
}

/// `--pidfd-socket`: a pidfd of `pid` over the socket at `path`, named as runc names it
/// ("standard" for a container's init, "setns" for an exec'd process). runc's init sends its
/// own; the runtime sends it here once the process exists, which the receiver cannot tell apart.
pub fn send_pidfd(path: &Path, pid: i32, name: &str) -> Result<()> {
    let sock = std::os::unix::net::UnixStream::connect(path).with_context(|| format!("--pidfd-socket: connecting to {}", path.display()))?;
    let pidfd = crate::sys::pidfd_open(pid).with_context(|| format!("--pidfd-socket: pidfd_open({pid})"))?;
    send_named_fd(sock.as_raw_fd(), pidfd.as_raw_fd(), name).with_context(|| format!("--pidfd-socket: sending the pidfd to {}", path.display()))
}

/// Receives the pty master the runtime relays itself (foreground `run` and `exec`), with
/// ONLCR cleared as runc does (`clear_onlcr`).
pub fn recv_fd(sock: RawFd) -> Result<OwnedFd> {
    let master = recv_any_fd(sock)?;
    clear_onlcr(&master);
    Ok(master)
}

/// As runc (tty.go recvtty) for a pty it relays: no `\n` → `\r\n` translation, so what the
/// container writes reaches our stdout byte for byte (a pipe or file gets `\n`-terminated
/// lines; an interactive terminal translates on its own side, see foreground::RawTerminal).
/// A pty handed to a --console-socket keeps the kernel's default: its receiver decides.
/// Best effort: a failure only changes line ends.
pub fn clear_onlcr(pty: &impl std::os::fd::AsFd) {
    use nix::sys::termios::{tcgetattr, tcsetattr, OutputFlags, SetArg};
    if let Ok(mut t) = tcgetattr(pty) {
        t.output_flags.remove(OutputFlags::ONLCR);
        let _ = tcsetattr(pty, SetArg::TCSANOW, &t);
    }
}

fn recv_any_fd(sock: RawFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC).context("receiving the pty master")?;
    for c in msg.cmsgs().context("reading control messages")? {
        if let ControlMessageOwned::ScmRights(fds) = c
            && let Some(fd) = fds.first() {
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
    }
    anyhow::bail!("no file descriptor received on the console socket")
}

/// In the init, after pivot_root: the pty of `attach_pty`, also bound over /dev/console.
pub fn setup_in_container(console_sock: RawFd, size: Option<(u16, u16)>, owner: u32) -> Result<()> {
    attach_pty(console_sock, size, true, owner, false)
}

/// Makes a pty from the container's devpts, hands the master out over `console_sock`, and
/// takes the slave as controlling terminal and stdio. The init (`bind_console`) also mounts
/// it over /dev/console; an exec'd process leaves /dev/console to the init. The slave belongs
/// to `owner` (process.user.uid), as runc's fixStdioPermissions. `relayed`: the runtime itself
/// relays the master (ONLCR cleared here, see `clear_onlcr`).
pub fn attach_pty(console_sock: RawFd, size: Option<(u16, u16)>, bind_console: bool, owner: u32, relayed: bool) -> Result<()> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).context("opening /dev/ptmx in the container")?;
    nix::pty::grantpt(&master).context("grantpt")?;
    nix::pty::unlockpt(&master).context("unlockpt")?;
    let slave_name = nix::pty::ptsname_r(&master).context("ptsname")?;
    if let Some((h, w)) = size {
        let ws = libc::winsize { ws_row: h, ws_col: w, ws_xpixel: 0, ws_ypixel: 0 };
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    let slave = nix::fcntl::open(slave_name.as_str(), OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
        .with_context(|| format!("opening pty slave {slave_name}"))?;
    give_to(&slave, &slave_name, owner)?;
    if bind_console {
        bind_dev_console(&slave_name)?;
    }
    if relayed {
        // Before the program can write anything (the runtime receives the master later).
        clear_onlcr(&slave);
    }
    send_fd(console_sock, master.as_raw_fd(), &slave_name)?;
    drop(master);
    nix::unistd::setsid().context("setsid")?;
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("ioctl(TIOCSCTTY)");
    }
    for fd in 0..3 {
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error()).context("dup2 of the pty slave onto stdio");
        }
    }
    Ok(())
}

/// The process's terminal must be its own, or it cannot, say, change its modes or be found as
/// its tty by `tty`/`ssh`. Only the owner changes: the group is the one devpts gave (`tty`
/// with gid=5). As runc, an owner or group the user namespace cannot map (EINVAL, EPERM) or
/// a read-only /dev (EROFS) leaves the terminal as it is.
fn give_to(slave: &impl std::os::fd::AsFd, name: &str, owner: u32) -> Result<()> {
    use nix::errno::Errno;
    match nix::unistd::fchown(slave, Some(owner.into()), None) {
        Ok(()) | Err(Errno::EINVAL | Errno::EPERM | Errno::EROFS) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("fchown of pty slave {name} to uid {owner}")),
    }
}

/// /dev/console is the pty, as the runtime spec asks for terminal containers. Never through a
/// symlink (CVE-2025-52565): a planted /dev/console -> /proc/... would put the pty over a
/// procfs file. Only a regular file or a character device is a valid target.
fn bind_dev_console(slave_name: &str) -> Result<()> {
    let root = crate::inroot::InRoot::open(Path::new("/"))?;
    let console = root.resolve_create(Path::new("/dev/console"), crate::inroot::Kind::File, true).context("/dev/console")?;
    crate::procfs::check_fd_paths(&root)?;
    let st = nix::sys::stat::fstat(&console).context("fstat /dev/console")?;
    if !matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFCHR) {
        anyhow::bail!("/dev/console in the container is neither a regular file nor a character device; refusing to mount the pty on it");
    }
    nix::mount::mount(Some(slave_name), &crate::inroot::fd_path(&console), None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
        .context("bind-mounting the pty over /dev/console")?;
    Ok(())
}
