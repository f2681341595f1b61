//! Who may use the agent's endpoint: only the API server, recognised by
//! its client certificate. The TLS handshake has already verified the
//! chain to the cluster CA (and that the certificate may be used by a
//! client); this checks its common name is
//! [`CLIENT_CN`](crate::apiserver::kubelet::CLIENT_CN), which no node's
//! certificate has.
use rustls::pki_types::CertificateDer;

use crate::apiserver::{kubelet, status::ApiError};

/// The verdict on one connection's client.
#[derive(Debug, Clone)]
pub enum Peer {
    /// The API server.
    ApiServer,
    /// Anyone else, with why they are refused.
    Refused(ApiError),
}

impl Peer {
    /// Judges the certificates a client presented.
    pub fn from_certificates(certs: Option<&[CertificateDer<'_>]>) -> Peer {
        let Some(leaf) = certs.and_then(|c| c.first()) else {
            let mut e = ApiError::unauthorized();
            e.message = "a client certificate issued by the cluster CA is required".into();
            return Peer::Refused(e);
        };
        match kubelet::common_name(leaf) {
            Some(cn) if cn == kubelet::CLIENT_CN => Peer::ApiServer,
            cn => Peer::Refused(ApiError::forbidden(format!(
                "client {:?} may not use the node agent's endpoint: only the API server may",
                cn.unwrap_or_default()
            ))),
        }
    }

    /// Ok for the API server, the refusal otherwise.
    pub fn check(&self) -> Result<(), ApiError> {
        match self {
            Peer::ApiServer => Ok(()),
            Peer::Refused(e) => Err(e.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn cert(cn: &str) -> CertificateDer<'static> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .clone()
    }

    #[test]
    fn only_the_api_server_certificate_passes() {
        assert!(Peer::from_certificates(Some(&[cert(kubelet::CLIENT_CN)]))
            .check()
            .is_ok());
        let e = Peer::from_certificates(None).check().unwrap_err();
        assert_eq!(e.code, 401);
        let e = Peer::from_certificates(Some(&[cert("system:node:n1")]))
            .check()
            .unwrap_err();
        assert_eq!(e.code, 403);
        assert!(e.message.contains("system:node:n1"), "{}", e.message);
    }
}
