//! Small helpers shared by the server, the agent and the CLI: private
//! files, short hashes, and accepting TCP connections.
use std::{fs, io, io::Write, path::Path};

/// Writes `data` to `path` atomically (temp file + rename) with mode 0600.
pub fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// A stable 32-bit FNV-1a hash as 8 hex digits, for short unique names
/// (interface names are limited to 15 bytes).
pub fn short_hash(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The next connection on `listener`, with Nagle off. A failed accept (out
/// of file descriptors, a connection reset before it was taken) is logged
/// and retried after 50 ms rather than ending the listener.
pub async fn accept(listener: &tokio::net::TcpListener) -> tokio::net::TcpStream {
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                return tcp;
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hash_is_stable_and_short() {
        assert_eq!(short_hash(""), "811c9dc5");
        assert_eq!(short_hash("node-1"), short_hash("node-1"));
        assert_ne!(short_hash("node-1"), short_hash("node-2"));
        assert_eq!(short_hash("x").len(), 8);
    }
}
