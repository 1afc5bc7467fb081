//! `private_key_jwt`: a JWT client assertion (RFC 7523 §2.2, §3; RFC 7521
//! §4.2) signed by a configured key, of one client (`iss` = `sub` =
//! `client_id`) or of a wallet backend vouching for its instance (`iss` =
//! backend, `sub` = `client_id`, bound to the request; WBE-CAS-03/-04;
//! ISS-CLI-04).

use super::{AuthenticatedClient, ClientAuthContext, ClientAuthMethod, algorithms, invalid_client};
use crate::client_auth::trust::AssertionKey;
use crate::error::ApiError;
use crate::state::IssuerState;
use avow_crypto::{CompactJws, EcPublicJwk};
use serde::Deserialize;
use serde_json::Value;

/// `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `typ` values a client assertion may carry: none, plain JWT, or the explicit
/// type of draft-ietf-oauth-rfc7523bis. Any other (a DPoP proof, a WIA, a key
/// proof …) is refused, so no other JWT can pass as an assertion.
const ACCEPTED_TYPS: &[&str] = &["JWT", "client-authentication+jwt"];

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: Value,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
    #[serde(default)]
    cnf: Option<Value>,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    pre_authz_code_hash: Option<String>,
}

fn form_value<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(super) async fn authenticate(
    state: &IssuerState,
    form: &[(String, String)],
    assertion: &str,
    client_id: Option<&str>,
    context: ClientAuthContext,
) -> Result<AuthenticatedClient, ApiError> {
    let now = state.now();
    let skew = state.config.policy.clock_skew;
    let max_lifetime = state
        .config
        .client_authentication
        .private_key_jwt
        .max_lifetime;
    let jws = CompactJws::parse(assertion)
        .map_err(|_| invalid_client("the client assertion is not a compact JWS"))?;
    if jws
        .header_str("typ")
        .is_some_and(|t| !ACCEPTED_TYPS.iter().any(|a| a.eq_ignore_ascii_case(t)))
        || jws.header().get("typ").is_some_and(|t| !t.is_string())
    {
        return Err(invalid_client(
            "the client assertion typ must be absent, JWT or client-authentication+jwt",
        ));
    }
    jws.algorithm(&algorithms()).map_err(|_| {
        invalid_client("the client assertion alg is missing or not allowed (ES256 only)")
    })?;
    let claims: AssertionClaims = serde_json::from_slice(jws.payload())
        .map_err(|_| invalid_client("the client assertion lacks iss, sub, aud, exp or jti"))?;
    // The keys configured for this iss: of the client itself, or of its wallet backend.
    let candidates: Vec<&AssertionKey> = state
        .client_auth
        .assertion_keys
        .iter()
        .filter(|k| {
            k.client_id.as_deref() == Some(claims.iss.as_str())
                || k.issuer.as_deref() == Some(claims.iss.as_str())
        })
        .collect();
    if candidates.is_empty() {
        return Err(invalid_client(
            "the client assertion iss is not a trusted client or wallet backend",
        ));
    }
    let Some(trusted) = candidates
        .into_iter()
        .find(|k| jws.verify(&k.key, &algorithms()).is_ok())
    else {
        return Err(invalid_client(
            "the client assertion signature does not verify with a key trusted for its iss",
        ));
    };
    let backend_issued = trusted.client_id.is_none();
    if claims.sub.is_empty() || (!backend_issued && claims.sub != claims.iss) {
        return Err(invalid_client(
            "the client assertion sub must be the client_id (and equal iss for a client key)",
        ));
    }
    // RFC 7521 §4.2: a client_id parameter names the same client.
    if client_id.is_some_and(|id| id != claims.sub) {
        return Err(invalid_client(
            "the client_id parameter differs from the client assertion sub",
        ));
    }
    let audiences = [
        state.issuer_id.as_str(),
        state.endpoints.token.as_str(),
        state.endpoints.par.as_str(),
    ];
    let aud_ok = match &claims.aud {
        Value::String(a) => audiences.contains(&a.as_str()),
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| audiences.contains(&a)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid_client(
            "the client assertion aud is not this authorization server or its token endpoint",
        ));
    }
    if claims.exp + skew < now {
        return Err(invalid_client("the client assertion has expired"));
    }
    if claims.iat.is_some_and(|iat| iat - skew > now) || claims.nbf.is_some_and(|n| n - skew > now)
    {
        return Err(invalid_client("the client assertion is not yet valid"));
    }
    if claims.exp - claims.iat.unwrap_or(now).min(now) > max_lifetime + skew {
        return Err(invalid_client(format!(
            "the client assertion lifetime exceeds {max_lifetime} seconds"
        )));
    }
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(invalid_client(
            "the client assertion jti is missing, empty or too long",
        ));
    }
    check_request_binding(&claims, form, backend_issued)?;
    let instance_jkt = match &claims.cnf {
        None => None,
        Some(cnf) => Some(
            cnf.get("jwk")
                .map(EcPublicJwk::from_json)
                .and_then(Result::ok)
                .ok_or_else(|| {
                    invalid_client("the client assertion cnf.jwk is not a public P-256 key")
                })?
                .thumbprint(),
        ),
    };
    // RFC 7523 §3 item 7; WBE-CAS-03: once at PAR, once at the token endpoint.
    let scope = format!("client-assertion-{}", context.endpoint_name());
    let replay_key =
        avow_crypto::hash::sha256_b64(format!("{}.{}", claims.iss, claims.jti).as_bytes());
    if !state
        .store
        .consume_once(&scope, &replay_key, claims.exp.max(now) + skew)
        .await?
    {
        return Err(invalid_client("the client assertion jti was already used"));
    }
    Ok(AuthenticatedClient {
        client_id: Some(claims.sub),
        method: ClientAuthMethod::PrivateKeyJwt,
        instance_jkt,
        certificate_thumbprint: None,
    })
}

/// WBE-CAS-03/-04: an assertion names the request it was made for. When it
/// carries `redirect_uri` or `pre_authz_code_hash` they must match; an
/// assertion of a wallet backend must carry the one the request needs.
fn check_request_binding(
    claims: &AssertionClaims,
    form: &[(String, String)],
    backend_issued: bool,
) -> Result<(), ApiError> {
    let code = form_value(form, "pre-authorized_code");
    let redirect_uri = form_value(form, "redirect_uri");
    if let Some(hash) = &claims.pre_authz_code_hash {
        let matches = code.is_some_and(|c| {
            avow_crypto::hash::constant_time_eq(
                avow_crypto::hash::sha256_b64(c.as_bytes()).as_bytes(),
                hash.as_bytes(),
            )
        });
        if !matches {
            return Err(invalid_client(
                "the client assertion pre_authz_code_hash does not match the pre-authorized_code",
            ));
        }
    } else if backend_issued && code.is_some() {
        return Err(invalid_client(
            "a wallet-backend client assertion for a pre-authorized code must carry pre_authz_code_hash",
        ));
    }
    if let Some(uri) = &claims.redirect_uri {
        if redirect_uri != Some(uri.as_str()) {
            return Err(invalid_client(
                "the client assertion redirect_uri does not match the request redirect_uri",
            ));
        }
    } else if backend_issued && redirect_uri.is_some() {
        return Err(invalid_client(
            "a wallet-backend client assertion must carry the request redirect_uri",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(redirect_uri: Option<&str>, code_hash: Option<String>) -> AssertionClaims {
        AssertionClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: Value::Null,
            exp: 0,
            iat: None,
            nbf: None,
            jti: "j".into(),
            cnf: None,
            redirect_uri: redirect_uri.map(str::to_owned),
            pre_authz_code_hash: code_hash,
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn wbe_cas_03_04_request_binding() {
        let code = form(&[("pre-authorized_code", "abc")]);
        let hash = avow_crypto::hash::sha256_b64(b"abc");
        let redirect = form(&[("redirect_uri", "https://w.example/cb")]);
        // A client's own assertion need not bind, but what it binds must match.
        assert!(check_request_binding(&claims(None, None), &code, false).is_ok());
        assert!(check_request_binding(&claims(None, Some(hash.clone())), &code, false).is_ok());
        assert!(check_request_binding(&claims(None, Some("x".into())), &code, false).is_err());
        assert!(
            check_request_binding(&claims(Some("https://o.example"), None), &redirect, false)
                .is_err()
        );
        // A wallet backend's assertion must bind the request it was made for.
        assert!(check_request_binding(&claims(None, None), &code, true).is_err());
        assert!(check_request_binding(&claims(None, Some(hash)), &code, true).is_ok());
        assert!(check_request_binding(&claims(None, None), &redirect, true).is_err());
        assert!(
            check_request_binding(&claims(Some("https://w.example/cb"), None), &redirect, true)
                .is_ok()
        );
        // Refresh: nothing to bind.
        assert!(check_request_binding(&claims(None, None), &[], true).is_ok());
    }
}
