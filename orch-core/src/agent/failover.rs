//! Failover between several API servers: a TCP relay on a loopback port
//! that the agent's client (and the Service proxy and pods' token requests
//! that share it) talks to. Each new connection goes to the server that
//! last answered, or the next one that accepts, so when a server goes away
//! its connections break, the client reconnects and lands on a live one.
//! TLS passes through untouched: every server's certificate names
//! 127.0.0.1, and all of them are issued by the one cluster CA.
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// How long one server may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A running relay; stops when dropped.
#[derive(Debug)]
pub struct Failover {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Failover {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `https://HOST:PORT` → `HOST:PORT`, or an error naming the value.
pub fn server_address(url: &str) -> Result<String, String> {
    let expected = || format!("--server {url:?}: expected https://HOST:PORT");
    let uri: http::Uri = url.parse().map_err(|_| expected())?;
    if uri.scheme_str() != Some("https") || !matches!(uri.path(), "" | "/") {
        return Err(expected());
    }
    let auth = uri.authority().ok_or_else(expected)?;
    Ok(format!(
        "{}:{}",
        auth.host(),
        auth.port_u16().unwrap_or(443)
    ))
}

impl Failover {
    /// Listens on a free loopback port and relays to `servers`
    /// (`HOST:PORT`), preferring them in order.
    pub async fn start(servers: Vec<String>) -> std::io::Result<Self> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let servers = Arc::new(servers);
        let current = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            loop {
                let client = crate::util::accept(&listener).await;
                tokio::spawn(relay(client, servers.clone(), current.clone()));
            }
        });
        Ok(Self { addr, task })
    }

    /// The URL clients use.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

/// Connects to the current server or, failing that, the next ones in turn.
async fn connect(servers: &[String], current: &AtomicUsize) -> Option<TcpStream> {
    let first = current.load(Ordering::Relaxed);
    for i in 0..servers.len() {
        let idx = (first + i) % servers.len();
        let server = &servers[idx];
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(server.as_str())).await {
            Ok(Ok(s)) => {
                if idx != first
                    && current
                        .compare_exchange(first, idx, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::info!(%server, "API server failover: now using this server");
                }
                return Some(s);
            }
            Ok(Err(e)) => tracing::debug!(%server, error = %e, "API server refused"),
            Err(_) => tracing::debug!(%server, "API server did not accept in time"),
        }
    }
    None
}

async fn relay(mut client: TcpStream, servers: Arc<Vec<String>>, current: Arc<AtomicUsize>) {
    let Some(mut upstream) = connect(&servers, &current).await else {
        tracing::warn!(servers = %servers.join(","), "no API server accepts connections");
        return;
    };
    let _ = upstream.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn server_urls_are_checked() {
        assert_eq!(
            server_address("https://10.0.0.1:6443").unwrap(),
            "10.0.0.1:6443"
        );
        assert_eq!(
            server_address("https://api.example:6443/").unwrap(),
            "api.example:6443"
        );
        assert_eq!(
            server_address("https://api.example").unwrap(),
            "api.example:443"
        );
        for bad in [
            "http://10.0.0.1:6443",
            "10.0.0.1:6443",
            "https://h:1/api",
            "",
        ] {
            let e = server_address(bad).unwrap_err();
            assert!(e.contains("expected https://HOST:PORT"), "{bad}: {e}");
        }
    }

    /// A server answering every connection with `tag`.
    async fn tagged(tag: &'static [u8]) -> (String, JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(tag).await;
            }
        });
        (addr, t)
    }

    async fn ask(f: &Failover) -> Vec<u8> {
        let mut s = TcpStream::connect(f.addr).await.unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        buf
    }

    #[tokio::test]
    async fn connections_move_to_a_live_server_and_stay_there() {
        let (a, ta) = tagged(b"a").await;
        let (b, tb) = tagged(b"b").await;
        let f = Failover::start(vec![a.clone(), b.clone()]).await.unwrap();
        assert_eq!(ask(&f).await, b"a");
        ta.abort();
        let _ = ta.await;
        assert_eq!(ask(&f).await, b"b");
        // `a` back: connections stay on `b` while it lives.
        let l = TcpListener::bind(&a).await.unwrap();
        assert_eq!(ask(&f).await, b"b");
        drop(l);
        tb.abort();
        let _ = tb.await;
        // Nothing listening anywhere: the connection is closed, not hung.
        assert_eq!(ask(&f).await, b"");
    }
}
