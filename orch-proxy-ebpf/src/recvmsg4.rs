//! `recvmsg4` hook: unconnected UDP replies appear to come from the VIP.
use aya_ebpf::{macros::cgroup_sock_addr, programs::SockAddrContext};

use crate::lb::{reverse, ALLOW};

#[cgroup_sock_addr(recvmsg4)]
pub fn orch_recvmsg4(ctx: SockAddrContext) -> i32 {
    reverse(&ctx);
    ALLOW
}
