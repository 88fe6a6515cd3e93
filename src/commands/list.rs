//! `list`: every container under --root, as runc's table, IDs, or JSON.

use anyhow::Result;

use crate::cli::Global;
use crate::state::Root;

pub fn run(g: &Global, format: &str, quiet: bool) -> Result<i32> {
    let root = Root::new(&g.root);
    let states: Vec<_> = root.ids()?.iter().filter_map(|id| root.open_unlocked(id).ok()).map(|c| c.state().clone()).collect();
    if quiet {
        for s in &states {
            println!("{}", s.id);
        }
    } else if format == "json" {
        let v: Vec<_> = states.iter().map(|s| s.oci_json()).collect();
        println!("{}", serde_json::to_string(&v)?);
    } else {
        let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
        for s in &states {
            let pid = if s.status == crate::state::Status::Stopped { 0 } else { s.pid };
            rows.push(vec![s.id.clone(), pid.to_string(), s.status.to_string(), s.bundle.display().to_string(), s.created.clone(), s.owner.clone()]);
        }
        print!("{}", table(&rows));
    }
    Ok(0)
}

/// Left-aligned columns, each at least 12 wide plus one space (runc's tabwriter settings).
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(|r| r.len()).unwrap_or(0);
    let widths: Vec<usize> = (0..cols).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0).max(12) + 1).collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up() {
        let t = super::table(&[vec!["ID".into(), "PID".into()], vec!["a-long-container-id".into(), "7".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0].find("PID"), lines[1].find('7'));
    }
}
