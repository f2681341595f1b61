//! The cluster DNS add-on: the Deployment `orch-dns` and the Service
//! `kube-dns` (10th address of the service CIDR, UDP and TCP 53) in
//! `kube-system`, like kubeadm's CoreDNS. Pods run on the host-process
//! runtime, so the container command is an absolute path: the `orch-dns`
//! binary next to the running `orch`, else `orch dns`. Created when absent;
//! the Deployment is replaced when its container differs from ours (a
//! moved binary, other flags).
use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
};

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Service};
use kube::{
    api::{PostParams, ResourceExt},
    Api, Client,
};
use serde_json::json;

/// Namespace of the add-on.
pub const NAMESPACE: &str = "kube-system";
/// Name of the Deployment.
pub const DEPLOYMENT: &str = "orch-dns";
/// Name of the Service.
pub const SERVICE: &str = "kube-dns";
/// Label selecting the DNS pods (the one kubeadm uses).
pub const APP_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
/// Port of `/healthz`, `/readyz` and `/metrics`.
pub const HTTP_PORT: u16 = 9153;

/// How the add-on is set up.
#[derive(Debug, Clone)]
pub struct ClusterDns {
    /// The Service's ClusterIP.
    pub service_ip: Ipv4Addr,
    /// Cluster domain.
    pub domain: String,
    /// Service CIDR.
    pub service_cidr: String,
    /// Pod CIDR.
    pub pod_cidr: String,
    /// Upstream servers for other names.
    pub upstreams: Vec<IpAddr>,
    /// The program and its leading arguments.
    pub program: Vec<String>,
}

/// `<dir of orch_exe>/orch-dns` if it exists, else `<orch_exe> dns`.
pub fn program(orch_exe: &Path) -> Vec<String> {
    let beside = orch_exe.with_file_name("orch-dns");
    if beside.is_file() {
        vec![beside.display().to_string()]
    } else {
        vec![orch_exe.display().to_string(), "dns".into()]
    }
}

/// The nameservers of a resolv.conf text a pod can reach: loopback ones
/// (a resolver on the host's own loopback) are not.
pub fn host_upstreams(resolv_conf: &str) -> Vec<IpAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|a| a.split('%').next()?.parse::<IpAddr>().ok())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .collect()
}

impl ClusterDns {
    /// The container command.
    pub fn command(&self) -> Vec<String> {
        let mut c = self.program.clone();
        c.extend(
            [
                "--listen",
                "0.0.0.0:53",
                "--http-listen",
                &format!("0.0.0.0:{HTTP_PORT}"),
                "--cluster-domain",
                &self.domain,
                "--service-cidr",
                &self.service_cidr,
                "--pod-cidr",
                &self.pod_cidr,
            ]
            .map(String::from),
        );
        if self.upstreams.is_empty() {
            c.push("--no-forward".into());
        }
        for u in &self.upstreams {
            c.extend(["--upstream".to_string(), u.to_string()]);
        }
        c
    }

    /// The Service `kube-dns`.
    pub fn service(&self) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": {APP_LABEL.0: APP_LABEL.1}},
            "spec": {
                "clusterIP": self.service_ip.to_string(),
                "selector": {APP_LABEL.0: APP_LABEL.1},
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"},
                    {"name": "metrics", "port": HTTP_PORT, "targetPort": HTTP_PORT, "protocol": "TCP"}
                ]
            }
        }))
        .expect("a valid Service")
    }

    /// The Deployment `orch-dns`.
    pub fn deployment(&self) -> Deployment {
        // Readiness is asked every second so the Service has its endpoint
        // right after the first sync; liveness every 10 s.
        let probe = |path: &str, period: u32| json!({"httpGet": {"path": path, "port": HTTP_PORT}, "periodSeconds": period});
        serde_json::from_value(json!({
            "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE, "labels": {APP_LABEL.0: APP_LABEL.1}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {APP_LABEL.0: APP_LABEL.1}},
                "template": {
                    "metadata": {"labels": {APP_LABEL.0: APP_LABEL.1}},
                    "spec": {
                        "containers": [{
                            "name": "orch-dns",
                            "image": "orch/orch-dns",
                            "command": self.command(),
                            "ports": [
                                {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                {"name": "metrics", "containerPort": HTTP_PORT, "protocol": "TCP"}
                            ],
                            "readinessProbe": probe("/readyz", 1),
                            "livenessProbe": probe("/healthz", 10)
                        }]
                    }
                }
            }
        }))
        .expect("a valid Deployment")
    }
}

/// Creates the Service and the Deployment if absent; replaces the
/// Deployment if its container differs.
pub async fn install(client: Client, dns: &ClusterDns) -> Result<(), kube::Error> {
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    match services
        .create(&PostParams::default(), &dns.service())
        .await
    {
        Ok(_) => tracing::info!(ip = %dns.service_ip, "created Service {NAMESPACE}/{SERVICE}"),
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e),
    }
    let deployments: Api<Deployment> = Api::namespaced(client, NAMESPACE);
    let want = dns.deployment();
    match deployments.get_opt(DEPLOYMENT).await? {
        None => {
            deployments.create(&PostParams::default(), &want).await?;
            tracing::info!(command = ?dns.command(), "created Deployment {NAMESPACE}/{DEPLOYMENT}");
        }
        Some(current) => {
            let container = |d: &Deployment| {
                d.spec
                    .as_ref()
                    .and_then(|s| s.template.spec.as_ref())
                    .and_then(|s| s.containers.first())
                    .map(|c| (c.command.clone(), c.ports.clone()))
            };
            if container(&current) != container(&want) {
                let mut next = want;
                next.metadata.resource_version = current.resource_version();
                deployments
                    .replace(DEPLOYMENT, &PostParams::default(), &next)
                    .await?;
                tracing::info!(command = ?dns.command(), "updated Deployment {NAMESPACE}/{DEPLOYMENT}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(program: Vec<String>) -> ClusterDns {
        ClusterDns {
            service_ip: Ipv4Addr::new(10, 96, 0, 10),
            domain: "cluster.local".into(),
            service_cidr: "10.96.0.0/16".into(),
            pod_cidr: "10.244.0.0/16".into(),
            upstreams: vec!["192.0.2.53".parse().unwrap()],
            program,
        }
    }

    #[test]
    fn objects_follow_kubeadm() {
        let d = dns(vec!["/usr/bin/orch".into(), "dns".into()]);
        let s = d.service();
        let spec = s.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
        let ports: Vec<(String, i32, String)> = spec
            .ports
            .unwrap()
            .into_iter()
            .map(|p| (p.name.unwrap(), p.port, p.protocol.unwrap()))
            .collect();
        assert_eq!(ports[0], ("dns".into(), 53, "UDP".into()));
        assert_eq!(ports[1], ("dns-tcp".into(), 53, "TCP".into()));
        assert_eq!(spec.selector.unwrap()["k8s-app"], "kube-dns");
        let dep = d.deployment();
        let c = &dep.spec.unwrap().template.spec.unwrap().containers[0];
        let cmd = c.command.clone().unwrap();
        assert_eq!(&cmd[..2], ["/usr/bin/orch", "dns"]);
        assert!(cmd.windows(2).any(|w| w == ["--upstream", "192.0.2.53"]));
        assert!(cmd.windows(2).any(|w| w == ["--listen", "0.0.0.0:53"]));
    }

    #[test]
    fn program_prefers_the_binary_beside_orch() {
        let dir = tempfile::tempdir().unwrap();
        let orch = dir.path().join("orch");
        assert_eq!(program(&orch)[1], "dns");
        std::fs::write(dir.path().join("orch-dns"), b"").unwrap();
        assert_eq!(
            program(&orch),
            [dir.path().join("orch-dns").display().to_string()]
        );
    }

    #[test]
    fn loopback_resolvers_are_not_upstreams() {
        let ups = host_upstreams("nameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\n");
        assert_eq!(ups, ["192.0.2.1".parse::<IpAddr>().unwrap()]);
    }
}
