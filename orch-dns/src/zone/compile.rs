//! Compiling a name: the records every owner put there, merged and
//! de-duplicated, encoded once into a complete response per record type.
use std::collections::HashSet;

use hickory_server::proto::{
    op::{Message, OpCode, Query},
    rr::{Name, RData, Record, RecordType},
};

use super::table::{Node, Template};

/// What one owner (a Service) puts at one name. Empty: the name exists
/// without records of its own (an empty non-terminal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameContrib {
    /// Record data at the name (owner name and TTL are the node's).
    pub records: Box<[RData]>,
    /// Records for the additional section of SRV answers (the targets'
    /// addresses).
    pub additionals: Box<[Record]>,
}

impl NameContrib {
    /// Whether the owner only says "the name exists".
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.additionals.is_empty()
    }
}

/// Compiles `name` (in zone `zone`) from its owners' contributions.
pub fn compile(name: &Name, zone: u8, ttl: u32, parts: &[&NameContrib]) -> Node {
    let mut types: Vec<(RecordType, Vec<&RData>)> = Vec::new();
    let mut seen: HashSet<&RData> = HashSet::new();
    for rdata in parts.iter().flat_map(|p| &p.records) {
        if !seen.insert(rdata) {
            continue;
        }
        let t = rdata.record_type();
        match types.iter_mut().find(|(rt, _)| *rt == t) {
            Some((_, v)) => v.push(rdata),
            None => types.push((t, vec![rdata])),
        }
    }
    let mut seen_add: HashSet<(&Name, &RData)> = HashSet::new();
    let additionals: Vec<&Record> = parts
        .iter()
        .flat_map(|p| &p.additionals)
        .filter(|r| seen_add.insert((&r.name, &r.data)))
        .collect();
    let alias = types.iter().any(|(t, _)| *t == RecordType::CNAME);
    let ns: Vec<&RData> = types
        .iter()
        .find(|(t, _)| *t == RecordType::NS)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let answers = types
        .iter()
        .map(|(t, rdatas)| {
            let adds: &[&Record] = if *t == RecordType::SRV {
                &additionals
            } else {
                &[]
            };
            // As hickory-server does, an SOA answer carries the zone's NS
            // records in the authority section.
            let auth: &[&RData] = if *t == RecordType::SOA { &ns } else { &[] };
            (u16::from(*t), encode(name, *t, rdatas, auth, adds, ttl))
        })
        .collect();
    Node {
        zone,
        alias,
        answers,
    }
}

/// The response to `name`/`rtype`. A set too large for one message (64 KiB)
/// loses its additional section, then half its records until it fits.
fn encode(
    name: &Name,
    rtype: RecordType,
    rdatas: &[&RData],
    authorities: &[&RData],
    additionals: &[&Record],
    ttl: u32,
) -> Template {
    let mut n = rdatas.len();
    let mut with_additionals = true;
    loop {
        let mut msg = Message::response(0, OpCode::Query);
        msg.metadata.authoritative = true;
        msg.metadata.recursion_available = true;
        msg.add_query(Query::query(name.clone(), rtype));
        for r in &rdatas[..n] {
            msg.add_answer(Record::from_rdata(name.clone(), ttl, (*r).clone()));
        }
        for r in authorities {
            msg.add_authority(Record::from_rdata(name.clone(), ttl, (*r).clone()));
        }
        if with_additionals {
            msg.add_additionals(additionals.iter().map(|r| (*r).clone()));
        }
        match msg.to_vec() {
            // An exact-size copy: the encoder's buffer is larger.
            Ok(v) => return Template::copy(&v),
            Err(e) if with_additionals && !additionals.is_empty() => {
                tracing::warn!(%name, %rtype, error = %e, "answer too large; dropping its additional section");
                with_additionals = false;
            }
            Err(e) if n > 1 => {
                tracing::warn!(%name, %rtype, records = n, error = %e, "answer too large; halving it");
                n /= 2;
            }
            Err(e) => {
                tracing::warn!(%name, %rtype, error = %e, "cannot encode the answer");
                n = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_server::proto::rr::rdata::{A, SRV};

    use super::*;

    fn a(ip: [u8; 4]) -> RData {
        RData::A(A(Ipv4Addr::from(ip)))
    }

    #[test]
    fn merges_dedups_and_groups_by_type() {
        let name = Name::from_ascii("web.default.svc.cluster.local.").unwrap();
        let one = NameContrib {
            records: vec![a([10, 0, 0, 1]), a([10, 0, 0, 2])].into(),
            additionals: Box::default(),
        };
        let two = NameContrib {
            records: vec![
                a([10, 0, 0, 2]),
                RData::SRV(SRV::new(0, 100, 80, name.clone())),
            ]
            .into(),
            additionals: vec![Record::from_rdata(name.clone(), 5, a([10, 0, 0, 9]))].into(),
        };
        let node = compile(&name, 0, 5, &[&one, &two]);
        assert!(!node.alias);
        let t = node.answer(u16::from(RecordType::A)).unwrap();
        let m = Message::from_vec(t.bytes()).unwrap();
        assert_eq!(m.answers.len(), 2);
        assert!(m.additionals.is_empty());
        assert!(m.metadata.authoritative);
        let s = node.answer(u16::from(RecordType::SRV)).unwrap();
        let m = Message::from_vec(s.bytes()).unwrap();
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.additionals.len(), 1);
        assert!(node.answer(u16::from(RecordType::AAAA)).is_none());
    }

    #[test]
    fn huge_sets_are_cut_to_fit() {
        let name = Name::from_ascii("big.default.svc.cluster.local.").unwrap();
        let c = NameContrib {
            records: (0..6000u32)
                .map(|i| RData::A(A(Ipv4Addr::from(0x0a00_0000 + i))))
                .collect(),
            additionals: Box::default(),
        };
        let node = compile(&name, 0, 5, &[&c]);
        let t = node.answer(u16::from(RecordType::A)).unwrap();
        let m = Message::from_vec(t.bytes()).unwrap();
        assert!(m.answers.len() >= 1000 && m.answers.len() < 6000);
    }
}
