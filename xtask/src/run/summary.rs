//! What the run prints once the demo answers: how to reach the cluster,
//! where each pod runs, and the exact commands to try.
use std::time::Duration;

use super::{api::PodView, cluster::Cluster, demo::Answer, layout::short};
use crate::{setup, step};

/// Prints the summary.
pub fn print(
    cluster: &Cluster,
    pods: &[PodView],
    answer: &Answer,
    dns: Option<&str>,
    took: Duration,
) {
    let l = &cluster.layout;
    let kc = short(&l.kubeconfig());
    let orchctl = short(&cluster.bins.orchctl);
    println!();
    println!(
        "==> cluster up: {} node(s), demo answering {:.1}s after start",
        l.nodes,
        took.as_secs_f64()
    );
    println!("    kubeconfig: {kc}");
    println!("      kubectl --kubeconfig {kc} get pods -o wide");
    if let Some(k) = setup::debian_kubectl().filter(|k| !k.starts_with("/usr/bin")) {
        println!("      (Debian's kubectl is {})", k.display());
    }
    println!("      {orchctl} --kubeconfig {kc} get pods -o wide");
    println!("    logs: {}/", short(&l.state.join("logs")));
    println!();
    let w = |f: fn(&PodView) -> &str, head: &str| {
        pods.iter()
            .map(|p| f(p).len())
            .max()
            .unwrap_or(0)
            .max(head.len())
    };
    let (wn, wd, wi) = (
        w(|p| &p.name, "POD"),
        w(|p| &p.node, "NODE"),
        w(|p| &p.ip, "IP"),
    );
    println!("    {:wn$}  {:wd$}  {:wi$}  NETNS", "POD", "NODE", "IP");
    for p in pods {
        println!(
            "    {:wn$}  {:wd$}  {:wi$}  {}",
            p.name, p.node, p.ip, p.netns
        );
    }
    println!();
    println!(
        "    Service web: ClusterIP {} port 80 → pods' port http (8080)",
        answer.vip
    );
    println!("    try:");
    let ns = &answer.netns;
    let dns_note = match dns {
        Some(_) => "",
        None => "   # needs cluster DNS (orch-dns): not installed",
    };
    println!("      sudo ip netns exec {ns} curl http://{}/", answer.vip);
    println!("      sudo ip netns exec {ns} curl http://web.default.svc.cluster.local/{dns_note}");
    println!("      sudo ip netns exec {ns} dig web.default.svc.cluster.local{dns_note}");
    println!();
    step::info("Ctrl-C (or SIGTERM) stops the cluster and removes everything it created.");
}
