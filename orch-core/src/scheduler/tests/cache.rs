//! The cache: node changes, bound and assumed pods, expiry, re-lists.
use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use super::build::{cache_of, node, pod};
use crate::scheduler::{cache::NodeChange, Cache};

#[test]
fn node_changes_are_classified() {
    let mut c = Cache::default();
    assert_eq!(
        c.upsert_node(&node("a", "1", "1Gi").build()),
        NodeChange::Added
    );
    assert_eq!(
        c.upsert_node(&node("a", "1", "1Gi").build()),
        NodeChange::Unchanged
    );
    assert_eq!(
        c.upsert_node(&node("a", "2", "1Gi").build()),
        NodeChange::Updated
    );
    assert_eq!(
        c.upsert_node(&node("a", "2", "1Gi").label("x", "y").build()),
        NodeChange::Updated
    );
    assert_eq!(
        c.upsert_node(&node("a", "2", "1Gi").label("x", "y").ready("False").build()),
        NodeChange::Updated
    );
    c.remove_node("a");
    assert_eq!(c.num_nodes(), 0);
    assert_eq!(
        c.upsert_node(&node("a", "2", "1Gi").build()),
        NodeChange::Added
    );
}

#[test]
fn bound_pods_count_and_move() {
    let mut c = cache_of(vec![
        node("a", "4", "4Gi").build(),
        node("b", "4", "4Gi").build(),
    ]);
    let p = pod("p").req("1", "1Gi").owner("o").on("a").info();
    assert!(!c.observe_pod(&p));
    assert_eq!(c.node("a").unwrap().requested.milli_cpu, 1000);
    assert_eq!(
        c.node("a").unwrap().owner_count(c.owner_id("o").unwrap()),
        1
    );
    // The same pod seen on another node moves.
    let moved = pod("p").req("1", "1Gi").owner("o").on("b").info();
    c.observe_pod(&moved);
    assert_eq!(c.node("a").unwrap().requested.milli_cpu, 0);
    assert_eq!(c.node("b").unwrap().requested.milli_cpu, 1000);
    assert_eq!(c.node("a").unwrap().owners, vec![]);
    // Deleting frees everything, owner ids included.
    assert!(c.remove_pod("uid-p"));
    assert_eq!(c.node("b").unwrap().requested, Default::default());
    assert_eq!(c.owner_id("o"), None);
    assert!(!c.remove_pod("uid-p"));
}

#[test]
fn pods_on_unknown_nodes_wait_for_the_node() {
    let mut c = Cache::default();
    c.observe_pod(&pod("p").req("1", "").on("later").info());
    assert_eq!(c.num_nodes(), 0);
    c.upsert_node(&node("later", "4", "4Gi").build());
    assert_eq!(c.node("later").unwrap().requested.milli_cpu, 1000);
    c.remove_node("later");
    assert!(c.node("later").is_none());
    c.upsert_node(&node("later", "4", "4Gi").build());
    assert_eq!(
        c.node("later").unwrap().requested.milli_cpu,
        1000,
        "pods outlive their node"
    );
}

#[test]
fn assumed_pods_are_confirmed_forgotten_or_expired() {
    let mut c = Cache::new(Duration::from_secs(30));
    c.upsert_node(&node("a", "4", "4Gi").build());
    let p = pod("p").req("1", "").info();
    c.assume(&p, "a");
    assert_eq!(c.num_assumed(), 1);
    // A stale unbound event does not drop an assumed pod.
    assert!(!c.observe_pod(&p));
    assert_eq!(c.node("a").unwrap().requested.milli_cpu, 1000);
    // Binding still in flight: never expires.
    let now = Instant::now();
    assert_eq!(c.expire(now + Duration::from_secs(3600)), 0);
    c.finish_binding("uid-p", now);
    assert_eq!(c.expire(now + Duration::from_secs(29)), 0);
    assert_eq!(c.expire(now + Duration::from_secs(31)), 1);
    assert_eq!(c.node("a").unwrap().requested.milli_cpu, 0);

    // Confirmed by the watch: stays, and forget() leaves it.
    c.assume(&p, "a");
    c.finish_binding("uid-p", now);
    c.observe_pod(&pod("p").req("1", "").on("a").info());
    assert_eq!(c.num_assumed(), 0);
    c.forget("uid-p");
    assert_eq!(c.expire(now + Duration::from_secs(3600)), 0);
    assert_eq!(c.node("a").unwrap().requested.milli_cpu, 1000);

    // A failed binding forgets the assumption.
    let q = pod("q").req("1", "").info();
    c.assume(&q, "a");
    c.forget("uid-q");
    assert_eq!(c.node("a").unwrap().requested.milli_cpu, 1000);
    assert!(!c.contains_pod("uid-q"));
}

#[test]
fn relists_drop_what_is_gone() {
    let mut c = cache_of(vec![
        node("a", "4", "4Gi").build(),
        node("b", "4", "4Gi").build(),
    ]);
    c.observe_pod(&pod("p").req("1", "").on("a").info());
    c.observe_pod(&pod("q").req("1", "").on("a").info());
    c.assume(&pod("r").req("1", "").info(), "a");
    c.retain_nodes(&HashSet::from(["a".to_string()]));
    assert_eq!(c.node_names().collect::<Vec<_>>(), ["a"]);
    c.retain_pods(&HashSet::from(["uid-p".to_string()]));
    assert_eq!(
        c.node("a").unwrap().requested.milli_cpu,
        2000,
        "p and the assumed r stay"
    );
}
