//! Periodic compaction of etcd's history, coordinated between API servers.
//!
//! Every server ticks once per interval. A tick is one `Txn` on
//! [`COMPACT_REV_KEY`]: if the key's version is still the one this server
//! saw last, it writes the revision it noted one tick ago (which bumps the
//! version) and then compacts etcd to that revision; if another server got
//! there first, it only learns the new version. Either way it notes the
//! current revision for its next tick. So in each interval at most one
//! server compacts, and what it compacts is at least one interval old:
//! history of at least one interval is always kept. The key and the scheme
//! are kube-apiserver's, so orch and Kubernetes API servers sharing one
//! etcd take turns too.
use std::time::Duration;

use etcd_client::{Compare, CompareOp, KvClient, Txn, TxnOp, TxnOpResponse, WatchOptions};

use super::{deadline, to_rev};
use crate::store::{Revision, StoreError};

/// The key whose version counts compactions (kube-apiserver's name).
pub const COMPACT_REV_KEY: &str = "compact_rev_key";

/// What one server knows between ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Tick {
    /// The version of [`COMPACT_REV_KEY`] last seen.
    pub version: i64,
    /// The revision noted at the last tick: the next compaction target.
    pub revision: i64,
}

/// Compacts every `every` until the task is aborted; failures are logged
/// and retried at the next tick.
pub(super) async fn run(kv: KvClient, every: Duration, limit: Duration) {
    let mut tick = Tick::default();
    let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        timer.tick().await;
        match once(kv.clone(), tick, limit).await {
            Ok((next, compacted)) => {
                if let Some(r) = compacted {
                    tracing::info!(revision = r, "compacted etcd history");
                }
                tick = next;
            }
            Err(e) => tracing::warn!(error = %e, "etcd compaction failed; retrying next interval"),
        }
    }
}

/// One tick: returns what to remember and the revision compacted, if this
/// server compacted.
pub(super) async fn once(
    mut kv: KvClient,
    tick: Tick,
    limit: Duration,
) -> Result<(Tick, Option<i64>), StoreError> {
    let txn = Txn::new()
        .when([Compare::version(
            COMPACT_REV_KEY,
            CompareOp::Equal,
            tick.version,
        )])
        .and_then([TxnOp::put(COMPACT_REV_KEY, tick.revision.to_string(), None)])
        .or_else([TxnOp::get(COMPACT_REV_KEY, None)]);
    let mut client = kv.clone();
    let resp = deadline(limit, "txn", async move { client.txn(txn).await }).await?;
    let now = resp.header().map_or(0, |h| h.revision());
    if !resp.succeeded() {
        let version = resp
            .op_responses()
            .into_iter()
            .find_map(|op| match op {
                TxnOpResponse::Get(get) => get.kvs().first().map(|kv| kv.version()),
                _ => None,
            })
            .unwrap_or(0);
        return Ok((
            Tick {
                version,
                revision: now,
            },
            None,
        ));
    }
    let next = Tick {
        version: tick.version + 1,
        revision: now,
    };
    if tick.revision == 0 {
        // The first tick only notes where to compact next time.
        return Ok((next, None));
    }
    let target = tick.revision;
    match deadline(
        limit,
        "compact",
        async move { kv.compact(target, None).await },
    )
    .await
    {
        Ok(_) => Ok((next, Some(target))),
        // Someone compacted further already: nothing left to do.
        Err(StoreError::Compacted { .. }) => Ok((next, None)),
        Err(e) => Err(e),
    }
}

/// The oldest revision etcd still has, learnt from a watch started at
/// revision 1: etcd cancels it and names its compaction revision.
pub(super) async fn oldest_revision(
    client: &etcd_client::Client,
    limit: Duration,
) -> Result<Revision, StoreError> {
    let mut watch = client.watch_client();
    let opts = WatchOptions::new().with_start_revision(1);
    let mut stream = deadline(limit, "watch", async move {
        watch.watch(COMPACT_REV_KEY, Some(opts)).await
    })
    .await?;
    let wait = async {
        loop {
            match stream.message().await {
                Ok(Some(resp)) if resp.compact_revision() > 0 => {
                    return Ok(to_rev(resp.compact_revision()))
                }
                Ok(Some(resp)) if resp.canceled() => return Ok(1),
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(1),
                Err(e) => return Err(e),
            }
        }
    };
    deadline(limit, "watch", wait).await
}
