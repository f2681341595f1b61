//! Sending hickory-server responses on our own UDP sockets: encoded within
//! the client's payload size (512 bytes without EDNS), truncated with TC
//! set when they do not fit.
use std::{
    net::{SocketAddr, UdpSocket},
    sync::Arc,
};

use hickory_server::{
    net::NetError,
    proto::{rr::Record, serialize::binary::BinEncoder},
    server::{ResponseHandler, ResponseInfo},
    zone_handler::MessageResponse,
};

use super::fast::MAX_UDP;

/// Replies to one UDP client.
#[derive(Clone, Debug)]
pub struct UdpReply {
    socket: Arc<UdpSocket>,
    dst: SocketAddr,
}

impl UdpReply {
    /// Replies to `dst` from `socket`.
    pub fn new(socket: Arc<UdpSocket>, dst: SocketAddr) -> Self {
        Self { socket, dst }
    }

    /// Sends raw bytes.
    pub fn send_raw(&self, bytes: &[u8]) {
        if let Err(e) = self.socket.send_to(bytes, self.dst) {
            tracing::debug!(error = %e, dst = %self.dst, "sending a UDP answer");
        }
    }
}

#[async_trait::async_trait]
impl ResponseHandler for UdpReply {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let max = response
            .edns()
            .map_or(512, |e| e.max_payload().clamp(512, MAX_UDP));
        let mut buf = Vec::with_capacity(usize::from(max));
        let mut enc = BinEncoder::new(&mut buf);
        enc.set_max_size(max);
        let info = response.destructive_emit(&mut enc)?;
        self.send_raw(&buf);
        Ok(info)
    }
}
