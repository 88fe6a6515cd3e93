//! The `features` command (features.md).

use super::*;

pub fn cases() -> Vec<Case> {
    vec![
        case!("features", "features.md: \"ociVersionMin (string, REQUIRED) ... ociVersionMax (string, REQUIRED)\"; hooks, mountOptions, linux.namespaces/capabilities as arrays of strings", |ctx| {
            lifecycle(ctx, "features", |b| {
                let o = b.rt(&["features"]);
                if !o.ok() { return Err(format!("features: {}", o.describe())); }
                let v: Value = serde_json::from_str(&o.stdout).map_err(|e| format!("features output is not JSON: {e}"))?;
                let mut errs = vec![];
                for k in ["ociVersionMin", "ociVersionMax"] {
                    if !v[k].is_string() { errs.push(format!("{k} missing")); }
                }
                let strs = |x: &Value| x.as_array().map(|a| a.iter().all(|s| s.is_string())).unwrap_or(false);
                for k in ["hooks", "mountOptions"] {
                    if !v[k].is_null() && !strs(&v[k]) { errs.push(format!("{k} is not an array of strings")); }
                }
                if let Some(h) = v["hooks"].as_array() {
                    for k in HOOKS { if !h.iter().any(|x| x == k) { errs.push(format!("hooks lacks {k}")); } }
                }
                for k in ["namespaces", "capabilities"] {
                    if !v["linux"][k].is_null() && !strs(&v["linux"][k]) { errs.push(format!("linux.{k} is not an array of strings")); }
                }
                if let Some(n) = v["linux"]["namespaces"].as_array() {
                    for k in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
                        if !n.iter().any(|x| x == k) { errs.push(format!("linux.namespaces lacks {k}")); }
                    }
                }
                if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
            })
        }),
    ]
}
