//! One DNS query over UDP from a plain socket, for polling a server many
//! times a second (change latency) without starting a process each time.
use std::{
    net::{SocketAddr, UdpSocket},
    str::FromStr,
    time::Duration,
};

use anyhow::{Context, Result};
use hickory_server::proto::{
    op::{Message, Query, ResponseCode},
    rr::{Name, RecordType},
};

/// A UDP client socket.
#[derive(Debug)]
pub struct Asker {
    sock: UdpSocket,
    id: u16,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The response code.
    pub rcode: ResponseCode,
    /// Answer data as text (`10.96.0.20`).
    pub answers: Vec<String>,
}

impl Asker {
    /// A socket on 127.0.0.1 waiting at most `timeout` per query.
    pub fn new(timeout: Duration) -> Result<Self> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(timeout))?;
        Ok(Self { sock, id: 1 })
    }

    /// Asks `server` for `name`/`rtype`; `None` on timeout.
    pub fn ask(
        &mut self,
        server: SocketAddr,
        name: &str,
        rtype: RecordType,
    ) -> Result<Option<Reply>> {
        self.id = self.id.wrapping_add(1);
        let mut m = Message::query();
        m.metadata.id = self.id;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(
            Name::from_str(name).with_context(|| format!("bad name {name}"))?,
            rtype,
        ));
        self.sock.send_to(&m.to_vec()?, server)?;
        let mut buf = [0u8; 4096];
        loop {
            let n = match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(e.into()),
            };
            let r = Message::from_vec(&buf[..n])?;
            // Late answers to earlier queries are skipped.
            if r.metadata.id != self.id {
                continue;
            }
            return Ok(Some(Reply {
                rcode: r.metadata.response_code,
                answers: r.answers.iter().map(|a| a.data.to_string()).collect(),
            }));
        }
    }
}
