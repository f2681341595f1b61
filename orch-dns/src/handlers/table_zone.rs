//! The zone handler of one of our zones (the cluster domain, a reverse
//! zone), answering from the compiled table: the path TCP queries and the
//! UDP queries the fast path passes on take. Aliases (ExternalName
//! Services) are chased here, through the table or the forwarder. Names
//! under a reverse zone but outside its CIDRs are skipped, so the
//! forwarder next in line answers them.
use std::sync::Arc;

use hickory_server::{
    proto::{
        op::{Message, ResponseCode},
        rr::{LowerName, Name, Record, RecordType, TSigResponseContext},
    },
    server::{Request, RequestInfo},
    zone_handler::{
        AuthLookup, AxfrPolicy, LookupControlFlow, LookupError, LookupOptions, LookupRecords,
        ZoneHandler, ZoneType,
    },
};

use super::{forward::Forwarder, pod};
use crate::zone::{key::key_of, Node, Place, Table, Zones};

/// How deep CNAME chains are followed.
const MAX_CHASE: usize = 8;

/// What a lookup in our zones found.
#[derive(Debug)]
pub enum Found {
    /// Records (answer and additional sections).
    Records(Vec<Record>, Vec<Record>),
    /// The name exists, not with this type.
    NoData,
    /// The name does not exist.
    NxDomain,
    /// Not ours.
    Outside,
}

/// The handler of zone `zone`.
pub struct TableZone {
    origin: LowerName,
    zone: usize,
    zones: Arc<Zones>,
    table: Arc<Table>,
    forwarder: Option<Arc<Forwarder>>,
}

impl std::fmt::Debug for TableZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableZone")
            .field("origin", &self.origin)
            .finish()
    }
}

impl TableZone {
    /// The handler of zone `zone` of `zones`.
    pub fn new(
        zone: usize,
        zones: Arc<Zones>,
        table: Arc<Table>,
        forwarder: Option<Arc<Forwarder>>,
    ) -> Self {
        Self {
            origin: LowerName::new(&zones.get(zone).apex),
            zone,
            zones,
            table,
            forwarder,
        }
    }

    /// Looks `name`/`rtype` up in the table.
    pub async fn find(&self, name: &Name, rtype: RecordType) -> Found {
        let key = key_of(name);
        let Some(node) = self.table.get(&key) else {
            return match self.zones.classify(&key) {
                Place::Zone(_) => Found::NxDomain,
                Place::Pods(_) => pod::answer(&self.zones, &key, name, rtype),
                Place::Outside => Found::Outside,
            };
        };
        if node.alias && rtype != RecordType::CNAME {
            return self.chase(&node, rtype).await;
        }
        if rtype == RecordType::ANY {
            let mut all = Vec::new();
            for (_, t) in node.answers.iter() {
                all.extend(decode(t.bytes()).0);
            }
            return if all.is_empty() {
                Found::NoData
            } else {
                Found::Records(all, Vec::new())
            };
        }
        match node.answer(u16::from(rtype)) {
            Some(t) => {
                let (answers, additionals) = decode(t.bytes());
                Found::Records(answers, additionals)
            }
            None => Found::NoData,
        }
    }

    /// The CNAME of `node` followed by what its target has for `rtype`.
    async fn chase(&self, node: &Node, rtype: RecordType) -> Found {
        let mut answers = Vec::new();
        let mut current = node
            .answer(u16::from(RecordType::CNAME))
            .map(|t| decode(t.bytes()).0);
        for _ in 0..MAX_CHASE {
            let Some(cname) = current.take() else { break };
            let target = cname.iter().find_map(|r| match &r.data {
                hickory_server::proto::rr::RData::CNAME(c) => Some(c.0.clone()),
                _ => None,
            });
            answers.extend(cname);
            let Some(target) = target else { break };
            let key = key_of(&target);
            match self.table.get(&key) {
                Some(n) if n.alias => {
                    current = n
                        .answer(u16::from(RecordType::CNAME))
                        .map(|t| decode(t.bytes()).0);
                }
                Some(n) => {
                    if let Some(t) = n.answer(u16::from(rtype)) {
                        answers.extend(decode(t.bytes()).0);
                    }
                }
                None if self.zones.classify(&key) != Place::Outside => {
                    if let Found::Records(r, _) = Box::pin(self.find(&target, rtype)).await {
                        answers.extend(r);
                    }
                }
                None => {
                    if let Some(f) = &self.forwarder {
                        answers.extend(f.resolve(&target, rtype).await);
                    }
                }
            }
        }
        Found::Records(answers, Vec::new())
    }
}

/// The answer and additional sections of a compiled answer.
fn decode(bytes: &[u8]) -> (Vec<Record>, Vec<Record>) {
    match Message::from_vec(bytes) {
        Ok(m) => (m.answers, m.additionals),
        Err(e) => {
            tracing::error!(error = %e, "a compiled answer does not decode");
            (Vec::new(), Vec::new())
        }
    }
}

#[async_trait::async_trait]
impl ZoneHandler for TableZone {
    fn zone_type(&self) -> ZoneType {
        ZoneType::Primary
    }

    fn axfr_policy(&self) -> AxfrPolicy {
        AxfrPolicy::Deny
    }

    fn origin(&self) -> &LowerName {
        &self.origin
    }

    async fn lookup(
        &self,
        name: &LowerName,
        rtype: RecordType,
        _request_info: Option<&RequestInfo<'_>>,
        _lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        use LookupControlFlow::{Break, Skip};
        // The catalog asks for the SOA of our apex for negative answers.
        if rtype == RecordType::SOA && *name == self.origin {
            let soa = self.zones.get(self.zone).soa.clone();
            return Break(Ok(AuthLookup::answers(
                LookupRecords::Section(vec![soa]),
                None,
            )));
        }
        match self.find(&Name::from(name.clone()), rtype).await {
            Found::Records(answers, additionals) => Break(Ok(AuthLookup::answers(
                LookupRecords::Section(answers),
                (!additionals.is_empty()).then_some(LookupRecords::Section(additionals)),
            ))),
            Found::NoData => Break(Err(LookupError::NameExists)),
            Found::NxDomain => Break(Err(LookupError::from(ResponseCode::NXDomain))),
            Found::Outside if self.forwarder.is_some() => Skip,
            Found::Outside => Break(Err(LookupError::from(ResponseCode::Refused))),
        }
    }

    async fn search(
        &self,
        request: &Request,
        lookup_options: LookupOptions,
    ) -> (LookupControlFlow<AuthLookup>, Option<TSigResponseContext>) {
        let info = match request.request_info() {
            Ok(info) => info,
            Err(e) => return (LookupControlFlow::Break(Err(e)), None),
        };
        (
            self.lookup(
                info.query.name(),
                info.query.query_type(),
                Some(&info),
                lookup_options,
            )
            .await,
            None,
        )
    }

    async fn nsec_records(
        &self,
        _name: &LowerName,
        _lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        LookupControlFlow::Continue(Err(LookupError::from(ResponseCode::NotImp)))
    }
}
