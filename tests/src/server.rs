//! A tiny TCP server bound inside a test namespace: it writes a fixed
//! greeting to every client and closes. It stops and joins on drop.
use std::{
    io::Write,
    net::{SocketAddr, TcpListener},
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

/// A running greeter.
#[derive(Debug)]
pub struct Greeter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Greeter {
    /// Binds `addr` inside the namespace at `netns` and starts serving.
    pub fn start(netns: &Path, addr: SocketAddr, greeting: &str) -> Self {
        let listener = orch_proxy::sys::in_netns(netns, || {
            let l = TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .unwrap_or_else(|e| panic!("binding {addr} in {}: {e}", netns.display()));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let greeting = format!("{greeting}\n");
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.write_all(greeting.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Greeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
