//! File access of the cgroupfs driver: one write(2) per value (a short write is an error),
//! errors that name the file, and the two `resources::Files` views (v1: each controller in
//! its hierarchy; v2: one directory).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use super::Hierarchy;
use super::resources::{Files, errtext};

pub(super) fn write_raw(p: &Path, v: &str) -> io::Result<()> {
    write_once(&mut fs::OpenOptions::new().write(true).open(p)?, v)
}

fn write_once(f: &mut fs::File, v: &str) -> io::Result<()> {
    let n = f.write(v.as_bytes())?;
    if n != v.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write ({n} of {} bytes)", v.len()),
        ));
    }
    Ok(())
}

pub(super) fn write_ctx(p: &Path, v: &str, what: &str) -> Result<()> {
    write_raw(p, v).map_err(|e| anyhow!("{what}: writing {v} to {}: {}", p.display(), errtext(&e)))
}

pub(super) fn read_ctx(p: &Path) -> Result<String> {
    crate::sys::read_pseudo(p).map_err(|e| anyhow!("reading {}: {}", p.display(), errtext(&e)))
}

/// v1 files: each controller in its hierarchy's directory. The file last written stays open
/// for the next write to it: the device rules are a dozen writes to devices.allow, one rule
/// each (the kernel reads each write(2) as one value, whatever the offset).
pub(super) struct V1Files<'a> {
    hs: &'a [Hierarchy],
    open: Option<(PathBuf, fs::File)>,
}

impl<'a> V1Files<'a> {
    pub(super) fn new(hs: &'a [Hierarchy]) -> Self {
        V1Files { hs, open: None }
    }

    fn dir(&self, c: &str) -> Option<&Path> {
        self.hs
            .iter()
            .find(|h| !h.v2 && h.has(c))
            .map(|h| h.dir.as_path())
    }
}

impl Files for V1Files<'_> {
    fn has_controller(&self, c: &str) -> bool {
        self.dir(c).is_some()
    }
    fn path(&self, c: &str, file: &str) -> PathBuf {
        match self.dir(c) {
            Some(d) => d.join(file),
            None => PathBuf::from(format!("<no {c} hierarchy>/{file}")),
        }
    }
    fn exists(&self, c: &str, file: &str) -> bool {
        self.dir(c).is_some_and(|d| d.join(file).exists())
    }
    fn read(&self, c: &str, file: &str) -> io::Result<String> {
        crate::sys::read_pseudo(self.path(c, file))
    }
    fn write(&mut self, c: &str, file: &str, value: &str) -> io::Result<()> {
        let path = self.path(c, file);
        let f = match self.open.take() {
            Some((p, f)) if p == path => self.open.insert((p, f)),
            _ => self.open.insert((path.clone(), fs::OpenOptions::new().write(true).open(&path)?)),
        };
        write_once(&mut f.1, value)
    }
}

/// v2 files: one directory; controllers from its cgroup.controllers.
pub(super) struct V2Files {
    dir: PathBuf,
    controllers: Vec<String>,
}

impl V2Files {
    pub(super) fn new(dir: &Path) -> V2Files {
        let controllers = crate::sys::read_pseudo(dir.join("cgroup.controllers"))
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        V2Files {
            dir: dir.to_path_buf(),
            controllers,
        }
    }
}

impl Files for V2Files {
    fn has_controller(&self, c: &str) -> bool {
        self.controllers.iter().any(|x| x == c)
    }
    fn path(&self, _c: &str, file: &str) -> PathBuf {
        self.dir.join(file)
    }
    fn exists(&self, _c: &str, file: &str) -> bool {
        self.dir.join(file).exists()
    }
    fn read(&self, _c: &str, file: &str) -> io::Result<String> {
        crate::sys::read_pseudo(self.dir.join(file))
    }
    fn write(&mut self, _c: &str, file: &str, value: &str) -> io::Result<()> {
        write_raw(&self.dir.join(file), value)
    }
}
