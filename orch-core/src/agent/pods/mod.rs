//! Running the pods bound to this node.
pub mod probe;
