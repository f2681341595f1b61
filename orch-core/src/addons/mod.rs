//! Add-ons `orch server` installs at boot through the API, as kubeadm
//! does: the cluster DNS ([`dns`]).
pub mod dns;
