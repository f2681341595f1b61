//! Links, addresses and routes over rtnetlink, in the host namespace or in
//! any named namespace (the netlink socket is opened inside it). Every
//! operation is idempotent: adding what exists or deleting what is gone is
//! not an error.
use std::{
    io,
    net::{IpAddr, Ipv4Addr},
    os::fd::AsRawFd,
    path::Path,
};

use futures::TryStreamExt;
use rtnetlink::{
    packet_route::{
        link::{LinkAttribute, LinkMessage},
        route::{RouteAddress, RouteAttribute, RouteMessage, RouteType},
        AddressFamily,
    },
    Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

fn err(what: &str, e: rtnetlink::Error) -> io::Error {
    match &e {
        rtnetlink::Error::NetlinkError(m) => {
            io::Error::new(m.to_io().kind(), format!("{what}: {}", m.to_io()))
        }
        _ => io::Error::other(format!("{what}: {e}")),
    }
}

fn errno(e: &rtnetlink::Error) -> i32 {
    match e {
        rtnetlink::Error::NetlinkError(m) => -m.raw_code(),
        _ => 0,
    }
}

/// A route as the routing table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route4 {
    /// Destination network.
    pub dest: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
    /// Next hop, if any.
    pub gateway: Option<Ipv4Addr>,
    /// Whether it is an `unreachable` route.
    pub unreachable: bool,
}

/// A netlink handle bound to one network namespace.
#[derive(Clone)]
pub struct Net {
    handle: Handle,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Net")
    }
}

impl Net {
    /// A handle in the calling process's namespace.
    pub fn host() -> io::Result<Self> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// A handle whose socket lives in the namespace bound at `netns`.
    pub async fn in_netns(netns: &Path) -> io::Result<Self> {
        let rt = tokio::runtime::Handle::current();
        let path = netns.to_path_buf();
        let (conn, handle, _) = tokio::task::spawn_blocking(move || {
            orch_proxy::sys::in_netns(&path, || {
                let _guard = rt.enter();
                rtnetlink::new_connection()
            })
        })
        .await
        .map_err(io::Error::other)??;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// The link `name`, if it exists.
    async fn link(&self, name: &str) -> io::Result<Option<LinkMessage>> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(l) => Ok(l),
            Err(e) if errno(&e) == libc::ENODEV => Ok(None),
            Err(e) => Err(err(&format!("looking up link {name}"), e)),
        }
    }

    /// Index of the link `name`, if it exists.
    pub async fn index(&self, name: &str) -> io::Result<Option<u32>> {
        Ok(self.link(name).await?.map(|l| l.header.index))
    }

    /// The link `name`; NotFound if it does not exist.
    async fn must_link(&self, name: &str) -> io::Result<LinkMessage> {
        self.link(name).await?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("link {name} does not exist"),
            )
        })
    }

    async fn must_index(&self, name: &str) -> io::Result<u32> {
        Ok(self.must_link(name).await?.header.index)
    }

    /// Creates a bridge if missing, pins its MAC address and brings it up;
    /// returns its index.
    ///
    /// A bridge whose address was never set takes the lowest MAC of its
    /// ports, so removing a pod's veth could change it; every neighbour
    /// entry for the gateway would then point at a dead address for
    /// seconds. Setting the address (to the one it has) stops that.
    pub async fn ensure_bridge(&self, name: &str) -> io::Result<u32> {
        if self.index(name).await?.is_none() {
            match self
                .handle
                .link()
                .add(LinkBridge::new(name).up().build())
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno(&e) == libc::EEXIST => {}
                Err(e) => return Err(err(&format!("creating bridge {name}"), e)),
            }
        }
        self.pin_mac(name).await?;
        self.set_up(name).await?;
        self.must_index(name).await
    }

    /// Sets the MAC address of `name` to the one it has now, so the kernel
    /// treats it as chosen and never changes it.
    async fn pin_mac(&self, name: &str) -> io::Result<()> {
        let link = self.must_link(name).await?;
        let Some(mac) = link.attributes.iter().find_map(|a| match a {
            LinkAttribute::Address(m) => Some(m.clone()),
            _ => None,
        }) else {
            return Ok(());
        };
        self.set(
            &format!("pinning the MAC address of {name}"),
            LinkUnspec::new_with_index(link.header.index)
                .address(mac)
                .build(),
        )
        .await
    }

    /// Creates a veth pair `a`–`b` in this namespace unless `a` exists.
    pub async fn ensure_veth(&self, a: &str, b: &str) -> io::Result<()> {
        if self.index(a).await?.is_some() {
            return Ok(());
        }
        match self
            .handle
            .link()
            .add(LinkVeth::new(a, b).build())
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == libc::EEXIST => Ok(()),
            Err(e) => Err(err(&format!("creating veth {a}/{b}"), e)),
        }
    }

    async fn set(&self, what: &str, msg: LinkMessage) -> io::Result<()> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| err(what, e))
    }

    /// Brings `name` up.
    pub async fn set_up(&self, name: &str) -> io::Result<()> {
        let idx = self.must_index(name).await?;
        self.set(
            &format!("bringing {name} up"),
            LinkUnspec::new_with_index(idx).up().build(),
        )
        .await
    }

    /// Moves `name` into the namespace bound at `netns`.
    pub async fn move_to(&self, name: &str, netns: &Path) -> io::Result<()> {
        let idx = self.must_index(name).await?;
        let f = std::fs::File::open(netns)?;
        self.set(
            &format!("moving {name} to {}", netns.display()),
            LinkUnspec::new_with_index(idx)
                .setns_by_fd(f.as_raw_fd())
                .build(),
        )
        .await
    }

    /// Renames `from` to `to` (the link must be down).
    pub async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let idx = self.must_index(from).await?;
        self.set(
            &format!("renaming {from} to {to}"),
            LinkUnspec::new_with_index(idx).name(to.to_string()).build(),
        )
        .await
    }

    /// Enslaves `name` to the bridge with index `bridge`.
    pub async fn set_master(&self, name: &str, bridge: u32) -> io::Result<()> {
        let idx = self.must_index(name).await?;
        self.set(
            &format!("attaching {name} to bridge"),
            LinkUnspec::new_with_index(idx).controller(bridge).build(),
        )
        .await
    }

    /// Turns on hairpin mode on bridge port `name`, so a frame the bridge
    /// sends back out of the port it came in on (a pod reaching itself
    /// through a Service that iptables rewrote) is delivered.
    pub async fn set_hairpin(&self, name: &str) -> io::Result<()> {
        let idx = self.must_index(name).await?;
        // Bridge-port settings need RTM_NEWLINK (`set_port`), not SETLINK.
        self.handle
            .link()
            .set_port(LinkBridgePort::new(idx).hairpin(true).build())
            .execute()
            .await
            .map_err(|e| err(&format!("setting hairpin mode on {name}"), e))
    }

    /// Adds `ip/prefix` to `name` unless present.
    pub async fn add_addr(&self, name: &str, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let idx = self.must_index(name).await?;
        match self
            .handle
            .address()
            .add(idx, IpAddr::V4(ip), prefix)
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == libc::EEXIST => Ok(()),
            Err(e) => Err(err(&format!("adding {ip}/{prefix} to {name}"), e)),
        }
    }

    /// Deletes the link `name` (and its veth peer) if it exists.
    pub async fn del_link(&self, name: &str) -> io::Result<()> {
        let Some(idx) = self.index(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(idx).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == libc::ENODEV => Ok(()),
            Err(e) => Err(err(&format!("deleting {name}"), e)),
        }
    }

    /// Adds or replaces the route `dest/prefix` via `gateway` (or out of
    /// `dev` when no gateway is given).
    pub async fn replace_route(
        &self,
        dest: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        dev: Option<&str>,
    ) -> io::Result<()> {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(dest, prefix);
        if let Some(gw) = gateway {
            b = b.gateway(gw);
        }
        if let Some(d) = dev {
            b = b.output_interface(self.must_index(d).await?);
        }
        self.handle
            .route()
            .add(b.build())
            .replace()
            .execute()
            .await
            .map_err(|e| err(&format!("adding route {dest}/{prefix}"), e))
    }

    /// Adds or replaces `unreachable dest/prefix`: traffic there fails at
    /// once instead of following the default route.
    pub async fn unreachable_route(&self, dest: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dest, prefix)
            .kind(RouteType::Unreachable)
            .build();
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| err(&format!("adding unreachable route {dest}/{prefix}"), e))
    }

    /// Deletes the route `dest/prefix` if present.
    pub async fn del_route(&self, dest: Ipv4Addr, prefix: u8, unreachable: bool) -> io::Result<()> {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(dest, prefix);
        if unreachable {
            b = b.kind(RouteType::Unreachable);
        }
        match self.handle.route().del(b.build()).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == libc::ESRCH || errno(&e) == libc::ENOENT => Ok(()),
            Err(e) => Err(err(&format!("deleting route {dest}/{prefix}"), e)),
        }
    }

    /// IPv4 routes of the main table.
    pub async fn routes(&self) -> io::Result<Vec<Route4>> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let mut stream = self.handle.route().get(msg).execute();
        let mut out = Vec::new();
        while let Some(r) = stream
            .try_next()
            .await
            .map_err(|e| err("listing routes", e))?
        {
            if let Some(route) = route4(&r) {
                out.push(route);
            }
        }
        Ok(out)
    }
}

fn route4(r: &RouteMessage) -> Option<Route4> {
    if r.header.address_family != AddressFamily::Inet || r.header.table != 254 {
        return None;
    }
    let mut dest = Ipv4Addr::UNSPECIFIED;
    let mut gateway = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => dest = *ip,
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some(*ip),
            _ => {}
        }
    }
    Some(Route4 {
        dest,
        prefix: r.header.destination_prefix_length,
        gateway,
        unreachable: r.header.kind == RouteType::Unreachable,
    })
}

/// Whether a link message names `name` (for listings).
pub fn link_name(l: &LinkMessage) -> Option<&str> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}
