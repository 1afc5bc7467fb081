//! Validation before storing (WAL-VAL-01 … -03, -05, -06): the issuer key
//! comes from a permitted mechanism (WAL-VAL-02, SD-JWT VC §2.5, HAIP
//! §6.1.1): an `x5c` chain to a trusted anchor; a `kid` or `jwk` published
//! in the issuer's JWT VC Issuer Metadata or, when the issuer serves none,
//! in the JWK Set at the `jwks_uri` of its authorization server's metadata;
//! or a `did:web` DID document of the issuer's own host. Then the SD-JWT VC
//! verifies, is bound to a key of this request (WAL-VAL-03; not for a
//! bearer configuration, VCI §12.2.4: [`ExpectedBinding::Bearer`]) and
//! carries every claim the configuration declares `mandatory` (OID4VCI
//! App. B.2).

use crate::client::HttpClient;
use crate::error::WalletError;
use avow_core::metadata::{JwtVcIssuerMetadata, well_known_url};
use avow_crypto::x509::TrustAnchors;
use avow_crypto::{AlgorithmAllowList, CompactJws, EcPublicJwk};
use avow_formats::sd_jwt_vc::{self, VerifiedSdJwtVc};

/// What an issued credential must be bound to (WAL-VAL-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedBinding<'a> {
    /// `cnf.jwk` is this key, one the wallet proved in this request.
    Key(&'a EcPublicJwk),
    /// A bearer configuration, without `cryptographic_binding_methods_supported`
    /// and `proof_types_supported` (VCI §12.2.4): the wallet proved no key,
    /// so `cnf` is not checked; signature, times and type still are.
    Bearer,
}

impl<'a> From<&'a EcPublicJwk> for ExpectedBinding<'a> {
    fn from(key: &'a EcPublicJwk) -> Self {
        Self::Key(key)
    }
}

/// What a credential is validated against. `holder_key` is what it must be
/// bound to: the wallet's key (`&EcPublicJwk`, the default), or an
/// [`ExpectedBinding`], which can also be [`ExpectedBinding::Bearer`].
pub struct ValidationContext<'a, B = &'a EcPublicJwk> {
    pub trust_anchors: &'a TrustAnchors,
    pub credential_issuer: &'a str,
    pub expected_vct: &'a str,
    pub holder_key: B,
    pub now: i64,
    pub skew: i64,
}

/// WAL-VAL-03: `cnf.jwk` (`found`) is the key the wallet proved; any or
/// none for a bearer configuration.
fn check_binding(
    found: Option<&EcPublicJwk>,
    expected: ExpectedBinding<'_>,
) -> Result<(), WalletError> {
    match expected {
        ExpectedBinding::Key(key) if found == Some(key) => Ok(()),
        ExpectedBinding::Key(_) => Err(invalid(
            "the credential is not bound to the key the wallet proved",
        )),
        ExpectedBinding::Bearer => Ok(()),
    }
}

fn invalid(message: impl Into<String>) -> WalletError {
    WalletError::Validation(message.into())
}

/// How the issuer key was found; kept for display and policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKeySource {
    X5c,
    JwtVcIssuerMetadata,
    /// The JWK Set at the authorization server metadata's `jwks_uri`, the
    /// fallback when the issuer serves no JWT VC Issuer Metadata (WAL-VAL-02).
    AuthorizationServerJwks,
    DidWeb,
}

/// Verifies an SD-JWT VC (WAL-VAL-01 … -03) without the `jwks_uri`
/// fallback of [`validate_sd_jwt_vc_with`].
pub async fn validate_sd_jwt_vc<'a, B: Copy + Into<ExpectedBinding<'a>>>(
    client: &HttpClient,
    credential: &str,
    ctx: &ValidationContext<'a, B>,
) -> Result<(VerifiedSdJwtVc, IssuerKeySource), WalletError> {
    validate_sd_jwt_vc_with(client, credential, ctx, None).await
}

/// Verifies an SD-JWT VC (SD-JWT VC §2.4, §2.5; WAL-VAL-01 … -03): the
/// issuer key through [`resolve_issuer_key_with`], `as_jwks_uri` being the
/// `jwks_uri` of the issuer's authorization server metadata (the fallback
/// of WAL-VAL-02), then signature, times, `vct` and `cnf` (unless bearer).
pub async fn validate_sd_jwt_vc_with<'a, B: Copy + Into<ExpectedBinding<'a>>>(
    client: &HttpClient,
    credential: &str,
    ctx: &ValidationContext<'a, B>,
    as_jwks_uri: Option<&str>,
) -> Result<(VerifiedSdJwtVc, IssuerKeySource), WalletError> {
    let peeked = sd_jwt_vc::peek(credential).map_err(|e| invalid(e.to_string()))?;
    let payload = peeked
        .unverified_payload()
        .map_err(|e| invalid(e.to_string()))?;
    let iss = payload
        .get("iss")
        .and_then(|v| v.as_str())
        .ok_or_else(|| invalid("the credential has no iss"))?
        .to_owned();
    let (issuer_key, source) =
        resolve_issuer_key_with(client, peeked.jws(), &iss, ctx, as_jwks_uri).await?;
    let verified = sd_jwt_vc::verify(
        credential,
        &issuer_key,
        &AlgorithmAllowList::es256(),
        ctx.now,
        ctx.skew,
        false,
    )
    .map_err(|e| invalid(e.to_string()))?;
    if !verified.is_of_type(ctx.expected_vct) {
        return Err(invalid("vct is not the one of the requested configuration"));
    }
    check_binding(verified.holder_key.as_ref(), ctx.holder_key.into())?;
    Ok((verified, source))
}

/// A `jwt_vc_json` credential (VCI A.1.1): the issuer key through
/// [`resolve_issuer_key`] from the JWT's header, the signature and times,
/// every configured `type` present, and `cnf.jwk` the key the wallet proved
/// (unless bearer). `ctx.expected_vct` is not used.
pub async fn validate_jwt_vc<'a, B: Copy + Into<ExpectedBinding<'a>>>(
    client: &HttpClient,
    credential: &str,
    expected_types: &[String],
    ctx: &ValidationContext<'a, B>,
) -> Result<(avow_formats::jwt_vc::VerifiedJwtVc, IssuerKeySource), WalletError> {
    let jws = CompactJws::parse(credential.trim()).map_err(|e| invalid(e.to_string()))?;
    let payload: serde_json::Value = serde_json::from_slice(jws.payload())
        .map_err(|_| invalid("the credential payload is not JSON"))?;
    let iss = payload
        .get("iss")
        .and_then(|v| v.as_str())
        .ok_or_else(|| invalid("the credential has no iss"))?
        .to_owned();
    let (issuer_key, source) = resolve_issuer_key(client, &jws, &iss, ctx).await?;
    let verified = avow_formats::jwt_vc::verify(
        credential,
        &issuer_key,
        &AlgorithmAllowList::es256(),
        ctx.now,
        ctx.skew,
    )
    .map_err(|e| invalid(e.to_string()))?;
    if !expected_types.iter().all(|t| verified.types.contains(t)) {
        return Err(invalid(
            "the credential lacks a type of the requested configuration",
        ));
    }
    check_binding(verified.holder_key.as_ref(), ctx.holder_key.into())?;
    Ok((verified, source))
}

/// WAL-VAL-02: the issuer key through a permitted mechanism only, each tied
/// to the credential issuer the wallet talked to; without the `jwks_uri`
/// fallback of [`resolve_issuer_key_with`].
pub async fn resolve_issuer_key<B>(
    client: &HttpClient,
    jws: &CompactJws,
    iss: &str,
    ctx: &ValidationContext<'_, B>,
) -> Result<(EcPublicJwk, IssuerKeySource), WalletError> {
    resolve_issuer_key_with(client, jws, iss, ctx, None).await
}

/// WAL-VAL-02 (SD-JWT VC §2.5, §4.3; HAIP §6.1.1; D-18), in this order:
/// `x5c` chained to a trusted anchor; a `did:web` `iss` of the issuer's
/// own host; otherwise a `kid` (or a `jwk` header the issuer publishes)
/// looked up in `/.well-known/jwt-vc-issuer` of `iss`, whose `issuer` must
/// be `iss`, and only when the issuer serves no such metadata (any answer
/// but 200) in the JWK Set at `as_jwks_uri`, the `jwks_uri` of the
/// authorization server metadata the wallet discovered for this issuer.
pub async fn resolve_issuer_key_with<B>(
    client: &HttpClient,
    jws: &CompactJws,
    iss: &str,
    ctx: &ValidationContext<'_, B>,
    as_jwks_uri: Option<&str>,
) -> Result<(EcPublicJwk, IssuerKeySource), WalletError> {
    if let Some(x5c) = jws.x5c() {
        let x5c = x5c.map_err(|e| invalid(e.to_string()))?;
        if iss != ctx.credential_issuer {
            return Err(invalid(
                "iss is not the credential issuer the wallet talked to",
            ));
        }
        let key = ctx
            .trust_anchors
            .validate_chain(&x5c, ctx.now)
            .map_err(|e| invalid(format!("issuer certificate: {e}")))?;
        return Ok((key, IssuerKeySource::X5c));
    }
    if let Some(did) = iss.strip_prefix("did:web:") {
        let expected = did_web(ctx.credential_issuer)
            .ok_or_else(|| invalid("the credential issuer has no did:web form"))?;
        if iss != expected {
            return Err(invalid(
                "the did:web of the credential is not the credential issuer's",
            ));
        }
        let kid = jws
            .header_str("kid")
            .ok_or_else(|| invalid("a did:web credential needs a kid"))?;
        let document = fetch_json(client, &did_document_url(did, ctx.credential_issuer)?).await?;
        if document.get("id").and_then(|v| v.as_str()) != Some(iss) {
            return Err(invalid(
                "the DID document is not the one of the credential's iss",
            ));
        }
        let methods = document
            .get("verificationMethod")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        let method = methods
            .iter()
            .find(|m| m.get("id").and_then(|v| v.as_str()) == Some(kid))
            .ok_or_else(|| invalid("the DID document has no verification method with that kid"))?;
        let jwk = method
            .get("publicKeyJwk")
            .ok_or_else(|| invalid("the verification method has no publicKeyJwk"))?;
        let key = EcPublicJwk::from_json(jwk).map_err(|e| invalid(e.to_string()))?;
        return Ok((key, IssuerKeySource::DidWeb));
    }
    if iss != ctx.credential_issuer {
        return Err(invalid(
            "iss is not the credential issuer the wallet talked to",
        ));
    }
    let url = well_known_url(iss, "jwt-vc-issuer").ok_or_else(|| invalid("iss is not a URL"))?;
    let fetched = client.get(&url, "application/json").await?;
    let (keys, source) = match (fetched.status, as_jwks_uri) {
        (200, _) => {
            let metadata: JwtVcIssuerMetadata = serde_json::from_value(fetched.json()?)
                .map_err(|e| invalid(format!("JWT VC Issuer Metadata: {e}")))?;
            // SD-JWT VC §4.3: the metadata's issuer must be the credential's iss.
            if metadata.issuer != iss {
                return Err(invalid("JWT VC Issuer Metadata is for another issuer"));
            }
            (metadata.jwks.keys, IssuerKeySource::JwtVcIssuerMetadata)
        }
        // WAL-VAL-02 fallback: the authorization server's published keys.
        (_, Some(jwks_uri)) => {
            let set: avow_core::metadata::JwkSet =
                serde_json::from_value(fetch_json(client, jwks_uri).await?)
                    .map_err(|e| invalid(format!("the jwks_uri JWK Set: {e}")))?;
            (set.keys, IssuerKeySource::AuthorizationServerJwks)
        }
        (status, None) => {
            return Err(invalid(format!(
                "{url} answered {status} and the authorization server publishes no jwks_uri"
            )));
        }
    };
    let published: Vec<(Option<String>, EcPublicJwk)> = keys
        .iter()
        .filter_map(|k| {
            Some((
                k.get("kid").and_then(|v| v.as_str()).map(str::to_owned),
                EcPublicJwk::from_json(k).ok()?,
            ))
        })
        .collect();
    let key = match (
        avow_crypto::jwk::header_jwk(jws.header()),
        jws.header_str("kid"),
    ) {
        // D-18: a header key counts only if the issuer publishes it.
        (Some(jwk), _) => {
            let jwk = jwk.map_err(|e| invalid(e.to_string()))?;
            published
                .iter()
                .find(|(_, k)| *k == jwk)
                .map(|(_, k)| k.clone())
                .ok_or_else(|| invalid("the header jwk is not published by the issuer"))?
        }
        (None, Some(kid)) => published
            .iter()
            .find(|(k, _)| k.as_deref() == Some(kid))
            .map(|(_, k)| k.clone())
            .ok_or_else(|| invalid("no published key has the credential's kid"))?,
        (None, None) => {
            return Err(invalid(
                "the credential names no issuer key (x5c, jwk or kid)",
            ));
        }
    };
    Ok((key, source))
}

/// WAL-VAL-06 (OID4VCI App. B.2): every claim the configuration's
/// `credential_metadata.claims` declares `mandatory: true` is present in
/// `claims` (the processed SD-JWT VC payload with every Disclosure
/// applied, or an mdoc's namespaces as `{namespace: {element: value}}`).
/// The error names the claim path (from metadata), never a value.
pub fn require_mandatory_claims(
    configuration: &avow_core::metadata::CredentialConfiguration,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), WalletError> {
    let descriptions = configuration
        .credential_metadata
        .as_ref()
        .map(|m| m.claims.as_slice())
        .unwrap_or_default();
    for description in descriptions.iter().filter(|d| d.mandatory) {
        let path = avow_formats::claim_path::from_json(&description.path)
            .map_err(|e| WalletError::Metadata(format!("a claims path pointer: {e}")))?;
        if avow_formats::claim_path::select(claims, &path).is_err() {
            return Err(invalid(format!(
                "the mandatory claim {} is missing",
                avow_formats::claim_path::render(&path)
            )));
        }
    }
    Ok(())
}

/// An mdoc's elements as `{namespace: {element: value}}`, the shape the
/// claims path pointers of an `mso_mdoc` configuration address (OID4VCI
/// App. C.2; WAL-VAL-06).
pub fn mdoc_claims(
    verified: &avow_formats::mdoc::VerifiedMdoc,
) -> serde_json::Map<String, serde_json::Value> {
    verified
        .namespaces
        .iter()
        .map(|(namespace, elements)| {
            let elements: serde_json::Map<String, serde_json::Value> = elements
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (namespace.clone(), serde_json::Value::Object(elements))
        })
        .collect()
}

/// `did:web` of an issuer identifier (port percent-encoded, path as `:` segments).
pub fn did_web(issuer_id: &str) -> Option<String> {
    let rest = issuer_id
        .strip_prefix("https://")
        .or_else(|| issuer_id.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return None;
    }
    let mut did = format!("did:web:{}", host.replace(':', "%3A"));
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        did.push(':');
        did.push_str(segment);
    }
    Some(did)
}

/// The did:web resolution URL, with the scheme of the credential issuer
/// (https; plain http only for a dev loopback issuer, which the client allows or refuses).
fn did_document_url(
    method_specific_id: &str,
    credential_issuer: &str,
) -> Result<String, WalletError> {
    let scheme = if credential_issuer.starts_with("http://") {
        "http"
    } else {
        "https"
    };
    let mut parts = method_specific_id.split(':');
    let host = parts
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("malformed did:web"))?
        .replace("%3A", ":");
    let path: Vec<&str> = parts.collect();
    Ok(if path.is_empty() {
        format!("{scheme}://{host}/.well-known/did.json")
    } else {
        format!("{scheme}://{host}/{}/did.json", path.join("/"))
    })
}

async fn fetch_json(client: &HttpClient, url: &str) -> Result<serde_json::Value, WalletError> {
    let fetched = client.get(url, "application/json").await?;
    if fetched.status != 200 {
        return Err(invalid(format!("{url} answered {}", fetched.status)));
    }
    fetched.json()
}

/// WAL-VAL-04: an mdoc's `issuerAuth` verifies with its `x5chain` chained to
/// a trusted anchor (IACA), `docType` is the configuration's, every digest
/// matches, `deviceKey` is the wallet's key, validity is current.
pub fn validate_mdoc(
    credential: &str,
    trust_anchors: &TrustAnchors,
    expected_doctype: &str,
    holder_key: &EcPublicJwk,
    now: i64,
    skew: i64,
) -> Result<avow_formats::mdoc::VerifiedMdoc, WalletError> {
    let parsed = avow_formats::mdoc::parse(credential).map_err(|e| invalid(e.to_string()))?;
    let issuer_key = trust_anchors
        .validate_chain(parsed.x5chain(), now)
        .map_err(|e| invalid(format!("issuer certificate: {e}")))?;
    avow_formats::mdoc::verify(&parsed, &issuer_key, now, skew)
        .and_then(|v| v.require_doctype(expected_doctype))
        .and_then(|v| v.require_device_key(holder_key))
        .map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// WAL-VAL-03 binds the credentials of bound configurations only: a
    /// bearer one (VCI §12.2.4) is not checked for `cnf`.
    #[test]
    fn wal_val_03_binding_check() {
        use avow_crypto::Signer;
        let mine = avow_crypto::SoftwareSigner::generate().expect("key");
        let other = avow_crypto::SoftwareSigner::generate().expect("key");
        let mine = mine.public_jwk();
        let expected = ExpectedBinding::from(mine);
        assert!(check_binding(Some(mine), expected).is_ok());
        assert!(check_binding(Some(other.public_jwk()), expected).is_err());
        assert!(check_binding(None, expected).is_err());
        assert!(check_binding(None, ExpectedBinding::Bearer).is_ok());
        assert!(check_binding(Some(mine), ExpectedBinding::Bearer).is_ok());
    }

    /// WAL-VAL-06: every `mandatory: true` claim must be present; optional
    /// ones may be missing; mdoc elements are addressed `[namespace, element]`.
    #[test]
    fn wal_val_06_mandatory_claims() {
        let configuration: avow_core::metadata::CredentialConfiguration =
            serde_json::from_value(json!({
                "format": "dc+sd-jwt",
                "vct": "urn:x",
                "credential_metadata": { "claims": [
                    { "path": ["given_name"], "mandatory": true },
                    { "path": ["address", "locality"], "mandatory": true },
                    { "path": ["nationalities", null], "mandatory": true },
                    { "path": ["nickname"] }
                ] }
            }))
            .expect("configuration");
        let complete = json!({
            "given_name": "Erika",
            "address": { "locality": "Koeln" },
            "nationalities": ["DE"]
        });
        let complete = complete.as_object().cloned().unwrap_or_default();
        assert!(require_mandatory_claims(&configuration, &complete).is_ok());
        for missing in ["given_name", "address", "nationalities"] {
            let mut claims = complete.clone();
            claims.remove(missing);
            let refused = require_mandatory_claims(&configuration, &claims);
            assert!(
                matches!(&refused, Err(WalletError::Validation(m)) if m.contains(missing) && !m.contains("Erika")),
                "{missing}: {refused:?}"
            );
        }
        let mut empty_list = complete.clone();
        empty_list.insert("nationalities".into(), json!([]));
        assert!(require_mandatory_claims(&configuration, &empty_list).is_err());

        let mdoc: avow_core::metadata::CredentialConfiguration = serde_json::from_value(json!({
            "format": "mso_mdoc",
            "doctype": "d",
            "credential_metadata": { "claims": [
                { "path": ["ns", "given_name"], "mandatory": true }
            ] }
        }))
        .expect("configuration");
        let mut namespaces = std::collections::BTreeMap::new();
        let mut elements = std::collections::BTreeMap::new();
        elements.insert("family_name".to_owned(), json!("Mustermann"));
        namespaces.insert("ns".to_owned(), elements);
        let verified = avow_formats::mdoc::VerifiedMdoc {
            doctype: "d".into(),
            device_key: avow_crypto::Signer::public_jwk(
                &avow_crypto::SoftwareSigner::generate().expect("key"),
            )
            .clone(),
            valid_from: 0,
            valid_until: 1,
            signed: 0,
            namespaces,
            status: None,
        };
        assert!(require_mandatory_claims(&mdoc, &mdoc_claims(&verified)).is_err());
        let mut verified = verified;
        if let Some(elements) = verified.namespaces.get_mut("ns") {
            elements.insert("given_name".to_owned(), json!("Erika"));
        }
        assert!(require_mandatory_claims(&mdoc, &mdoc_claims(&verified)).is_ok());
        // No claims descriptions: nothing is mandatory.
        let bare: avow_core::metadata::CredentialConfiguration =
            serde_json::from_value(json!({ "format": "dc+sd-jwt", "vct": "urn:x" }))
                .expect("configuration");
        assert!(require_mandatory_claims(&bare, &serde_json::Map::new()).is_ok());
    }

    #[test]
    fn did_web_round_trip() {
        let did = did_web("http://127.0.0.1:8080").unwrap_or_default();
        assert_eq!(did, "did:web:127.0.0.1%3A8080");
        assert_eq!(
            did_document_url(did.trim_start_matches("did:web:"), "http://127.0.0.1:8080")
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:8080/.well-known/did.json")
        );
        assert_eq!(
            did_document_url(
                "issuer.example:tenants:a",
                "https://issuer.example/tenants/a"
            )
            .ok()
            .as_deref(),
            Some("https://issuer.example/tenants/a/did.json")
        );
    }
}
