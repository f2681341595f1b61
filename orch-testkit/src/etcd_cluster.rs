//! A real etcd cluster of several members on loopback, for tests of a
//! highly available control plane: which member leads (asked with
//! `etcdctl endpoint status`), and killing one member while the others
//! keep a quorum. Every member is killed and its directory removed on drop.
use std::{io, path::Path, process::Command};

use crate::{etcd::Etcd, free_port};

/// A running cluster.
#[derive(Debug)]
pub struct EtcdCluster {
    members: Vec<Etcd>,
}

impl EtcdCluster {
    /// Starts `n` members and waits until each is healthy.
    pub fn start(bin: &Path, n: usize) -> io::Result<Self> {
        let ports = (0..n)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<io::Result<Vec<_>>>()?;
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = ports
            .iter()
            .enumerate()
            .map(|(i, (client, peer))| {
                Etcd::member(bin, &format!("m{i}"), *client, *peer, &initial)
            })
            .collect::<io::Result<Vec<_>>>()?;
        for m in &mut members {
            m.launch()?;
        }
        for m in &mut members {
            m.wait_ready()?;
        }
        Ok(Self { members })
    }

    /// The client URLs of all members, comma separated.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(Etcd::client_url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Member `i`.
    pub fn member(&mut self, i: usize) -> &mut Etcd {
        &mut self.members[i]
    }

    /// The index of the member that leads, asked of the running members.
    pub fn leader(&self) -> io::Result<usize> {
        let running: Vec<(usize, String)> = self
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.pid() != 0)
            .map(|(i, m)| (i, m.client_url()))
            .collect();
        let urls = running.iter().map(|(_, u)| u.as_str()).collect::<Vec<_>>();
        let out = Command::new(crate::etcd::etcdctl())
            .args([
                "--endpoints",
                &urls.join(","),
                "endpoint",
                "status",
                "-w",
                "json",
            ])
            .env("ETCDCTL_API", "3")
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("running etcdctl: {e}")))?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "etcdctl endpoint status: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| io::Error::other(format!("etcdctl endpoint status output: {e}")))?;
        let statuses = v.as_array().cloned().unwrap_or_default();
        for s in &statuses {
            let me = s.pointer("/Status/header/member_id");
            if me.is_some() && me == s.pointer("/Status/leader") {
                let url = s["Endpoint"].as_str().unwrap_or_default();
                if let Some((i, _)) = running.iter().find(|(_, u)| u == url) {
                    return Ok(*i);
                }
            }
        }
        Err(io::Error::other(format!(
            "no member says it leads: {}",
            String::from_utf8_lossy(&out.stdout)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_keeps_a_leader_when_its_leader_dies() {
        let mut c = EtcdCluster::start(&crate::etcd::binary(), 3).unwrap();
        assert_eq!(c.endpoints().split(',').count(), 3);
        let first = c.leader().unwrap();
        let dir = c.member(first).data_dir();
        c.member(first).kill();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let next = loop {
            match c.leader() {
                Ok(i) => break i,
                Err(e) if std::time::Instant::now() > deadline => panic!("{e}"),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
            }
        };
        assert_ne!(next, first);
        drop(c);
        assert!(!dir.exists(), "the members' directories are removed");
    }
}
