//! Names as table keys: the lowercase wire form (length-prefixed labels and
//! the final zero byte), which is what a query carries, so a query is
//! looked up without building a [`Name`].
use std::sync::Arc;

use hickory_server::proto::rr::{LowerName, Name};

/// A lowercase wire-form name, shared between the maps that index it.
pub type NameKey = Arc<[u8]>;

/// The key of `name`.
pub fn key_of(name: &Name) -> NameKey {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out.into()
}

/// The key of a [`LowerName`].
pub fn key_of_lower(name: &LowerName) -> NameKey {
    key_of(&Name::from(name.clone()))
}

/// The name of a key (fully qualified), `None` if `key` is not a valid wire
/// name.
pub fn name_of(key: &[u8]) -> Option<Name> {
    let mut name = Name::from_labels(labels(key)).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// The labels of a key, first (leftmost) to last. Stops at the end or at
/// anything malformed.
pub fn labels(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let len = usize::from(*key.get(pos)?);
        if len == 0 || len > 63 {
            return None;
        }
        let label = key.get(pos + 1..pos + 1 + len)?;
        pos += 1 + len;
        Some(label)
    })
}

/// The key without its first label (`None` for the root).
pub fn parent(key: &[u8]) -> Option<&[u8]> {
    let len = usize::from(*key.first()?);
    if len == 0 {
        return None;
    }
    key.get(1 + len..)
}

/// Whether `key` is `apex` or a name under it (on label boundaries).
pub fn is_within(key: &[u8], apex: &[u8]) -> bool {
    let mut k = key;
    loop {
        if k.len() == apex.len() {
            return k == apex;
        }
        if k.len() < apex.len() {
            return false;
        }
        match parent(k) {
            Some(p) => k = p,
            None => return false,
        }
    }
}

/// The labels of `key` in front of `apex` (which it must be within),
/// leftmost first.
pub fn labels_before<'k>(key: &'k [u8], apex: &[u8]) -> Vec<&'k [u8]> {
    let keep = key.len().saturating_sub(apex.len());
    labels(&key[..keep]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> NameKey {
        key_of(&Name::from_ascii(s).unwrap())
    }

    #[test]
    fn keys_are_lowercase_wire_names() {
        assert_eq!(&*k("Web.Default."), b"\x03web\x07default\x00");
        assert_eq!(&*k("."), b"\x00");
        assert_eq!(name_of(&k("a.b.")).unwrap().to_ascii(), "a.b.");
    }

    #[test]
    fn suffixes_on_label_boundaries() {
        let apex = k("cluster.local.");
        assert!(is_within(&k("web.default.svc.cluster.local."), &apex));
        assert!(is_within(&apex, &apex));
        assert!(!is_within(&k("xcluster.local."), &apex));
        assert!(!is_within(&k("local."), &apex));
        assert_eq!(
            labels_before(&k("a.b.cluster.local."), &apex),
            vec![&b"a"[..], &b"b"[..]]
        );
        assert_eq!(parent(&k("a.b.")).unwrap(), b"\x01b\x00");
    }
}
