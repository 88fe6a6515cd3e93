//! `state`: the OCI state JSON of one container.

use anyhow::Result;

use crate::cli::Global;
use crate::state::Root;

pub fn run(g: &Global, id: &str) -> Result<i32> {
    let c = Root::new(&g.root).open_unlocked(id)?;
    println!("{}", serde_json::to_string_pretty(&c.state().oci_json())?);
    Ok(0)
}
