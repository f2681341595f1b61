//! The read side: every name of our zones with its answers already
//! compiled into complete DNS responses, one per record type. A query costs
//! one hash lookup under a read lock; writers replace whole nodes.
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, RwLock,
    },
};

use super::key::NameKey;

/// A complete response (header with counts, the question with the
/// canonical lowercase name, and the sections), with id 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Box<[u8]>);

impl Template {
    /// Wraps an encoded message.
    pub fn new(msg: Vec<u8>) -> Self {
        Self(msg.into_boxed_slice())
    }

    /// Copies an encoded message.
    pub fn copy(msg: &[u8]) -> Self {
        Self(msg.into())
    }

    /// The whole message.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The answer, authority and additional counts (header bytes 6..12).
    pub fn counts(&self) -> &[u8] {
        self.0.get(6..12).unwrap_or(&[0; 6])
    }

    /// Everything after the question, whose wire length is `qlen` (name
    /// plus type and class).
    pub fn sections(&self, qlen: usize) -> &[u8] {
        self.0.get(12 + qlen..).unwrap_or(&[])
    }
}

/// One name: the zone it belongs to and its compiled answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Index of its zone (for the SOA of NODATA answers).
    pub zone: u8,
    /// The name is an alias (CNAME): every type is answered through it.
    pub alias: bool,
    /// Compiled answers by record type code.
    pub answers: Box<[(u16, Template)]>,
}

impl Node {
    /// The answer for record type `rtype`, if the name has such records.
    pub fn answer(&self, rtype: u16) -> Option<&Template> {
        self.answers
            .iter()
            .find(|(t, _)| *t == rtype)
            .map(|(_, tpl)| tpl)
    }
}

type Map = HashMap<NameKey, Arc<Node>, foldhash::fast::RandomState>;

/// All names of our zones.
#[derive(Debug, Default)]
pub struct Table {
    map: RwLock<Map>,
    templates: AtomicUsize,
    bytes: AtomicUsize,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` on the node of `key` while holding the read lock (no
    /// reference count is touched).
    pub fn with<R>(&self, key: &[u8], f: impl FnOnce(Option<&Node>) -> R) -> R {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        f(map.get(key).map(|n| &**n))
    }

    /// The node of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Arc<Node>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(key).cloned()
    }

    /// Sets (or, with `None`, removes) the node of `key`.
    pub fn set(&self, key: NameKey, node: Option<Arc<Node>>) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let old = match node {
            Some(n) => {
                self.count(&n, true);
                map.insert(key, n)
            }
            None => map.remove(&key),
        };
        drop(map);
        if let Some(old) = old {
            self.count(&old, false);
        }
    }

    fn count(&self, n: &Node, add: bool) {
        let t = n.answers.len();
        let b: usize = n.answers.iter().map(|(_, tpl)| tpl.bytes().len()).sum();
        if add {
            self.templates.fetch_add(t, Ordering::Relaxed);
            self.bytes.fetch_add(b, Ordering::Relaxed);
        } else {
            self.templates.fetch_sub(t, Ordering::Relaxed);
            self.bytes.fetch_sub(b, Ordering::Relaxed);
        }
    }

    /// Names held.
    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Compiled answers held.
    pub fn templates(&self) -> usize {
        self.templates.load(Ordering::Relaxed)
    }

    /// Bytes of compiled answers held.
    pub fn template_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}
