//! The eBPF object built from `orch-proxy-ebpf`, embedded at compile time.
//! `build.rs` refuses to build with a missing or stale object.

/// Bytes of the ELF object, 8-byte aligned as aya requires.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(env!("ORCH_PROXY_EBPF_OBJECT"));
