//! Never wedge, never leak (issue 15, items 11-16): after a runtime is killed or given odd
//! input, `delete --force` clears everything and the ID can be used again.
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::DirBuilderExt;

/// What a `create` killed 1-3 ms in leaves: the container dir holding only config.json (and
/// maybe nothing at all). runc's `delete` removes such a dir; afterwards the ID is free.
#[test]
fn delete_force_clears_a_create_killed_before_its_state() {
    let c = Ctx::new("half-made");
    c.write_config();
    for leftover in [&["config.json"][..], &[], &["config.json", ".state.json.tmp"]] {
        let dir = c.root.join(&c.id);
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).unwrap();
        for f in leftover {
            fs::copy(c.bundle.join("config.json"), dir.join(f)).unwrap();
        }
        c.delete(true).assert_ok();
        assert!(!dir.exists(), "delete --force left {} ({leftover:?})", dir.display());
        c.create();
        c.delete(true).assert_ok();
        c.assert_nothing_left(&c.id);
    }
}
