//! Probes of the OpenID conformance modules that the APTITUDE catalogue has
//! no check for (see `catalogue`, `CONF-OIDF-*`): DPoP, authorization-code,
//! PAR, refresh-token and client-attestation attacks on the authorization
//! server, and the access token in the query string.

use super::Iut;
use crate::report::{Assertion, SkipKind};

fn todo(name: &str) -> Vec<Assertion> {
    vec![Assertion::skipped(
        name,
        SkipKind::NotImplemented,
        "not implemented yet",
    )]
}

/// CONF-OIDF-DPOP-IAT
pub async fn dpop_iat_window(_iut: &Iut) -> Vec<Assertion> {
    todo("DPoP iat window")
}

/// CONF-OIDF-DPOP-JTI
pub async fn dpop_jti_reuse(_iut: &Iut) -> Vec<Assertion> {
    todo("DPoP jti reuse")
}

/// CONF-OIDF-DPOP-BINDING
pub async fn dpop_key_binding(_iut: &Iut) -> Vec<Assertion> {
    todo("DPoP key binding")
}

/// CONF-OIDF-CODE-REUSE
pub async fn code_reuse(_iut: &Iut) -> Vec<Assertion> {
    todo("authorization code reuse")
}

/// CONF-OIDF-CODE-EXPIRED
pub async fn code_expired(_iut: &Iut) -> Vec<Assertion> {
    todo("expired authorization code")
}

/// CONF-OIDF-PAR-REUSE
pub async fn par_reuse(_iut: &Iut) -> Vec<Assertion> {
    todo("request_uri reuse")
}

/// CONF-OIDF-PAR-EXPIRED
pub async fn par_expired(_iut: &Iut) -> Vec<Assertion> {
    todo("expired request_uri")
}

/// CONF-OIDF-PAR-CLIENT
pub async fn par_client_binding(_iut: &Iut) -> Vec<Assertion> {
    todo("request_uri of another client")
}

/// CONF-OIDF-REDIRECT-URI
pub async fn redirect_uri_required(_iut: &Iut) -> Vec<Assertion> {
    todo("PAR without redirect_uri")
}

/// CONF-OIDF-REFRESH
pub async fn refresh(_iut: &Iut) -> Vec<Assertion> {
    todo("refresh token")
}

/// CONF-OIDF-TOKEN-IN-QUERY
pub async fn token_in_query(_iut: &Iut) -> Vec<Assertion> {
    todo("access token in the query")
}

/// CONF-OIDF-CATT-NO-SUB
pub async fn wia_without_sub(_iut: &Iut) -> Vec<Assertion> {
    todo("WIA without sub")
}

/// CONF-OIDF-CATT-SIG (beyond CONF-C03A-03's untrusted provider)
pub async fn wia_bad_signature(_iut: &Iut) -> Vec<Assertion> {
    todo("WIA with a tampered signature")
}

/// CONF-OIDF-KATT-SIG (beyond CONF-C06A-02's untrusted provider)
pub async fn wua_bad_signature(_iut: &Iut) -> Vec<Assertion> {
    todo("key attestation with a tampered signature")
}
