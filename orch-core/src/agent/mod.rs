//! The node agent: registers its node, runs the pods bound to it in real
//! Linux namespaces, reports their status and keeps them as declared.
pub mod netlink;
pub mod netns;
