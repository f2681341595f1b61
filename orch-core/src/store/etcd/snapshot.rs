//! Snapshots through etcd's Maintenance `Snapshot` stream, written to a
//! temporary file next to the target, synced, then renamed into place.
//!
//! etcd does not say at which revision its snapshot was taken, so the
//! revision returned is the current one read just before the stream
//! starts: the copy holds at least that revision, and exactly it when no
//! write lands while the snapshot is taken.
use std::{path::Path, time::Duration};

use tokio::io::AsyncWriteExt;

use super::{deadline, kv};
use crate::store::{Revision, StoreError};

pub(super) async fn write(
    client: &etcd_client::Client,
    limit: Duration,
    path: &Path,
) -> Result<Revision, StoreError> {
    let io = |what: &str, e: std::io::Error| {
        StoreError::Backend(format!("snapshot: {what} {}: {e}", path.display()))
    };
    let revision = kv::current_revision(client.kv_client(), limit).await?;
    let mut maintenance = client.maintenance_client();
    let mut stream =
        deadline(limit, "snapshot", async move { maintenance.snapshot().await }).await?;
    let tmp = path.with_extension("partial");
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .map_err(|e| io("creating", e))?;
    let copied = async {
        loop {
            // Each chunk has its own deadline: a large snapshot may take
            // long, a stalled one may not.
            let chunk = deadline(limit, "snapshot", stream.message()).await?;
            let Some(chunk) = chunk else { break };
            file.write_all(chunk.blob())
                .await
                .map_err(|e| io("writing", e))?;
        }
        file.sync_all().await.map_err(|e| io("syncing", e))?;
        tokio::fs::rename(&tmp, path)
            .await
            .map_err(|e| io("renaming to", e))
    }
    .await;
    if copied.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    copied.map(|()| revision)
}
