//! Moving etcd's revision past one another store reached, then compacting
//! there, as `etcdutl snapshot restore --bump-revision --mark-compacted`
//! does. After a migration every resourceVersion a client got from the old
//! store is then older than anything etcd writes from now on, and a read
//! or watch from one answers 410 Expired (the client lists again) instead
//! of waiting for a revision etcd has not reached or showing part of one.
use futures::{StreamExt, TryStreamExt};

use super::{deadline, EtcdStore};
use crate::store::{Revision, StoreError};

/// The scratch key written to move the revision, outside `/registry/`;
/// deleted at the end.
const BUMP_KEY: &str = "/orch/migrate/bump";

/// Writes in flight at once.
const IN_FLIGHT: usize = 32;

impl EtcdStore {
    /// Writes [`BUMP_KEY`] until etcd's revision is past `past`, deletes
    /// it, and compacts history at the revision reached, which it returns.
    pub async fn bump_revision(&self, past: Revision) -> Result<Revision, StoreError> {
        let limit = self.opts.request_timeout;
        let now = self.current_revision_inner().await?;
        // At least one put, so the delete has a key to remove.
        let puts = past.saturating_sub(now).max(1);
        futures::stream::iter(0..puts)
            .map(|_| {
                let mut kv = self.client.kv_client();
                deadline(
                    limit,
                    "put",
                    async move { kv.put(BUMP_KEY, "", None).await },
                )
            })
            .buffer_unordered(IN_FLIGHT)
            .map_ok(drop)
            .try_collect::<()>()
            .await?;
        let mut kv = self.client.kv_client();
        let deleted = deadline(
            limit,
            "delete",
            async move { kv.delete(BUMP_KEY, None).await },
        );
        let revision = deleted
            .await?
            .header()
            .map_or(0, |h| super::to_rev(h.revision()));
        self.compact(revision).await?;
        Ok(revision)
    }
}
