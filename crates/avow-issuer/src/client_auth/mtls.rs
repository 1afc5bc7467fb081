//! `tls_client_auth` (RFC 8705 §2.1; ISS-CLI-01): the client certificate of
//! the mutual-TLS connection chains to a configured client CA and names the
//! `client_id` in a SAN URI (or, when configured, its subject CN).

use super::config::ClientIdSource;
use super::{AuthenticatedClient, ClientAuthMethod, PeerCertificates, invalid_client};
use crate::error::ApiError;
use crate::state::IssuerState;
use x509_parser::extensions::GeneralName;

/// Whether the certificate `der` names `client_id` the configured way.
pub fn certificate_names_client(der: &[u8], client_id: &str, source: ClientIdSource) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    match source {
        ClientIdSource::SanUri => {
            cert.subject_alternative_name()
                .ok()
                .flatten()
                .is_some_and(|san| {
                    san.value
                        .general_names
                        .iter()
                        .any(|name| matches!(name, GeneralName::URI(uri) if *uri == client_id))
                })
        }
        ClientIdSource::SubjectCn => cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .any(|cn| cn == client_id),
    }
}

pub(super) fn authenticate(
    state: &IssuerState,
    peer: &PeerCertificates,
    client_id: Option<&str>,
) -> Result<AuthenticatedClient, ApiError> {
    // RFC 8705 §2: the client_id parameter says which client the certificate is for.
    let client_id = client_id.ok_or_else(|| {
        invalid_client("tls_client_auth needs the client_id parameter (RFC 8705 section 2)")
    })?;
    if let Some(reason) = peer.untrusted_reason() {
        return Err(invalid_client(format!(
            "the TLS client certificate does not chain to a configured wallet-provider CA: {reason}"
        )));
    }
    let leaf = peer
        .leaf()
        .ok_or_else(|| invalid_client("no TLS client certificate was presented"))?;
    let source = state
        .config
        .client_authentication
        .mtls
        .as_ref()
        .map(|m| m.client_id_from)
        .unwrap_or_default();
    if !certificate_names_client(leaf, client_id, source) {
        return Err(invalid_client(match source {
            ClientIdSource::SanUri => {
                "the TLS client certificate has no SAN URI equal to client_id"
            }
            ClientIdSource::SubjectCn => {
                "the TLS client certificate subject CN is not the client_id"
            }
        }));
    }
    // ISS-CLI-02: a Backend-for-Frontend authenticates itself, but the
    // wallet calls the credential endpoint directly: its tokens stay bound
    // to the forwarded DPoP key only. Per-instance certificates bind (ISS-CLI-03).
    let backend = state
        .config
        .client_authentication
        .mtls
        .as_ref()
        .is_some_and(|m| m.backend_clients.iter().any(|c| c == client_id));
    Ok(AuthenticatedClient {
        client_id: Some(client_id.to_owned()),
        method: ClientAuthMethod::TlsClientAuth,
        instance_jkt: None,
        certificate_thumbprint: if backend { None } else { peer.thumbprint() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(sans: Vec<rcgen::SanType>, cn: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = sans;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("{e}"))
            .der()
            .to_vec()
    }

    #[test]
    fn client_id_from_san_uri_or_cn() {
        let uri = |s: &str| rcgen::SanType::URI(s.try_into().unwrap_or_else(|_| panic!("ia5")));
        let der = cert(
            vec![uri("https://a.example/1"), uri("https://b.example")],
            "cn-1",
        );
        let names = |id, source| certificate_names_client(&der, id, source);
        assert!(names("https://a.example/1", ClientIdSource::SanUri));
        assert!(names("https://b.example", ClientIdSource::SanUri));
        assert!(!names("https://a.example", ClientIdSource::SanUri));
        assert!(!names("cn-1", ClientIdSource::SanUri));
        assert!(names("cn-1", ClientIdSource::SubjectCn));
        assert!(!names("https://a.example/1", ClientIdSource::SubjectCn));
        let dns_only = cert(
            vec![rcgen::SanType::DnsName(
                "a.example".try_into().unwrap_or_else(|_| panic!("ia5")),
            )],
            "x",
        );
        assert!(!certificate_names_client(
            &dns_only,
            "a.example",
            ClientIdSource::SanUri
        ));
        assert!(!certificate_names_client(
            b"junk",
            "x",
            ClientIdSource::SanUri
        ));
    }

    #[test]
    fn peer_certificate_thumbprint_is_sha256_of_the_der() {
        let der = cert(vec![], "x");
        let peer = PeerCertificates::verified(vec![der.clone()]);
        assert!(peer.is_verified());
        assert_eq!(peer.thumbprint(), Some(avow_crypto::hash::sha256_b64(&der)));
        let untrusted = PeerCertificates::untrusted(vec![der], "UnknownIssuer");
        assert!(!untrusted.is_verified());
        assert_eq!(untrusted.untrusted_reason(), Some("UnknownIssuer"));
    }
}
