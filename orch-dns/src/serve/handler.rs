//! The hickory-server request handler: the catalog of our zones and the
//! forwarder, with every answer counted in the metrics. TCP queries (through
//! hickory-server's listener) and the UDP queries the fast path passes on
//! come here.
use std::{net::SocketAddr, sync::Arc, time::Instant};

use hickory_server::{
    net::{runtime::Time, runtime::TokioTime, xfer::Protocol},
    proto::op::{MessageType, ResponseCode},
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::Catalog,
};

use super::reply::UdpReply;
use crate::metrics::Stats;

/// The catalog with metrics.
#[derive(Clone)]
pub struct DnsHandler {
    catalog: Arc<Catalog>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for DnsHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DnsHandler")
    }
}

impl DnsHandler {
    /// Answers through `catalog`, counting in `stats`.
    pub fn new(catalog: Catalog, stats: Arc<Stats>) -> Self {
        Self {
            catalog: Arc::new(catalog),
            stats,
        }
    }

    /// Answers `request`, counting it from `started`.
    pub async fn handle<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response: R,
        started: Instant,
    ) -> ResponseInfo {
        let info = self.catalog.handle_request::<R, T>(request, response).await;
        let qtype = request
            .queries
            .queries()
            .first()
            .map_or(0, |q| u16::from(q.query_type()));
        self.stats.record(
            self.stats.shared_shard(),
            qtype,
            u16::from(info.response_code),
            started.elapsed(),
        );
        info
    }

    /// Answers a raw UDP packet from `src` the fast path passed on.
    /// Unparsable queries get FORMERR; responses are ignored.
    pub async fn handle_udp(
        &self,
        raw: Vec<u8>,
        src: SocketAddr,
        reply: UdpReply,
        started: Instant,
    ) {
        if raw.len() < 12 || raw[2] & 0x80 != 0 {
            self.stats.dropped();
            return;
        }
        let (id, flags) = ([raw[0], raw[1]], raw[2]);
        match Request::from_bytes(raw, src, Protocol::Udp) {
            Ok(req) => {
                if req.metadata.message_type == MessageType::Response {
                    self.stats.dropped();
                    return;
                }
                self.handle::<_, TokioTime>(&req, reply, started).await;
            }
            Err(e) => {
                tracing::debug!(%src, error = %e, "unparsable query");
                // id, QR and the opcode kept, FORMERR, no sections.
                let mut msg = [0u8; 12];
                msg[..2].copy_from_slice(&id);
                msg[2] = 0x80 | (flags & 0x78);
                msg[3] = u16::from(ResponseCode::FormErr) as u8;
                reply.send_raw(&msg);
                self.stats.record(
                    self.stats.shared_shard(),
                    0,
                    u16::from(ResponseCode::FormErr),
                    started.elapsed(),
                );
            }
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        self.handle::<R, T>(request, response_handle, Instant::now())
            .await
    }
}
