//! Destroys connected UDP sockets whose peer is a removed backend, through
//! the kernel's sock_diag netlink interface (`SOCK_DESTROY`, which needs
//! `CONFIG_INET_DIAG_DESTROY`). A connected UDP socket was translated once,
//! at connect time; destroying it makes the application see ECONNABORTED
//! and reconnect, which picks a live backend.
use std::{io, path::Path};

use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};

use crate::{model::Endpoint, sys::in_netns};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const SOCK_DESTROY: u16 = 21;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const HEADER: usize = 16;
/// `struct inet_diag_sockid`.
const SOCKID: usize = 48;
/// `struct inet_diag_req_v2`.
const REQUEST: usize = 8 + SOCKID;
/// Connected UDP sockets are in state `TCP_ESTABLISHED` (1).
const ESTABLISHED: u32 = 1 << 1;

/// Destroys, in the network namespace at `netns`, every connected UDP
/// socket whose peer is one of `backends`. Returns how many were destroyed.
pub fn destroy_udp_to(netns: &Path, backends: &[Endpoint]) -> io::Result<usize> {
    if backends.is_empty() {
        return Ok(0);
    }
    let backends = backends.to_vec();
    in_netns(netns, move || {
        let mut sock = Socket::new(NETLINK_SOCK_DIAG)?;
        sock.bind_auto()?;
        sock.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        let ids = dump(&sock, &backends)?;
        let mut destroyed = 0;
        for id in ids {
            sock.send(&request(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, &id), 0)?;
            match read_until_done(&sock, |_| {})? {
                0 => destroyed += 1,
                // Gone meanwhile.
                e if e == -libc::ENOENT => {}
                e => return Err(io::Error::from_raw_os_error(-e)),
            }
        }
        Ok(destroyed)
    })
}

/// The socket ids of connected UDP sockets to any of `backends`.
fn dump(sock: &Socket, backends: &[Endpoint]) -> io::Result<Vec<[u8; SOCKID]>> {
    sock.send(
        &request(
            SOCK_DIAG_BY_FAMILY,
            NLM_F_REQUEST | NLM_F_DUMP,
            &[0; SOCKID],
        ),
        0,
    )?;
    let mut out = Vec::new();
    let rc = read_until_done(sock, |msg| {
        // struct inet_diag_msg: family, state, timer, retrans, then the id.
        let Some(id) = msg.get(4..4 + SOCKID) else {
            return;
        };
        let dport = u16::from_be_bytes([id[2], id[3]]);
        let dst = [id[20], id[21], id[22], id[23]];
        if backends
            .iter()
            .any(|b| b.ip.octets() == dst && b.port == dport)
        {
            let mut copy = [0u8; SOCKID];
            copy.copy_from_slice(id);
            out.push(copy);
        }
    })?;
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(-rc));
    }
    Ok(out)
}

/// Builds a sock_diag request for UDP over IPv4.
fn request(kind: u16, flags: u16, id: &[u8; SOCKID]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER + REQUEST);
    b.extend_from_slice(&((HEADER + REQUEST) as u32).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    b.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    b.push(libc::AF_INET as u8);
    b.push(libc::IPPROTO_UDP as u8);
    b.push(0); // no extensions
    b.push(0);
    b.extend_from_slice(&ESTABLISHED.to_ne_bytes());
    b.extend_from_slice(id);
    b
}

/// Reads replies, handing each payload to `each`, until DONE or an error
/// message; returns the (negative) errno of an error message, 0 otherwise.
fn read_until_done(sock: &Socket, mut each: impl FnMut(&[u8])) -> io::Result<i32> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut slice = &mut buf[..];
        let n = sock.recv(&mut slice, 0)?;
        let mut off = 0;
        while off + HEADER <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap_or([0; 4])) as usize;
            let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            if len < HEADER || off + len > n {
                return Err(io::Error::other("malformed sock_diag reply"));
            }
            let payload = &buf[off + HEADER..off + len];
            match kind {
                NLMSG_DONE => return Ok(0),
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    return Ok(code);
                }
                _ => each(payload),
            }
            off += (len + 3) & !3;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_matches_the_kernel_structs() {
        let id = [7u8; SOCKID];
        let r = request(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, &id);
        assert_eq!(r.len(), 72);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 72);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), SOCK_DESTROY);
        assert_eq!(r[16], libc::AF_INET as u8);
        assert_eq!(r[17], libc::IPPROTO_UDP as u8);
        assert_eq!(&r[24..], &id);
    }
}
