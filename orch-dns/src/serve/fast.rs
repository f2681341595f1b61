//! The UDP fast path: answers a plain query for a name of our zones
//! straight from its compiled response, without decoding into hickory
//! types. The query's id, RD and CD bits and question (with the client's
//! letter case) are copied in front of the compiled sections, whose name
//! pointers stay valid because the question has the same layout. Anything
//! unusual (other opcodes or classes, several questions, EDNS versions
//! above 0, aliases to chase, pod names, names outside our zones) is
//! passed to the hickory-server path; packets shorter than a header and
//! responses are dropped.
use crate::zone::{Place, Table, Template, Zones};

/// The UDP payload size we advertise and answer within (the DNS flag day
/// 2020 value, which avoids fragmentation).
pub const MAX_UDP: u16 = 1232;

/// What the fast path did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast {
    /// The answer is in the output buffer.
    Answered {
        /// The query type.
        qtype: u16,
        /// The response code.
        rcode: u16,
    },
    /// The hickory-server path must answer.
    Slow,
    /// Not to be answered.
    Drop,
}

/// A parsed plain query.
struct Query {
    /// Lowercase wire name.
    key: [u8; 256],
    key_len: usize,
    /// End of the question in the packet.
    question_end: usize,
    qtype: u16,
    /// The client's UDP payload size, if it sent EDNS.
    edns: Option<u16>,
}

fn be16(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]))
}

/// Parses `p` if it is a query the fast path can answer.
fn parse(p: &[u8]) -> Result<Query, Fast> {
    if p.len() < 12 {
        return Err(Fast::Drop);
    }
    if p[2] & 0x80 != 0 {
        return Err(Fast::Drop);
    }
    let opcode = (p[2] >> 3) & 0x0f;
    let (qd, an, ns, ar) = (
        be16(p, 4).unwrap_or(0),
        be16(p, 6).unwrap_or(0),
        be16(p, 8).unwrap_or(0),
        be16(p, 10).unwrap_or(0),
    );
    if opcode != 0 || qd != 1 || an != 0 || ns != 0 || ar > 1 {
        return Err(Fast::Slow);
    }
    let mut q = Query {
        key: [0; 256],
        key_len: 0,
        question_end: 0,
        qtype: 0,
        edns: None,
    };
    let mut pos = 12;
    loop {
        let len = usize::from(*p.get(pos).ok_or(Fast::Slow)?);
        if len & 0xc0 != 0 || q.key_len + 1 + len > 255 {
            return Err(Fast::Slow);
        }
        q.key[q.key_len] = len as u8;
        q.key_len += 1;
        pos += 1;
        if len == 0 {
            break;
        }
        let label = p.get(pos..pos + len).ok_or(Fast::Slow)?;
        for (dst, b) in q.key[q.key_len..q.key_len + len].iter_mut().zip(label) {
            *dst = b.to_ascii_lowercase();
        }
        q.key_len += len;
        pos += len;
    }
    q.qtype = be16(p, pos).ok_or(Fast::Slow)?;
    let qclass = be16(p, pos + 2).ok_or(Fast::Slow)?;
    q.question_end = pos + 4;
    // Class IN only; meta and transfer types go the long way.
    if qclass != 1 || matches!(q.qtype, 0 | 41 | 249..=255) {
        return Err(Fast::Slow);
    }
    if ar == 1 {
        // The OPT record: root name, type 41, payload, ext-rcode, version,
        // flags, options; it must end the packet.
        let o = q.question_end;
        if p.get(o) != Some(&0) || be16(p, o + 1) != Some(41) {
            return Err(Fast::Slow);
        }
        let payload = be16(p, o + 3).ok_or(Fast::Slow)?;
        let version = *p.get(o + 6).ok_or(Fast::Slow)?;
        let rdlen = usize::from(be16(p, o + 9).ok_or(Fast::Slow)?);
        if version != 0 || o + 11 + rdlen != p.len() {
            return Err(Fast::Slow);
        }
        q.edns = Some(payload);
    } else if q.question_end != p.len() {
        return Err(Fast::Slow);
    }
    Ok(q)
}

/// Answers `query` into `out` if it can.
pub fn answer(query: &[u8], out: &mut Vec<u8>, table: &Table, zones: &Zones) -> Fast {
    let q = match parse(query) {
        Ok(q) => q,
        Err(f) => return f,
    };
    let key = &q.key[..q.key_len];
    let found = table.with(key, |node| {
        let node = node?;
        if node.alias && q.qtype != 5 {
            return Some(Fast::Slow);
        }
        Some(match node.answer(q.qtype) {
            Some(t) => positive(query, &q, t, out),
            None => negative(
                query,
                &q,
                0,
                zones.get(usize::from(node.zone)).soa_wire.as_ref(),
                out,
            ),
        })
    });
    if let Some(f) = found {
        return f;
    }
    match zones.classify(key) {
        Place::Zone(z) => negative(query, &q, 3, &zones.get(z).soa_wire, out),
        Place::Pods(_) | Place::Outside => Fast::Slow,
    }
}

/// The largest answer the client takes.
fn limit(q: &Query) -> usize {
    usize::from(q.edns.map_or(512, |p| p.clamp(512, MAX_UDP)))
}

/// Header and question of a response to `query`.
fn start(
    query: &[u8],
    q: &Query,
    rcode: u16,
    truncated: bool,
    counts: [u16; 3],
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(&query[0..2]);
    // QR, opcode 0, AA, TC, RD copied.
    out.push(0x80 | 0x04 | if truncated { 0x02 } else { 0 } | (query[2] & 0x01));
    // RA, CD copied, rcode.
    out.push(0x80 | (query[3] & 0x10) | (rcode as u8 & 0x0f));
    out.extend_from_slice(&1u16.to_be_bytes());
    let extra = u16::from(q.edns.is_some());
    out.extend_from_slice(&counts[0].to_be_bytes());
    out.extend_from_slice(&counts[1].to_be_bytes());
    out.extend_from_slice(&(counts[2] + extra).to_be_bytes());
    out.extend_from_slice(&query[12..q.question_end]);
}

/// Our OPT record: payload size, no flags, no options.
fn opt(q: &Query, out: &mut Vec<u8>) {
    if q.edns.is_some() {
        out.extend_from_slice(&[0, 0, 41]);
        out.extend_from_slice(&MAX_UDP.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
}

fn opt_len(q: &Query) -> usize {
    if q.edns.is_some() {
        11
    } else {
        0
    }
}

/// A header-only answer with TC set: the client retries over TCP.
fn truncated(query: &[u8], q: &Query, rcode: u16, out: &mut Vec<u8>) {
    start(query, q, rcode, true, [0, 0, 0], out);
    opt(q, out);
}

fn positive(query: &[u8], q: &Query, t: &Template, out: &mut Vec<u8>) -> Fast {
    let sections = t.sections(q.key_len + 4);
    let c = t.counts();
    let counts = [
        u16::from_be_bytes([c[0], c[1]]),
        u16::from_be_bytes([c[2], c[3]]),
        u16::from_be_bytes([c[4], c[5]]),
    ];
    if q.question_end + sections.len() + opt_len(q) > limit(q) {
        truncated(query, q, 0, out);
    } else {
        start(query, q, 0, false, counts, out);
        out.extend_from_slice(sections);
        opt(q, out);
    }
    Fast::Answered {
        qtype: q.qtype,
        rcode: 0,
    }
}

/// NODATA (`rcode` 0) or NXDOMAIN (3), with the zone's SOA.
fn negative(query: &[u8], q: &Query, rcode: u16, soa: &[u8], out: &mut Vec<u8>) -> Fast {
    if q.question_end + soa.len() + opt_len(q) > limit(q) {
        truncated(query, q, rcode, out);
    } else {
        start(query, q, rcode, false, [0, 1, 0], out);
        out.extend_from_slice(soa);
        opt(q, out);
    }
    Fast::Answered {
        qtype: q.qtype,
        rcode,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hickory_server::proto::op::Message;

    use super::*;
    use crate::{cluster::ClusterState, config::Settings};

    fn setup() -> (Arc<Table>, Arc<Zones>) {
        let zones = Arc::new(Zones::new(&Settings::local("127.0.0.1:0".parse().unwrap())));
        let table = Arc::new(Table::new());
        let mut state = ClusterState::new(table.clone(), zones.clone());
        let svc = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}]}
        }))
        .unwrap();
        state.apply_service(&svc);
        (table, zones)
    }

    fn query(name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let mut p = vec![
            0xab,
            0xcd,
            0x01,
            0x10,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            u8::from(edns.is_some()),
        ];
        for l in name.split('.').filter(|l| !l.is_empty()) {
            p.push(l.len() as u8);
            p.extend_from_slice(l.as_bytes());
        }
        p.extend_from_slice(&[0]);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        if let Some(s) = edns {
            p.extend_from_slice(&[0, 0, 41]);
            p.extend_from_slice(&s.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
        p
    }

    #[test]
    fn answers_from_templates_with_the_query_header() {
        let (table, zones) = setup();
        let mut out = Vec::new();
        let q = query("Web.Default.svc.cluster.local", 1, Some(4096));
        assert_eq!(
            answer(&q, &mut out, &table, &zones),
            Fast::Answered { qtype: 1, rcode: 0 }
        );
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.id, 0xabcd);
        assert!(m.metadata.recursion_desired && m.metadata.checking_disabled);
        assert!(m.metadata.authoritative && !m.metadata.truncation);
        assert_eq!(
            m.queries[0].name().to_ascii(),
            "Web.Default.svc.cluster.local."
        );
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.edns.as_ref().map(|e| e.max_payload()), Some(MAX_UDP));

        let q = query("nope.cluster.local", 1, None);
        assert_eq!(
            answer(&q, &mut out, &table, &zones),
            Fast::Answered { qtype: 1, rcode: 3 }
        );
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.authorities.len(), 1);
        assert!(m.edns.is_none());

        for slow in [
            query("example.com", 1, None),
            query("1-2-3-4.default.pod.cluster.local", 1, None),
            query("web.default.svc.cluster.local", 255, None),
        ] {
            assert_eq!(answer(&slow, &mut out, &table, &zones), Fast::Slow);
        }
        assert_eq!(answer(&[1, 2, 3], &mut out, &table, &zones), Fast::Drop);
    }

    #[test]
    fn random_mutations_never_panic_and_answers_decode() {
        let (table, zones) = setup();
        let seeds = [
            query("web.default.svc.cluster.local", 1, Some(1232)),
            query("_http._tcp.web.default.svc.cluster.local", 33, None),
            query("x.cluster.local", 28, Some(512)),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::new();
        for i in 0..200_000 {
            let mut p = seeds[i % seeds.len()].clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % p.len();
                p[at] ^= 1 << (next() % 8);
            }
            if next() % 5 == 0 {
                let n = (next() as usize) % p.len();
                p.truncate(n);
            }
            if let Fast::Answered { .. } = answer(&p, &mut out, &table, &zones) {
                let m = Message::from_vec(&out)
                    .unwrap_or_else(|e| panic!("answer to {p:?} does not decode: {e}"));
                assert_eq!(out[..2], p[..2]);
                assert!(out.len() <= usize::from(MAX_UDP));
                assert_eq!(m.queries.len(), 1);
            }
        }
    }
}
