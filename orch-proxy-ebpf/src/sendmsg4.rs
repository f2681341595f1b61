//! `sendmsg4` hook: unconnected UDP. Each datagram to a VIP goes to the
//! backend chosen for its socket, and the reverse translation is recorded
//! so `recvmsg4` can make replies come from the VIP.
use aya_ebpf::{macros::cgroup_sock_addr, programs::SockAddrContext};

use crate::lb::{translate, Pick, Verdict, ALLOW, REJECT};

#[cgroup_sock_addr(sendmsg4)]
pub fn orch_sendmsg4(ctx: SockAddrContext) -> i32 {
    match translate(&ctx, Pick::PerSocket) {
        Verdict::Refuse => REJECT,
        Verdict::Pass | Verdict::Translated => ALLOW,
    }
}
