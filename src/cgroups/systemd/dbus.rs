//! A small D-Bus client for systemd's manager, just what the systemd cgroup driver needs:
//! AUTH EXTERNAL over systemd's private socket (no bus daemon, no Hello), a few method calls
//! on org.freedesktop.systemd1.Manager, and the JobRemoved signal that ends a job.
//!
//! Pure Rust and small (no libdbus/libsystemd, the binary stays static; a general D-Bus crate
//! would bring an async runtime for four calls). Only little-endian messages are written; the
//! reader understands the header fields and the body types systemd's replies use.
//!
//! On a direct connection systemd sends every signal to every client (no AddMatch/Subscribe),
//! so a JobRemoved may arrive before the reply that names the job: both orders are handled.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// A D-Bus value, as the unit properties need them.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(String),
    /// `as`
    Strs(Vec<String>),
    /// `ay` (AllowedCPUs, AllowedMemoryNodes bitmasks)
    Bytes(Vec<u8>),
    /// `au` (PIDs)
    U32s(Vec<u32>),
}

impl Value {
    pub fn signature(&self) -> &'static str {
        match self {
            Value::Bool(_) => "b",
            Value::U32(_) => "u",
            Value::I32(_) => "i",
            Value::U64(_) => "t",
            Value::I64(_) => "x",
            Value::F64(_) => "d",
            Value::Str(_) => "s",
            Value::Strs(_) => "as",
            Value::Bytes(_) => "ay",
            Value::U32s(_) => "au",
        }
    }
}

/// A unit property: (name, value), marshalled as the struct `(sv)`.
pub type Prop = (String, Value);

/// Little-endian marshalling into a buffer whose offset 0 is 8-aligned (the body, or the
/// whole message).
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, n: usize) {
        while !self.buf.len().is_multiple_of(n) {
            self.buf.push(0);
        }
    }
    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.pad(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// `s` and `o`
    pub fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    fn sig(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    /// An array: length placeholder, padding to the element alignment (not counted), the
    /// elements, then the length patched in.
    fn array(&mut self, elem_align: usize, f: impl FnOnce(&mut Writer)) {
        self.pad(4);
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.pad(elem_align);
        let start = self.buf.len();
        f(self);
        let len = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    pub fn bool(&mut self, b: bool) {
        self.u32(b as u32);
    }
    fn value(&mut self, v: &Value) {
        match v {
            Value::Bool(b) => self.bool(*b),
            Value::U32(n) => self.u32(*n),
            Value::I32(n) => self.u32(*n as u32),
            Value::U64(n) => self.u64(*n),
            Value::I64(n) => self.u64(*n as u64),
            Value::F64(n) => self.u64(n.to_bits()),
            Value::Str(s) => self.str(s),
            Value::Strs(v) => self.array(4, |w| v.iter().for_each(|s| w.str(s))),
            Value::Bytes(v) => self.array(1, |w| w.buf.extend_from_slice(v)),
            Value::U32s(v) => self.array(4, |w| v.iter().for_each(|n| w.u32(*n))),
        }
    }
    fn variant(&mut self, v: &Value) {
        self.sig(v.signature());
        self.value(v);
    }
    /// `a(sv)`
    pub fn props(&mut self, props: &[Prop]) {
        self.array(8, |w| {
            for (name, v) in props {
                w.pad(8);
                w.str(name);
                w.variant(v);
            }
        });
    }
    /// `a(sa(sv))`, always empty here (auxiliary units).
    pub fn empty_aux(&mut self) {
        self.array(8, |_| {});
    }
}

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
const SIGNAL: u8 = 4;

/// A whole method call message to systemd's manager object.
pub fn method_call(serial: u32, iface: &str, member: &str, sig: &str, body: &[u8]) -> Vec<u8> {
    method_call_on(serial, MANAGER_PATH, iface, member, sig, body)
}

/// A whole method call message to the object `path` of systemd.
pub fn method_call_on(serial: u32, path: &str, iface: &str, member: &str, sig: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Writer::default();
    h.buf.extend_from_slice(&[b'l', METHOD_CALL, 0, 1]);
    h.u32(body.len() as u32);
    h.u32(serial);
    let field = |w: &mut Writer, code: u8, sig: &str, s: &str| {
        w.pad(8);
        w.buf.push(code);
        w.sig(sig);
        if sig == "g" { w.sig(s) } else { w.str(s) }
    };
    h.array(8, |w| {
        field(w, 1, "o", path);
        field(w, 2, "s", iface);
        field(w, 3, "s", member);
        field(w, 6, "s", "org.freedesktop.systemd1");
        if !sig.is_empty() {
            field(w, 8, "g", sig);
        }
    });
    h.pad(8);
    h.buf.extend_from_slice(body);
    h.buf
}

/// Reads the little- or big-endian values of a received message.
pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    big: bool,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8], big: bool) -> Self {
        Reader { b, pos: 0, big }
    }
    fn align(&mut self, n: usize) {
        self.pos = self.pos.next_multiple_of(n);
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos + n).ok_or_else(|| anyhow!("D-Bus message truncated"))?;
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        self.align(4);
        let a: [u8; 4] = self.take(4)?.try_into()?;
        Ok(if self.big { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) })
    }
    fn u64(&mut self) -> Result<u64> {
        self.align(8);
        let a: [u8; 8] = self.take(8)?.try_into()?;
        Ok(if self.big { u64::from_be_bytes(a) } else { u64::from_le_bytes(a) })
    }
    fn str(&mut self) -> Result<String> {
        let n = self.u32()? as usize;
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.take(1)?;
        Ok(s)
    }
    fn sig(&mut self) -> Result<String> {
        let n = self.take(1)?[0] as usize;
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.take(1)?;
        Ok(s)
    }
    /// A basic value of signature `t` (one of the few systemd's replies here carry).
    fn basic(&mut self, t: &str) -> Result<Value> {
        Ok(match t {
            "s" | "o" => Value::Str(self.str()?),
            "g" => Value::Str(self.sig()?),
            "u" => Value::U32(self.u32()?),
            "i" => Value::I32(self.u32()? as i32),
            "b" => Value::Bool(self.u32()? != 0),
            "t" => Value::U64(self.u64()?),
            "x" => Value::I64(self.u64()? as i64),
            "y" => Value::U32(self.take(1)?[0] as u32),
            _ => bail!("D-Bus type {t:?} not understood"),
        })
    }
}

/// A received message: what the client looks at.
#[derive(Debug, Default)]
pub struct Message {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub member: String,
    pub error_name: String,
    /// The body's leading basic values (as many as could be read).
    pub args: Vec<Value>,
}

/// Total length of the message whose first 16 bytes are `head`.
fn message_len(head: &[u8; 16]) -> Result<usize> {
    let big = match head[0] {
        b'l' => false,
        b'B' => true,
        e => bail!("D-Bus: bad endianness byte {e:#x}"),
    };
    let mut r = Reader::new(head, big);
    r.pos = 4;
    let body = r.u32()? as usize;
    r.pos = 12;
    let fields = r.u32()? as usize;
    Ok((16 + fields).next_multiple_of(8) + body)
}

/// Parse one whole message.
pub fn parse_message(b: &[u8]) -> Result<Message> {
    let big = b.first() == Some(&b'B');
    let mut r = Reader::new(b, big);
    let kind = *b.get(1).ok_or_else(|| anyhow!("D-Bus message truncated"))?;
    r.pos = 12;
    let flen = r.u32()? as usize;
    let end = 16 + flen;
    let mut m = Message { kind, ..Default::default() };
    let mut sig = String::new();
    while r.pos < end {
        r.align(8);
        let code = r.take(1)?[0];
        let t = r.sig()?;
        let v = r.basic(&t)?;
        match (code, v) {
            (3, Value::Str(s)) => m.member = s,
            (4, Value::Str(s)) => m.error_name = s,
            (5, Value::U32(n)) => m.reply_serial = Some(n),
            (8, Value::Str(s)) => sig = s,
            _ => {}
        }
    }
    r.pos = end.next_multiple_of(8);
    // Leading basic values, and a variant's value (Properties.Get); stop at anything else.
    for c in sig.chars() {
        let v = if c == 'v' {
            let t = r.sig()?;
            r.basic(&t)
        } else {
            r.basic(c.encode_utf8(&mut [0; 4]))
        };
        match v {
            Ok(v) => m.args.push(v),
            Err(_) => break,
        }
    }
    Ok(m)
}

/// An error reply from systemd: (D-Bus error name, message).
#[derive(Debug)]
pub struct RemoteError {
    pub name: String,
    pub message: String,
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for RemoteError {}

/// A connection to a systemd manager (the system's, or a user's).
pub struct Conn {
    sock: UnixStream,
    serial: u32,
    /// JobRemoved seen while waiting for something else: (job path, result).
    done_jobs: Vec<(String, String)>,
    socket: String,
}

const TIMEOUT: Duration = Duration::from_secs(30);
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";

impl Conn {
    /// Connect to `socket` and authenticate as `uid` (the uid systemd sees: outside any user
    /// namespace this process lives in).
    pub fn connect(socket: &Path, uid: u32) -> Result<Conn> {
        let what = || format!("connecting to systemd at {}", socket.display());
        let mut sock = UnixStream::connect(socket).with_context(what)?;
        sock.set_read_timeout(Some(TIMEOUT)).with_context(what)?;
        let hex: String = uid.to_string().bytes().map(|b| format!("{b:02x}")).collect();
        // BEGIN pipelined in the same write (the spec allows it): the server then handles
        // both lines in one pass and is running before it sends OK. Sent after OK instead,
        // BEGIN may reach systemd's sd-bus in one read with the first call, which then sits
        // unprocessed in its buffer until more data comes (systemd 262, seen in the node VM).
        sock.write_all(format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").as_bytes()).with_context(what)?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if sock.read(&mut byte).with_context(what)? == 0 || line.len() > 512 {
                bail!("{}: the connection closed during authentication", what());
            }
            line.push(byte[0]);
        }
        if !line.starts_with(b"OK ") {
            bail!("{}: authentication as uid {uid} refused: {}", what(), String::from_utf8_lossy(&line).trim());
        }
        Ok(Conn { sock, serial: 0, done_jobs: Vec::new(), socket: socket.display().to_string() })
    }

    fn read_message(&mut self, deadline: Instant) -> Result<Message> {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        self.sock.set_read_timeout(Some(left))?;
        let mut head = [0u8; 16];
        self.sock.read_exact(&mut head).with_context(|| format!("reading from systemd ({})", self.socket))?;
        let mut msg = head.to_vec();
        msg.resize(message_len(&head)?, 0);
        self.sock.read_exact(&mut msg[16..]).with_context(|| format!("reading from systemd ({})", self.socket))?;
        parse_message(&msg)
    }

    /// Call `member` of the manager and return the reply's arguments; an error reply is a
    /// [`RemoteError`].
    pub fn call(&mut self, iface: &str, member: &str, sig: &str, body: &[u8]) -> Result<Vec<Value>> {
        self.call_on(MANAGER_PATH, iface, member, sig, body)
    }

    fn call_on(&mut self, path: &str, iface: &str, member: &str, sig: &str, body: &[u8]) -> Result<Vec<Value>> {
        self.serial += 1;
        let serial = self.serial;
        self.sock
            .write_all(&method_call_on(serial, path, iface, member, sig, body))
            .with_context(|| format!("calling {member} on systemd ({})", self.socket))?;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let m = self.read_message(deadline).with_context(|| format!("waiting for systemd's reply to {member}"))?;
            match m.kind {
                SIGNAL => self.note_signal(m),
                METHOD_RETURN if m.reply_serial == Some(serial) => return Ok(m.args),
                ERROR if m.reply_serial == Some(serial) => {
                    let message = match m.args.first() {
                        Some(Value::Str(s)) => s.clone(),
                        _ => String::new(),
                    };
                    return Err(RemoteError { name: m.error_name, message }.into());
                }
                _ => {}
            }
        }
    }

    fn note_signal(&mut self, m: Message) {
        if m.member == "JobRemoved"
            && let [_, Value::Str(job), _, Value::Str(result), ..] = m.args.as_slice()
        {
            self.done_jobs.push((job.clone(), result.clone()));
        }
    }

    /// Wait for job `job` to finish; its result ("done", "failed", "canceled", ...).
    pub fn wait_job(&mut self, job: &str) -> Result<String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(i) = self.done_jobs.iter().position(|(j, _)| j == job) {
                return Ok(self.done_jobs.swap_remove(i).1);
            }
            if Instant::now() >= deadline {
                bail!("timed out after {}s waiting for systemd job {job}", TIMEOUT.as_secs());
            }
            let m = self.read_message(deadline).with_context(|| format!("waiting for systemd job {job}"))?;
            if m.kind == SIGNAL {
                self.note_signal(m);
            }
        }
    }

    fn job_path(args: Vec<Value>, member: &str) -> Result<String> {
        match args.into_iter().next() {
            Some(Value::Str(p)) => Ok(p),
            _ => bail!("systemd's reply to {member} names no job"),
        }
    }

    /// StartTransientUnit(name, "replace", props, []) → the job's object path.
    pub fn start_transient_unit(&mut self, name: &str, props: &[Prop]) -> Result<String> {
        let mut w = Writer::default();
        w.str(name);
        w.str("replace");
        w.props(props);
        w.empty_aux();
        let args = self.call(MANAGER, "StartTransientUnit", "ssa(sv)a(sa(sv))", &w.buf)?;
        Self::job_path(args, "StartTransientUnit")
    }

    /// StopUnit(name, "replace") → the job's object path.
    pub fn stop_unit(&mut self, name: &str) -> Result<String> {
        let mut w = Writer::default();
        w.str(name);
        w.str("replace");
        let args = self.call(MANAGER, "StopUnit", "ss", &w.buf)?;
        Self::job_path(args, "StopUnit")
    }

    pub fn reset_failed_unit(&mut self, name: &str) -> Result<()> {
        let mut w = Writer::default();
        w.str(name);
        self.call(MANAGER, "ResetFailedUnit", "s", &w.buf).map(drop)
    }

    /// SetUnitProperties(name, runtime = true, props).
    pub fn set_unit_properties(&mut self, name: &str, props: &[Prop]) -> Result<()> {
        let mut w = Writer::default();
        w.str(name);
        w.bool(true);
        w.props(props);
        self.call(MANAGER, "SetUnitProperties", "sba(sv)", &w.buf).map(drop)
    }

    /// The unit's ActiveState ("active", "failed", ...), None when systemd has no such unit
    /// loaded (GetUnit, which loads nothing, then the Unit property).
    pub fn unit_active_state(&mut self, name: &str) -> Result<Option<String>> {
        let mut w = Writer::default();
        w.str(name);
        let path = match self.call(MANAGER, "GetUnit", "s", &w.buf) {
            Ok(args) => Self::job_path(args, "GetUnit")?,
            Err(e) if remote_error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut w = Writer::default();
        w.str("org.freedesktop.systemd1.Unit");
        w.str("ActiveState");
        match self.call_on(&path, "org.freedesktop.DBus.Properties", "Get", "ss", &w.buf) {
            Ok(args) => match args.into_iter().next() {
                Some(Value::Str(s)) => Ok(Some(s)),
                v => bail!("systemd's ActiveState of {name} is {v:?}"),
            },
            // Collected between the two calls.
            Err(e) if remote_error_name(&e).is_some_and(|n| n.ends_with("UnknownObject") || n.ends_with("NoSuchUnit")) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A property of the manager (Version, ControlGroup).
    pub fn manager_property(&mut self, name: &str) -> Result<Value> {
        let mut w = Writer::default();
        w.str(MANAGER);
        w.str(name);
        let args = self.call("org.freedesktop.DBus.Properties", "Get", "ss", &w.buf)?;
        args.into_iter().next().ok_or_else(|| anyhow!("systemd's reply to Get({name}) is empty"))
    }
}

/// The D-Bus error name of `e`, when it is systemd's error reply.
pub fn remote_error_name(e: &anyhow::Error) -> Option<&str> {
    e.downcast_ref::<RemoteError>().map(|r| r.name.as_str())
}

#[cfg(test)]
#[path = "dbus_tests.rs"]
mod tests;
