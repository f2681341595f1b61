//! The algorithm as a whole: Kubernetes' unschedulable messages, the
//! share of nodes scored with its rotating start, and assumed pods.
use std::collections::HashMap;

use super::build::{cache_of, node, pod};
use crate::scheduler::{algorithm::num_feasible_nodes_to_find, Algorithm, Cache, FitError};

#[test]
fn unschedulable_message_is_kubernetes_style() {
    let c = cache_of(vec![
        node("n1", "1", "1Gi")
            .taint("key", "value", "NoSchedule")
            .build(),
        node("n2", "1", "1Gi").build(),
        node("n3", "500m", "8Gi").build(),
    ]);
    let err = Algorithm::default()
        .schedule(&c, &pod("p").req("2", "").info())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu."
    );
    // One node can report several resources.
    let err = Algorithm::default()
        .schedule(&c, &pod("p").req("2", "4Gi").info())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu."
    );
}

#[test]
fn reasons_sort_as_strings() {
    let mut nodes: Vec<_> = (0..10)
        .map(|i| node(&format!("nr{i}"), "4", "4Gi").ready("False").build())
        .collect();
    nodes.push(node("small1", "100m", "4Gi").build());
    nodes.push(node("small2", "100m", "4Gi").build());
    nodes.push(node("cordoned", "4", "4Gi").unschedulable().build());
    let c = cache_of(nodes);
    let err = Algorithm::default()
        .schedule(&c, &pod("p").req("1", "").info())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "0/13 nodes are available: 1 node(s) were unschedulable, 10 node(s) were not ready, 2 Insufficient cpu."
    );
    assert_eq!(
        Algorithm::default().schedule(&Cache::default(), &pod("p").info()),
        Err(FitError::NoNodes)
    );
    assert_eq!(
        FitError::NoNodes.to_string(),
        "no nodes available to schedule pods"
    );
}

#[test]
fn percentage_of_nodes_to_score() {
    assert_eq!(num_feasible_nodes_to_find(50, 0), 50);
    assert_eq!(num_feasible_nodes_to_find(99, 0), 99);
    assert_eq!(num_feasible_nodes_to_find(100, 0), 100);
    assert_eq!(num_feasible_nodes_to_find(150, 0), 100);
    assert_eq!(num_feasible_nodes_to_find(1000, 0), 420);
    assert_eq!(num_feasible_nodes_to_find(2000, 0), 680);
    assert_eq!(num_feasible_nodes_to_find(5000, 0), 500);
    assert_eq!(num_feasible_nodes_to_find(10_000, 0), 500);
    assert_eq!(num_feasible_nodes_to_find(1000, 100), 1000);
    assert_eq!(num_feasible_nodes_to_find(1000, 30), 300);
    assert_eq!(num_feasible_nodes_to_find(200, 10), 100);
}

#[test]
fn only_a_share_is_scored_and_the_start_rotates() {
    let nodes: Vec<_> = (0..1000)
        .map(|i| node(&format!("n{i:04}"), "4", "8Gi").build())
        .collect();
    let c = cache_of(nodes);
    let mut alg = Algorithm::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for i in 0..12 {
        let pl = alg.schedule(&c, &pod(&format!("p{i}")).info()).unwrap();
        assert_eq!(pl.feasible, 420);
        assert_eq!(pl.evaluated, 420);
        *seen.entry(pl.node).or_default() += 1;
    }
    // Twelve windows of 420 cover the ring about five times; without
    // assuming pods every node ties, so picks are spread, not stuck.
    assert!(seen.len() >= 10, "{seen:?}");
    // Infeasible nodes are skipped without counting towards the share.
    let mut nodes: Vec<_> = (0..1000)
        .map(|i| node(&format!("n{i:04}"), "4", "8Gi").build())
        .collect();
    for n in nodes.iter_mut().take(500) {
        n.spec.as_mut().unwrap().unschedulable = Some(true);
    }
    let c = cache_of(nodes);
    let pl = Algorithm::default().schedule(&c, &pod("p").info()).unwrap();
    assert_eq!((pl.feasible, pl.evaluated), (420, 920));
    // 100% scores every feasible node.
    let pl = Algorithm::new(100).schedule(&c, &pod("p").info()).unwrap();
    assert_eq!((pl.feasible, pl.evaluated), (500, 1000));
}

#[test]
fn assumed_pods_count_at_once() {
    let mut c = cache_of(vec![
        node("a", "1", "1Gi").build(),
        node("b", "1", "1Gi").build(),
    ]);
    let mut alg = Algorithm::default();
    let mut placed = Vec::new();
    for i in 0..4 {
        let p = pod(&format!("p{i}")).req("500m", "").info();
        let n = alg.schedule(&c, &p).unwrap().node;
        c.assume(&p, &n);
        placed.push(n);
    }
    placed.sort();
    assert_eq!(placed, ["a", "a", "b", "b"]);
    let err = alg
        .schedule(&c, &pod("p5").req("500m", "").info())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "0/2 nodes are available: 2 Insufficient cpu."
    );
}
