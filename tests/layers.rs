//! The crate's layers point only down: no top-level module imports one that imports it back,
//! and the low layers (sys, inroot, spec, cgroups, rootfs, security) never reach up into the
//! command layer (commands, cli). Read from the source, so it needs no root and no build of
//! anything else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// top-level module → the top-level modules its files name as `crate::<module>`.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
        let module = first.trim_end_matches(".rs").to_string();
        if matches!(module.as_str(), "main" | "lib" | "bin") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let deps = map.entry(module.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap();
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != module {
                    deps.insert(name);
                }
            }
        }
    }
    map
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every module reachable from `from` (through any number of imports).
fn reachable(map: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        for d in map.get(&m).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let map = edges();
    assert!(map.contains_key("commands") && map.contains_key("cgroups"), "module scan found {:?}", map.keys());
    let cycles: Vec<String> = map.keys().filter(|m| reachable(&map, m).contains(*m)).cloned().collect();
    assert!(cycles.is_empty(), "modules on an import cycle: {cycles:?}\nedges: {map:#?}");
}

#[test]
fn low_layers_never_import_the_command_layer() {
    let map = edges();
    let mut bad = Vec::new();
    for low in ["sys", "inroot", "procfs", "kernel", "spec", "cgroups", "rootfs", "security", "bundle"] {
        for up in reachable(&map, low) {
            if up == "commands" || up == "cli" {
                bad.push(format!("{low} → {up}"));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
}

/// The kernel seam is a bottom layer: every layer that makes an order-sensitive call may use
/// it, so it may use nothing of theirs.
#[test]
fn kernel_seam_is_a_bottom_layer() {
    let map = edges();
    let reach = reachable(&map, "kernel");
    let allowed: BTreeSet<String> = ["procfs", "inroot", "sys"].map(String::from).into();
    assert!(reach.is_subset(&allowed), "kernel reaches {reach:?}");
    assert!(reachable(&map, "rootfs").contains("kernel") && reachable(&map, "security").contains("kernel"));
}

/// Every status change goes through the checked transition (`State::transition`, which asks
/// `Status::can_become`): no command sets a status on a copy.
#[test]
fn status_changes_only_through_the_checked_transition() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap().trim();
            if code.contains(".status = ") && code != "self.status = next;" {
                bad.push(format!("{}:{}: {code}", f.display(), n + 1));
            }
        }
    }
    assert!(bad.is_empty(), "status set without State::transition: {bad:#?}");
}
