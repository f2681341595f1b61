//! The cluster CA and the API server's serving certificate. The CA is made
//! on first start and kept in the data directory; the serving certificate is
//! issued by it at every start, so its names always follow the configuration.
use std::{fs, io, path::Path, sync::Arc};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

/// PEM material the server and its clients need.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// The CA certificate (clients trust this).
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving key.
    pub key_pem: String,
    /// The CA's key (for certificates issued later: see
    /// [`super::kubelet::NodeCerts`]).
    pub ca_key_pem: String,
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Parameters of the cluster CA (its subject names issued certificates).
pub(crate) fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "orch-ca");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2124, 1, 1);
    p
}

/// The CA of `dir` (its key, the key's PEM and the certificate's PEM),
/// created on first start.
pub(crate) fn load_or_create_ca(dir: &Path) -> io::Result<(KeyPair, String, String)> {
    let ca_key_path = dir.join("ca.key");
    let ca_crt_path = dir.join("ca.crt");
    match (
        fs::read_to_string(&ca_key_path),
        fs::read_to_string(&ca_crt_path),
    ) {
        (Ok(k), Ok(c)) => Ok((KeyPair::from_pem(&k).map_err(err)?, k, c)),
        _ => {
            let key = KeyPair::generate().map_err(err)?;
            let cert = ca_params().self_signed(&key).map_err(err)?;
            crate::util::write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
            fs::write(&ca_crt_path, cert.pem())?;
            let pem = key.serialize_pem();
            Ok((key, pem, cert.pem()))
        }
    }
}

/// Loads the CA from `dir` (creating it on first start) and issues a
/// serving certificate for `names` (DNS names and IP addresses).
pub fn load_or_create(dir: &Path, names: &[String]) -> io::Result<TlsMaterial> {
    let (ca_key, ca_key_pem, ca_pem) = load_or_create_ca(dir)?;
    let issuer = Issuer::new(ca_params(), ca_key);
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "orch-apiserver");
    params.distinguished_name = dn;
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n.clone().try_into().map(SanType::DnsName).map_err(err),
        })
        .collect::<io::Result<_>>()?;
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    let material = TlsMaterial {
        ca_pem,
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        ca_key_pem,
    };
    fs::write(dir.join("apiserver.crt"), &material.cert_pem)?;
    crate::util::write_private(&dir.join("apiserver.key"), material.key_pem.as_bytes())?;
    Ok(material)
}

/// A rustls server configuration for the material (HTTP/2 and HTTP/1.1).
pub fn server_config(m: &TlsMaterial) -> io::Result<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(m.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(err)?;
    let key = PrivateKeyDer::from_pem_slice(m.key_pem.as_bytes()).map_err(err)?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(err)?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(err)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_persists_and_serving_cert_is_reissued() {
        let d = tempfile::tempdir().unwrap();
        let names = vec![
            "127.0.0.1".to_string(),
            "kubernetes.default.svc".to_string(),
        ];
        let a = load_or_create(d.path(), &names).unwrap();
        let b = load_or_create(d.path(), &names).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_ne!(a.cert_pem, b.cert_pem);
        server_config(&b).unwrap();
    }
}
