//! `orch-proxy dump`: the live service table as a text table.
use std::fmt::Write;

use crate::model::ServicePort;

/// Renders rows of (port, translated connections if known).
pub fn render(rows: &[(ServicePort, Option<u64>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<32} {:>11}  BACKENDS",
        "FRONTEND", "SERVICE", "CONNECTIONS"
    );
    for (p, n) in rows {
        let backends = if p.endpoints.is_empty() {
            "(none: refused)".to_string()
        } else {
            p.endpoints
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let name = p.name.to_string();
        let name = if name == "/" { "-".to_string() } else { name };
        let n = n.map_or_else(|| "-".to_string(), |n| n.to_string());
        let _ = writeln!(
            out,
            "{:<24} {:<32} {:>11}  {}",
            p.frontend.to_string(),
            name,
            n,
            backends
        );
    }
    out
}
