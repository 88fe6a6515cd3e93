//! Image sources: an OCI image layout directory (`DIR[:TAG]`), an oci-archive tar, or a
//! docker-archive tar (`docker save`: manifest.json + layer tars). Archives are read in
//! place: one pass records where each member starts, blobs are then read by seeking.
//! Every manifest, config and index read by digest is verified against that digest; layers
//! are verified while they are unpacked (layer.rs).

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Where a blob's bytes are.
#[derive(Debug, Clone)]
pub enum Blob {
    File(PathBuf),
    InArchive { archive: PathBuf, offset: u64, size: u64 },
}

impl Blob {
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        match self {
            Blob::File(p) => Ok(Box::new(File::open(p).with_context(|| format!("opening {}", p.display()))?)),
            Blob::InArchive { archive, offset, size } => {
                let mut f = File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
                f.seek(SeekFrom::Start(*offset))?;
                Ok(Box::new(f.take(*size)))
            }
        }
    }
    pub fn size(&self) -> u64 {
        match self {
            Blob::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Blob::InArchive { size, .. } => *size,
        }
    }
}

/// One layer to unpack. `digest` is what the layer is stored under and verified against:
/// the blob's digest (OCI: the compressed bytes), or with `uncompressed` the digest of the
/// uncompressed tar (docker-archive, whose only digests are the config's diff_ids).
#[derive(Debug, Clone)]
pub struct Layer {
    pub digest: String,
    pub uncompressed: bool,
    pub blob: Blob,
}

#[derive(Debug)]
pub struct Image {
    /// The image config (the `config` object inside it is what config.json is built from).
    pub config: Value,
    pub layers: Vec<Layer>,
}

/// `sha256:<64 hex>` → the hex part; anything else is an error naming the digest.
pub fn digest_hex(d: &str) -> Result<&str> {
    let hex = d
        .strip_prefix("sha256:")
        .ok_or_else(|| anyhow!("unsupported digest {d:?}: only sha256 is supported"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        bail!("malformed digest {d:?}");
    }
    Ok(hex)
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The files of an image source: a directory or an archive read in place.
enum Layout {
    Dir(PathBuf),
    Archive { path: PathBuf, members: HashMap<String, (u64, u64)> },
}

fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

impl Layout {
    fn archive(path: &Path) -> Result<Layout> {
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut ar = tar::Archive::new(f);
        let mut members = HashMap::new();
        let mut links = Vec::new();
        for e in ar.entries().with_context(|| format!("reading {} as a tar archive", path.display()))? {
            let e = e.with_context(|| format!("reading {} as a tar archive", path.display()))?;
            let name = clean(&e.path()?.to_string_lossy());
            match e.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    members.insert(name, (e.raw_file_position(), e.size()));
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Some(t) = e.link_name()? {
                        let t = t.to_string_lossy().into_owned();
                        let target = if e.header().entry_type() == tar::EntryType::Link || t.starts_with('/') {
                            clean(&t)
                        } else {
                            let parent = name.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                            clean(&format!("{parent}/{t}"))
                        };
                        links.push((name, target));
                    }
                }
                _ => {}
            }
        }
        // docker save (older versions) links duplicate layers to each other.
        for _ in 0..8 {
            for (name, target) in &links {
                if let Some(v) = members.get(target).copied() {
                    members.entry(name.clone()).or_insert(v);
                }
            }
        }
        Ok(Layout::Archive { path: path.to_path_buf(), members })
    }

    fn exists(&self, name: &str) -> bool {
        match self {
            Layout::Dir(d) => d.join(name).exists(),
            Layout::Archive { members, .. } => members.contains_key(&clean(name)),
        }
    }

    fn blob(&self, name: &str) -> Result<Blob> {
        match self {
            Layout::Dir(d) => {
                let p = d.join(name);
                if !p.is_file() {
                    bail!("{} is missing", p.display());
                }
                Ok(Blob::File(p))
            }
            Layout::Archive { path, members } => {
                let (offset, size) = members
                    .get(&clean(name))
                    .ok_or_else(|| anyhow!("{name} is missing from {}", path.display()))?;
                Ok(Blob::InArchive { archive: path.clone(), offset: *offset, size: *size })
            }
        }
    }

    fn read(&self, name: &str) -> Result<Vec<u8>> {
        let b = self.blob(name)?;
        if b.size() > 64 << 20 {
            bail!("{name} is too large for a JSON document");
        }
        let mut v = Vec::new();
        b.open()?.read_to_end(&mut v)?;
        Ok(v)
    }

    /// A blob by digest, verified.
    fn read_verified(&self, digest: &str) -> Result<Vec<u8>> {
        let hex = digest_hex(digest)?;
        let data = self.read(&format!("blobs/sha256/{hex}"))?;
        let got = sha256_hex(&data);
        if got != hex {
            bail!("blob {digest} does not match its digest (content is sha256:{got})");
        }
        Ok(data)
    }
}

fn json(data: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(data).with_context(|| format!("parsing {what}"))
}

/// Opens `src`: `DIR`, `DIR:TAG`, `ARCHIVE.tar` or `ARCHIVE.tar:TAG`.
pub fn open(src: &str) -> Result<Image> {
    let (path, tag) = {
        let p = Path::new(src);
        if p.exists() {
            (p.to_path_buf(), None)
        } else if let Some((p, t)) = src.rsplit_once(':').filter(|(p, _)| Path::new(p).exists()) {
            (PathBuf::from(p), Some(t.to_string()))
        } else {
            bail!("image source {src}: no such directory or archive");
        }
    };
    let layout = if path.is_dir() { Layout::Dir(path.clone()) } else { Layout::archive(&path)? };
    let res = if layout.exists("index.json") {
        oci(&layout, tag.as_deref())
    } else if layout.exists("manifest.json") {
        docker(&layout, tag.as_deref())
    } else {
        Err(anyhow!("neither an OCI image layout (index.json) nor a docker archive (manifest.json)"))
    };
    res.with_context(|| format!("image {src}"))
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        a => a,
    }
}

fn is_index(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.index.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

fn oci(layout: &Layout, tag: Option<&str>) -> Result<Image> {
    let index = json(&layout.read("index.json")?, "index.json")?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let name_of = |m: &Value| m["annotations"]["org.opencontainers.image.ref.name"].as_str().map(str::to_string);
    let chosen = match tag {
        Some(t) => manifests
            .iter()
            .find(|m| name_of(m).as_deref() == Some(t) || name_of(m).is_some_and(|n| n.ends_with(&format!(":{t}"))))
            .ok_or_else(|| anyhow!("no manifest tagged {t:?} in index.json"))?,
        None => match manifests.as_slice() {
            [] => bail!("index.json lists no manifests"),
            [one] => one,
            many => many
                .iter()
                .find(|m| name_of(m).as_deref() == Some("latest"))
                .ok_or_else(|| anyhow!("index.json lists {} manifests: name one as DIR:TAG", many.len()))?,
        },
    };
    let mut desc = chosen.clone();
    // Nested indexes: pick this machine's platform.
    for _ in 0..4 {
        if !is_index(desc["mediaType"].as_str().unwrap_or("")) {
            break;
        }
        let d = desc["digest"].as_str().ok_or_else(|| anyhow!("index entry without a digest"))?;
        let idx = json(&layout.read_verified(d)?, &format!("index {d}"))?;
        desc = idx["manifests"]
            .as_array()
            .and_then(|ms| {
                ms.iter()
                    .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch())
                    .cloned()
            })
            .ok_or_else(|| anyhow!("index {d} has no manifest for linux/{}", arch()))?;
    }
    let mdigest = desc["digest"].as_str().ok_or_else(|| anyhow!("manifest descriptor without a digest"))?;
    let manifest = json(&layout.read_verified(mdigest)?, &format!("manifest {mdigest}"))?;
    let cdigest = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| anyhow!("manifest {mdigest} has no config digest"))?;
    let config = json(&layout.read_verified(cdigest)?, &format!("config {cdigest}"))?;
    let mut layers = Vec::new();
    for l in manifest["layers"].as_array().cloned().unwrap_or_default() {
        let d = l["digest"].as_str().ok_or_else(|| anyhow!("layer without a digest in manifest {mdigest}"))?;
        let mt = l["mediaType"].as_str().unwrap_or("");
        if mt.contains("nondistributable") || mt.contains("foreign") {
            bail!("layer {d} is non-distributable ({mt}): not supported");
        }
        let hex = digest_hex(d)?;
        let blob = layout.blob(&format!("blobs/sha256/{hex}")).with_context(|| format!("layer {d}"))?;
        layers.push(Layer { digest: d.to_string(), uncompressed: false, blob });
    }
    check_diff_ids(&config, layers.len())?;
    Ok(Image { config, layers })
}

fn check_diff_ids(config: &Value, n: usize) -> Result<()> {
    if let Some(ids) = config["rootfs"]["diff_ids"].as_array()
        && ids.len() != n {
            bail!("the config lists {} layers (rootfs.diff_ids) but the manifest {n}", ids.len());
        }
    Ok(())
}

fn docker(layout: &Layout, tag: Option<&str>) -> Result<Image> {
    let manifest = json(&layout.read("manifest.json")?, "manifest.json")?;
    let entries = manifest.as_array().cloned().unwrap_or_default();
    let tags_of = |m: &Value| -> Vec<String> {
        m["RepoTags"].as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let m = match tag {
        Some(t) => entries
            .iter()
            .find(|m| tags_of(m).iter().any(|x| x == t || x.ends_with(&format!(":{t}"))))
            .ok_or_else(|| anyhow!("no image tagged {t:?} in manifest.json"))?,
        None => match entries.as_slice() {
            [] => bail!("manifest.json lists no images"),
            [one] => one,
            many => bail!("manifest.json lists {} images: name one as ARCHIVE:TAG", many.len()),
        },
    };
    let cpath = m["Config"].as_str().ok_or_else(|| anyhow!("manifest.json entry without Config"))?;
    let cdata = layout.read(cpath)?;
    // The config's file name is its digest (`<hex>.json` or `blobs/sha256/<hex>`).
    let stem = cpath.rsplit('/').next().unwrap_or("").trim_end_matches(".json");
    if stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()) && sha256_hex(&cdata) != stem {
        bail!("config {cpath} does not match its digest");
    }
    let config = json(&cdata, cpath)?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| anyhow!("config {cpath} has no rootfs.diff_ids"))?
        .iter()
        .map(|d| d.as_str().unwrap_or("").to_string())
        .collect();
    let paths: Vec<String> = m["Layers"]
        .as_array()
        .ok_or_else(|| anyhow!("manifest.json entry without Layers"))?
        .iter()
        .map(|p| p.as_str().unwrap_or("").to_string())
        .collect();
    if paths.len() != diff_ids.len() {
        bail!("manifest.json lists {} layers but the config {}", paths.len(), diff_ids.len());
    }
    let mut layers = Vec::new();
    for (p, d) in paths.iter().zip(diff_ids) {
        digest_hex(&d)?;
        let blob = layout.blob(p).with_context(|| format!("layer {p}"))?;
        layers.push(Layer { digest: d, uncompressed: true, blob });
    }
    Ok(Image { config, layers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_paths() {
        assert!(digest_hex("sha256:abc").is_err());
        assert!(digest_hex("md5:00").is_err());
        let h = sha256_hex(b"");
        assert_eq!(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(digest_hex(&format!("sha256:{h}")).unwrap(), h);
        assert_eq!(clean("./a/../b//c/"), "b/c");
    }
}
