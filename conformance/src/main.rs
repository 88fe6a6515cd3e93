//! OCI runtime conformance runner.
//!
//! Usage: conformance <runtime> [filter]   (or RUNTIME=... conformance)
//! Env: CONF_CHECKER (path of the static conf-checker), CONF_RUNTIME_NAME
//! (name used for the expected-deviation list; default from the runtime's
//! path), CONF_FILTER (substring of case names), CONF_KEEP=1 (keep bundles).

mod cases;
mod harness;

use harness::{Ctx, Outcome};

/// println! that ignores a closed stdout (e.g. `| head`): the run and its
/// cleanup go on.
macro_rules! out {
    ($($a:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($a)*);
    }};
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    // a second signal terminates at once
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
    }
}

fn main() {
    // First SIGINT/SIGTERM: finish the current case, clean up, stop.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let args: Vec<String> = std::env::args().collect();
    let runtime = args
        .get(1)
        .cloned()
        .or_else(|| std::env::var("RUNTIME").ok())
        .unwrap_or_else(|| {
            eprintln!("usage: conformance <runtime-binary> [filter]");
            std::process::exit(2)
        });
    let filter = args.get(2).cloned().or_else(|| std::env::var("CONF_FILTER").ok()).unwrap_or_default();
    let ctx = match Ctx::new(&runtime) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("conformance: setup failed: {e}");
            std::process::exit(2)
        }
    };
    out!("# OCI runtime conformance: runtime {} (name {:?}), run dir {}", ctx.runtime, ctx.name, ctx.run_dir.display());
    let ver = std::process::Command::new(&ctx.runtime).arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string()).unwrap_or_default();
    out!("# runtime --version: {ver}");
    let all = cases::all();
    let selected: Vec<_> = all.iter().filter(|c| filter.is_empty() || c.name.contains(&filter)).collect();
    out!("1..{}", selected.len());
    let (mut pass, mut fail, mut skip, mut xfail) = (0, 0, 0, 0);
    let start = std::time::Instant::now();
    for (i, case) in selected.iter().enumerate() {
        if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
            out!("# interrupted: remaining cases not run");
            fail += 1;
            break;
        }
        let n = i + 1;
        let t0 = std::time::Instant::now();
        let out = harness::run_case(&ctx, case);
        let dt = t0.elapsed().as_millis();
        let dev = cases::deviation(&ctx.name, case.name);
        match out {
            Outcome::Pass => {
                pass += 1;
                match dev {
                    Some(r) => out!("ok {n} - {} ({dt} ms) # listed as {} deviation but passed: {r}", case.name, ctx.name),
                    None => out!("ok {n} - {} ({dt} ms)", case.name),
                }
            }
            Outcome::Skip(r) => {
                skip += 1;
                out!("ok {n} - {} # skip {r}", case.name);
            }
            Outcome::Fail(r) => {
                let r = r.replace('\n', "\n#     ");
                match dev {
                    Some(d) => {
                        xfail += 1;
                        out!("not ok {n} - {} # {} deviates: {d}", case.name, ctx.name);
                        out!("#   got: {r}");
                    }
                    None => {
                        fail += 1;
                        out!("not ok {n} - {}", case.name);
                        out!("#   reason: {r}");
                    }
                }
            }
        }
        out!("#   spec: {}", case.spec);
    }
    harness::final_cleanup(&ctx);
    out!("# {xfail} expected failures (documented {} deviations), {:.1} s", ctx.name, start.elapsed().as_secs_f64());
    out!("{pass} passed, {fail} failed, {skip} skipped");
    std::process::exit(if fail > 0 { 1 } else { 0 });
}
