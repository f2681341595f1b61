//! Unit tests for label selector parsing, validation, matching and the
//! structured forms.

use std::collections::BTreeMap;

use serde_json::json;

use super::{LabelSelector, Operator, SelectorError};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sel(s: &str) -> LabelSelector {
    LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

#[test]
fn empty_selector_matches_everything() {
    for s in ["", "   ", "\t"] {
        let sel = sel(s);
        assert!(sel.is_empty());
        assert!(sel.matches(&labels(&[])));
        assert!(sel.matches(&labels(&[("a", "b")])));
    }
}

#[test]
fn equality_operators() {
    let l = labels(&[("app", "web"), ("tier", "fe")]);
    assert!(sel("app=web").matches(&l));
    assert!(sel("app==web").matches(&l));
    assert!(!sel("app=db").matches(&l));
    assert!(sel("app!=db").matches(&l));
    assert!(!sel("app!=web").matches(&l));
    // != matches when the label is absent.
    assert!(sel("missing!=x").matches(&l));
    assert!(!sel("missing=x").matches(&l));
    assert!(sel("app=web,tier=fe").matches(&l));
    assert!(!sel("app=web,tier=be").matches(&l));
}

#[test]
fn set_operators() {
    let l = labels(&[("env", "prod")]);
    assert!(sel("env in (prod,staging)").matches(&l));
    assert!(!sel("env in (dev)").matches(&l));
    assert!(sel("env notin (dev,qa)").matches(&l));
    assert!(!sel("env notin (prod)").matches(&l));
    assert!(sel("other notin (prod)").matches(&l));
    assert!(!sel("other in (prod)").matches(&l));
}

#[test]
fn exists_and_does_not_exist() {
    let l = labels(&[("a", "")]);
    assert!(sel("a").matches(&l));
    assert!(!sel("b").matches(&l));
    assert!(sel("!b").matches(&l));
    assert!(!sel("!a").matches(&l));
    assert!(sel("a,!b").matches(&l));
    assert_eq!(
        sel("!a").requirements()[0].operator(),
        Operator::DoesNotExist
    );
    assert_eq!(sel("a").requirements()[0].operator(), Operator::Exists);
}

#[test]
fn empty_values() {
    let l = labels(&[("a", "")]);
    assert!(sel("a=").matches(&l));
    assert!(sel("a in ()").matches(&l));
    assert!(sel("a in (x,)").matches(&l));
    assert_eq!(sel("a in (,x)").requirements()[0].values(), ["", "x"]);
}

#[test]
fn greater_and_less_than() {
    let l = labels(&[("n", "5"), ("s", "x")]);
    assert!(sel("n>4").matches(&l));
    assert!(!sel("n>5").matches(&l));
    assert!(sel("n<6").matches(&l));
    assert!(!sel("s<6").matches(&l));
    assert!(!sel("m>1").matches(&l));
    assert!(LabelSelector::parse("n>x").is_err());
}

#[test]
fn whitespace_tolerant() {
    let l = labels(&[("app", "web"), ("env", "prod")]);
    for s in [
        " app = web , env in ( prod , dev ) ",
        "app=web,env in(prod,dev)",
        "\tapp==web,\n env  notin  (dev)",
        " ! missing , app ",
    ] {
        assert!(sel(s).matches(&l), "{s:?}");
    }
}

#[test]
fn keywords_are_valid_keys_and_values() {
    let l = labels(&[("in", "notin")]);
    assert!(sel("in=notin").matches(&l));
    assert!(sel("in in (notin)").matches(&l));
}

#[test]
fn prefixed_keys() {
    let l = labels(&[("app.kubernetes.io/name", "web")]);
    assert!(sel("app.kubernetes.io/name=web").matches(&l));
    assert!(sel("example.com/x.y_z-1").matches(&labels(&[("example.com/x.y_z-1", "v")])));
}

#[test]
fn invalid_keys_are_rejected() {
    let long = "a".repeat(64);
    for bad in [
        "-a=b",
        "a-=b",
        "/a=b",
        "a/b/c=d",
        "Foo.com/a=b",
        "a_b.com/c=d",
        "a@b=c",
        &format!("{long}=x"),
    ] {
        match LabelSelector::parse(bad) {
            Err(SelectorError::InvalidKey { term, .. }) => assert_eq!(term, bad),
            other => panic!("{bad:?}: expected InvalidKey, got {other:?}"),
        }
    }
    assert!(LabelSelector::parse(&format!("{}=x", "a".repeat(63))).is_ok());
    let prefix = format!("{}/a=x", "a".repeat(254));
    assert!(LabelSelector::parse(&prefix).is_err());
}

#[test]
fn invalid_values_are_rejected() {
    let long = "v".repeat(64);
    for bad in [
        "a=-x",
        "a=x-",
        "a in (ok,b@d)",
        "a!=x y",
        &format!("a={long}"),
    ] {
        assert!(LabelSelector::parse(bad).is_err(), "{bad:?}");
    }
    assert!(matches!(
        LabelSelector::parse("a=b@"),
        Err(SelectorError::InvalidValue { value, .. }) if value == "b@"
    ));
}

#[test]
fn syntax_errors_name_term_and_expectation() {
    let cases = [
        ("a in x", "a in x", "'('"),
        ("a=b,", "a=b,", "identifier after ','"),
        ("a=b=c", "a=b=c", "',' or 'end of string'"),
        ("x=y,a in (b", "a in (b", "',' or ')'"),
        ("=a", "=a", "!, identifier, or 'end of string'"),
        ("a b", "a b", "after the key"),
        ("ok,!=x", "!=x", "identifier after ','"),
        ("a in (b c)", "a in (b c)", "',' or ')'"),
        ("a=(b)", "a=(b)", "identifier"),
        ("!a=b", "!a=b", "',' or 'end of string'"),
    ];
    for (input, term, expected) in cases {
        match LabelSelector::parse(input) {
            Err(e @ SelectorError::Syntax { .. }) => {
                let SelectorError::Syntax {
                    term: t,
                    expected: x,
                    ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!(t, term, "{input:?}: {e}");
                assert!(x.contains(expected), "{input:?}: {e}");
                assert!(e.to_string().contains(term));
            }
            other => panic!("{input:?}: expected syntax error, got {other:?}"),
        }
    }
}

#[test]
fn set_requirement_needs_values() {
    let r = LabelSelector::from_k8s(&json!({
        "matchExpressions": [{"key": "a", "operator": "In", "values": []}]
    }));
    assert!(matches!(r, Err(SelectorError::InvalidRequirement { .. })));
}

#[test]
fn display_round_trips() {
    for s in [
        "a=b",
        "a!=b",
        "a in (x,y)",
        "a notin ()",
        "a",
        "!a",
        "a>3",
        "a=",
        "a in (,x)",
    ] {
        let parsed = sel(s);
        assert_eq!(sel(&parsed.to_string()), parsed, "{s:?}");
    }
    assert_eq!(sel("b=1, a in (y, x, x)").to_string(), "a in (x,y),b=1");
}

#[test]
fn matches_object_reads_metadata_labels() {
    let obj = json!({"metadata": {"name": "p", "labels": {"app": "web", "n": 3}}});
    assert!(sel("app=web").matches_object(&obj));
    assert!(!sel("app=db").matches_object(&obj));
    assert!(
        !sel("n").matches_object(&obj),
        "non-string labels count as absent"
    );
    assert!(sel("!x").matches_object(&json!({"metadata": {}})));
    assert!(sel("").matches_object(&json!({})));
}

#[test]
fn structured_selector() {
    let s = LabelSelector::from_k8s(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "staging"]},
            {"key": "tier", "operator": "NotIn", "values": ["db"]},
            {"key": "track", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist", "values": null}
        ]
    }))
    .unwrap();
    assert_eq!(s.requirements().len(), 5);
    assert!(s.matches(&labels(&[("app", "web"), ("env", "prod"), ("track", "x")])));
    assert!(!s.matches(&labels(&[("app", "web"), ("env", "prod")])));
    assert!(!s.matches(&labels(&[
        ("app", "web"),
        ("env", "prod"),
        ("track", "x"),
        ("legacy", "")
    ])));
}

#[test]
fn structured_selector_edge_cases() {
    let all = labels(&[("a", "b")]);
    assert!(LabelSelector::from_k8s(&json!({})).unwrap().matches(&all));
    assert!(
        LabelSelector::from_k8s(&json!({"matchLabels": {}, "matchExpressions": []}))
            .unwrap()
            .is_empty()
    );
    let none = LabelSelector::from_k8s(&json!(null)).unwrap();
    assert!(none.is_nothing() && !none.is_empty());
    assert!(!none.matches(&all));
    for bad in [
        json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
        json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
        json!({"matchExpressions": [{"operator": "Exists"}]}),
        json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}),
        json!({"matchLabels": {"a": 1}}),
        json!({"matchLabels": {"b@d": "x"}}),
        json!({"matchLabels": []}),
        json!("app=web"),
    ] {
        assert!(LabelSelector::from_k8s(&bad).is_err(), "{bad}");
    }
}

#[test]
fn map_selector() {
    let map = json!({"app": "web", "tier": "fe"});
    let s = LabelSelector::from_map(map.as_object().unwrap()).unwrap();
    assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe"), ("x", "y")])));
    assert!(!s.matches(&labels(&[("app", "web")])));
    assert!(LabelSelector::from_map(&serde_json::Map::new())
        .unwrap()
        .is_empty());
    assert!(LabelSelector::from_map(json!({"a": 1}).as_object().unwrap()).is_err());
}
