//! Unit tests for field selectors.

use serde_json::json;

use super::{FieldOperator, FieldSelector, SelectorError};

fn pod() -> serde_json::Value {
    json!({
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"nodeName": "n1", "hostNetwork": false, "priority": 5},
        "status": {"phase": "Running"}
    })
}

#[test]
fn parses_operators() {
    let s = FieldSelector::parse("metadata.name=a,spec.nodeName==b,status.phase!=c").unwrap();
    let ops: Vec<_> = s
        .requirements()
        .iter()
        .map(|r| (r.field.as_str(), r.operator))
        .collect();
    assert_eq!(
        ops,
        [
            ("metadata.name", FieldOperator::Equals),
            ("spec.nodeName", FieldOperator::Equals),
            ("status.phase", FieldOperator::NotEquals)
        ]
    );
    assert_eq!(s.requirements()[1].value, "b");
}

#[test]
fn empty_selector_matches_everything() {
    for input in ["", " ", ",", " , "] {
        let s = FieldSelector::parse(input).unwrap();
        assert!(s.is_empty());
        assert!(s.matches(&pod()));
    }
}

#[test]
fn matches_dotted_paths() {
    let p = pod();
    let m = |s: &str| FieldSelector::parse(s).unwrap().matches(&p);
    assert!(m("metadata.name=web-1"));
    assert!(m("metadata.namespace=default,spec.nodeName=n1"));
    assert!(!m("metadata.name=web-2"));
    assert!(m("status.phase!=Pending"));
    assert!(!m("status.phase!=Running"));
    assert!(m("spec.hostNetwork=false"));
    assert!(m("spec.priority=5"));
    let event = json!({"involvedObject": {"name": "web-1", "kind": "Pod"}});
    assert!(FieldSelector::parse("involvedObject.name=web-1")
        .unwrap()
        .matches(&event));
}

#[test]
fn missing_field_is_empty_string() {
    let unscheduled = json!({"metadata": {"name": "p"}, "spec": {}});
    let s = FieldSelector::parse("spec.nodeName=").unwrap();
    assert!(s.matches(&unscheduled));
    assert!(!s.matches(&pod()));
    assert!(FieldSelector::parse("spec.nodeName!=")
        .unwrap()
        .matches(&pod()));
    assert!(FieldSelector::parse("status.nope!=x")
        .unwrap()
        .matches(&pod()));
}

#[test]
fn escapes_and_whitespace() {
    let s = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").unwrap();
    assert_eq!(s.requirements()[0].value, r"a,b=c\d");
    assert!(s.matches(&json!({"metadata": {"name": r"a,b=c\d"}})));
    assert_eq!(FieldSelector::parse(&s.to_string()).unwrap(), s);
    let t = FieldSelector::parse(" metadata.name = x , status.phase != y ").unwrap();
    assert_eq!(t.to_string(), "metadata.name=x,status.phase!=y");
}

#[test]
fn parse_errors_name_the_term() {
    for (input, term) in [
        ("metadata.name", "metadata.name"),
        ("a=b,nope", "nope"),
        ("=x", "=x"),
        (r"a=b\x", r"a=b\x"),
        (r"a=b\", r"a=b\"),
        ("a=b=c", "a=b=c"),
    ] {
        match FieldSelector::parse(input) {
            Err(SelectorError::InvalidFieldTerm { term: t, .. }) => assert_eq!(t, term),
            other => panic!("{input:?}: {other:?}"),
        }
    }
}

#[test]
fn validate_fields_like_kubernetes() {
    let s = FieldSelector::parse("metadata.name=a,spec.foo=b").unwrap();
    let err = s
        .validate_fields(&["metadata.name", "metadata.namespace"])
        .unwrap_err();
    assert_eq!(err.to_string(), "field label not supported: spec.foo");
    assert!(s.validate_fields(&["metadata.name", "spec.foo"]).is_ok());
    assert!(FieldSelector::default().validate_fields(&[]).is_ok());
}

#[test]
fn exact_match_lookup() {
    let s = FieldSelector::parse("metadata.name=web,status.phase!=Failed").unwrap();
    assert_eq!(s.exact_match("metadata.name"), Some("web"));
    assert_eq!(s.exact_match("status.phase"), None);
}
