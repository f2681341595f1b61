//! Reads and compare-and-swap writes as etcd `Range`s and `Txn`s.
//!
//! A failed compare takes no revision in etcd, so a refused write leaves
//! the revision alone, as the store contract asks. Every `Txn` reads the
//! key in its `else` branch, which tells NotFound from Conflict in the
//! same round trip.
use std::time::Duration;

use etcd_client::{
    Compare, CompareOp, DeleteOptions, GetOptions, KvClient, PutOptions, Txn, TxnOp, TxnOpResponse,
    TxnResponse,
};

use super::{deadline, to_i64, to_rev};
use crate::store::{KeyValue, ListOptions, ListPage, Revision, StoreError};

/// A key etcd has, as a store key-value.
pub(super) fn from_etcd(kv: &etcd_client::KeyValue) -> Result<KeyValue, StoreError> {
    let key = std::str::from_utf8(kv.key())
        .map_err(|_| StoreError::Backend("etcd returned a key that is not UTF-8".into()))?;
    Ok(KeyValue {
        key: key.to_string(),
        value: kv.value().to_vec(),
        create_revision: to_rev(kv.create_revision()),
        mod_revision: to_rev(kv.mod_revision()),
    })
}

fn header_revision(h: Option<&etcd_client::ResponseHeader>) -> Revision {
    h.map_or(0, |h| to_rev(h.revision()))
}

/// The first key-value read by the `Get` of a `Txn` branch, if any.
fn txn_read(resp: &TxnResponse) -> Result<Option<KeyValue>, StoreError> {
    for op in resp.op_responses() {
        if let TxnOpResponse::Get(get) = op {
            return get.kvs().first().map(from_etcd).transpose();
        }
    }
    Ok(None)
}

fn revision_arg(r: Revision) -> Result<i64, StoreError> {
    to_i64(r).map_err(|e| StoreError::Backend(e.to_string()))
}

/// The latest revision (a linearizable count of one key).
pub(super) async fn current_revision(
    mut kv: KvClient,
    limit: Duration,
) -> Result<Revision, StoreError> {
    let resp = deadline(limit, "range", async move {
        kv.get(
            super::COMPACT_REV_KEY,
            Some(GetOptions::new().with_count_only()),
        )
        .await
    })
    .await?;
    Ok(header_revision(resp.header()))
}

pub(super) async fn get(
    mut kv: KvClient,
    limit: Duration,
    key: &str,
) -> Result<Option<KeyValue>, StoreError> {
    let key = key.to_string();
    let resp = deadline(limit, "range", async move { kv.get(key, None).await }).await?;
    resp.kvs().first().map(from_etcd).transpose()
}

/// The first key after every key that starts with `prefix` (etcd's
/// `range_end` of a prefix); `\0` (every key) for an empty prefix.
pub(super) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Where a page starts: the prefix, or just after `start_after` when that
/// is further. etcd takes no empty key: every key starts at `\0`.
fn page_start(opts: &ListOptions) -> Vec<u8> {
    match &opts.start_after {
        Some(after) if after.as_str() >= opts.prefix.as_str() => {
            let mut k = after.as_bytes().to_vec();
            k.push(0);
            k
        }
        _ if opts.prefix.is_empty() => vec![0],
        _ => opts.prefix.as_bytes().to_vec(),
    }
}

pub(super) async fn list(
    client: &etcd_client::Client,
    limit: Duration,
    opts: &ListOptions,
) -> Result<ListPage, StoreError> {
    let start = page_start(opts);
    let end = prefix_end(&opts.prefix);
    let mut get = GetOptions::new().with_range(end.clone());
    if opts.limit > 0 {
        get = get.with_limit(i64::try_from(opts.limit).unwrap_or(i64::MAX));
    }
    let requested = opts.revision.filter(|r| *r > 0);
    if let Some(r) = requested {
        get = get.with_revision(revision_arg(r)?);
    }
    if end != [0] && start >= end {
        // Nothing can match, but the revision is still checked.
        get = get.with_count_only();
    }
    let mut kv = client.kv_client();
    let result = deadline(
        limit,
        "range",
        async move { kv.get(start, Some(get)).await },
    )
    .await;
    let resp = match result {
        Ok(resp) => resp,
        Err(e) => return Err(revision_error(e, client, limit, requested.unwrap_or(0)).await),
    };
    let current = header_revision(resp.header());
    let items = resp
        .kvs()
        .iter()
        .map(from_etcd)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ListPage {
        more: resp.more() && !items.is_empty(),
        items,
        revision: requested.unwrap_or(current),
    })
}

/// Fills in the revisions of a Compacted or FutureRevision error.
pub(super) async fn revision_error(
    e: StoreError,
    client: &etcd_client::Client,
    limit: Duration,
    requested: Revision,
) -> StoreError {
    match e {
        StoreError::Compacted { .. } => StoreError::Compacted {
            requested,
            oldest: super::compact::oldest_revision(client, limit)
                .await
                .unwrap_or(requested + 1),
        },
        StoreError::FutureRevision { .. } => StoreError::FutureRevision {
            requested,
            current: current_revision(client.kv_client(), limit)
                .await
                .unwrap_or(0),
        },
        other => other,
    }
}

pub(super) async fn create(
    mut kv: KvClient,
    limit: Duration,
    key: &str,
    value: Vec<u8>,
) -> Result<KeyValue, StoreError> {
    let txn = Txn::new()
        .when([Compare::create_revision(key, CompareOp::Equal, 0)])
        .and_then([TxnOp::put(key, value.clone(), None)]);
    let resp = deadline(limit, "txn", async move { kv.txn(txn).await }).await?;
    if !resp.succeeded() {
        return Err(StoreError::AlreadyExists(key.to_string()));
    }
    let revision = header_revision(resp.header());
    Ok(KeyValue {
        key: key.to_string(),
        value,
        create_revision: revision,
        mod_revision: revision,
    })
}

/// The error of a refused compare: the key is gone, or it has moved on.
fn refused(resp: &TxnResponse, key: &str, expected: Revision) -> StoreError {
    match txn_read(resp) {
        Ok(Some(current)) => StoreError::Conflict {
            key: key.to_string(),
            expected,
            actual: current.mod_revision,
        },
        Ok(None) => StoreError::NotFound(key.to_string()),
        Err(e) => e,
    }
}

pub(super) async fn update(
    mut kv: KvClient,
    limit: Duration,
    key: &str,
    value: Vec<u8>,
    expected: Revision,
) -> Result<KeyValue, StoreError> {
    let txn = Txn::new()
        .when([
            Compare::create_revision(key, CompareOp::Greater, 0),
            Compare::mod_revision(key, CompareOp::Equal, revision_arg(expected)?),
        ])
        .and_then([TxnOp::put(
            key,
            value.clone(),
            Some(PutOptions::new().with_prev_key()),
        )])
        .or_else([TxnOp::get(key, None)]);
    let resp = deadline(limit, "txn", async move { kv.txn(txn).await }).await?;
    if !resp.succeeded() {
        return Err(refused(&resp, key, expected));
    }
    let prev = resp.op_responses().into_iter().find_map(|op| match op {
        TxnOpResponse::Put(put) => put.prev_key().map(from_etcd),
        _ => None,
    });
    let prev = prev.transpose()?.ok_or_else(|| {
        StoreError::Backend(format!(
            "etcd txn: update of {key} returned no previous value"
        ))
    })?;
    Ok(KeyValue {
        key: key.to_string(),
        value,
        create_revision: prev.create_revision,
        mod_revision: header_revision(resp.header()),
    })
}

pub(super) async fn delete(
    mut kv: KvClient,
    limit: Duration,
    key: &str,
    expected: Option<Revision>,
) -> Result<KeyValue, StoreError> {
    let mut when = vec![Compare::create_revision(key, CompareOp::Greater, 0)];
    if let Some(e) = expected {
        when.push(Compare::mod_revision(
            key,
            CompareOp::Equal,
            revision_arg(e)?,
        ));
    }
    let txn = Txn::new()
        .when(when)
        .and_then([TxnOp::delete(
            key,
            Some(DeleteOptions::new().with_prev_key()),
        )])
        .or_else([TxnOp::get(key, None)]);
    let resp = deadline(limit, "txn", async move { kv.txn(txn).await }).await?;
    if !resp.succeeded() {
        return Err(refused(&resp, key, expected.unwrap_or(0)));
    }
    let prev = resp.op_responses().into_iter().find_map(|op| match op {
        TxnOpResponse::Delete(del) => del.prev_kvs().first().map(from_etcd),
        _ => None,
    });
    let prev = prev
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(key.to_string()))?;
    Ok(KeyValue {
        mod_revision: header_revision(resp.header()),
        ..prev
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end("/a/"), b"/a0");
        assert_eq!(prefix_end(""), b"\0");
        assert_eq!(prefix_end("a"), b"b");
    }

    #[test]
    fn pages_start_after_the_last_key_or_at_the_prefix() {
        let mut o = ListOptions {
            prefix: "/p/".into(),
            ..Default::default()
        };
        assert_eq!(page_start(&o), b"/p/");
        o.start_after = Some("/p/k1".into());
        assert_eq!(page_start(&o), b"/p/k1\0");
        o.start_after = Some("/".into());
        assert_eq!(page_start(&o), b"/p/");
        let every = ListOptions::default();
        assert_eq!(page_start(&every), b"\0");
    }
}
