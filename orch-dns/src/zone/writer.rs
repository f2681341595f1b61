//! The write side: who put what at which name. Each owner (one per
//! Service, plus the zones' own records) replaces its whole set of names at
//! once; only the names whose content or existence changed are compiled
//! again, so a change costs O(what changed), whatever the number of
//! Services. What an owner put at a name is kept as a fingerprint only (10k
//! Services hold about 80k names); the records of a name shared with other
//! owners are asked for again from those owners when it is recompiled.
use std::{
    collections::{BTreeMap, HashMap},
    hash::{Hash, Hasher},
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

/// A digest of what an owner put at a name; [`EMPTY`] for nothing but
/// existence.
type Print = u64;

/// The fingerprint of an empty contribution.
const EMPTY: Print = 0;

fn fingerprint(c: &NameContrib) -> Print {
    if c.is_empty() {
        return EMPTY;
    }
    let mut h = std::hash::DefaultHasher::new();
    c.records.hash(&mut h);
    for r in c.additionals.iter() {
        r.name.hash(&mut h);
        r.data.hash(&mut h);
    }
    h.finish().max(1)
}

/// The owners of one name. Owners whose contribution is empty only keep the
/// name in existence, so they are only counted: a namespace's
/// `<ns>.svc.<domain>` can have thousands of them.
#[derive(Debug, Default)]
struct Owners {
    rich: Rich,
    bare: u32,
}

/// Owners with records at a name; nearly always one.
#[derive(Debug, Default)]
enum Rich {
    #[default]
    None,
    One(OwnerId),
    Many(Vec<OwnerId>),
}

impl Rich {
    fn add(&mut self, o: OwnerId) {
        *self = match std::mem::take(self) {
            Rich::None => Rich::One(o),
            Rich::One(a) => Rich::Many(vec![a, o]),
            Rich::Many(mut v) => {
                v.push(o);
                Rich::Many(v)
            }
        };
    }

    fn remove(&mut self, o: &OwnerId) {
        *self = match std::mem::take(self) {
            Rich::One(a) if a == *o => Rich::None,
            Rich::Many(mut v) => {
                v.retain(|x| x != o);
                match v.len() {
                    0 => Rich::None,
                    1 => Rich::One(v.remove(0)),
                    _ => Rich::Many(v),
                }
            }
            other => other,
        };
    }

    fn list(&self) -> &[OwnerId] {
        match self {
            Rich::None => &[],
            Rich::One(a) => std::slice::from_ref(a),
            Rich::Many(v) => v,
        }
    }
}

impl Owners {
    fn exists(&self) -> bool {
        !self.rich.list().is_empty() || self.bare > 0
    }
}

/// Asks an owner for its current contribution (for names it shares).
pub type Recall<'a> = &'a dyn Fn(&OwnerId) -> Contribution;

/// Applies owners' contributions to a [`Table`].
#[derive(Debug)]
pub struct ZoneWriter {
    table: Arc<Table>,
    zones: Arc<Zones>,
    /// Per owner, its names (sorted) and fingerprints.
    owners: HashMap<OwnerId, Box<[(NameKey, Print)]>>,
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
    /// `recall` gives any other owner's current contribution, for names
    /// `owner` shares with it. Returns how many names were compiled again.
    pub fn set(&mut self, owner: &OwnerId, new: Contribution, recall: Recall<'_>) -> usize {
        let old = self.owners.remove(owner).unwrap_or_default();
        let prints: Box<[(NameKey, Print)]> = new
            .iter()
            .map(|(k, c)| (k.clone(), fingerprint(c)))
            .collect();
        let mut dirty: Vec<NameKey> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < prints.len() {
            let (key, before, after) = match (old.get(i), prints.get(j)) {
                (Some((ko, po)), Some((kn, pn))) if ko == kn => {
                    i += 1;
                    j += 1;
                    (ko, Some(*po), Some(*pn))
                }
                (Some((ko, po)), Some((kn, _))) if ko < kn => {
                    i += 1;
                    (ko, Some(*po), None)
                }
                (Some((ko, po)), None) => {
                    i += 1;
                    (ko, Some(*po), None)
                }
                (_, Some((kn, pn))) => {
                    j += 1;
                    (kn, None, Some(*pn))
                }
                (None, None) => break,
            };
            if before.is_some() && before == after {
                continue;
            }
            if self.update_owners(key, owner, before, after) {
                dirty.push(key.clone());
            }
        }
        if !prints.is_empty() {
            self.owners.insert(owner.clone(), prints);
        }
        let count = dirty.len();
        let mut recalled: HashMap<OwnerId, Contribution> = HashMap::new();
        for key in dirty {
            self.recompile(key, owner, &new, recall, &mut recalled);
        }
        count
    }

    /// Updates the owners of `key`; whether it must be compiled again.
    fn update_owners(
        &mut self,
        key: &NameKey,
        owner: &OwnerId,
        before: Option<Print>,
        after: Option<Print>,
    ) -> bool {
        let entry = self.names.entry(key.clone()).or_default();
        let existed = entry.exists();
        let was_rich = before.is_some_and(|p| p != EMPTY);
        let is_rich = after.is_some_and(|p| p != EMPTY);
        match before {
            Some(EMPTY) => entry.bare -= 1,
            Some(_) => entry.rich.remove(owner),
            None => {}
        }
        match after {
            Some(EMPTY) => entry.bare += 1,
            Some(_) => entry.rich.add(owner.clone()),
            None => {}
        }
        let exists = entry.exists();
        if !exists {
            self.names.remove(key);
        }
        was_rich || is_rich || existed != exists
    }

    fn recompile(
        &mut self,
        key: NameKey,
        owner: &OwnerId,
        new: &Contribution,
        recall: Recall<'_>,
        recalled: &mut HashMap<OwnerId, Contribution>,
    ) {
        let Some(entry) = self.names.get(&key) else {
            self.table.set(key, None);
            return;
        };
        let mut parts: Vec<Arc<NameContrib>> = Vec::new();
        for o in entry.rich.list() {
            let c = if o == owner {
                new.get(&key).cloned()
            } else {
                recalled
                    .entry(o.clone())
                    .or_insert_with(|| recall(o))
                    .get(&key)
                    .cloned()
            };
            parts.extend(c);
        }
        let Some(name) = name_of(&key) else {
            return;
        };
        let zone = self.zones.zone_of(&key).unwrap_or(0) as u8;
        let refs: Vec<&NameContrib> = parts.iter().map(|c| &**c).collect();
        let node = compile(&name, zone, self.zones.ttl(), &refs);
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

    /// Recalls from a fixed set of contributions.
    fn from(all: &HashMap<OwnerId, Contribution>) -> impl Fn(&OwnerId) -> Contribution + '_ {
        move |o| all.get(o).cloned().unwrap_or_default()
    }

    fn with_a(ip: [u8; 4]) -> Arc<NameContrib> {
        Arc::new(NameContrib {
            records: vec![RData::A(A(Ipv4Addr::from(ip)))].into(),
            additionals: Box::default(),
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
        let mut all = HashMap::new();
        all.insert(one.clone(), c1.clone());
        all.insert(two.clone(), c2.clone());
        let recall = from(&all);
        assert_eq!(w.set(&one, c1.clone(), &recall), 3);
        // The second owner of an empty name does not recompile it.
        assert_eq!(w.set(&two, c2, &recall), 2);
        assert_eq!(table.len(), 4);
        let a = u16::from(RecordType::A);
        let m = hickory_server::proto::op::Message::from_vec(
            table.get(&shared).unwrap().answer(a).unwrap().bytes(),
        )
        .unwrap();
        assert_eq!(m.answers.len(), 2);
        // Same content again: nothing to do.
        assert_eq!(w.set(&one, c1, &recall), 0);
        assert_eq!(w.set(&one, Contribution::new(), &recall), 2);
        assert!(table.get(&k("one.default.svc.cluster.local.")).is_none());
        assert!(table.get(&ent).is_some());
        assert!(table.get(&shared).is_some());
        // The shared name lost one owner's record.
        let m = hickory_server::proto::op::Message::from_vec(
            table.get(&shared).unwrap().answer(a).unwrap().bytes(),
        )
        .unwrap();
        assert_eq!(m.answers.len(), 1);
        w.set(&two, Contribution::new(), &recall);
        assert!(table.is_empty());
        assert_eq!(w.owners(), 0);
    }
}
