//! Small programs built into the `orch` binary (`orch tools ...`).
pub mod echo;
