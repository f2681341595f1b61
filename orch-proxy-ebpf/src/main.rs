//! eBPF programs of orch-proxy: socket-level Service load-balancing at the
//! cgroup v2 `sock_addr` hooks.
//!
//! Built only for `bpfel-unknown-none` (`cargo xtask build-ebpf`). On any other
//! target this crate is an empty binary so workspace-wide tools still work.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod connect4;
#[cfg(target_arch = "bpf")]
mod getpeername4;
#[cfg(target_arch = "bpf")]
mod lb;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod recvmsg4;
#[cfg(target_arch = "bpf")]
mod sendmsg4;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any program that could reach this, so it is never
    // executed; it only has to exist for `no_std`.
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
