//! The write side: who put what at which name. Each owner (one per
//! Service, plus the zones' own records) replaces its whole set of names at
//! once; only the names whose content or existence changed are compiled
//! again, so a change costs O(what changed), whatever the number of
//! Services.
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use super::{
    apex::Zones,
    compile::{compile, NameContrib},
    key::{name_of, NameKey},
    table::{Node, Table},
};

/// Who contributes names: `<namespace>/<service>`, or `""` for the zones'
/// own records.
pub type OwnerId = Arc<str>;

/// Everything one owner puts in the zones, by name.
pub type Contribution = BTreeMap<NameKey, Arc<NameContrib>>;

/// The owners of one name. Owners whose contribution is empty only keep the
/// name in existence, so they are only counted: a namespace's
/// `<ns>.svc.<domain>` can have thousands of them.
#[derive(Debug, Default)]
struct Owners {
    rich: Vec<OwnerId>,
    bare: u32,
}

impl Owners {
    fn exists(&self) -> bool {
        !self.rich.is_empty() || self.bare > 0
    }
}

/// Applies owners' contributions to a [`Table`].
#[derive(Debug)]
pub struct ZoneWriter {
    table: Arc<Table>,
    zones: Arc<Zones>,
    owners: HashMap<OwnerId, Contribution>,
    names: HashMap<NameKey, Owners>,
}

impl ZoneWriter {
    /// A writer filling `table`.
    pub fn new(table: Arc<Table>, zones: Arc<Zones>) -> Self {
        Self {
            table,
            zones,
            owners: HashMap::new(),
            names: HashMap::new(),
        }
    }

    /// The zones.
    pub fn zones(&self) -> &Arc<Zones> {
        &self.zones
    }

    /// Replaces what `owner` contributes with `new` (empty: removes it).
    /// Returns how many names were compiled again.
    pub fn set(&mut self, owner: &OwnerId, new: Contribution) -> usize {
        let old = self.owners.remove(owner).unwrap_or_default();
        let mut dirty: Vec<NameKey> = Vec::new();
        let mut o = old.iter().peekable();
        let mut n = new.iter().peekable();
        loop {
            let (key, before, after) = match (o.peek(), n.peek()) {
                (None, None) => break,
                (Some((ko, vo)), Some((kn, vn))) if ko == kn => {
                    let r = ((*ko).clone(), Some((*vo).clone()), Some((*vn).clone()));
                    o.next();
                    n.next();
                    r
                }
                (Some((ko, vo)), Some((kn, _))) if ko < kn => {
                    let r = ((*ko).clone(), Some((*vo).clone()), None);
                    o.next();
                    r
                }
                (Some((ko, vo)), None) => {
                    let r = ((*ko).clone(), Some((*vo).clone()), None);
                    o.next();
                    r
                }
                (_, Some((kn, vn))) => {
                    let r = ((*kn).clone(), None, Some((*vn).clone()));
                    n.next();
                    r
                }
            };
            if let (Some(b), Some(a)) = (&before, &after) {
                if Arc::ptr_eq(b, a) || b == a {
                    continue;
                }
            }
            if self.update_owners(&key, owner, before.as_deref(), after.as_deref()) {
                dirty.push(key);
            }
        }
        if !new.is_empty() {
            self.owners.insert(owner.clone(), new);
        }
        let count = dirty.len();
        for key in dirty {
            self.recompile(key);
        }
        count
    }

    /// Updates the owners of `key`; whether it must be compiled again.
    fn update_owners(
        &mut self,
        key: &NameKey,
        owner: &OwnerId,
        before: Option<&NameContrib>,
        after: Option<&NameContrib>,
    ) -> bool {
        let entry = self.names.entry(key.clone()).or_default();
        let existed = entry.exists();
        let was_rich = before.is_some_and(|c| !c.is_empty());
        let is_rich = after.is_some_and(|c| !c.is_empty());
        match before {
            Some(c) if c.is_empty() => entry.bare -= 1,
            Some(_) => entry.rich.retain(|o| o != owner),
            None => {}
        }
        match after {
            Some(c) if c.is_empty() => entry.bare += 1,
            Some(_) => entry.rich.push(owner.clone()),
            None => {}
        }
        let exists = entry.exists();
        if !exists {
            self.names.remove(key);
        }
        was_rich || is_rich || existed != exists
    }

    fn recompile(&mut self, key: NameKey) {
        let Some(entry) = self.names.get(&key) else {
            self.table.set(key, None);
            return;
        };
        let parts: Vec<&NameContrib> = entry
            .rich
            .iter()
            .filter_map(|o| self.owners.get(o)?.get(&key).map(|c| &**c))
            .collect();
        let Some(name) = name_of(&key) else {
            return;
        };
        let zone = self.zones.zone_of(&key).unwrap_or(0) as u8;
        let node = compile(&name, zone, self.zones.ttl(), &parts);
        // Unchanged compiled answers are not swapped in.
        if self.table.get(&key).is_some_and(|cur| *cur == node) {
            return;
        }
        self.table.set(key, Some(Arc::new(node)));
    }

    /// The node currently compiled for `key` (tests and debugging).
    pub fn node(&self, key: &[u8]) -> Option<Arc<Node>> {
        self.table.get(key)
    }

    /// Owners known.
    pub fn owners(&self) -> usize {
        self.owners.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_server::proto::rr::{rdata::A, Name, RData, RecordType};

    use super::*;
    use crate::{config::Settings, zone::key::key_of};

    fn setup() -> (ZoneWriter, Arc<Table>) {
        let table = Arc::new(Table::new());
        let zones = Arc::new(Zones::new(&Settings::local("127.0.0.1:0".parse().unwrap())));
        (ZoneWriter::new(table.clone(), zones), table)
    }

    fn k(s: &str) -> NameKey {
        key_of(&Name::from_ascii(s).unwrap())
    }

    fn with_a(ip: [u8; 4]) -> Arc<NameContrib> {
        Arc::new(NameContrib {
            records: vec![RData::A(A(Ipv4Addr::from(ip)))],
            additionals: vec![],
        })
    }

    #[test]
    fn owners_share_names_and_leave_cleanly() {
        let (mut w, table) = setup();
        let ent = k("default.svc.cluster.local.");
        let shared = k("1.0.244.10.in-addr.arpa.");
        let one: OwnerId = "default/one".into();
        let two: OwnerId = "default/two".into();
        let c1: Contribution = [
            (k("one.default.svc.cluster.local."), with_a([10, 96, 0, 1])),
            (ent.clone(), Arc::new(NameContrib::default())),
            (shared.clone(), with_a([1, 1, 1, 1])),
        ]
        .into_iter()
        .collect();
        let c2: Contribution = [
            (k("two.default.svc.cluster.local."), with_a([10, 96, 0, 2])),
            (ent.clone(), Arc::new(NameContrib::default())),
            (shared.clone(), with_a([2, 2, 2, 2])),
        ]
        .into_iter()
        .collect();
        assert_eq!(w.set(&one, c1.clone()), 3);
        // The second owner of an empty name does not recompile it.
        assert_eq!(w.set(&two, c2), 2);
        assert_eq!(table.len(), 4);
        let a = u16::from(RecordType::A);
        let m = hickory_server::proto::op::Message::from_vec(
            table.get(&shared).unwrap().answer(a).unwrap().bytes(),
        )
        .unwrap();
        assert_eq!(m.answers.len(), 2);
        // Same content again: nothing to do.
        assert_eq!(w.set(&one, c1), 0);
        assert_eq!(w.set(&one, Contribution::new()), 2);
        assert!(table.get(&k("one.default.svc.cluster.local.")).is_none());
        assert!(table.get(&ent).is_some());
        assert!(table.get(&shared).is_some());
        w.set(&two, Contribution::new());
        assert!(table.is_empty());
        assert_eq!(w.owners(), 0);
    }
}
