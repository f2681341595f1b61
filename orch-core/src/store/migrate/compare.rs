//! Comparing the embedded store with etcd after a migration: counts per
//! resource (the `<resource>` of `/registry/<resource>/...`) and every
//! value byte for byte. Revisions are not compared: etcd numbers its own.
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};

use super::REGISTRY;
use crate::store::KeyValue;

/// How many keys of one resource each store has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// In the embedded store.
    pub source: usize,
    /// In etcd.
    pub target: usize,
}

/// One key the two stores disagree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// In the embedded store, not in etcd.
    Missing(String),
    /// In etcd under `/registry/`, not in the embedded store.
    Extra(String),
    /// In both, with different values.
    Changed(String),
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(k) => write!(f, "{k}: missing in etcd"),
            Self::Extra(k) => write!(f, "{k}: only in etcd"),
            Self::Changed(k) => write!(f, "{k}: the values differ"),
        }
    }
}

/// The outcome of [`compare`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Keys per resource, in resource order.
    pub counts: BTreeMap<String, Counts>,
    /// Every differing key, in key order.
    pub differences: Vec<Difference>,
}

impl Comparison {
    /// Whether both stores hold the same keys with the same values.
    pub fn same(&self) -> bool {
        self.differences.is_empty()
    }

    /// Counts per resource as a table with a total line.
    pub fn table(&self) -> String {
        let total = self.counts.values().fold(Counts::default(), |t, c| Counts {
            source: t.source + c.source,
            target: t.target + c.target,
        });
        let width = self
            .counts
            .keys()
            .map(String::len)
            .chain([8])
            .max()
            .unwrap_or(8);
        let mut out = format!("{:<width$}  {:>8}  {:>8}\n", "RESOURCE", "EMBEDDED", "ETCD");
        let rows = self.counts.iter().map(|(r, c)| (r.as_str(), c));
        for (resource, c) in rows.chain([("total", &total)]) {
            let _ = writeln!(out, "{resource:<width$}  {:>8}  {:>8}", c.source, c.target);
        }
        out
    }
}

/// The resource a key belongs to: `configmaps` for
/// `/registry/configmaps/default/a`; keys outside `/registry/` are
/// counted as `(other)`.
pub fn resource_of(key: &str) -> &str {
    key.strip_prefix(REGISTRY)
        .and_then(|rest| rest.split('/').next())
        .filter(|r| !r.is_empty())
        .unwrap_or("(other)")
}

/// Compares the keys of the embedded store (`source`) with etcd's
/// (`target`). An etcd key outside `/registry/` that the source lacks is
/// etcd's or another program's (such as `compact_rev_key`) and is left
/// out.
pub fn compare(source: &[KeyValue], target: &[KeyValue]) -> Comparison {
    let mut out = Comparison::default();
    let mut theirs: HashMap<&str, &[u8]> = target
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_slice()))
        .collect();
    for kv in source {
        let counts = out
            .counts
            .entry(resource_of(&kv.key).to_string())
            .or_default();
        counts.source += 1;
        match theirs.remove(kv.key.as_str()) {
            None => out.differences.push(Difference::Missing(kv.key.clone())),
            Some(value) => {
                counts.target += 1;
                if value != kv.value.as_slice() {
                    out.differences.push(Difference::Changed(kv.key.clone()));
                }
            }
        }
    }
    for key in theirs.into_keys().filter(|k| k.starts_with(REGISTRY)) {
        out.counts
            .entry(resource_of(key).to_string())
            .or_default()
            .target += 1;
        out.differences.push(Difference::Extra(key.to_string()));
    }
    out.differences.sort_by(|a, b| key_of(a).cmp(key_of(b)));
    out
}

fn key_of(d: &Difference) -> &str {
    match d {
        Difference::Missing(k) | Difference::Extra(k) | Difference::Changed(k) => k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, rev: u64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: rev,
            mod_revision: rev,
        }
    }

    #[test]
    fn same_keys_and_bytes_are_the_same_whatever_the_revisions() {
        let a = [
            kv("/registry/configmaps/default/a", "1", 3),
            kv("/registry/configmaps/default/b", "2", 4),
            kv("/registry/services/default/s", "3", 9),
        ];
        let b = [
            kv("/registry/services/default/s", "3", 1),
            kv("/registry/configmaps/default/a", "1", 7),
            kv("/registry/configmaps/default/b", "2", 2),
            kv("compact_rev_key", "x", 8),
        ];
        let c = compare(&a, &b);
        assert!(c.same(), "{:?}", c.differences);
        assert_eq!(
            c.counts["configmaps"],
            Counts {
                source: 2,
                target: 2
            }
        );
        assert_eq!(c.counts["services"].target, 1);
        assert_eq!(c.counts.len(), 2, "compact_rev_key is not counted");
    }

    #[test]
    fn missing_extra_and_changed_keys_are_named_in_key_order() {
        let a = [
            kv("/registry/configmaps/default/a", "1", 1),
            kv("/registry/configmaps/default/b", "2", 2),
            kv("/registry/pods/default/p", "{\"x\":1}", 3),
        ];
        let b = [
            kv("/registry/configmaps/default/a", "1", 1),
            kv("/registry/configmaps/default/c", "2", 2),
            kv("/registry/pods/default/p", "{\"x\":2}", 3),
        ];
        let c = compare(&a, &b);
        assert!(!c.same());
        assert_eq!(
            c.differences,
            [
                Difference::Missing("/registry/configmaps/default/b".into()),
                Difference::Extra("/registry/configmaps/default/c".into()),
                Difference::Changed("/registry/pods/default/p".into()),
            ]
        );
        assert_eq!(
            c.counts["configmaps"],
            Counts {
                source: 2,
                target: 2
            }
        );
        assert_eq!(
            c.differences[0].to_string(),
            "/registry/configmaps/default/b: missing in etcd"
        );
    }

    #[test]
    fn resources_come_from_the_key_and_the_table_sums_them() {
        assert_eq!(
            resource_of("/registry/ipaddresses/10.96.0.1"),
            "ipaddresses"
        );
        assert_eq!(resource_of("/registry/nodes/n1"), "nodes");
        assert_eq!(resource_of("/elsewhere/x"), "(other)");
        assert_eq!(resource_of("/registry/"), "(other)");
        let a = [
            kv("/registry/namespaces/default", "n", 1),
            kv("/registry/services/default/s", "s", 2),
        ];
        let table = compare(&a, &a[..1]).table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        let cells = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(cells(lines[0]), ["RESOURCE", "EMBEDDED", "ETCD"]);
        assert_eq!(cells(lines[1]), ["namespaces", "1", "1"]);
        assert_eq!(cells(lines[2]), ["services", "1", "0"]);
        assert_eq!(cells(lines[3]), ["total", "2", "1"]);
    }
}
