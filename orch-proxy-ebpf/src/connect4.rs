//! `connect4` hook: TCP and connected UDP. A new backend is picked at random
//! per connection; a Service without backends refuses at once.
use aya_ebpf::{macros::cgroup_sock_addr, programs::SockAddrContext};

use crate::lb::{translate, Pick, Verdict, ALLOW, REJECT};

#[cgroup_sock_addr(connect4)]
pub fn orch_connect4(ctx: SockAddrContext) -> i32 {
    match translate(&ctx, Pick::Random) {
        Verdict::Refuse => REJECT,
        Verdict::Pass | Verdict::Translated => ALLOW,
    }
}
