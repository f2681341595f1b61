//! `connect4` hook: rewrites the destination of TCP and connected-UDP sockets
//! from a Service VIP to a backend, for sockets in scoped namespaces only.
use aya_ebpf::{
    bindings::bpf_sock_addr, helpers::generated::bpf_get_netns_cookie, macros::cgroup_sock_addr,
    programs::SockAddrContext,
};
use orch_proxy_common::{ServiceKey, PROTO_TCP, PROTO_UDP};

use crate::maps::{ORCH_SCOPE, ORCH_SERVICES};

/// Return value that lets the syscall proceed.
const ALLOW: i32 = 1;

#[cgroup_sock_addr(connect4)]
pub fn orch_connect4(ctx: SockAddrContext) -> i32 {
    rewrite(&ctx);
    ALLOW
}

#[inline(always)]
fn rewrite(ctx: &SockAddrContext) {
    // SAFETY: `ctx.sock_addr` is the context pointer the kernel passed to
    // this program; the helper only reads the socket's namespace from it.
    let cookie = unsafe { bpf_get_netns_cookie(ctx.sock_addr.cast()) };
    // SAFETY: read-only lookup of a plain-old-data value in a kernel map.
    if unsafe { ORCH_SCOPE.get(&cookie) }.is_none() {
        return;
    }
    let sa: *mut bpf_sock_addr = ctx.sock_addr;
    // SAFETY: the verifier guarantees the context pointer is valid for the
    // duration of the program; these fields are readable in connect4.
    let (ip, port, proto) = unsafe { ((*sa).user_ip4, (*sa).user_port, (*sa).protocol) };
    let protocol = match proto {
        6 => PROTO_TCP,
        17 => PROTO_UDP,
        _ => return,
    };
    let key = ServiceKey {
        address: ip,
        // user_port holds the port in network order in its low 16 bits.
        port: port as u16,
        protocol,
        pad: 0,
    };
    // SAFETY: read-only lookup of a plain-old-data value in a kernel map.
    if let Some(backend) = unsafe { ORCH_SERVICES.get(&key) } {
        // SAFETY: user_ip4 and user_port are writable in connect4.
        unsafe {
            (*sa).user_ip4 = backend.address;
            (*sa).user_port = u32::from(backend.port);
        }
    }
}
