//! Runs `wrk` inside the client namespace and reads its request rate.
use std::{process::Command, time::Duration};

use anyhow::{bail, Context, Result};

/// How `wrk` connects.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// Keep-alive: requests/s over a few long connections.
    KeepAlive,
    /// A new connection per request.
    NewConnections,
}

/// Requests per second `wrk` reached against `url` from netns `ns`.
pub fn requests_per_sec(ns: &str, url: &str, load: Load, secs: Duration) -> Result<f64> {
    let dur = format!("{}s", secs.as_secs().max(1));
    let mut args = vec![
        "netns",
        "exec",
        ns,
        "wrk",
        "-t",
        "1",
        "-c",
        "16",
        "-d",
        &dur,
        "--timeout",
        "2s",
    ];
    if let Load::NewConnections = load {
        args.extend(["-H", "Connection: close"]);
    }
    args.push(url);
    let out = Command::new("ip")
        .args(&args)
        .output()
        .context("running wrk (install it with `apt-get install wrk`)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
    {
        bail!("wrk saw errors against {url}: {line}\n{text}");
    }
    parse_rate(&text).with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))
}

fn parse_rate(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_rate() {
        let out = "Running 1s test\n  1 threads and 16 connections\nRequests/sec:  12345.67\nTransfer/sec: 1MB\n";
        assert_eq!(super::parse_rate(out), Some(12345.67));
        assert_eq!(super::parse_rate("nothing"), None);
    }
}
