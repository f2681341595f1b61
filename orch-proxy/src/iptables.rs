//! Placeholder until the iptables data path lands: always unavailable.
use std::path::{Path, PathBuf};

use crate::{
    dataplane::{Dataplane, Mode},
    model::{Change, ServicePort},
    ProxyError,
};

/// iptables data path (not available in this build).
#[derive(Debug)]
pub struct Iptables;

impl Iptables {
    /// Always fails in this build.
    pub fn new(_netns: Option<PathBuf>) -> Result<Self, ProxyError> {
        Err(ProxyError::Config("iptables mode is not built".into()))
    }
}

impl Dataplane for Iptables {
    fn mode(&self) -> Mode {
        Mode::Iptables
    }
    fn apply(&mut self, _: &[Change]) -> Result<(), ProxyError> {
        Ok(())
    }
    fn resync(&mut self, _: &[ServicePort]) -> Result<(), ProxyError> {
        Ok(())
    }
    fn dump(&mut self) -> Result<Vec<ServicePort>, ProxyError> {
        Ok(Vec::new())
    }
    fn cleanup(self: Box<Self>) -> Result<(), ProxyError> {
        Ok(())
    }
}

/// Nothing to clean in this build.
pub fn cleanup_netns(_netns: Option<&Path>) -> Result<(), ProxyError> {
    Ok(())
}
