//! Emptying a namespace: delete every object of every namespaced kind in
//! it, and count what is still there.
use std::collections::BTreeMap;

use kube::{
    api::{DeleteParams, ListParams},
    Client, ResourceExt,
};

use crate::controllers::{
    gc::{delete::delete_exact, kinds::Kind},
    ControllerError,
};

/// What is left in a namespace, by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Remaining {
    /// Number of objects per kind (kinds with none are absent).
    pub by_kind: BTreeMap<String, usize>,
}

impl Remaining {
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.by_kind.is_empty()
    }

    /// Total number of objects left.
    pub fn total(&self) -> usize {
        self.by_kind.values().sum()
    }
}

/// Deletes (in the background) every object in `ns` that is not being
/// deleted yet, and returns what the lists showed. Objects already being
/// deleted (pods their node agent has to finish, owners waiting for
/// dependents) are only counted.
pub async fn delete_all(
    client: &Client,
    kinds: &[Kind],
    ns: &str,
) -> Result<Remaining, ControllerError> {
    let mut left = Remaining::default();
    for kind in kinds.iter().filter(|k| k.namespaced) {
        let api = kind.api(client, Some(ns));
        let list = api.list(&ListParams::default()).await?;
        if list.items.is_empty() {
            continue;
        }
        left.by_kind
            .insert(kind.resource.kind.clone(), list.items.len());
        for o in list
            .items
            .iter()
            .filter(|o| o.metadata.deletion_timestamp.is_none())
        {
            delete_exact(&api, &o.name_any(), o.uid(), DeleteParams::background()).await?;
        }
    }
    Ok(left)
}
