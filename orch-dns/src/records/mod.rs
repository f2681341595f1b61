//! The Kubernetes DNS-Based Service Discovery specification (schema
//! 1.1.0): which names and records one Service and its EndpointSlices put
//! in the zones, and the zones' own records (SOA, NS, `dns-version`).
//!
//! - ClusterIP Service: A/AAAA `<svc>.<ns>.svc.<zone>` → its cluster IPs;
//!   SRV `_<port>._<proto>.<svc>...` per named port, targeting the Service;
//!   PTR of each cluster IP.
//! - Headless Service: A/AAAA → every ready endpoint (no ready endpoint:
//!   the name does not exist); `<hostname>.<svc>...` per ready endpoint;
//!   SRV per named endpoint port, one per endpoint; PTR of each endpoint.
//! - ExternalName Service: CNAME to the external name.
//! - As CoreDNS does, ready endpoints of ClusterIP Services also get their
//!   `<hostname>.<svc>...` names and PTR records. An endpoint without a
//!   hostname is named after its address (`10-244-1-5`).
//! - Every ancestor of a name, up to the zone apex, exists (empty
//!   non-terminals answer NODATA, not NXDOMAIN).
pub mod names;

use std::{collections::BTreeMap, net::IpAddr, sync::Arc};

use hickory_server::proto::rr::{
    rdata::{A, AAAA, CNAME, PTR, SRV, TXT},
    Name, RData, Record,
};

use crate::{
    cluster::model::{EndpointModel, ServiceKind, ServiceModel, SliceModel},
    zone::{
        key::{key_of, parent},
        Contribution, NameContrib, NameKey, ZoneKind, Zones,
    },
};

/// The schema version served as `dns-version.<zone>` TXT.
pub const SCHEMA_VERSION: &str = "1.1.0";

/// What is collected at one name before it is frozen.
#[derive(Debug, Default)]
struct Draft {
    records: Vec<RData>,
    additionals: Vec<Record>,
}

/// Collects the names of one owner.
#[derive(Debug)]
pub struct Builder<'z> {
    zones: &'z Zones,
    out: BTreeMap<NameKey, Draft>,
}

impl<'z> Builder<'z> {
    /// An empty set of names.
    pub fn new(zones: &'z Zones) -> Self {
        Self {
            zones,
            out: BTreeMap::new(),
        }
    }

    fn entry(&mut self, name: &Name) -> &mut Draft {
        let key = key_of(name);
        if let Some(zone) = self.zones.zone_of(&key).map(|i| self.zones.get(i)) {
            if !matches!(zone.kind, ZoneKind::Fallback) {
                let mut k: &[u8] = &key;
                while let Some(p) = parent(k) {
                    if p.len() <= zone.key.len() {
                        break;
                    }
                    self.out.entry(p.into()).or_default();
                    k = p;
                }
            }
        }
        self.out.entry(key).or_default()
    }

    /// Adds a record at `name`.
    pub fn record(&mut self, name: &Name, rdata: RData) {
        self.entry(name).records.push(rdata);
    }

    /// Adds a record to the additional section of SRV answers at `name`.
    pub fn additional(&mut self, name: &Name, record: Record) {
        self.entry(name).additionals.push(record);
    }

    /// The names collected, with no spare capacity (10k Services hold
    /// about 80k names); empty names share one allocation.
    pub fn finish(self) -> Contribution {
        let empty = Arc::new(NameContrib::default());
        self.out
            .into_iter()
            .map(|(k, v)| {
                let v = if v.records.is_empty() && v.additionals.is_empty() {
                    empty.clone()
                } else {
                    Arc::new(NameContrib {
                        records: v.records.into_boxed_slice(),
                        additionals: v.additionals.into_boxed_slice(),
                    })
                };
                (k, v)
            })
            .collect()
    }
}

/// A or AAAA data for `ip`.
pub fn address(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(a) => RData::A(A(a)),
        IpAddr::V6(a) => RData::AAAA(AAAA(a)),
    }
}

/// The zones' own records: SOA and NS at every apex, and
/// `dns-version.<zone>` TXT.
pub fn zone_records(zones: &Zones) -> Contribution {
    let mut b = Builder::new(zones);
    for z in zones.all() {
        b.record(&z.apex, z.soa.data.clone());
        b.record(&z.apex, z.ns.data.clone());
    }
    let version = names::child(zones.domain(), "dns-version");
    b.record(
        &version,
        RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()])),
    );
    b.finish()
}

/// One SRV target of a headless Service: port, host name, addresses.
type SrvTarget = (u16, Name, Vec<IpAddr>);

/// An endpoint the Service publishes.
fn published(svc: &ServiceModel, e: &EndpointModel) -> bool {
    e.ready || svc.publish_not_ready
}

/// The names of one Service, given its slices. An error names the Service
/// and what is wrong; the Service then has no records.
pub fn service_records<'a>(
    zones: &Zones,
    svc: &ServiceModel,
    slices: impl Iterator<Item = &'a SliceModel>,
) -> Result<Contribution, String> {
    let ttl = zones.ttl();
    let base = names::service(zones.domain(), &svc.namespace, &svc.name)?;
    let mut b = Builder::new(zones);
    match &svc.kind {
        ServiceKind::Pending => {}
        ServiceKind::ExternalName(target) => {
            let mut t = Name::from_ascii(target.trim_end_matches('.')).map_err(|e| {
                format!(
                    "Service {}/{}: spec.externalName {target:?} is not a DNS name: {e}",
                    svc.namespace, svc.name
                )
            })?;
            t.set_fqdn(true);
            b.record(&base, RData::CNAME(CNAME(t)));
        }
        ServiceKind::ClusterIp(ips) => {
            for ip in ips {
                b.record(&base, address(*ip));
                b.record(&names::reverse(*ip), RData::PTR(PTR(base.clone())));
            }
            for p in &svc.ports {
                let Some(port) = &p.name else { continue };
                let srv = names::srv(&base, port, &p.protocol)?;
                b.record(&srv, RData::SRV(SRV::new(0, 100, p.port, base.clone())));
                for ip in ips {
                    b.additional(&srv, Record::from_rdata(base.clone(), ttl, address(*ip)));
                }
            }
            for e in slices.flat_map(|s| &s.endpoints) {
                if published(svc, e) {
                    endpoint(&mut b, &base, e);
                }
            }
            if svc.namespace == "kube-system" && svc.name == "kube-dns" {
                let ns = names::child(&names::child(zones.domain(), "dns"), "ns");
                for ip in ips {
                    b.record(&ns, address(*ip));
                }
            }
        }
        ServiceKind::Headless => {
            let mut any = false;
            let mut srvs: BTreeMap<NameKey, (Name, Vec<SrvTarget>)> = BTreeMap::new();
            for s in slices {
                for e in s.endpoints.iter().filter(|e| published(svc, e)) {
                    for ip in &e.addresses {
                        b.record(&base, address(*ip));
                        any = true;
                    }
                    let Some(host) = endpoint(&mut b, &base, e) else {
                        continue;
                    };
                    for p in &s.ports {
                        let Some(port) = &p.name else { continue };
                        let srv = names::srv(&base, port, &p.protocol)?;
                        srvs.entry(key_of(&srv))
                            .or_insert_with(|| (srv, Vec::new()))
                            .1
                            .push((p.port, host.clone(), e.addresses.clone()));
                    }
                }
            }
            if !any {
                // No ready endpoint: the name does not exist.
                return Ok(Contribution::new());
            }
            for (_, (srv, targets)) in srvs {
                let weight = (100 / targets.len()).max(1) as u16;
                for (port, host, ips) in targets {
                    b.record(&srv, RData::SRV(SRV::new(0, weight, port, host.clone())));
                    for ip in ips {
                        b.additional(&srv, Record::from_rdata(host.clone(), ttl, address(ip)));
                    }
                }
            }
        }
    }
    Ok(b.finish())
}

/// `<hostname>.<svc>...` and PTR records of one endpoint; its host name,
/// or `None` if it cannot be named (then it is skipped, with a warning).
fn endpoint(b: &mut Builder<'_>, base: &Name, e: &EndpointModel) -> Option<Name> {
    let first = *e.addresses.first()?;
    let label = e.hostname.clone().unwrap_or_else(|| names::dashed(first));
    let host = match names::under(base, &label) {
        Ok(h) => h,
        Err(err) => {
            tracing::warn!(error = %err, "skipping an endpoint");
            return None;
        }
    };
    for ip in &e.addresses {
        b.record(&host, address(*ip));
        b.record(&names::reverse(*ip), RData::PTR(PTR(host.clone())));
    }
    Some(host)
}
