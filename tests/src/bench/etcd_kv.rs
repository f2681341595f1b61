//! The two etcd v3 KV calls the store benchmark makes, `Range` (a health
//! probe) and `Txn` (create-if-absent, as kube-apiserver creates objects),
//! over tonic gRPC. The messages are declared by hand from etcd's
//! `rpc.proto` (only the fields used; protobuf skips the others), so the
//! build needs no `protoc`.
use std::time::Duration;

use anyhow::{bail, Context, Result};
use http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic_prost::ProstCodec;

/// `etcdserverpb.ResponseHeader`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseHeader {
    /// The revision the reply was read or written at.
    #[prost(int64, tag = "3")]
    pub revision: i64,
}

/// `etcdserverpb.RangeRequest` (key only).
#[derive(Clone, PartialEq, prost::Message)]
struct RangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bool, tag = "9")]
    count_only: bool,
}

/// `etcdserverpb.RangeResponse` (header only).
#[derive(Clone, PartialEq, prost::Message)]
struct RangeResponse {
    #[prost(message, optional, tag = "1")]
    header: Option<ResponseHeader>,
}

/// `etcdserverpb.PutRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `etcdserverpb.Compare`: `result` EQUAL = 0, `target` CREATE = 1.
#[derive(Clone, PartialEq, prost::Message)]
struct Compare {
    #[prost(int32, tag = "1")]
    result: i32,
    #[prost(int32, tag = "2")]
    target: i32,
    #[prost(bytes = "vec", tag = "3")]
    key: Vec<u8>,
    #[prost(oneof = "TargetUnion", tags = "5")]
    target_union: Option<TargetUnion>,
}

/// `Compare.target_union` (only `create_revision`).
#[derive(Clone, PartialEq, prost::Oneof)]
enum TargetUnion {
    #[prost(int64, tag = "5")]
    CreateRevision(i64),
}

/// `etcdserverpb.RequestOp` (only `request_put`).
#[derive(Clone, PartialEq, prost::Message)]
struct RequestOp {
    #[prost(oneof = "Request", tags = "2")]
    request: Option<Request>,
}

/// `RequestOp.request`.
#[derive(Clone, PartialEq, prost::Oneof)]
enum Request {
    #[prost(message, tag = "2")]
    Put(PutRequest),
}

/// `etcdserverpb.TxnRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct TxnRequest {
    #[prost(message, repeated, tag = "1")]
    compare: Vec<Compare>,
    #[prost(message, repeated, tag = "2")]
    success: Vec<RequestOp>,
}

/// `etcdserverpb.TxnResponse` (header and outcome).
#[derive(Clone, PartialEq, prost::Message)]
struct TxnResponse {
    #[prost(message, optional, tag = "1")]
    header: Option<ResponseHeader>,
    #[prost(bool, tag = "2")]
    succeeded: bool,
}

const COMPARE_EQUAL: i32 = 0;
const TARGET_CREATE: i32 = 1;

/// A KV client on one HTTP/2 connection; clones share it, as the clients
/// of etcd-client and kube-apiserver do.
#[derive(Debug, Clone)]
pub struct KvClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl KvClient {
    /// Connects to `url` (`http://127.0.0.1:PORT`).
    pub async fn connect(url: &str) -> Result<Self> {
        let channel = Endpoint::from_shared(url.to_string())?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to etcd at {url}"))?;
        Ok(Self {
            grpc: tonic::client::Grpc::new(channel),
        })
    }

    /// A linearizable count of `key`: succeeds once etcd serves reads.
    pub async fn probe(&mut self, key: &[u8]) -> Result<i64> {
        let req = RangeRequest {
            key: key.to_vec(),
            count_only: true,
        };
        let resp: RangeResponse = self.call("/etcdserverpb.KV/Range", req).await?;
        Ok(resp.header.map_or(0, |h| h.revision))
    }

    /// Creates `key` if it does not exist (one Txn: compare
    /// `create_revision == 0`, then put); returns the revision written.
    pub async fn create(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<i64> {
        let req = TxnRequest {
            compare: vec![Compare {
                result: COMPARE_EQUAL,
                target: TARGET_CREATE,
                key: key.clone(),
                target_union: Some(TargetUnion::CreateRevision(0)),
            }],
            success: vec![RequestOp {
                request: Some(Request::Put(PutRequest { key, value })),
            }],
        };
        let resp: TxnResponse = self.call("/etcdserverpb.KV/Txn", req).await?;
        if !resp.succeeded {
            bail!("etcd txn: the key already exists");
        }
        Ok(resp.header.map_or(0, |h| h.revision))
    }

    async fn call<Req, Resp>(&mut self, path: &'static str, req: Req) -> Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc
            .ready()
            .await
            .with_context(|| format!("etcd {path}: channel not ready"))?;
        let resp = self
            .grpc
            .unary(
                tonic::Request::new(req),
                PathAndQuery::from_static(path),
                ProstCodec::<Req, Resp>::default(),
            )
            .await
            .with_context(|| format!("etcd {path}"))?;
        Ok(resp.into_inner())
    }
}
