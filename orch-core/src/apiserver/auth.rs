//! Bearer-token authentication and the few authorization rules orch has:
//! the admin token may do anything; read-only tokens may read; a node's
//! token may write only its own Node, its own Lease and the status of pods
//! bound to it; the join token may only exchange itself for a node token.
//!
//! Node and read-only tokens are HMACs of their subject under a key kept in
//! the data directory, so they need no table and survive restarts.
use std::{fs, io, path::Path};

use ring::hmac;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Full access.
    Admin,
    /// The node agent of the named node.
    Node(String),
    /// Read-only access (proxy, DNS, pods' in-cluster tokens).
    ReadOnly(String),
    /// Holder of the join token: may only ask for node credentials.
    Joiner,
}

/// Tokens of one cluster.
#[derive(Debug)]
pub struct Auth {
    admin: String,
    join: String,
    key: hmac::Key,
}

fn random_hex(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(v)
}

/// Reads `path`, or creates it with `make()` (mode 0600) if missing.
fn read_or_create(path: &Path, make: impl FnOnce() -> String) -> io::Result<String> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let v = make();
            crate::util::write_private(path, v.as_bytes())?;
            Ok(v)
        }
        Err(e) => Err(e),
    }
}

impl Auth {
    /// Loads the tokens from `dir`, creating them on first start.
    pub fn load_or_create(dir: &Path) -> io::Result<Self> {
        let admin = read_or_create(&dir.join("admin-token"), || {
            format!("admin.{}", random_hex(24))
        })?;
        let join = read_or_create(&dir.join("join-token"), || {
            format!("join.{}", random_hex(24))
        })?;
        let key = read_or_create(&dir.join("token-key"), || random_hex(32))?;
        let key =
            hex::decode(key.trim()).map_err(|e| io::Error::other(format!("token-key: {e}")))?;
        Ok(Self {
            admin,
            join,
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }

    /// The admin token.
    pub fn admin_token(&self) -> &str {
        &self.admin
    }

    /// The join token.
    pub fn join_token(&self) -> &str {
        &self.join
    }

    fn sign(&self, class: &str, subject: &str) -> String {
        let tag = hmac::sign(&self.key, format!("{class}:{subject}").as_bytes());
        format!(
            "{class}.{}.{}",
            hex::encode(subject),
            hex::encode(&tag.as_ref()[..20])
        )
    }

    /// The token of node `name`.
    pub fn node_token(&self, name: &str) -> String {
        self.sign("node", name)
    }

    /// A read-only token for `subject` (for example `system:orch-proxy`).
    pub fn read_only_token(&self, subject: &str) -> String {
        self.sign("ro", subject)
    }

    /// Maps a bearer token to an identity.
    pub fn authenticate(&self, token: &str) -> Option<Identity> {
        if constant_eq(token, &self.admin) {
            return Some(Identity::Admin);
        }
        if constant_eq(token, &self.join) {
            return Some(Identity::Joiner);
        }
        let mut parts = token.splitn(3, '.');
        let (class, subject, _) = (parts.next()?, parts.next()?, parts.next()?);
        let subject = String::from_utf8(hex::decode(subject).ok()?).ok()?;
        if !constant_eq(token, &self.sign(class, &subject)) {
            return None;
        }
        match class {
            "node" => Some(Identity::Node(subject)),
            "ro" => Some(Identity::ReadOnly(subject)),
            _ => None,
        }
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What a request wants to do, for authorization.
#[derive(Debug)]
pub struct Access<'a> {
    /// HTTP verb class: true for get/list/watch.
    pub read_only: bool,
    /// Plural resource name.
    pub resource: &'a str,
    /// Subresource, if any.
    pub sub: Option<&'a str>,
    /// Namespace, if any.
    pub namespace: Option<&'a str>,
    /// Object name, if any.
    pub name: Option<&'a str>,
    /// For pod writes by a node: the node the pod is bound to.
    pub bound_node: Option<&'a str>,
}

/// Decides whether `who` may do `what`; the error is the 403 message.
pub fn authorize(who: &Identity, what: &Access<'_>) -> Result<(), String> {
    let deny = |who: &str| {
        Err(format!(
            "{who} cannot {} resource \"{}{}\"{}",
            if what.read_only { "read" } else { "write" },
            what.resource,
            what.sub.map(|s| format!("/{s}")).unwrap_or_default(),
            what.namespace
                .map(|n| format!(" in the namespace \"{n}\""))
                .unwrap_or_default()
        ))
    };
    match who {
        Identity::Admin => Ok(()),
        Identity::ReadOnly(s) if what.read_only => {
            let _ = s;
            Ok(())
        }
        Identity::ReadOnly(s) => deny(s),
        Identity::Joiner => deny("the join token"),
        Identity::Node(node) => {
            if what.read_only {
                return Ok(());
            }
            let own_name = what.name == Some(node.as_str());
            let ok = match (what.resource, what.sub) {
                ("nodes", _) => own_name || (what.name.is_none() && what.sub.is_none()),
                ("leases", None) => {
                    what.namespace == Some("kube-node-lease") && (own_name || what.name.is_none())
                }
                ("pods", Some("status")) | ("pods", None) => what.bound_node == Some(node.as_str()),
                ("events", None) => true,
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                deny(&format!("system:node:{node}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> (tempfile::TempDir, Auth) {
        let d = tempfile::tempdir().unwrap();
        let a = Auth::load_or_create(d.path()).unwrap();
        (d, a)
    }

    #[test]
    fn tokens_round_trip_and_persist() {
        let (d, a) = auth();
        assert_eq!(a.authenticate(a.admin_token()), Some(Identity::Admin));
        let t = a.node_token("node-1");
        assert_eq!(a.authenticate(&t), Some(Identity::Node("node-1".into())));
        let again = Auth::load_or_create(d.path()).unwrap();
        assert_eq!(
            again.authenticate(&t),
            Some(Identity::Node("node-1".into()))
        );
        assert_eq!(again.admin_token(), a.admin_token());
    }

    #[test]
    fn forged_tokens_are_rejected() {
        let (_d, a) = auth();
        let t = a.node_token("node-1");
        let forged = t.replacen(&hex::encode("node-1"), &hex::encode("node-2"), 1);
        assert_eq!(a.authenticate(&forged), None);
        assert_eq!(a.authenticate("node.zz.zz"), None);
        assert_eq!(a.authenticate(""), None);
    }

    #[test]
    fn nodes_write_only_their_own_objects() {
        let n = Identity::Node("n1".into());
        let w = |resource, sub, ns, name, bound| Access {
            read_only: false,
            resource,
            sub,
            namespace: ns,
            name,
            bound_node: bound,
        };
        assert!(authorize(&n, &w("nodes", Some("status"), None, Some("n1"), None)).is_ok());
        assert!(authorize(&n, &w("nodes", Some("status"), None, Some("n2"), None)).is_err());
        assert!(authorize(
            &n,
            &w("leases", None, Some("kube-node-lease"), Some("n1"), None)
        )
        .is_ok());
        assert!(authorize(&n, &w("leases", None, Some("default"), Some("n1"), None)).is_err());
        assert!(authorize(
            &n,
            &w("pods", Some("status"), Some("d"), Some("p"), Some("n1"))
        )
        .is_ok());
        assert!(authorize(
            &n,
            &w("pods", Some("status"), Some("d"), Some("p"), Some("n2"))
        )
        .is_err());
        assert!(authorize(&n, &w("services", None, Some("d"), Some("s"), None)).is_err());
        let ro = Identity::ReadOnly("dns".into());
        assert!(authorize(
            &ro,
            &Access {
                read_only: true,
                resource: "services",
                sub: None,
                namespace: None,
                name: None,
                bound_node: None
            }
        )
        .is_ok());
        assert!(authorize(&ro, &w("services", None, None, None, None)).is_err());
    }
}
