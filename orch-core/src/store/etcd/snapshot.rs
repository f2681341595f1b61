//! Snapshots through etcd's Maintenance `Snapshot` stream, written to a
//! temporary file next to the target, synced, then renamed into place.
//!
//! etcd does not say at which revision its snapshot was taken, so the
//! current revision is read before and after the stream: when both agree
//! no write landed meanwhile and the snapshot holds exactly that revision.
//! Under writes the snapshot is taken again, with a short pause, for up to
//! [`SETTLE`]; if writes never pause that long, the last copy is kept and
//! the revision read before it returned: the copy holds at least that
//! revision.
use std::{path::Path, time::Duration};

use tokio::io::AsyncWriteExt;

use super::{deadline, kv};
use crate::store::{Revision, StoreError};

/// How long snapshots are retaken while writes go on, before settling for
/// a revision that is only a lower bound.
const SETTLE: Duration = Duration::from_secs(3);
/// Pause between two attempts, so a burst of writes can end.
const PAUSE: Duration = Duration::from_millis(20);

pub(super) async fn write(
    client: &etcd_client::Client,
    limit: Duration,
    path: &Path,
) -> Result<Revision, StoreError> {
    let tmp = path.with_extension("partial");
    let started = std::time::Instant::now();
    let revision = loop {
        let revision = kv::current_revision(client.kv_client(), limit).await?;
        if let Err(e) = copy(client, limit, &tmp).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let after = kv::current_revision(client.kv_client(), limit).await?;
        if after == revision {
            break revision;
        }
        if started.elapsed() >= SETTLE {
            tracing::warn!(
                from = revision,
                to = after,
                "etcd snapshot taken while writes went on; its revision is at least the one returned"
            );
            break revision;
        }
        tokio::time::sleep(PAUSE).await;
    };
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| io_error("renaming to", path, e))?;
    Ok(revision)
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("snapshot: {what} {}: {e}", path.display()))
}

/// Streams one snapshot into `tmp` and syncs it.
async fn copy(client: &etcd_client::Client, limit: Duration, tmp: &Path) -> Result<(), StoreError> {
    let mut maintenance = client.maintenance_client();
    let mut stream = deadline(
        limit,
        "snapshot",
        async move { maintenance.snapshot().await },
    )
    .await?;
    let mut file = tokio::fs::File::create(tmp)
        .await
        .map_err(|e| io_error("creating", tmp, e))?;
    // Each chunk has its own deadline: a large snapshot may take long, a
    // stalled one may not.
    while let Some(chunk) = deadline(limit, "snapshot", stream.message()).await? {
        file.write_all(chunk.blob())
            .await
            .map_err(|e| io_error("writing", tmp, e))?;
    }
    file.sync_all()
        .await
        .map_err(|e| io_error("syncing", tmp, e))
}
