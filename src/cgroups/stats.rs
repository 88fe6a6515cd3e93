//! Statistics in the shape of the "data" object of `runc events --stats`
//! (runc's types/events.go: cpu, memory, pids, blkio, hugetlb). Parsing is pure: it reads
//! through a `read(controller, file)` callback, so it is unit-tested with fixed text.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Reads one file of the container cgroup: (controller, file name) → contents.
pub type Read<'a> = &'a dyn Fn(&str, &str) -> Option<String>;

pub fn parse_kv(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

fn parse_u64(s: Option<String>) -> Option<u64> {
    let s = s?;
    let s = s.trim();
    if s == "max" {
        Some(u64::MAX)
    } else {
        s.parse().ok()
    }
}

fn parse_list(s: Option<String>) -> Vec<u64> {
    s.map(|s| {
        s.split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

/// Insert `v` unless it is 0 (Go's omitempty).
fn put_nz(m: &mut Map<String, Value>, k: &str, v: u64) {
    if v != 0 {
        m.insert(k.into(), json!(v));
    }
}

/// runc's MemoryEntry: limit and failcnt always, usage and max omitempty.
fn mem_entry(limit: u64, usage: u64, max: u64, failcnt: u64) -> Value {
    let mut m = Map::new();
    m.insert("limit".into(), json!(limit));
    put_nz(&mut m, "usage", usage);
    put_nz(&mut m, "max", max);
    m.insert("failcnt".into(), json!(failcnt));
    Value::Object(m)
}

/// "8:0 Read 123" lines of a v1 blkio file (the "Total" line skipped) → BlkioEntry list.
pub fn parse_blkio_v1(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some((maj, min)) = f.first().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        let (op, val) = match f.len() {
            3 => (f[1], f[2]),
            2 => ("", f[1]),
            _ => continue,
        };
        let Ok(val) = val.parse::<u64>() else {
            continue;
        };
        out.push(blkio_entry(maj, min, op, val));
    }
    out
}

fn blkio_entry(maj: u64, min: u64, op: &str, val: u64) -> Value {
    let mut m = Map::new();
    put_nz(&mut m, "major", maj);
    put_nz(&mut m, "minor", min);
    if !op.is_empty() {
        m.insert("op".into(), json!(op));
    }
    put_nz(&mut m, "value", val);
    Value::Object(m)
}

/// v2 io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0") → (service bytes,
/// serviced) entries with runc's "Read"/"Write"/"Discard" ops.
pub fn parse_io_stat(text: &str) -> (Vec<Value>, Vec<Value>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else { continue };
            match k {
                "rbytes" => bytes.push(blkio_entry(maj, min, "Read", v)),
                "wbytes" => bytes.push(blkio_entry(maj, min, "Write", v)),
                "dbytes" => bytes.push(blkio_entry(maj, min, "Discard", v)),
                "rios" => ios.push(blkio_entry(maj, min, "Read", v)),
                "wios" => ios.push(blkio_entry(maj, min, "Write", v)),
                "dios" => ios.push(blkio_entry(maj, min, "Discard", v)),
                _ => {}
            }
        }
    }
    (bytes, ios)
}

/// "hugepages-2048kB" → "2MB" (runc's HugePageSizes naming).
pub fn hugepage_name(dir: &str) -> Option<String> {
    let kb: u64 = dir
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    let (mut v, mut unit) = (kb, 0);
    let units = ["KB", "MB", "GB", "TB", "PB"];
    while v >= 1024 && v % 1024 == 0 && unit < units.len() - 1 {
        v /= 1024;
        unit += 1;
    }
    Some(format!("{v}{}", units[unit]))
}

pub fn hugepage_sizes() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|d| {
            d.flatten()
                .filter_map(|e| hugepage_name(&e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

fn pids_stats(read: Read) -> Value {
    let mut m = Map::new();
    put_nz(
        &mut m,
        "current",
        parse_u64(read("pids", "pids.current")).unwrap_or(0),
    );
    // "max" means no limit: 0, as runc.
    let lim = parse_u64(read("pids", "pids.max")).unwrap_or(0);
    put_nz(&mut m, "limit", if lim == u64::MAX { 0 } else { lim });
    Value::Object(m)
}

/// Stats of a v1 cgroup; `hugepages` are the page size names ("2MB").
pub fn stats_v1(read: Read, hugepages: &[String]) -> Value {
    // cpu
    let mut usage = Map::new();
    put_nz(
        &mut usage,
        "total",
        parse_u64(read("cpuacct", "cpuacct.usage")).unwrap_or(0),
    );
    let percpu = parse_list(read("cpuacct", "cpuacct.usage_percpu"));
    if !percpu.is_empty() {
        usage.insert("percpu".into(), json!(percpu));
    }
    if let Some(all) = read("cpuacct", "cpuacct.usage_all") {
        let (mut u, mut s) = (Vec::new(), Vec::new());
        for l in all.lines().skip(1) {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            if f.len() == 3 {
                u.push(f[1]);
                s.push(f[2]);
            }
        }
        if !s.is_empty() {
            usage.insert("percpu_kernel".into(), json!(s));
            usage.insert("percpu_user".into(), json!(u));
        }
    }
    let st = parse_kv(&read("cpuacct", "cpuacct.stat").unwrap_or_default());
    let tck = clk_tck();
    usage.insert(
        "kernel".into(),
        json!(st.get("system").copied().unwrap_or(0) * 1_000_000_000 / tck),
    );
    usage.insert(
        "user".into(),
        json!(st.get("user").copied().unwrap_or(0) * 1_000_000_000 / tck),
    );
    let cs = parse_kv(&read("cpu", "cpu.stat").unwrap_or_default());
    let mut thr = Map::new();
    put_nz(
        &mut thr,
        "periods",
        cs.get("nr_periods").copied().unwrap_or(0),
    );
    put_nz(
        &mut thr,
        "throttledPeriods",
        cs.get("nr_throttled").copied().unwrap_or(0),
    );
    put_nz(
        &mut thr,
        "throttledTime",
        cs.get("throttled_time").copied().unwrap_or(0),
    );

    // memory
    let raw = parse_kv(&read("memory", "memory.stat").unwrap_or_default());
    let entry = |prefix: &str| {
        let g = |f: &str| parse_u64(read("memory", &format!("{prefix}.{f}"))).unwrap_or(0);
        mem_entry(
            g("limit_in_bytes"),
            g("usage_in_bytes"),
            g("max_usage_in_bytes"),
            g("failcnt"),
        )
    };
    let mut mem = Map::new();
    put_nz(&mut mem, "cache", raw.get("cache").copied().unwrap_or(0));
    mem.insert("usage".into(), entry("memory"));
    mem.insert("swap".into(), entry("memory.memsw"));
    mem.insert("kernel".into(), entry("memory.kmem"));
    mem.insert("kernelTCP".into(), entry("memory.kmem.tcp"));
    if !raw.is_empty() {
        mem.insert("raw".into(), json!(raw));
    }

    // blkio: CFQ, else BFQ, else throttle files
    let first = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| read("blkio", n))
            .map(|t| parse_blkio_v1(&t))
            .unwrap_or_default()
    };
    let mut blkio = Map::new();
    let bytes = first(&[
        "blkio.io_service_bytes_recursive",
        "blkio.bfq.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes",
    ]);
    let ios = first(&[
        "blkio.io_serviced_recursive",
        "blkio.bfq.io_serviced_recursive",
        "blkio.throttle.io_serviced_recursive",
        "blkio.throttle.io_serviced",
    ]);
    for (k, v) in [
        ("ioServiceBytesRecursive", bytes),
        ("ioServicedRecursive", ios),
        ("ioQueueRecursive", first(&["blkio.io_queued_recursive"])),
        (
            "ioServiceTimeRecursive",
            first(&["blkio.io_service_time_recursive"]),
        ),
        (
            "ioWaitTimeRecursive",
            first(&["blkio.io_wait_time_recursive"]),
        ),
        ("ioMergedRecursive", first(&["blkio.io_merged_recursive"])),
        ("ioTimeRecursive", first(&["blkio.time_recursive"])),
        ("sectorsRecursive", first(&["blkio.sectors_recursive"])),
    ] {
        if !v.is_empty() {
            blkio.insert(k.into(), json!(v));
        }
    }

    // hugetlb
    let mut huge = Map::new();
    for sz in hugepages {
        let g = |f: &str| parse_u64(read("hugetlb", &format!("hugetlb.{sz}.{f}")));
        let Some(u) = g("usage_in_bytes") else {
            continue;
        };
        let mut h = Map::new();
        put_nz(&mut h, "usage", u);
        put_nz(&mut h, "max", g("max_usage_in_bytes").unwrap_or(0));
        h.insert("failcnt".into(), json!(g("failcnt").unwrap_or(0)));
        huge.insert(sz.clone(), Value::Object(h));
    }

    json!({
        "cpu": {"usage": usage, "throttling": thr},
        "memory": mem,
        "pids": pids_stats(read),
        "blkio": blkio,
        "hugetlb": huge,
    })
}

/// Stats of a v2 cgroup (runc fs2 conventions: swap reported as memory+swap like v1).
pub fn stats_v2(read: Read, hugepages: &[String]) -> Value {
    let cs = parse_kv(&read("cpu", "cpu.stat").unwrap_or_default());
    let g = |k: &str| cs.get(k).copied().unwrap_or(0);
    let mut usage = Map::new();
    put_nz(&mut usage, "total", g("usage_usec") * 1000);
    usage.insert("kernel".into(), json!(g("system_usec") * 1000));
    usage.insert("user".into(), json!(g("user_usec") * 1000));
    let mut thr = Map::new();
    put_nz(&mut thr, "periods", g("nr_periods"));
    put_nz(&mut thr, "throttledPeriods", g("nr_throttled"));
    put_nz(&mut thr, "throttledTime", g("throttled_usec") * 1000);

    let raw = parse_kv(&read("memory", "memory.stat").unwrap_or_default());
    let m = |f: &str| parse_u64(read("memory", f));
    let mem_usage = m("memory.current").unwrap_or(0);
    let mem_limit = m("memory.max").unwrap_or(u64::MAX);
    let failcnt = parse_kv(&read("memory", "memory.events").unwrap_or_default())
        .get("max")
        .copied()
        .unwrap_or(0);
    let swap_usage = m("memory.swap.current").unwrap_or(0);
    let swap_limit = m("memory.swap.max").unwrap_or(u64::MAX);
    let mut mem = Map::new();
    put_nz(&mut mem, "cache", raw.get("file").copied().unwrap_or(0));
    mem.insert(
        "usage".into(),
        mem_entry(mem_limit, mem_usage, m("memory.peak").unwrap_or(0), failcnt),
    );
    let swap_total_limit = if swap_limit == u64::MAX || mem_limit == u64::MAX {
        u64::MAX
    } else {
        swap_limit + mem_limit
    };
    mem.insert(
        "swap".into(),
        mem_entry(swap_total_limit, swap_usage + mem_usage, 0, 0),
    );
    mem.insert("kernel".into(), mem_entry(0, 0, 0, 0));
    mem.insert("kernelTCP".into(), mem_entry(0, 0, 0, 0));
    if !raw.is_empty() {
        mem.insert("raw".into(), json!(raw));
    }

    let mut blkio = Map::new();
    let (bytes, ios) = parse_io_stat(&read("io", "io.stat").unwrap_or_default());
    if !bytes.is_empty() {
        blkio.insert("ioServiceBytesRecursive".into(), json!(bytes));
    }
    if !ios.is_empty() {
        blkio.insert("ioServicedRecursive".into(), json!(ios));
    }

    let mut huge = Map::new();
    for sz in hugepages {
        let Some(u) = parse_u64(read("hugetlb", &format!("hugetlb.{sz}.current"))) else {
            continue;
        };
        let ev = parse_kv(&read("hugetlb", &format!("hugetlb.{sz}.events")).unwrap_or_default());
        let mut h = Map::new();
        put_nz(&mut h, "usage", u);
        h.insert("failcnt".into(), json!(ev.get("max").copied().unwrap_or(0)));
        huge.insert(sz.clone(), Value::Object(h));
    }

    json!({
        "cpu": {"usage": usage, "throttling": thr},
        "memory": mem,
        "pids": pids_stats(read),
        "blkio": blkio,
        "hugetlb": huge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn reader(files: &[(&str, &str)]) -> impl Fn(&str, &str) -> Option<String> {
        let m: HashMap<String, String> = files
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        move |_c: &str, f: &str| m.get(f).cloned()
    }

    #[test]
    fn hugepage_names() {
        assert_eq!(hugepage_name("hugepages-2048kB").as_deref(), Some("2MB"));
        assert_eq!(hugepage_name("hugepages-1048576kB").as_deref(), Some("1GB"));
        assert_eq!(hugepage_name("hugepages-64kB").as_deref(), Some("64KB"));
        assert_eq!(hugepage_name("hugepages-32768kB").as_deref(), Some("32MB"));
        assert_eq!(hugepage_name("x"), None);
    }

    #[test]
    fn blkio_v1_lines() {
        let e = parse_blkio_v1("8:0 Read 100\n8:0 Write 20\n8:0 Total 120\nTotal 120\n8:16 7\n");
        assert_eq!(e.len(), 4);
        assert_eq!(e[0], json!({"major":8,"op":"Read","value":100}));
        assert_eq!(e[3], json!({"major":8,"minor":16,"value":7}));
    }

    #[test]
    fn io_stat_v2() {
        let (b, i) = parse_io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(b[0], json!({"major":8,"op":"Read","value":10}));
        assert_eq!(b[1], json!({"major":8,"op":"Write","value":20}));
        assert_eq!(i.len(), 3);
    }

    #[test]
    fn v1_shape() {
        let r = reader(&[
            ("cpuacct.usage", "5000"),
            ("cpuacct.usage_percpu", "2000 3000 \n"),
            (
                "cpuacct.usage_all",
                "cpu user system\n0 1500 500\n1 2500 500\n",
            ),
            ("cpuacct.stat", "user 3\nsystem 1\n"),
            (
                "cpu.stat",
                "nr_periods 10\nnr_throttled 2\nthrottled_time 999\n",
            ),
            ("memory.stat", "cache 4096\nrss 8192\n"),
            ("memory.limit_in_bytes", "1048576"),
            ("memory.usage_in_bytes", "12288"),
            ("memory.max_usage_in_bytes", "16384"),
            ("memory.failcnt", "0"),
            ("pids.current", "3"),
            ("pids.max", "max"),
            (
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 1\nTotal 1\n",
            ),
            ("hugetlb.2MB.usage_in_bytes", "0"),
            ("hugetlb.2MB.max_usage_in_bytes", "0"),
            ("hugetlb.2MB.failcnt", "0"),
        ]);
        let s = stats_v1(&r, &["2MB".to_string(), "1GB".to_string()]);
        assert_eq!(s["cpu"]["usage"]["total"], 5000);
        assert_eq!(s["cpu"]["usage"]["percpu"], json!([2000, 3000]));
        assert_eq!(s["cpu"]["usage"]["percpu_user"], json!([1500, 2500]));
        assert_eq!(s["cpu"]["usage"]["percpu_kernel"], json!([500, 500]));
        let tck = clk_tck();
        assert_eq!(s["cpu"]["usage"]["user"], 3 * 1_000_000_000 / tck);
        assert_eq!(
            s["cpu"]["throttling"],
            json!({"periods":10,"throttledPeriods":2,"throttledTime":999})
        );
        assert_eq!(s["memory"]["cache"], 4096);
        assert_eq!(
            s["memory"]["usage"],
            json!({"limit":1048576,"usage":12288,"max":16384,"failcnt":0})
        );
        assert_eq!(s["memory"]["raw"]["rss"], 8192);
        assert_eq!(s["pids"], json!({"current":3}));
        assert_eq!(s["blkio"]["ioServiceBytesRecursive"][0]["value"], 1);
        assert_eq!(s["hugetlb"], json!({"2MB":{"failcnt":0}}));
    }

    #[test]
    fn v2_shape() {
        let r = reader(&[
            (
                "cpu.stat",
                "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 1\nnr_throttled 1\nthrottled_usec 2\n",
            ),
            ("memory.stat", "anon 100\nfile 200\n"),
            ("memory.current", "300"),
            ("memory.max", "1000"),
            ("memory.peak", "400"),
            ("memory.events", "low 0\nhigh 0\nmax 5\noom 1\n"),
            ("memory.swap.current", "50"),
            ("memory.swap.max", "max"),
            ("pids.current", "2"),
            ("pids.max", "100"),
            (
                "io.stat",
                "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n",
            ),
            ("hugetlb.2MB.current", "2097152"),
            ("hugetlb.2MB.events", "max 1\n"),
        ]);
        let s = stats_v2(&r, &["2MB".to_string()]);
        assert_eq!(
            s["cpu"]["usage"],
            json!({"total":10000,"kernel":4000,"user":6000})
        );
        assert_eq!(s["cpu"]["throttling"]["throttledTime"], 2000);
        assert_eq!(s["memory"]["cache"], 200);
        assert_eq!(
            s["memory"]["usage"],
            json!({"limit":1000,"usage":300,"max":400,"failcnt":5})
        );
        assert_eq!(
            s["memory"]["swap"],
            json!({"limit":u64::MAX,"usage":350,"failcnt":0})
        );
        assert_eq!(s["pids"], json!({"current":2,"limit":100}));
        assert_eq!(s["blkio"]["ioServicedRecursive"][1]["value"], 4);
        assert_eq!(s["hugetlb"]["2MB"], json!({"usage":2097152,"failcnt":1}));
    }
}
