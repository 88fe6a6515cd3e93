//! Pure conversions: shares to weight, blkio to io weight, swap, and unified key checks.

use super::*;

#[test]
fn shares_to_weight_matches_runc_table() {
    // The table of opencontainers/cgroups TestConvertCPUSharesToCgroupV2Value.
    for (s, w) in [
        (0, 0),
        (1, 1),
        (2, 1),
        (3, 2),
        (1024, 100),
        (262143, 10000),
        (262144, 10000),
        (262145, 10000),
    ] {
        assert_eq!(shares_to_weight(s), w, "shares {s}");
    }
    assert!(shares_to_weight(512) < 100 && shares_to_weight(2048) > 100);
    // monotonic
    let mut last = 0;
    for s in (2..262144).step_by(97) {
        let w = shares_to_weight(s);
        assert!(w >= last && (1..=10000).contains(&w));
        last = w;
    }
}

#[test]
fn blkio_weight_conversion() {
    assert_eq!(blkio_weight_to_io_weight(0), 0);
    assert_eq!(blkio_weight_to_io_weight(10), 1);
    assert_eq!(blkio_weight_to_io_weight(1000), 10000);
    assert_eq!(blkio_weight_to_io_weight(500), 1 + 490 * 9999 / 990);
    assert_eq!(blkio_weight_to_io_weight(5), 1);
}

#[test]
fn swap_conversion() {
    assert_eq!(memory_swap_to_v2(0, -1).unwrap(), -1);
    assert_eq!(memory_swap_to_v2(-1, 100).unwrap(), -1);
    assert_eq!(memory_swap_to_v2(0, 100).unwrap(), 0);
    assert_eq!(memory_swap_to_v2(300, 100).unwrap(), 200);
    assert_eq!(memory_swap_to_v2(100, 100).unwrap(), 0);
    assert!(memory_swap_to_v2(50, 100).is_err());
    assert!(memory_swap_to_v2(50, 0).is_err());
    assert!(memory_swap_to_v2(50, -1).is_err());
    assert_eq!(num_to_str(0), None);
    assert_eq!(num_to_str(-1).as_deref(), Some("max"));
    assert_eq!(num_to_str(5).as_deref(), Some("5"));
    assert_eq!(pids_max(-1), "max");
    assert_eq!(pids_max(0), "1");
    assert_eq!(pids_max(32), "32");
}

#[test]
fn unified_keys_checked() {
    assert!(check_unified_key("memory.max").is_ok());
    assert!(check_unified_key("../x").is_err());
    assert!(check_unified_key("a/b").is_err());
    assert!(check_unified_key("..").is_err());
    assert!(check_unified_key("").is_err());
}
