//! Removing everything orch wrote, with or without a live
//! [`Iptables`](super::Iptables): every `ORCH-` chain in nat and filter and
//! every jump to one from a built-in chain. Nothing else is touched, and
//! running it again does nothing.
use std::path::Path;

use super::{plan, restore, ruleset::Ruleset, tool::Tools};
use crate::ProxyError;

/// Removes orch's chains and jump rules from the nat and filter tables of
/// the network namespace at `netns` (the current one when `None`).
pub fn cleanup_netns(netns: Option<&Path>) -> Result<(), ProxyError> {
    let tools = Tools::locate(false)?;
    remove_all(&tools, netns)
}

pub(crate) fn remove_all(tools: &Tools, netns: Option<&Path>) -> Result<(), ProxyError> {
    let live = restore::read_live(tools, netns)?;
    let plan = plan::diff(&live, &Ruleset::default());
    if !plan.is_empty() {
        restore::execute(tools, netns, &plan)?;
        tracing::info!(steps = plan.ops.len(), "removed orch's iptables rules");
    }
    Ok(())
}
