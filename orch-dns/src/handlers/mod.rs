//! hickory-server zone handlers and the catalog that routes names to them:
//! each of our zones is answered by a [`table_zone::TableZone`] with the
//! [`forward::Forwarder`] behind it (for names it skips), and the root by
//! the forwarder alone. Without upstreams, other names are refused.
pub mod forward;
pub mod pod;
pub mod table_zone;

use std::sync::Arc;

use hickory_server::{
    proto::rr::{LowerName, Name},
    zone_handler::{Catalog, ZoneHandler},
};

use self::{forward::Forwarder, table_zone::TableZone};
use crate::zone::{Table, Zones};

/// The catalog of our zones and the forwarder.
pub fn catalog(
    zones: &Arc<Zones>,
    table: &Arc<Table>,
    forwarder: Option<Arc<Forwarder>>,
) -> Catalog {
    let mut catalog = Catalog::new();
    for (i, z) in zones.all().iter().enumerate() {
        let mut handlers: Vec<Arc<dyn ZoneHandler>> = vec![Arc::new(TableZone::new(
            i,
            zones.clone(),
            table.clone(),
            forwarder.clone(),
        ))];
        if let Some(f) = &forwarder {
            handlers.push(f.clone());
        }
        catalog.upsert(LowerName::new(&z.apex), handlers);
    }
    if let Some(f) = forwarder {
        catalog.upsert(LowerName::new(&Name::root()), vec![f]);
    }
    catalog
}
