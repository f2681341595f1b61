//! Pod records, made from the name itself as kube-dns did and the
//! specification still requires: `a-b-c-d.<ns>.pod.<zone>` is A `a.b.c.d`
//! (and `fd00--5.<ns>.pod.<zone>` AAAA `fd00::5`), for any namespace.
use hickory_server::proto::rr::{Name, Record, RecordType};

use super::table_zone::Found;
use crate::{records::address, zone::Zones};

/// The answer for `name` (key `key`), a name under `pod.<zone>`.
pub fn answer(zones: &Zones, key: &[u8], name: &Name, rtype: RecordType) -> Found {
    if zones.is_pod_level(key) {
        return Found::NoData;
    }
    let Some(ip) = zones.pod_address(key) else {
        return Found::NxDomain;
    };
    let family = if ip.is_ipv4() {
        RecordType::A
    } else {
        RecordType::AAAA
    };
    if rtype == family || rtype == RecordType::ANY {
        let mut owner = name.to_lowercase();
        owner.set_fqdn(true);
        Found::Records(
            vec![Record::from_rdata(owner, zones.ttl(), address(ip))],
            Vec::new(),
        )
    } else {
        Found::NoData
    }
}
