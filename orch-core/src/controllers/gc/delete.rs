//! Deleting exactly one object, as every controller here does it: with its
//! uid as a precondition (never a newer object of the same name), and with
//! "already gone" or "replaced meanwhile" counting as done.
use std::fmt::Debug;

use kube::api::{Api, DeleteParams, Preconditions};
use serde::de::DeserializeOwned;

/// Deletes `name` if it still has `uid`. Returns whether this call deleted
/// (or started deleting) it.
pub async fn delete_exact<K>(
    api: &Api<K>,
    name: &str,
    uid: Option<String>,
    dp: DeleteParams,
) -> Result<bool, kube::Error>
where
    K: Clone + DeserializeOwned + Debug,
{
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..dp
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
