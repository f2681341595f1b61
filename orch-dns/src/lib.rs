//! orch-dns: cluster DNS for `cluster.local`.
