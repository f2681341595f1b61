//! Each filter rule, the order of reasons, and the requests a pod makes.
use serde_json::json;

use super::build::{cache_of, node, pod, PodB};
use crate::scheduler::{
    filter::{feasible, fits, Reason},
    nodeinfo::NodeInfo,
    podinfo::PodInfo,
    Cache,
};

fn reasons(p: &PodInfo, n: &NodeInfo) -> Vec<String> {
    let mut out = Vec::new();
    fits(p, n, &mut out);
    out.iter().map(Reason::to_string).collect()
}

fn one(c: &Cache, name: &str) -> NodeInfo {
    c.node(name).unwrap().clone()
}

#[test]
fn unschedulable_nodes_take_only_tolerating_pods() {
    let c = cache_of(vec![node("n", "4", "8Gi").unschedulable().build()]);
    let n = one(&c, "n");
    assert_eq!(
        reasons(&pod("p").info(), &n),
        ["node(s) were unschedulable"]
    );
    let tol = pod("p")
        .tolerate(
            "node.kubernetes.io/unschedulable",
            "Exists",
            "",
            "NoSchedule",
        )
        .info();
    assert!(reasons(&tol, &n).is_empty());
}

#[test]
fn node_name_must_match() {
    let c = cache_of(vec![
        node("a", "4", "8Gi").build(),
        node("b", "4", "8Gi").build(),
    ]);
    let p = pod("p").on("a").info();
    assert!(reasons(&p, &one(&c, "a")).is_empty());
    assert_eq!(
        reasons(&p, &one(&c, "b")),
        ["node(s) didn't match the requested node name"]
    );
}

#[test]
fn taints_need_tolerations() {
    let c = cache_of(vec![
        node("ns", "4", "8Gi")
            .taint("dedicated", "gpu", "NoSchedule")
            .build(),
        node("ne", "4", "8Gi").taint("k", "", "NoExecute").build(),
        node("soft", "4", "8Gi")
            .taint("k", "v", "PreferNoSchedule")
            .build(),
        node("two", "4", "8Gi")
            .taint("a", "1", "NoSchedule")
            .taint("b", "2", "NoSchedule")
            .build(),
    ]);
    let plain = pod("p").info();
    assert_eq!(
        reasons(&plain, &one(&c, "ns")),
        ["node(s) had untolerated taint {dedicated: gpu}"]
    );
    assert_eq!(
        reasons(&plain, &one(&c, "ne")),
        ["node(s) had untolerated taint {k: }"]
    );
    assert!(
        reasons(&plain, &one(&c, "soft")).is_empty(),
        "PreferNoSchedule does not filter"
    );
    // The first untolerated taint is reported.
    assert_eq!(
        reasons(&plain, &one(&c, "two")),
        ["node(s) had untolerated taint {a: 1}"]
    );
    let only_a = pod("p").tolerate("a", "Equal", "1", "NoSchedule").info();
    assert_eq!(
        reasons(&only_a, &one(&c, "two")),
        ["node(s) had untolerated taint {b: 2}"]
    );

    let equal = pod("p")
        .tolerate("dedicated", "Equal", "gpu", "NoSchedule")
        .info();
    assert!(reasons(&equal, &one(&c, "ns")).is_empty());
    let wrong_value = pod("p")
        .tolerate("dedicated", "Equal", "cpu", "NoSchedule")
        .info();
    assert!(!reasons(&wrong_value, &one(&c, "ns")).is_empty());
    let wrong_effect = pod("p")
        .tolerate("dedicated", "Exists", "", "NoExecute")
        .info();
    assert!(!reasons(&wrong_effect, &one(&c, "ns")).is_empty());
    let any_effect = pod("p").tolerate("dedicated", "Exists", "", "").info();
    assert!(reasons(&any_effect, &one(&c, "ns")).is_empty());
    let everything = pod("p")
        .set("/spec/tolerations", json!([{"operator": "Exists"}]))
        .info();
    for n in ["ns", "ne", "two"] {
        assert!(reasons(&everything, &one(&c, n)).is_empty(), "{n}");
    }
}

#[test]
fn nodes_must_be_ready() {
    let c = cache_of(vec![
        node("f", "4", "8Gi").ready("False").build(),
        node("u", "4", "8Gi").ready("Unknown").build(),
        node("none", "4", "8Gi").build(),
    ]);
    let mut none = node("none", "4", "8Gi").build();
    none.status.as_mut().unwrap().conditions = None;
    let mut c2 = Cache::default();
    c2.upsert_node(&none);
    let p = pod("p").info();
    assert_eq!(reasons(&p, &one(&c, "f")), ["node(s) were not ready"]);
    assert_eq!(reasons(&p, &one(&c, "u")), ["node(s) were not ready"]);
    assert_eq!(reasons(&p, &one(&c2, "none")), ["node(s) were not ready"]);
    let tol = pod("p")
        .tolerate("node.kubernetes.io/not-ready", "Exists", "", "NoSchedule")
        .info();
    assert!(reasons(&tol, &one(&c, "f")).is_empty());
    // The not-ready taint is reported by the taint rule first.
    let c3 = cache_of(vec![node("t", "4", "8Gi")
        .ready("False")
        .taint("node.kubernetes.io/not-ready", "", "NoSchedule")
        .build()]);
    assert_eq!(
        reasons(&p, &one(&c3, "t")),
        ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
    );
    let c4 = cache_of(vec![node("t", "4", "8Gi")
        .taint("node.kubernetes.io/unreachable", "", "NoSchedule")
        .build()]);
    assert_eq!(
        reasons(&p, &one(&c4, "t")),
        ["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"]
    );
}

#[test]
fn node_selector_and_required_affinity() {
    let c = cache_of(vec![
        node("a", "4", "8Gi")
            .label("disk", "ssd")
            .label("gen", "5")
            .build(),
        node("b", "4", "8Gi")
            .label("disk", "hdd")
            .label("gen", "3")
            .build(),
        node("c", "4", "8Gi").build(),
    ]);
    let ok = |p: PodB| -> Vec<&'static str> {
        let p = p.info();
        ["a", "b", "c"]
            .into_iter()
            .filter(|n| reasons(&p, &one(&c, n)).is_empty())
            .collect()
    };
    assert_eq!(ok(pod("p").selector("disk", "ssd")), ["a"]);
    assert_eq!(ok(pod("p").selector("disk", "nvme")), Vec::<&str>::new());
    assert_eq!(
        ok(pod("p").required(&[("disk", "In", &["ssd", "hdd"])])),
        ["a", "b"]
    );
    assert_eq!(
        ok(pod("p").required(&[("disk", "NotIn", &["ssd"])])),
        ["b", "c"]
    );
    assert_eq!(
        ok(pod("p").required(&[("disk", "Exists", &[])])),
        ["a", "b"]
    );
    assert_eq!(
        ok(pod("p").required(&[("disk", "DoesNotExist", &[])])),
        ["c"]
    );
    assert_eq!(ok(pod("p").required(&[("gen", "Gt", &["4"])])), ["a"]);
    assert_eq!(ok(pod("p").required(&[("gen", "Lt", &["4"])])), ["b"]);
    assert_eq!(
        ok(pod("p").required(&[("gen", "Gt", &["x"])])),
        Vec::<&str>::new(),
        "malformed Gt matches nothing"
    );
    // Expressions of a term are ANDed.
    assert_eq!(
        ok(pod("p").required(&[("disk", "Exists", &[]), ("gen", "Lt", &["4"])])),
        ["b"]
    );
    // nodeSelector and affinity must both match.
    assert_eq!(
        ok(pod("p")
            .selector("disk", "ssd")
            .required(&[("gen", "Lt", &["4"])])),
        Vec::<&str>::new()
    );
    // Terms are ORed; matchFields selects by name.
    let terms = json!({"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["c"]}]},
    ]});
    let p = pod("p").set(
        "/spec/affinity",
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}}),
    );
    assert_eq!(ok(p), ["b", "c"]);
    let miss = pod("p").selector("disk", "nvme").info();
    assert_eq!(
        reasons(&miss, &one(&c, "a")),
        ["node(s) didn't match Pod's node affinity/selector"]
    );
}

#[test]
fn resources_must_fit_what_is_left() {
    let mut c = cache_of(vec![node("n", "1", "1Gi").pods("3").build()]);
    let big = pod("p").req("1500m", "2Gi").info();
    assert_eq!(
        reasons(&big, &one(&c, "n")),
        ["Insufficient cpu", "Insufficient memory"]
    );
    let fits_alone = pod("p").req("600m", "512Mi").info();
    assert!(reasons(&fits_alone, &one(&c, "n")).is_empty());
    c.observe_pod(&pod("bound").req("500m", "100Mi").on("n").info());
    assert_eq!(reasons(&fits_alone, &one(&c, "n")), ["Insufficient cpu"]);
    assert!(
        reasons(&pod("p").req("500m", "").info(), &one(&c, "n")).is_empty(),
        "exactly what is left fits"
    );
    // Pod count: 3 allowed, 1 bound; a pod without requests fits until full.
    c.observe_pod(&pod("b2").on("n").info());
    assert!(reasons(&pod("p").info(), &one(&c, "n")).is_empty());
    c.observe_pod(&pod("b3").on("n").info());
    assert_eq!(reasons(&pod("p").info(), &one(&c, "n")), ["Too many pods"]);
    // Terminated pods free their resources.
    let done = pod("b3")
        .on("n")
        .set("/status/phase", json!("Succeeded"))
        .info();
    assert!(c.observe_pod(&done));
    assert!(reasons(&pod("p").info(), &one(&c, "n")).is_empty());
}

#[test]
fn requests_follow_kubernetes_rules() {
    // Limits stand in for missing requests.
    let p = pod("p")
        .set(
            "/spec/containers/0/resources",
            json!({"limits": {"cpu": "2", "memory": "1Gi"}}),
        )
        .info();
    assert_eq!((p.requests.milli_cpu, p.requests.memory), (2000, 1 << 30));
    // Containers add up; an init container needs at least its own request;
    // sidecars add to both; overhead adds.
    let p = pod("p")
        .set(
            "/spec/containers",
            json!([
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m"}}},
            ]),
        )
        .set(
            "/spec/initContainers",
            json!([
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "1", "memory": "10Mi"}}},
            ]),
        )
        .set("/spec/overhead", json!({"cpu": "10m"}))
        .info();
    assert_eq!(p.requests.milli_cpu, 1050 + 10);
    assert_eq!(p.requests.memory, 100 << 20);
    assert_eq!(p.requests.pods, 1);
    // Scoring counts missing requests as 100m / 200Mi per container.
    let p = pod("p").info();
    assert_eq!((p.nonzero.milli_cpu, p.nonzero.memory), (100, 200 << 20));
    assert_eq!((p.requests.milli_cpu, p.requests.memory), (0, 0));
}

#[test]
fn the_fast_check_agrees_with_the_reasons() {
    let mut c = cache_of(vec![
        node("plain", "2", "2Gi").build(),
        node("small", "100m", "64Mi").pods("1").build(),
        node("cordoned", "4", "4Gi").unschedulable().build(),
        node("tainted", "4", "4Gi")
            .taint("k", "v", "NoSchedule")
            .taint("s", "", "PreferNoSchedule")
            .build(),
        node("down", "4", "4Gi").ready("Unknown").build(),
        node("ssd", "4", "4Gi")
            .label("disk", "ssd")
            .label("gen", "7")
            .build(),
    ]);
    c.observe_pod(&pod("full").on("small").info());
    let pods = vec![
        pod("a").info(),
        pod("b").req("1", "1Gi").info(),
        pod("c").req("3", "").info(),
        pod("d").tolerate("k", "Equal", "v", "NoSchedule").info(),
        pod("e")
            .set("/spec/tolerations", json!([{"operator": "Exists"}]))
            .info(),
        pod("f").selector("disk", "ssd").info(),
        pod("g").required(&[("gen", "Gt", &["5"])]).info(),
        pod("h").on("plain").info(),
        pod("i")
            .tolerate("node.kubernetes.io/unschedulable", "Exists", "", "")
            .info(),
        pod("j")
            .tolerate("node.kubernetes.io/not-ready", "Exists", "", "NoSchedule")
            .info(),
    ];
    let mut out = Vec::new();
    let mut agreed = 0;
    for p in &pods {
        for name in c.node_names().map(str::to_string).collect::<Vec<_>>() {
            let n = c.node(&name).unwrap();
            assert_eq!(
                feasible(p, n),
                fits(p, n, &mut out),
                "pod {} node {name}: {out:?}",
                p.name
            );
            agreed += 1;
        }
    }
    assert_eq!(agreed, pods.len() * 6);
}
