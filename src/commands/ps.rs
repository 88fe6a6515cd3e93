//! `ps`: the container's processes. `--format json` prints the pids as a JSON array; the
//! table runs ps(1) (with the given arguments, default `-ef`) and keeps the header and the
//! rows whose PID column is one of the container's pids, as runc does.

use anyhow::{anyhow, bail, Context, Result};

use crate::cgroups::Manager;
use crate::cli::Global;
use crate::state::{Root, Status};

pub fn run(g: &Global, id: &str, format: &str, ps_args: &[String]) -> Result<i32> {
    let c = Root::new(&g.root).open_unlocked(id)?;
    let s = c.state();
    let pids = match &s.cgroup {
        Some(cg) if s.status != Status::Stopped || cg.exists() => cg.pids()?,
        _ => Vec::new(),
    };
    // A stopped container has no processes: an empty list (runc prints the table header and
    // exits 0 too).
    if format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let mut args: Vec<&str> = ps_args.iter().map(String::as_str).collect();
    if args.first() == Some(&"--") {
        args.remove(0);
    }
    if args.is_empty() {
        args.push("-ef");
    }
    let out = std::process::Command::new("ps")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running ps(1)")?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        bail!("ps {}: {}: {}", args.join(" "), out.status, text.trim());
    }
    print!("{}", filter_table(&String::from_utf8_lossy(&out.stdout), &pids)?);
    Ok(0)
}

/// The header and the rows of ps(1) output whose PID is in `pids`.
pub fn filter_table(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let idx = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| anyhow!("couldn't find PID field in ps output (header {header:?})"))?;
    let mut out = format!("{header}\n");
    for line in lines {
        let Some(field) = line.split_whitespace().nth(idx) else { continue };
        if field.parse::<i32>().is_ok_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_header_and_container_rows() {
        let t = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 05:00 ? 00:00:01 init\nroot 42 1 0 05:00 ? 00:00:00 sleep 1\nroot 421 1 0 05:00 ? 00:00:00 x 42\n";
        assert_eq!(filter_table(t, &[42]).unwrap(), "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 05:00 ? 00:00:00 sleep 1\n");
        let t2 = "  PID COMMAND\n   7 sh\n";
        assert_eq!(filter_table(t2, &[7]).unwrap(), t2);
        assert!(filter_table("USER COMMAND\n", &[1]).is_err());
    }
}
