//! Inline helpers shared by the hooks: scope check, service lookup, backend
//! choice, reverse-NAT bookkeeping. Every hook file is a thin entry point
//! over these.
use aya_ebpf::{
    bindings::bpf_sock_addr,
    helpers::generated::{
        bpf_get_netns_cookie, bpf_get_prandom_u32, bpf_get_socket_cookie, bpf_set_retval,
    },
    programs::SockAddrContext,
};
use orch_proxy_common::{Backend, RevNatKey, RevNatValue, ServiceKey, PROTO_TCP, PROTO_UDP};

use crate::maps::{ORCH_BACKENDS, ORCH_REVNAT, ORCH_SCOPE, ORCH_SERVICES, ORCH_STATS};

/// Return value that lets the syscall proceed.
pub const ALLOW: i32 = 1;
/// Return value that fails the syscall (with the errno set by
/// `bpf_set_retval`, or EPERM).
pub const REJECT: i32 = 0;
/// errno for a Service without backends, as a refused connection.
const ECONNREFUSED: i32 = 111;

/// How a backend is chosen among a Service's slots.
#[derive(Clone, Copy)]
pub enum Pick {
    /// At random, per connection.
    Random,
    /// From the socket cookie, so every datagram of one unconnected socket
    /// goes to the same backend.
    PerSocket,
}

/// What a translation decided.
pub enum Verdict {
    /// Not a Service (or not in scope): leave the socket alone.
    Pass,
    /// Translated to a backend.
    Translated,
    /// A Service without backends: refuse.
    Refuse,
}

/// Whether the socket's network namespace belongs to this node.
#[inline(always)]
pub fn in_scope(ctx: &SockAddrContext) -> bool {
    // SAFETY: `ctx.sock_addr` is the context pointer the kernel passed to
    // this program; the helper only reads the socket's namespace from it.
    let cookie = unsafe { bpf_get_netns_cookie(ctx.sock_addr.cast()) };
    ORCH_SCOPE.get_ptr(cookie).is_some()
}

/// The socket's cookie.
#[inline(always)]
fn socket_cookie(ctx: &SockAddrContext) -> u64 {
    // SAFETY: `bpf_get_socket_cookie` accepts the sock_addr context.
    unsafe { bpf_get_socket_cookie(ctx.sock_addr.cast()) }
}

/// Reads the destination the program was called with as a service key.
#[inline(always)]
fn destination(sa: *mut bpf_sock_addr) -> Option<ServiceKey> {
    // SAFETY: the verifier guarantees the context pointer is valid for the
    // duration of the program; these fields are readable in every
    // sock_addr hook.
    let (ip, port, proto) = unsafe { ((*sa).user_ip4, (*sa).user_port, (*sa).protocol) };
    let protocol = match proto {
        6 => PROTO_TCP,
        17 => PROTO_UDP,
        _ => return None,
    };
    Some(ServiceKey {
        address: ip,
        // user_port holds the port in network order in its low 16 bits.
        port: port as u16,
        protocol,
        pad: 0,
        slot: 0,
        pad2: 0,
    })
}

/// Rewrites the destination of a connect/sendmsg from a VIP to a backend
/// and records the reverse translation.
#[inline(always)]
pub fn translate(ctx: &SockAddrContext, pick: Pick) -> Verdict {
    if !in_scope(ctx) {
        return Verdict::Pass;
    }
    let sa = ctx.sock_addr;
    let Some(key) = destination(sa) else {
        return Verdict::Pass;
    };
    let Some(svc) = ORCH_SERVICES.get_ptr(key) else {
        return Verdict::Pass;
    };
    // SAFETY: a pointer returned by a map lookup stays valid for the rest
    // of the program run.
    let (count, service_id) = unsafe { ((*svc).count, (*svc).service_id) };
    if count == 0 {
        aya_log_ebpf::debug!(
            ctx,
            "refused {:i}:{}: no endpoints",
            u32::from_be(key.address),
            u16::from_be(key.port)
        );
        // SAFETY: plain helper call; sets the errno the syscall returns.
        unsafe { bpf_set_retval(-ECONNREFUSED) };
        return Verdict::Refuse;
    }
    let cookie = socket_cookie(ctx);
    let draw = match pick {
        // SAFETY: plain helper call without arguments.
        Pick::Random => unsafe { bpf_get_prandom_u32() },
        Pick::PerSocket => mix(cookie),
    };
    let slot = (draw % u32::from(count)) as u16 + 1;
    let Some(slot_value) = ORCH_SERVICES.get_ptr(key.at(slot)) else {
        aya_log_ebpf::warn!(ctx, "service {} has no slot {}", service_id, slot);
        return Verdict::Pass;
    };
    // SAFETY: as above, a map value pointer from a successful lookup.
    let backend_id = unsafe { (*slot_value).backend_id };
    let Some(backend) = ORCH_BACKENDS.get_ptr(backend_id) else {
        aya_log_ebpf::warn!(
            ctx,
            "service {} points at missing backend {}",
            service_id,
            backend_id
        );
        return Verdict::Pass;
    };
    // SAFETY: as above.
    let backend: Backend = unsafe { *backend };
    // SAFETY: user_ip4 and user_port are writable in connect4 and sendmsg4.
    unsafe {
        (*sa).user_ip4 = backend.address;
        (*sa).user_port = u32::from(backend.port);
    }
    let rev_key = RevNatKey {
        cookie,
        address: backend.address,
        port: backend.port,
        pad: 0,
    };
    let rev = RevNatValue {
        address: key.address,
        port: key.port,
        pad: 0,
    };
    let _ = ORCH_REVNAT.insert(rev_key, rev, 0);
    if let Some(counter) = ORCH_STATS.get_ptr_mut(service_id) {
        // SAFETY: a per-CPU slot of this CPU; no other program writes it
        // concurrently.
        unsafe { *counter += 1 };
    }
    Verdict::Translated
}

/// Rewrites the peer address seen by recvmsg/getpeername from a backend
/// back to the VIP the socket asked for.
#[inline(always)]
pub fn reverse(ctx: &SockAddrContext) {
    if !in_scope(ctx) {
        return;
    }
    let sa = ctx.sock_addr;
    // SAFETY: the verifier guarantees the context pointer is valid; these
    // fields are readable in recvmsg4 and getpeername4.
    let (ip, port) = unsafe { ((*sa).user_ip4, (*sa).user_port) };
    let key = RevNatKey {
        cookie: socket_cookie(ctx),
        address: ip,
        port: port as u16,
        pad: 0,
    };
    if let Some(vip) = ORCH_REVNAT.get_ptr(key) {
        // SAFETY: map value pointer from a successful lookup; the context
        // fields are writable in recvmsg4 and getpeername4.
        unsafe {
            (*sa).user_ip4 = (*vip).address;
            (*sa).user_port = u32::from((*vip).port);
        }
    }
}

/// Spreads sequential socket cookies over the slots.
#[inline(always)]
fn mix(cookie: u64) -> u32 {
    let x = cookie.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 32) as u32
}
