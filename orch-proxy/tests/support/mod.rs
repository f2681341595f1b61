//! Helpers for the iptables packet-path tests: a simulated node with pods
//! ([`topology`]), echo servers and clients inside them ([`echo`]), and the
//! privilege check and helper commands shared with the other test crates
//! (`orch-testkit`).
#![allow(dead_code)]

pub mod echo;
pub mod topology;

pub use orch_testkit::{
    cmd::{quiet, run},
    root::require_root,
};
