//! OCI runtime conformance runner.
//!
//! Usage: conformance <runtime> [filter]   (or RUNTIME=... conformance)
//! Env: CONF_CHECKER (path of the static conf-checker), CONF_RUNTIME_NAME
//! (name used for the expected-deviation list; default from the runtime's
//! path), CONF_FILTER (substring of case names), CONF_KEEP=1 (keep bundles).

mod cases;
mod harness;

use harness::{Ctx, Outcome};

fn main() {
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
    println!("# OCI runtime conformance: runtime {} (name {:?}), run dir {}", ctx.runtime, ctx.name, ctx.run_dir.display());
    let all = cases::all();
    let selected: Vec<_> = all.iter().filter(|c| filter.is_empty() || c.name.contains(&filter)).collect();
    println!("1..{}", selected.len());
    let (mut pass, mut fail, mut skip, mut xfail) = (0, 0, 0, 0);
    let start = std::time::Instant::now();
    for (i, case) in selected.iter().enumerate() {
        let n = i + 1;
        let t0 = std::time::Instant::now();
        let out = harness::run_case(&ctx, case);
        let dt = t0.elapsed().as_millis();
        let dev = cases::deviation(&ctx.name, case.name);
        match out {
            Outcome::Pass => {
                pass += 1;
                match dev {
                    Some(r) => println!("ok {n} - {} ({dt} ms) # listed as {} deviation but passed: {r}", case.name, ctx.name),
                    None => println!("ok {n} - {} ({dt} ms)", case.name),
                }
            }
            Outcome::Skip(r) => {
                skip += 1;
                println!("ok {n} - {} # skip {r}", case.name);
            }
            Outcome::Fail(r) => {
                let r = r.replace('\n', "\n#     ");
                match dev {
                    Some(d) => {
                        xfail += 1;
                        println!("not ok {n} - {} # {} deviates: {d}", case.name, ctx.name);
                        println!("#   got: {r}");
                    }
                    None => {
                        fail += 1;
                        println!("not ok {n} - {}", case.name);
                        println!("#   reason: {r}");
                    }
                }
            }
        }
        println!("#   spec: {}", case.spec);
    }
    harness::final_cleanup(&ctx);
    println!("# {xfail} expected failures (documented {} deviations), {:.1} s", ctx.name, start.elapsed().as_secs_f64());
    println!("{pass} passed, {fail} failed, {skip} skipped");
    std::process::exit(if fail > 0 { 1 } else { 0 });
}
