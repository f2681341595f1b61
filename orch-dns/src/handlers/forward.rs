//! The forwarder for every name outside our zones: hickory-server's
//! forwarding zone handler (a hickory resolver, whose cache keeps answers
//! for their TTL), counted in the metrics.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use hickory_server::{
    proto::rr::{LowerName, Name, Record, RecordType, TSigResponseContext},
    resolver::config::{NameServerConfig, ResolverOpts},
    server::{Request, RequestInfo},
    store::forwarder::{ForwardConfig, ForwardZoneHandler},
    zone_handler::{
        AuthLookup, AxfrPolicy, LookupControlFlow, LookupOptions, ZoneHandler, ZoneType,
    },
};

use crate::{error::DnsError, metrics::Stats};

/// Forwarded answers kept (the resolver's cache size).
const CACHE_SIZE: u64 = 10_000;

/// Forwards to upstream servers.
pub struct Forwarder {
    inner: ForwardZoneHandler,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Forwarder")
    }
}

impl Forwarder {
    /// A forwarder to `upstreams` (UDP, then TCP on truncation).
    pub fn new(upstreams: &[SocketAddr], stats: Arc<Stats>) -> Result<Self, DnsError> {
        let name_servers = upstreams
            .iter()
            .map(|a| {
                let mut ns = NameServerConfig::udp_and_tcp(a.ip());
                for c in &mut ns.connections {
                    c.port = a.port();
                }
                ns
            })
            .collect();
        let mut options = ResolverOpts::default();
        options.cache_size = CACHE_SIZE;
        options.timeout = Duration::from_secs(2);
        options.attempts = 2;
        options.preserve_intermediates = true;
        let inner = ForwardZoneHandler::builder_tokio(ForwardConfig {
            name_servers,
            options: Some(options),
        })
        .build()
        .map_err(DnsError::Forwarder)?;
        Ok(Self { inner, stats })
    }

    /// The records upstreams have for `name`/`rtype` (empty on failure).
    pub async fn resolve(&self, name: &Name, rtype: RecordType) -> Vec<Record> {
        let r = self
            .lookup(&LowerName::new(name), rtype, None, LookupOptions::default())
            .await;
        match r.map_result() {
            Some(Ok(found)) => found.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

#[async_trait::async_trait]
impl ZoneHandler for Forwarder {
    fn zone_type(&self) -> ZoneType {
        ZoneType::External
    }

    fn axfr_policy(&self) -> AxfrPolicy {
        AxfrPolicy::Deny
    }

    fn origin(&self) -> &LowerName {
        self.inner.origin()
    }

    async fn lookup(
        &self,
        name: &LowerName,
        rtype: RecordType,
        request_info: Option<&RequestInfo<'_>>,
        lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        let r = self
            .inner
            .lookup(name, rtype, request_info, lookup_options)
            .await;
        let ok = match &r {
            LookupControlFlow::Continue(Err(e)) | LookupControlFlow::Break(Err(e)) => {
                e.is_nx_domain() || e.is_no_records_found()
            }
            _ => true,
        };
        self.stats.forwarded(ok);
        r
    }

    async fn search(
        &self,
        request: &Request,
        lookup_options: LookupOptions,
    ) -> (LookupControlFlow<AuthLookup>, Option<TSigResponseContext>) {
        let info = match request.request_info() {
            Ok(info) => info,
            Err(e) => return (LookupControlFlow::Break(Err(e)), None),
        };
        (
            self.lookup(
                info.query.name(),
                info.query.query_type(),
                Some(&info),
                lookup_options,
            )
            .await,
            None,
        )
    }

    async fn nsec_records(
        &self,
        name: &LowerName,
        lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        self.inner.nsec_records(name, lookup_options).await
    }
}
