//! The in-memory mirror of the file: the live keys, the history and the
//! current revision, behind one lock. Reads never touch redb.
//!
//! Values are [`Bytes`] and keys are `Arc<str>`, shared between the live
//! map, the history and the watchers, so a value is held once however many
//! places refer to it.
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::history::History;
use crate::store::{EventKind, KeyValue, ListOptions, Revision, StoreError, WatchEvent};

/// One version of a key's value.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The value bytes.
    pub value: Bytes,
    /// Revision of the write that created the key.
    pub create_revision: Revision,
    /// Revision of this version.
    pub mod_revision: Revision,
}

impl Entry {
    /// The public form, copying the value.
    pub(crate) fn to_kv(&self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: self.value.to_vec(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
        }
    }
}

/// One change, as kept in the history and sent to watchers.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key.
    pub key: Arc<str>,
    /// The new version; for a delete, the last value at the delete's revision.
    pub kv: Entry,
    /// The version before this change.
    pub prev: Option<Entry>,
    /// When it was committed, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

impl Event {
    /// The revision of this change.
    pub(crate) fn revision(&self) -> Revision {
        self.kv.mod_revision
    }

    /// The public form, copying the values.
    pub(crate) fn to_public(&self) -> WatchEvent {
        WatchEvent {
            kind: self.kind,
            kv: self.kv.to_kv(&self.key),
            prev: self.prev.as_ref().map(|p| p.to_kv(&self.key)),
        }
    }
}

/// Everything reads need, consistent at `revision`.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The live keys at `revision`.
    pub mirror: BTreeMap<Arc<str>, Entry>,
    /// The recent events, up to `revision`.
    pub history: History,
    /// The latest revision committed.
    pub revision: Revision,
}

/// One page read under the lock; the values are copied out after.
#[derive(Debug)]
pub(crate) struct RawPage {
    /// Items in key order.
    pub items: Vec<(Arc<str>, Entry)>,
    /// The revision read at.
    pub revision: Revision,
    /// Whether more items follow.
    pub more: bool,
}

impl State {
    /// Applies a committed event to the live keys and the history.
    pub(crate) fn apply(&mut self, event: &Arc<Event>) {
        match event.kind {
            EventKind::Put => {
                self.mirror.insert(event.key.clone(), event.kv.clone());
            }
            EventKind::Delete => {
                self.mirror.remove(&*event.key);
            }
        }
        self.revision = event.revision();
        self.history.push(event.clone());
    }

    /// Reads one page. At an older revision, the page is the current keys
    /// with every newer event undone (its key takes the event's `prev`).
    pub(crate) fn list(&self, opts: &ListOptions) -> Result<RawPage, StoreError> {
        let revision = opts.revision.unwrap_or(self.revision);
        self.history.check(revision, self.revision)?;
        let prefix = opts.prefix.as_str();
        let lower = match opts.start_after.as_deref() {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let wanted = if opts.limit == 0 {
            usize::MAX
        } else {
            opts.limit
        };
        let current = self
            .mirror
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, e)| (k, Some(e)));

        let mut items = Vec::new();
        let mut more = false;
        let mut push = |key: &Arc<str>, entry: &Entry| {
            if items.len() == wanted {
                more = true;
                false
            } else {
                items.push((key.clone(), entry.clone()));
                true
            }
        };

        if revision == self.revision {
            for (key, entry) in current {
                if let Some(entry) = entry {
                    if !push(key, entry) {
                        break;
                    }
                }
            }
        } else {
            // The value each changed key had at `revision`: the prev of its
            // oldest event after it. Walking newest first, older events
            // overwrite newer ones.
            let in_range = |k: &str| {
                k.starts_with(prefix)
                    && match lower {
                        Bound::Excluded(after) => k > after,
                        _ => true,
                    }
            };
            let mut undone: BTreeMap<&Arc<str>, Option<&Entry>> = BTreeMap::new();
            for event in self.history.since(revision).rev() {
                if in_range(&event.key) {
                    undone.insert(&event.key, event.prev.as_ref());
                }
            }
            let mut current = current.peekable();
            let mut undone = undone.into_iter().peekable();
            loop {
                let next = match (current.peek(), undone.peek()) {
                    (None, None) => break,
                    (Some(_), None) => current.next(),
                    (None, Some(_)) => undone.next(),
                    (Some((a, _)), Some((b, _))) => match a.as_ref().cmp(b.as_ref()) {
                        std::cmp::Ordering::Less => current.next(),
                        std::cmp::Ordering::Greater => undone.next(),
                        std::cmp::Ordering::Equal => {
                            current.next();
                            undone.next()
                        }
                    },
                };
                if let Some((key, Some(entry))) = next {
                    if !push(key, entry) {
                        break;
                    }
                }
            }
        }
        Ok(RawPage {
            items,
            revision,
            more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(state: &mut State, key: &str, value: &str) {
        let rev = state.revision + 1;
        let prev = state.mirror.get(key).cloned();
        let create = prev.as_ref().map_or(rev, |p| p.create_revision);
        let kv = Entry {
            value: Bytes::from(value.to_owned()),
            create_revision: create,
            mod_revision: rev,
        };
        let event = Event {
            kind: EventKind::Put,
            key: Arc::from(key),
            kv,
            prev,
            unix_ms: 0,
        };
        state.apply(&Arc::new(event));
    }

    fn delete(state: &mut State, key: &str) {
        let prev = state.mirror.get(key).cloned().unwrap();
        let kv = Entry {
            mod_revision: state.revision + 1,
            ..prev.clone()
        };
        let event = Event {
            kind: EventKind::Delete,
            key: Arc::from(key),
            kv,
            prev: Some(prev),
            unix_ms: 0,
        };
        state.apply(&Arc::new(event));
    }

    fn keys(state: &State, opts: ListOptions) -> Vec<String> {
        let page = state.list(&opts).unwrap();
        page.items
            .iter()
            .map(|(k, e)| format!("{k}={}", String::from_utf8_lossy(&e.value)))
            .collect()
    }

    #[test]
    fn list_at_old_revision_undoes_newer_events() {
        let mut s = State::default();
        put(&mut s, "/a/1", "x"); // 1
        put(&mut s, "/a/2", "x"); // 2
        put(&mut s, "/b/1", "x"); // 3
        put(&mut s, "/a/1", "y"); // 4
        delete(&mut s, "/a/2"); // 5
        put(&mut s, "/a/3", "x"); // 6
        let at = |r| ListOptions {
            prefix: "/a/".into(),
            revision: Some(r),
            ..Default::default()
        };
        assert_eq!(keys(&s, at(6)), ["/a/1=y", "/a/3=x"]);
        assert_eq!(keys(&s, at(3)), ["/a/1=x", "/a/2=x"]);
        assert_eq!(keys(&s, at(4)), ["/a/1=y", "/a/2=x"]);
        assert_eq!(keys(&s, at(0)), Vec::<String>::new());
        let paged = ListOptions {
            start_after: Some("/a/1".into()),
            limit: 1,
            ..at(3)
        };
        let page = s.list(&paged).unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(!page.more);
        let first = ListOptions { limit: 1, ..at(3) };
        assert!(s.list(&first).unwrap().more);
    }

    proptest::proptest! {
        /// Every page of every list at every past revision matches a model
        /// that kept a full copy of each revision.
        #[test]
        fn list_at_any_revision_matches_model(
            ops in proptest::collection::vec((0u8..6, proptest::bool::ANY), 1..60),
            limit in 0usize..4,
            prefix in proptest::sample::select(vec!["", "/k", "/k/1", "/k/"]),
        ) {
            let mut s = State::default();
            let mut model: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
            for (i, (k, is_put)) in ops.into_iter().enumerate() {
                let key = if k < 3 { format!("/k/{k}") } else { format!("/k{k}") };
                let mut next = model.last().unwrap().clone();
                if is_put {
                    put(&mut s, &key, &i.to_string());
                    next.insert(key, i.to_string());
                } else if s.mirror.contains_key(key.as_str()) {
                    delete(&mut s, &key);
                    next.remove(&key);
                } else {
                    continue;
                }
                model.push(next);
            }
            for (revision, want) in model.iter().enumerate() {
                let want: Vec<String> = want
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let mut got = Vec::new();
                let mut opts = ListOptions {
                    prefix: prefix.to_owned(),
                    limit,
                    revision: Some(revision as Revision),
                    ..Default::default()
                };
                loop {
                    let page = s.list(&opts).unwrap();
                    proptest::prop_assert!(limit == 0 || page.items.len() <= limit);
                    opts.start_after = page.items.last().map(|(k, _)| k.to_string());
                    got.extend(
                        page.items
                            .iter()
                            .map(|(k, e)| format!("{k}={}", String::from_utf8_lossy(&e.value))),
                    );
                    if !page.more {
                        break;
                    }
                }
                proptest::prop_assert_eq!(got, want, "revision {}", revision);
            }
        }
    }
}
