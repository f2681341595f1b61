//! The zones and their names: keys ([`key`]), the zones we serve
//! ([`apex`]), the read-mostly table of compiled answers ([`table`]), how a
//! name is compiled ([`compile`]) and how owners' changes reach the table
//! ([`writer`]).
pub mod apex;
pub mod compile;
pub mod key;
pub mod table;
pub mod writer;

pub use apex::{Place, Zone, ZoneKind, Zones};
pub use compile::NameContrib;
pub use key::{key_of, NameKey};
pub use table::{Node, Table, Template};
pub use writer::{Contribution, OwnerId, ZoneWriter};
