//! The layer store: each layer unpacked once into `<store>/layers/<hex>` (hex of the digest it
//! was verified against), with a short link `<store>/l/<12 hex>` for overlay's lowerdir.
//! Unpacking runs under a per-layer flock into a temporary directory that is renamed into
//! place only after the digest matched, so concurrent creates share the work and a failed or
//! interrupted unpack publishes nothing.
//!
//! Extraction is our own (not `tar::Entry::unpack`): whiteouts become overlayfs whiteouts
//! (`.wh.NAME` → 0/0 char device, `.wh..wh..opq` → `trusted.overlay.opaque=y`); owners, modes,
//! mtimes, xattrs, hardlinks, symlinks and devices are kept; an entry whose path has `..`,
//! or whose parent is a symlink, or a hardlink to outside the layer, is rejected.

use super::image::{digest_hex, hex, Layer};
use super::progress::Progress;
use anyhow::{anyhow, bail, Context, Result};
use nix::sys::stat::{mknod, Mode, SFlag};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::ffi::CString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Reads through, hashing and counting for the progress bar.
struct HashReader<'a, R> {
    inner: R,
    hash: Sha256,
    progress: Option<&'a Progress>,
}

impl<R: Read> Read for HashReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        if let Some(p) = self.progress {
            p.add(n as u64);
        }
        Ok(n)
    }
}

pub fn short_id(hex: &str) -> &str {
    &hex[..12]
}

/// flock on a file, released when the returned file is dropped.
pub fn lock(path: &Path, exclusive: bool) -> Result<fs::File> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening lock {}", path.display()))?;
    let op = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
    loop {
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), op) } == 0 {
            return Ok(f);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
}

/// Makes sure `layer` is in the store; returns its hex key.
pub fn ensure(store: &Path, layer: &Layer, progress: &Progress) -> Result<String> {
    let hexd = digest_hex(&layer.digest)?.to_string();
    let dir = store.join("layers").join(&hexd);
    let link = store.join("l").join(short_id(&hexd));
    if dir.is_dir() && link.exists() {
        progress.add(layer.blob.size());
        return Ok(hexd);
    }
    let _lock = lock(&store.join("locks").join(format!("{hexd}.lock")), true)?;
    if !dir.is_dir() {
        let tmp = store.join("layers").join(format!(".tmp-{hexd}-{}", std::process::id()));
        let _ = remove_all(&tmp);
        let res = unpack(layer, &hexd, &tmp, progress);
        if let Err(e) = res {
            let _ = remove_all(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &dir).with_context(|| format!("renaming {} into place", tmp.display()))?;
    } else {
        progress.add(layer.blob.size());
    }
    if !link.exists() {
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("../layers/{hexd}"), &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    Ok(hexd)
}

pub fn remove_all(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn unpack(layer: &Layer, hexd: &str, tmp: &Path, progress: &Progress) -> Result<()> {
    fs::create_dir(tmp).with_context(|| format!("creating {}", tmp.display()))?;
    fs::set_permissions(tmp, fs::Permissions::from_mode(0o755))?;
    let what = || format!("layer {}", layer.digest);
    let blob = layer.blob.open().with_context(what)?;
    // Read, hash and decompress on one thread; extract on this one (as `tar -xz` pipes gzip).
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    let (extracted, (decoded, raw_hex, un_hex)) = std::thread::scope(|s| {
        let producer = s.spawn(move || produce(blob, progress, tx));
        let r = extract(ChanReader { rx, cur: Vec::new(), pos: 0 }, tmp);
        (r, producer.join().unwrap_or_else(|_| (Err(anyhow!("decompressor panicked")), String::new(), String::new())))
    });
    let got = if layer.uncompressed { un_hex } else { raw_hex };
    // Corrupt bytes explain a broken stream best: say so first if the digest shows them.
    if got != hexd && (!layer.uncompressed || decoded.is_ok()) {
        bail!("layer {} does not match its digest (content is sha256:{got})", layer.digest);
    }
    decoded.with_context(what)?;
    extracted.with_context(what)?;
    Ok(())
}

/// Reads the whole blob: returns the decompression result and the digests of the raw and
/// the decompressed stream. Chunks go to `tx` while the receiver wants them.
fn produce(blob: Box<dyn Read + Send>, progress: &Progress, tx: std::sync::mpsc::SyncSender<Vec<u8>>) -> (Result<()>, String, String) {
    let mut raw = BufReader::with_capacity(256 << 10, HashReader { inner: blob, hash: Sha256::new(), progress: Some(progress) });
    let mut result = Ok(());
    let un_hex = {
        let kind = match raw.fill_buf() {
            Ok(m) if m.starts_with(&[0x1f, 0x8b]) => 1,
            Ok(m) if m.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) => 2,
            Ok(_) => 0,
            Err(e) => return (Err(e.into()), String::new(), String::new()),
        };
        let dec: Option<Box<dyn Read + '_>> = match kind {
            1 => Some(Box::new(flate2::bufread::MultiGzDecoder::new(&mut raw))),
            2 => match ruzstd::decoding::StreamingDecoder::new(&mut raw) {
                Ok(d) => Some(Box::new(d)),
                Err(e) => {
                    result = Err(anyhow!("zstd: {e}"));
                    None
                }
            },
            _ => Some(Box::new(&mut raw)),
        };
        let mut hash = Sha256::new();
        if let Some(mut dec) = dec {
            let mut open = true;
            loop {
                let mut buf = vec![0u8; 256 << 10];
                match dec.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        hash.update(&buf);
                        if open && tx.send(buf).is_err() {
                            open = false; // the extractor is done: keep hashing
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        result = Err(anyhow!("decompressing: {e}"));
                        break;
                    }
                }
            }
        }
        drop(tx);
        hex(&hash.finalize())
    };
    if let Err(e) = io::copy(&mut raw, &mut io::sink())
        && result.is_ok() {
            result = Err(e.into());
        }
    (result, hex(&raw.into_inner().hash.finalize()), un_hex)
}

struct ChanReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(v) => {
                    self.cur = v;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// `a/./b/` → `a/b`; `..` anywhere is an error; a leading `/` is dropped (as tar does).
fn normalize(p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => bail!("entry {} escapes the layer directory", p.display()),
        }
    }
    Ok(out)
}

struct Extractor<'a> {
    root: &'a Path,
    /// Relative directories known to be real directories we made.
    dirs: HashSet<PathBuf>,
    /// Directories whose mtime is set at the end (their children change it).
    dir_times: Vec<(PathBuf, u64)>,
}

impl Extractor<'_> {
    /// Makes sure every component of `rel`'s parent is a real directory inside the root.
    fn parent(&mut self, rel: &Path) -> Result<()> {
        let Some(parent) = rel.parent() else { return Ok(()) };
        if parent.as_os_str().is_empty() || self.dirs.contains(parent) {
            return Ok(());
        }
        let mut cur = PathBuf::new();
        for c in parent.components() {
            cur.push(c);
            if self.dirs.contains(&cur) {
                continue;
            }
            let abs = self.root.join(&cur);
            match fs::symlink_metadata(&abs) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    bail!("entry {} goes through the symlink {}: refused", rel.display(), cur.display())
                }
                Ok(_) => bail!("entry {}: {} is not a directory", rel.display(), cur.display()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&abs).with_context(|| format!("creating {}", abs.display()))?;
                }
                Err(e) => return Err(e).with_context(|| format!("inspecting {}", abs.display())),
            }
            self.dirs.insert(cur.clone());
        }
        Ok(())
    }

    /// Removes whatever is at `rel` (a later entry replaces an earlier one).
    fn clear(&mut self, rel: &Path, keep_dir: bool) -> Result<bool> {
        let abs = self.root.join(rel);
        match fs::symlink_metadata(&abs) {
            Ok(m) if m.is_dir() => {
                if keep_dir {
                    return Ok(true);
                }
                fs::remove_dir_all(&abs)?;
                self.dirs.clear();
            }
            Ok(_) => fs::remove_file(&abs)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(false)
    }
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn lsetxattr(p: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let n = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let r = unsafe { libc::lsetxattr(cpath(p).as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if r != 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

fn set_times(p: &Path, mtime: u64) {
    let t = nix::sys::time::TimeSpec::new(mtime as i64, 0);
    let _ = nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
}

fn extract<R: Read>(r: R, root: &Path) -> Result<()> {
    let mut ar = tar::Archive::new(r);
    let mut x = Extractor { root, dirs: HashSet::new(), dir_times: Vec::new() };
    for e in ar.entries()? {
        let mut e = e?;
        let raw_path = e.path()?.into_owned();
        let rel = normalize(&raw_path)?;
        let h = e.header().clone();
        let ty = h.entry_type();
        if matches!(ty, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
            continue;
        }
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let (uid, gid) = (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32);
        let mtime = h.mtime().unwrap_or(0);
        if rel.as_os_str().is_empty() {
            // The layer root itself.
            if ty == tar::EntryType::Directory {
                let _ = std::os::unix::fs::lchown(root, Some(uid), Some(gid));
                fs::set_permissions(root, fs::Permissions::from_mode(mode))?;
            }
            continue;
        }
        let name = rel.file_name().unwrap_or_default().as_bytes().to_vec();
        if let Some(w) = name.strip_prefix(b".wh.") {
            x.parent(&rel)?;
            let parent = rel.parent().unwrap_or(Path::new(""));
            if w == b".wh..opq" {
                let abs = root.join(parent);
                lsetxattr(&abs, "trusted.overlay.opaque", b"y")
                    .with_context(|| format!("marking {} opaque", abs.display()))?;
            } else if !w.starts_with(b".wh.") {
                let target = parent.join(std::ffi::OsStr::from_bytes(w));
                x.clear(&target, false)?;
                let abs = root.join(&target);
                mknod(&abs, SFlag::S_IFCHR, Mode::empty(), 0)
                    .with_context(|| format!("creating whiteout {}", abs.display()))?;
            }
            continue;
        }
        x.parent(&rel)?;
        let abs = root.join(&rel);
        match ty {
            tar::EntryType::Directory => {
                if !x.clear(&rel, true)? {
                    fs::create_dir(&abs).with_context(|| format!("creating {}", abs.display()))?;
                }
                x.dirs.insert(rel.clone());
                x.dir_times.push((abs.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                x.clear(&rel, false)?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&abs)
                    .with_context(|| format!("creating {}", abs.display()))?;
                io::copy(&mut e, &mut f).with_context(|| format!("writing {}", abs.display()))?;
            }
            tar::EntryType::Symlink => {
                let target = e.link_name()?.ok_or_else(|| anyhow!("symlink {} without a target", rel.display()))?;
                x.clear(&rel, false)?;
                std::os::unix::fs::symlink(&target, &abs).with_context(|| format!("creating {}", abs.display()))?;
            }
            tar::EntryType::Link => {
                let target = e.link_name()?.ok_or_else(|| anyhow!("hardlink {} without a target", rel.display()))?;
                let trel = normalize(&target).with_context(|| format!("hardlink {}", rel.display()))?;
                x.parent(&trel)?;
                let tabs = root.join(&trel);
                let m = fs::symlink_metadata(&tabs)
                    .with_context(|| format!("hardlink {} to missing {}", rel.display(), trel.display()))?;
                if m.is_dir() {
                    bail!("hardlink {} to the directory {}", rel.display(), trel.display());
                }
                if trel != rel {
                    x.clear(&rel, false)?;
                    fs::hard_link(&tabs, &abs).with_context(|| format!("linking {}", abs.display()))?;
                }
                continue; // shares the target's metadata
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                x.clear(&rel, false)?;
                let kind = match ty {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dev = libc::makedev(
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                );
                mknod(&abs, kind, Mode::from_bits_truncate(mode), dev)
                    .with_context(|| format!("creating {}", abs.display()))?;
            }
            other => bail!("entry {}: unsupported tar entry type {other:?}", rel.display()),
        }
        std::os::unix::fs::lchown(&abs, Some(uid), Some(gid)).with_context(|| format!("chown {}", abs.display()))?;
        if ty != tar::EntryType::Symlink {
            fs::set_permissions(&abs, fs::Permissions::from_mode(mode))
                .with_context(|| format!("chmod {}", abs.display()))?;
        }
        if let Some(exts) = e.pax_extensions()? {
            for ext in exts {
                let ext = ext?;
                if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr."))
                    && let Err(err) = lsetxattr(&abs, name, ext.value_bytes()) {
                        // user.* xattrs cannot be set on symlinks; the rest must work.
                        if !(ty == tar::EntryType::Symlink && name.starts_with("user.")) {
                            return Err(err).with_context(|| format!("setting xattr {name} on {}", abs.display()));
                        }
                    }
            }
        }
        if ty != tar::EntryType::Directory {
            set_times(&abs, mtime);
        }
    }
    for (p, t) in x.dir_times.iter().rev() {
        set_times(p, *t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rejects_parent() {
        assert_eq!(normalize(Path::new("/a/./b")).unwrap(), PathBuf::from("a/b"));
        assert!(normalize(Path::new("a/../../etc")).is_err());
    }
}
