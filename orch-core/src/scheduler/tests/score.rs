//! Each score rule and the weights between them.
use super::build::{cache_of, node, pod};
use crate::scheduler::{
    score::{balanced, least_allocated, normalize},
    Algorithm,
};

#[test]
fn least_allocated_prefers_free_nodes() {
    let mut c = cache_of(vec![
        node("busy", "4", "8Gi").build(),
        node("idle", "4", "8Gi").build(),
    ]);
    c.observe_pod(&pod("x").req("2", "4Gi").on("busy").info());
    let p = pod("p").req("1", "1Gi").info();
    let busy = least_allocated(&p, c.node("busy").unwrap());
    let idle = least_allocated(&p, c.node("idle").unwrap());
    // idle: cpu (4-1)/4 = 75, mem (8-1)/8 = 87 → 81; busy: 25, 37 → 31.
    assert_eq!((idle, busy), (81, 31));
    assert_eq!(Algorithm::default().schedule(&c, &p).unwrap().node, "idle");
}

#[test]
fn balanced_allocation_prefers_even_use() {
    let mut c = cache_of(vec![
        node("a", "4", "4Gi").build(),
        node("b", "4", "4Gi").build(),
    ]);
    c.observe_pod(&pod("x").req("2", "0").on("a").info());
    c.observe_pod(&pod("y").req("1", "1Gi").on("b").info());
    let p = pod("p").req("0", "2Gi").info();
    // a: cpu 2/4, mem 2/4 → perfectly balanced; b: 1/4 vs 3/4.
    assert_eq!(balanced(&p, c.node("a").unwrap()), 100);
    assert_eq!(balanced(&p, c.node("b").unwrap()), 75);
}

#[test]
fn normalize_like_kubernetes() {
    let mut s = vec![0, 2, 4];
    normalize(&mut s, false);
    assert_eq!(s, [0, 50, 100]);
    let mut s = vec![0, 1, 2];
    normalize(&mut s, true);
    assert_eq!(s, [100, 50, 0]);
    let mut s = vec![0, 0];
    normalize(&mut s, true);
    assert_eq!(s, [100, 100]);
    let mut s = vec![0, 0];
    normalize(&mut s, false);
    assert_eq!(s, [0, 0]);
}

/// Big identical nodes, so that resource scores do not tell them apart.
fn big(name: &str) -> super::build::NodeB {
    node(name, "1000", "1000Gi")
}

#[test]
fn prefer_no_schedule_taints_repel_unless_tolerated() {
    let c = cache_of(vec![
        big("tainted").taint("k", "v", "PreferNoSchedule").build(),
        big("clean").build(),
    ]);
    for _ in 0..5 {
        assert_eq!(
            Algorithm::default()
                .schedule(&c, &pod("p").info())
                .unwrap()
                .node,
            "clean"
        );
    }
    let tol = pod("p")
        .tolerate("k", "Equal", "v", "PreferNoSchedule")
        .info();
    let mut a = Algorithm::default();
    let both: std::collections::HashSet<String> = (0..40)
        .map(|_| a.schedule(&c, &tol).unwrap().node)
        .collect();
    assert_eq!(
        both.len(),
        2,
        "a tolerated taint makes the nodes equal: ties are broken at random"
    );
}

#[test]
fn preferred_affinity_picks_heaviest_match() {
    let c = cache_of(vec![
        big("a").label("zone", "x").build(),
        big("b").label("zone", "y").label("disk", "ssd").build(),
        big("c").build(),
    ]);
    let p = pod("p")
        .preferred(10, "zone", "In", &["x"])
        .preferred(50, "disk", "In", &["ssd"])
        .info();
    assert_eq!(Algorithm::default().schedule(&c, &p).unwrap().node, "b");
    let p = pod("p")
        .preferred(80, "zone", "In", &["x"])
        .preferred(50, "disk", "In", &["ssd"])
        .info();
    assert_eq!(Algorithm::default().schedule(&c, &p).unwrap().node, "a");
}

#[test]
fn pods_of_one_owner_spread() {
    let mut c = cache_of(vec![big("a").build(), big("b").build(), big("c").build()]);
    c.observe_pod(&pod("x1").owner("rs-1").on("a").info());
    c.observe_pod(&pod("x2").owner("rs-1").on("b").info());
    c.observe_pod(&pod("o1").owner("rs-2").on("c").info());
    let p = pod("p").owner("rs-1").info();
    assert_eq!(Algorithm::default().schedule(&c, &p).unwrap().node, "c");
    // Placing many pods of one owner fills the nodes evenly.
    let mut c = cache_of(vec![big("a").build(), big("b").build(), big("c").build()]);
    let mut alg = Algorithm::default();
    for i in 0..30 {
        let p = pod(&format!("p{i}")).owner("rs-9").info();
        let n = alg.schedule(&c, &p).unwrap().node;
        c.assume(&p, &n);
    }
    for n in ["a", "b", "c"] {
        assert_eq!(c.node(n).unwrap().requested.pods, 10, "{n}");
    }
}

#[test]
fn weights_taint_three_beats_spread_two() {
    // "tainted" has an untolerated PreferNoSchedule taint and no pod of the
    // owner; "crowded" has no taint but one pod of the owner.
    // tainted: 3×0 + 2×100 = 200; crowded: 3×100 + 2×0 = 300.
    let mut c = cache_of(vec![
        big("tainted").taint("k", "v", "PreferNoSchedule").build(),
        big("crowded").build(),
    ]);
    c.observe_pod(&pod("x").owner("rs").on("crowded").info());
    let p = pod("p").owner("rs").info();
    let pl = Algorithm::default().schedule(&c, &p).unwrap();
    assert_eq!(pl.node, "crowded");
    assert_eq!(pl.score, 300 + 99 + 100);
    // Node affinity (2) with a preferred match beats spreading (2) when
    // the spread difference is smaller: a(2 pods, match) vs b(1 pod).
    let mut c = cache_of(vec![big("a").label("l", "1").build(), big("b").build()]);
    c.observe_pod(&pod("x1").owner("rs").on("a").info());
    c.observe_pod(&pod("x2").owner("rs").on("a").info());
    c.observe_pod(&pod("x3").owner("rs").on("b").info());
    let p = pod("p").owner("rs").preferred(1, "l", "In", &["1"]).info();
    // a: affinity 100×2 + spread 0; b: affinity 0 + spread 50×2.
    assert_eq!(Algorithm::default().schedule(&c, &p).unwrap().node, "a");
}
