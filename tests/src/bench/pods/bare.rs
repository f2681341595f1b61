//! The floor under pod startup, measured on the same machine in the same
//! run: the kernel work a pod needs without orch around it. Each sample
//! creates a network namespace (as the agent does), a veth pair with one
//! end moved into it, addressed and up (over rtnetlink, as the agent
//! does), then starts `sleep` in it (`nsenter --net`) and waits until that
//! process is running. Everything is removed after each sample.
use std::{
    net::Ipv4Addr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use orch_core::agent::{netlink::Net, netns};

use crate::{cmd, names::unique_name};

/// One sample's resources, removed on drop.
struct Sample {
    netns: String,
    host_veth: String,
    child: Option<Child>,
}

impl Drop for Sample {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        cmd::quiet("ip", &["link", "del", &self.host_veth]);
        let _ = netns::delete(&self.netns);
    }
}

/// Waits until `pid` runs `comm` (it has exec'd), at most 10 s.
async fn wait_exec(pid: u32, comm: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if now.trim() == comm {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("process {pid} did not exec {comm} within 10 s");
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

async fn sample(host: &Net) -> Result<Duration> {
    let mut s = Sample {
        netns: unique_name("obb"),
        host_veth: unique_name("obh"),
        child: None,
    };
    let peer = unique_name("obq");
    let t = Instant::now();
    let path = netns::create(&s.netns).context("creating the netns")?;
    host.ensure_veth(&s.host_veth, &peer).await?;
    host.move_to(&peer, &path).await?;
    let inside = Net::in_netns(&path).await?;
    inside.set_up("lo").await?;
    inside
        .add_addr(&peer, Ipv4Addr::new(10, 253, 1, 2), 24)
        .await?;
    inside.set_up(&peer).await?;
    host.set_up(&s.host_veth).await?;
    let child = Command::new("nsenter")
        .arg(format!("--net={}", path.display()))
        .args(["sleep", "3600"])
        .stdin(Stdio::null())
        .spawn()
        .context("starting nsenter")?;
    let pid = child.id();
    s.child = Some(child);
    wait_exec(pid, "sleep").await?;
    Ok(t.elapsed())
}

/// `count` samples, sorted.
pub async fn run(count: usize) -> Result<Vec<Duration>> {
    let host = Net::host()?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(sample(&host).await?);
    }
    out.sort();
    Ok(out)
}
