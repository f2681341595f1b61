//! Reading commit counters out of Prometheus text: the embedded store's
//! own metrics (encoded in-process) and etcd's `/metrics` (plain HTTP on
//! loopback). The store benchmark uses them to show fsyncs per write.
use anyhow::{Context, Result};
use prometheus_client::{encoding::text::encode, registry::Registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `_sum` and `_count` of histogram `name` in Prometheus text.
pub fn sum_count(text: &str, name: &str) -> Option<(f64, u64)> {
    let value = |suffix: &str| {
        let key = format!("{name}{suffix}");
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse::<f64>().ok()).flatten()
        })
    };
    Some((value("_sum")?, value("_count")? as u64))
}

/// The value of the unlabelled sample `name`.
pub fn value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Every labelled sample of `name`: (the label text inside `{}`, value).
pub fn labelled(text: &str, name: &str) -> Vec<(String, f64)> {
    let prefix = format!("{name}{{");
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (labels, v) = rest.rsplit_once("} ")?;
            Some((labels.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The text of a registry.
pub fn encode_registry(registry: &Registry) -> String {
    let mut s = String::new();
    let _ = encode(&mut s, registry);
    s
}

/// `GET /metrics` from `host:port` over plain HTTP/1.0.
pub async fn scrape(addr: &str) -> Result<String> {
    let mut conn = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut body = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        conn.read_to_string(&mut body),
    )
    .await
    .context("reading /metrics timed out")??;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_histogram_sum_and_count() {
        let text =
            "# HELP x\nfoo_seconds_bucket{le=\"1\"} 3\nfoo_seconds_sum 0.5\nfoo_seconds_count 4\n";
        assert_eq!(sum_count(text, "foo_seconds"), Some((0.5, 4)));
        assert_eq!(sum_count(text, "bar"), None);
        assert_eq!(value(text, "foo_seconds_count"), Some(4.0));
        assert_eq!(
            labelled(text, "foo_seconds_bucket"),
            vec![("le=\"1\"".to_string(), 3.0)]
        );
    }
}
