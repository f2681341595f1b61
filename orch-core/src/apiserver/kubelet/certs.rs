//! Certificates for the API server ↔ node agent link, all issued by the
//! cluster CA: each agent's serving certificate (signed from its CSR, for
//! its node name and addresses, server use only) and the API server's own
//! client certificate ([`CLIENT_CN`], client use only), plus the TLS client
//! configuration that presents it and trusts only the cluster CA.
use std::{io, net::IpAddr, sync::Arc};

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

use super::super::tls::{ca_params, TlsMaterial};

/// Common name of the API server's client certificate; agents serve only
/// clients that present it.
pub const CLIENT_CN: &str = "orch:apiserver-kubelet-client";

/// Most addresses one serving certificate may name.
const MAX_ADDRESSES: usize = 8;

/// Days a node serving certificate is valid (agents get a new one at
/// every start).
const SERVING_DAYS: i64 = 365;

/// Signs agents' serving certificates; connects to agents.
pub struct NodeCerts {
    issuer: Issuer<'static, KeyPair>,
    client: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for NodeCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeCerts")
    }
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Makes `params` valid from yesterday (clock skew) for `days`.
fn set_validity(params: &mut CertificateParams, days: i64) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let at = |d: jiff::civil::Date| {
        rcgen::date_time_ymd(i32::from(d.year()), d.month() as u8, d.day() as u8)
    };
    let from = today.yesterday().unwrap_or(today);
    let until = today
        .checked_add(jiff::Span::new().days(days))
        .unwrap_or(today);
    params.not_before = at(from);
    params.not_after = at(until);
}

impl NodeCerts {
    /// Loads the CA key from `m` and issues the client certificate.
    pub fn new(m: &TlsMaterial) -> io::Result<Self> {
        let ca_key = KeyPair::from_pem(&m.ca_key_pem).map_err(err)?;
        let issuer = Issuer::new(ca_params(), ca_key);
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, CLIENT_CN);
        dn.push(DnType::OrganizationName, "system:masters");
        params.distinguished_name = dn;
        set_validity(&mut params, SERVING_DAYS);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &issuer).map_err(err)?;

        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(m.ca_pem.as_bytes()) {
            roots.add(c.map_err(err)?).map_err(err)?;
        }
        let key_der = PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).map_err(err)?;
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert.der().clone()], key_der)
        .map_err(err)?;
        Ok(Self {
            issuer,
            client: Arc::new(client),
        })
    }

    /// TLS client configuration for connecting to agents.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.client.clone()
    }

    /// Signs the CSR of node `node`'s agent. The certificate names the node
    /// (`CN=system:node:<node>`, DNS SAN `<node>`) and the IP addresses the
    /// CSR asks for, and may only serve. Everything else in the CSR is
    /// ignored. The error says what is wrong with the CSR.
    pub fn sign_serving(&self, node: &str, csr_pem: &str) -> Result<String, String> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| format!("csr: not a valid, self-signed PEM certificate request: {e}"))?;
        let ips: Vec<IpAddr> = csr
            .params
            .subject_alt_names
            .iter()
            .filter_map(|s| match s {
                SanType::IpAddress(ip) => Some(*ip),
                _ => None,
            })
            .collect();
        if ips.len() > MAX_ADDRESSES {
            return Err(format!(
                "csr: at most {MAX_ADDRESSES} IP addresses may be requested, got {}",
                ips.len()
            ));
        }
        // The name the API server verifies agents as (see `connect`).
        rustls::pki_types::DnsName::try_from(node)
            .map_err(|_| format!("node name {node:?} is not a DNS name"))?;
        let dns = node
            .to_string()
            .try_into()
            .map_err(|_| format!("node name {node:?} is not a DNS name"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("system:node:{node}"));
        dn.push(DnType::OrganizationName, "system:nodes");
        params.distinguished_name = dn;
        params.subject_alt_names = std::iter::once(SanType::DnsName(dns))
            .chain(ips.into_iter().map(SanType::IpAddress))
            .collect();
        set_validity(&mut params, SERVING_DAYS);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params
            .signed_by(&csr.public_key, &self.issuer)
            .map(|c| c.pem())
            .map_err(|e| format!("signing the serving certificate: {e}"))
    }
}

/// A CSR for `node`'s serving certificate with `ips`, and its key.
pub fn serving_csr(node: &str, ips: &[IpAddr]) -> io::Result<(String, KeyPair)> {
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("system:node:{node}"));
    params.distinguished_name = dn;
    params.subject_alt_names = ips.iter().map(|ip| SanType::IpAddress(*ip)).collect();
    let csr = params.serialize_request(&key).map_err(err)?;
    Ok((csr.pem().map_err(err)?, key))
}

/// The common name of a DER certificate, if it has one.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, c) = x509_parser::parse_x509_certificate(cert).ok()?;
    let cn = c.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material() -> (tempfile::TempDir, TlsMaterial) {
        let d = tempfile::tempdir().unwrap();
        let m = super::super::super::tls::load_or_create(d.path(), &["127.0.0.1".into()]).unwrap();
        (d, m)
    }

    #[test]
    fn serving_certificates_name_the_node_and_its_addresses() {
        let (_d, m) = material();
        let certs = NodeCerts::new(&m).unwrap();
        let ip: IpAddr = "10.250.0.2".parse().unwrap();
        let (csr, _key) = serving_csr("node-1", &[ip]).unwrap();
        let pem = certs.sign_serving("node-1", &csr).unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(common_name(&der).as_deref(), Some("system:node:node-1"));
        let (_, c) = x509_parser::parse_x509_certificate(&der).unwrap();
        let san = c.subject_alternative_name().unwrap().unwrap().value;
        let names = format!("{:?}", san.general_names);
        assert!(
            names.contains("DNSName(\"node-1\")") && names.contains("IPAddress([10, 250, 0, 2])"),
            "{names}"
        );
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
    }

    #[test]
    fn bad_csrs_are_refused_with_the_reason() {
        let (_d, m) = material();
        let certs = NodeCerts::new(&m).unwrap();
        let e = certs.sign_serving("node-1", "not a csr").unwrap_err();
        assert!(e.starts_with("csr:"), "{e}");
        let many: Vec<IpAddr> = (1..=9).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        let (csr, _) = serving_csr("node-1", &many).unwrap();
        assert!(certs
            .sign_serving("node-1", &csr)
            .unwrap_err()
            .contains("at most"));
        let (csr, _) = serving_csr("node-1", &[]).unwrap();
        assert!(certs.sign_serving("bad name", &csr).is_err());
    }
}
