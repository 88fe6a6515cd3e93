//! `list`: every container under --root, as runc's table, IDs, or JSON.

use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::HashMap;

use crate::cli::Global;
use crate::state::Root;

/// One `list --format json` entry: runc's `containerState`, fields in its order.
#[derive(Serialize)]
struct Entry {
    #[serde(rename = "ociVersion")]
    version: String,
    id: String,
    pid: i32,
    status: String,
    bundle: String,
    rootfs: String,
    created: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    annotations: HashMap<String, String>,
    owner: String,
}

pub fn run(g: &Global, format: &str, quiet: bool) -> Result<i32> {
    let root = Root::new(&g.root);
    // As runc: the default root may not exist yet (nothing was ever created), a given one must.
    if g.root_given && !root.dir.exists() {
        bail!("open {}: no such file or directory", root.dir.display());
    }
    let entries: Vec<Entry> = root.ids()?.iter().filter_map(|id| root.open_unlocked(id).ok()).map(|c| entry(&c)).collect();
    if quiet {
        for e in &entries {
            println!("{}", e.id);
        }
    } else if format == "json" {
        println!("{}", serde_json::to_string(&entries)?);
    } else {
        let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
        for e in &entries {
            rows.push(vec![e.id.clone(), e.pid.to_string(), e.status.clone(), e.bundle.clone(), e.created.clone(), e.owner.clone()]);
        }
        print!("{}", table(&rows));
    }
    Ok(0)
}

fn entry(c: &crate::state::Container) -> Entry {
    let s = c.state();
    Entry {
        version: s.oci_version.clone(),
        id: s.id.clone(),
        pid: if s.status == crate::state::Status::Stopped { 0 } else { s.pid },
        status: s.status.to_string(),
        bundle: s.bundle.display().to_string(),
        rootfs: s.rootfs.display().to_string(),
        created: s.created.clone(),
        annotations: s.annotations.clone(),
        owner: owner_of(&c.dir),
    }
}

/// As runc: the user name owning the container's state dir, or `#UID` without one.
fn owner_of(dir: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata(dir).map(|m| m.uid()) else { return String::new() };
    match nix::unistd::User::from_uid(uid.into()) {
        Ok(Some(u)) => u.name,
        _ => format!("#{uid}"),
    }
}

/// runc's tabwriter (minwidth 12, padding 3): each column as wide as its widest cell plus 3,
/// at least 12; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(|r| r.len()).unwrap_or(0);
    let widths: Vec<usize> = (0..cols).map(|i| (rows.iter().map(|r| r[i].len()).max().unwrap_or(0) + 3).max(12)).collect();
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_as_runc_tabwriter() {
        let t = super::table(&[vec!["ID".into(), "PID".into(), "OWNER".into()], vec!["a-long-container-id".into(), "7".into(), "root".into()]]);
        // "a-long-container-id" is 19 wide: 19 + 3; "PID" column: at least 12.
        assert_eq!(t, format!("{:<22}{:<12}OWNER\n{:<22}{:<12}root\n", "ID", "PID", "a-long-container-id", "7"));
    }
}
