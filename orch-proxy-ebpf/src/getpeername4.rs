//! `getpeername4` hook: a translated socket reports the VIP as its peer.
use aya_ebpf::{macros::cgroup_sock_addr, programs::SockAddrContext};

use crate::lb::{reverse, ALLOW};

#[cgroup_sock_addr(getpeername4)]
pub fn orch_getpeername4(ctx: SockAddrContext) -> i32 {
    reverse(&ctx);
    ALLOW
}
