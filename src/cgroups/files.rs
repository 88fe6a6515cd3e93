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
    let mut f = fs::OpenOptions::new().write(true).open(p)?;
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
    fs::read_to_string(p).map_err(|e| anyhow!("reading {}: {}", p.display(), errtext(&e)))
}

/// v1 files: each controller in its hierarchy's directory.
pub(super) struct V1Files<'a> {
    pub(super) hs: &'a [Hierarchy],
}

impl V1Files<'_> {
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
        fs::read_to_string(self.path(c, file))
    }
    fn write(&mut self, c: &str, file: &str, value: &str) -> io::Result<()> {
        write_raw(&self.path(c, file), value)
    }
}

/// v2 files: one directory; controllers from its cgroup.controllers.
pub(super) struct V2Files {
    dir: PathBuf,
    controllers: Vec<String>,
}

impl V2Files {
    pub(super) fn new(dir: &Path) -> V2Files {
        let controllers = fs::read_to_string(dir.join("cgroup.controllers"))
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
        fs::read_to_string(self.dir.join(file))
    }
    fn write(&mut self, _c: &str, file: &str, value: &str) -> io::Result<()> {
        write_raw(&self.dir.join(file), value)
    }
}
