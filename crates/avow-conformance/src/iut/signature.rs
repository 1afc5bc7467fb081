//! Signature-profile interoperability (VCI-CHECK-07), IUT mode: for every
//! SD-JWT VC configuration one credential is issued; its header says which
//! variant applies (jwk, kid → JWKS, did:web, X.509), and the variant's
//! check resolves the issuer key only through that mechanism.

use super::{Iut, Variant, now};
use crate::error::ConformanceError;
use crate::http::Request;
use crate::report::{Assertion, SkipKind};
use crate::transcript::{Exchange, Recorder};
use avow_core::metadata::well_known_url;
use avow_crypto::{AlgorithmAllowList, EcPublicJwk, Signer, SoftwareSigner};
use serde_json::Value;

/// One configuration's issued credential and what the runner made of it.
#[derive(Debug, Clone)]
pub struct Observed {
    pub configuration: String,
    pub variant: Option<Variant>,
    /// The issuer key through the variant's mechanism, or why not.
    pub key: Result<EcPublicJwk, String>,
    pub credential: Option<String>,
    pub holder: Option<EcPublicJwk>,
    /// Why no credential was obtained.
    pub error: Option<String>,
    pub exchanges: Vec<Exchange>,
    /// Variant-specific findings (pass/fail lines).
    pub findings: Vec<(bool, String)>,
}

/// The variant an issuer-signed JWT header and `iss` point to.
pub fn variant_of(header: &serde_json::Map<String, Value>, iss: &str) -> Option<Variant> {
    if header.contains_key("x5c") {
        Some(Variant::X509)
    } else if iss.starts_with("did:web:") {
        Some(Variant::DidWeb)
    } else if header.contains_key("jwk") {
        Some(Variant::Jwk)
    } else if header.contains_key("kid") {
        Some(Variant::Kid)
    } else {
        None
    }
}

async fn fetch_json(iut: &Iut, rec: &Recorder, label: &str, url: &str) -> Result<Value, String> {
    let response = iut
        .send(
            rec,
            label,
            Request::get(url).header("Accept", "application/json"),
        )
        .await
        .map_err(|e| e.to_string())?;
    if response.status != 200 {
        return Err(format!("{url} answered {}", response.describe()));
    }
    response
        .json()
        .ok_or_else(|| format!("{url} did not answer JSON"))
}

/// The published keys of `/.well-known/jwt-vc-issuer` (SD-JWT VC §4), checking `issuer` = `iss`.
async fn jwt_vc_issuer_keys(
    iut: &Iut,
    rec: &Recorder,
    iss: &str,
    findings: &mut Vec<(bool, String)>,
) -> Result<Vec<Value>, String> {
    let url = well_known_url(iss, "jwt-vc-issuer").ok_or("iss is not a URL")?;
    let metadata = fetch_json(iut, rec, "JWT VC Issuer Metadata", &url).await?;
    let issuer_ok = metadata.get("issuer").and_then(Value::as_str) == Some(iss);
    findings.push((
        issuer_ok,
        format!(
            "/.well-known/jwt-vc-issuer issuer {}",
            if issuer_ok { "= iss" } else { "≠ iss" }
        ),
    ));
    let keys = match (
        metadata.get("jwks"),
        metadata.get("jwks_uri").and_then(Value::as_str),
    ) {
        (Some(jwks), _) => jwks
            .get("keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        (None, Some(uri)) => fetch_json(iut, rec, "jwks_uri", uri)
            .await?
            .get("keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        (None, None) => {
            return Err("the JWT VC Issuer Metadata has neither jwks nor jwks_uri".into());
        }
    };
    Ok(keys)
}

/// The issuer key by the variant's own mechanism.
pub async fn resolve_key(
    iut: &Iut,
    rec: &Recorder,
    variant: Variant,
    jws: &avow_crypto::CompactJws,
    iss: &str,
    findings: &mut Vec<(bool, String)>,
) -> Result<EcPublicJwk, String> {
    match variant {
        Variant::X509 => {
            if iut.anchors.is_empty() {
                return Err("no issuer trust anchor configured (--issuer-ca)".into());
            }
            let x5c = jws.x5c().ok_or("no x5c")?.map_err(|e| e.to_string())?;
            findings.push((true, format!("x5c has {} certificate(s)", x5c.len())));
            let self_signed = avow_crypto::x509::leaf_public_key(
                x5c.first().map(Vec::as_slice).unwrap_or_default(),
            )
            .is_err();
            findings.push((
                !self_signed,
                format!(
                    "the leaf is {}self-signed",
                    if self_signed { "" } else { "not " }
                ),
            ));
            let key = iut
                .anchors
                .validate_chain(&x5c, now())
                .map_err(|e| e.to_string())?;
            findings.push((
                true,
                "x5c chains to the configured anchor, which it does not include".into(),
            ));
            let iss_ok = iss == iut.metadata.credential_issuer;
            findings.push((
                iss_ok,
                format!(
                    "iss {} the credential issuer",
                    if iss_ok { "is" } else { "is not" }
                ),
            ));
            Ok(key)
        }
        Variant::Jwk => {
            let key = avow_crypto::jwk::header_jwk(jws.header())
                .ok_or("no jwk")?
                .map_err(|e| e.to_string())?;
            let keys = jwt_vc_issuer_keys(iut, rec, iss, findings).await?;
            let published = keys
                .iter()
                .any(|k| EcPublicJwk::from_json(k).ok().as_ref() == Some(&key));
            findings.push((
                published,
                format!(
                    "the header jwk is {}published at /.well-known/jwt-vc-issuer",
                    if published { "" } else { "not " }
                ),
            ));
            Ok(key)
        }
        Variant::Kid => {
            let kid = jws.header_str("kid").ok_or("no kid")?;
            let keys = jwt_vc_issuer_keys(iut, rec, iss, findings).await?;
            let key = keys
                .iter()
                .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
                .ok_or("no published key has the credential's kid")?;
            findings.push((true, "the kid is in the published JWK Set".into()));
            EcPublicJwk::from_json(key).map_err(|e| e.to_string())
        }
        Variant::DidWeb => {
            let kid = jws
                .header_str("kid")
                .ok_or("a did:web credential needs a kid")?;
            let kid_ok = kid.starts_with(iss) && kid.contains('#');
            findings.push((
                kid_ok,
                format!(
                    "kid {} a DID URL of iss",
                    if kid_ok { "is" } else { "is not" }
                ),
            ));
            let url = did_document_url(iss, iut.http.allows_http_loopback())?;
            let document = fetch_json(iut, rec, "DID document", &url).await?;
            let id_ok = document.get("id").and_then(Value::as_str) == Some(iss);
            findings.push((
                id_ok,
                format!(
                    "the DID document id {} iss",
                    if id_ok { "is" } else { "is not" }
                ),
            ));
            let method = document
                .get("verificationMethod")
                .and_then(Value::as_array)
                .and_then(|m| {
                    m.iter()
                        .find(|m| m.get("id").and_then(Value::as_str) == Some(kid))
                })
                .ok_or("the DID document has no verification method with that kid")?;
            let jwk = method
                .get("publicKeyJwk")
                .ok_or("the verification method has no publicKeyJwk")?;
            EcPublicJwk::from_json(jwk).map_err(|e| e.to_string())
        }
    }
}

/// did:web resolution URL (https; http only for a loopback host in development).
fn did_document_url(did: &str, allow_http_loopback: bool) -> Result<String, String> {
    let rest = did.strip_prefix("did:web:").ok_or("not did:web")?;
    let mut parts = rest.split(':');
    let host = parts
        .next()
        .filter(|h| !h.is_empty())
        .ok_or("malformed did:web")?
        .replace("%3A", ":");
    let path: Vec<&str> = parts.collect();
    let loopback = host.starts_with("127.0.0.1") || host.starts_with("localhost");
    let scheme = if allow_http_loopback && loopback {
        "http"
    } else {
        "https"
    };
    Ok(if path.is_empty() {
        format!("{scheme}://{host}/.well-known/did.json")
    } else {
        format!("{scheme}://{host}/{}/did.json", path.join("/"))
    })
}

/// Issues one credential of `configuration` and examines it.
pub async fn observe(iut: &Iut, configuration: &str) -> Observed {
    let rec = Recorder::new();
    let mut observed = Observed {
        configuration: configuration.to_owned(),
        variant: None,
        key: Err("no credential".into()),
        credential: None,
        holder: None,
        error: None,
        exchanges: Vec::new(),
        findings: Vec::new(),
    };
    let result: Result<(), ConformanceError> = async {
        let tx = iut.token_tx(&rec, configuration).await?;
        let holder = SoftwareSigner::generate()?;
        let (response, credential) = tx.issue(&holder).await?;
        observed.holder = Some(holder.public_jwk().clone());
        let credential = credential.ok_or_else(|| {
            ConformanceError::unexpected(format!("no credential: {}", response.describe()))
        })?;
        let sd = avow_formats::sd_jwt_vc::peek(&credential)
            .map_err(|e| ConformanceError::unexpected(format!("not an SD-JWT: {e}")))?;
        let payload = sd
            .unverified_payload()
            .map_err(|e| ConformanceError::unexpected(e.to_string()))?;
        let iss = payload
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        observed.variant = variant_of(sd.jws().header(), &iss);
        observed.credential = Some(credential.clone());
        if let Some(variant) = observed.variant {
            observed.key =
                resolve_key(iut, &rec, variant, sd.jws(), &iss, &mut observed.findings).await;
            if let Ok(mut v) = iut.variants.lock() {
                v.insert(configuration.to_owned(), variant);
            }
        } else {
            observed.key =
                Err("the header names no issuer key (x5c, jwk, kid) and iss is no did:web".into());
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        observed.error = Some(e.to_string());
    }
    observed.exchanges = rec.take();
    observed
}

impl Iut {
    /// Every SD-JWT VC configuration observed once per run (cached).
    pub async fn observations(&self) -> Vec<Observed> {
        if let Ok(cache) = self.observed.lock()
            && let Some(c) = cache.as_ref()
        {
            return c.clone();
        }
        let mut out = Vec::new();
        for configuration in self.sd_jwt_configurations() {
            out.push(observe(self, &configuration).await);
        }
        if let Ok(mut cache) = self.observed.lock() {
            *cache = Some(out.clone());
        }
        out
    }
}

fn variant_assertion(o: &Observed, expected_variant: Variant) -> Assertion {
    let name = format!("configuration {}", o.configuration);
    let expected = format!(
        "the issuer key resolves through {} and verifies the credential",
        expected_variant.name()
    );
    let mut problems: Vec<String> = o
        .findings
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, f)| f.clone())
        .collect();
    let fine: Vec<String> = o
        .findings
        .iter()
        .filter(|(ok, _)| *ok)
        .map(|(_, f)| f.clone())
        .collect();
    match (&o.key, &o.credential) {
        (Ok(key), Some(credential)) => {
            if let Err(e) = avow_formats::sd_jwt_vc::verify(
                credential,
                key,
                &AlgorithmAllowList::es256(),
                now(),
                60,
                false,
            ) {
                problems.push(format!(
                    "the signature or SD-JWT does not verify with the resolved key: {e}"
                ));
            }
        }
        (Err(e), _) => problems.push(e.clone()),
        _ => {}
    }
    let a = if problems.is_empty() {
        Assertion::pass(&name, &expected, fine.join("; "))
    } else if o.key.as_ref().is_err_and(|e| e.contains("--issuer-ca")) {
        Assertion::skipped(
            &name,
            SkipKind::MissingInput,
            "no issuer trust anchor configured (--issuer-ca)",
        )
    } else {
        Assertion::fail(&name, &expected, problems.join("; "))
    };
    a.with_exchanges(o.exchanges.clone())
}

/// CONF-C07-01 … -04: the configurations of one variant.
pub async fn variant_check(iut: &Iut, variant: Variant) -> Vec<Assertion> {
    let observations = iut.observations().await;
    if observations.is_empty() {
        return vec![Assertion::not_applicable(
            variant.name(),
            "the issuer metadata has no dc+sd-jwt configuration",
        )];
    }
    let mut out = Vec::new();
    for o in &observations {
        if let Some(error) = &o.error {
            out.push(
                Assertion::fail(
                    &format!("configuration {}", o.configuration),
                    "a credential to examine",
                    error.clone(),
                )
                .with_exchanges(o.exchanges.clone()),
            );
        } else if o.variant == Some(variant) {
            out.push(variant_assertion(o, variant));
        }
    }
    if out.is_empty() {
        let seen: Vec<String> = observations
            .iter()
            .map(|o| {
                format!(
                    "{}: {}",
                    o.configuration,
                    o.variant.map(Variant::name).unwrap_or("none")
                )
            })
            .collect();
        out.push(Assertion::not_applicable(
            variant.name(),
            format!(
                "no configuration's credentials use this variant ({})",
                seen.join(", ")
            ),
        ));
    }
    out
}

/// CONF-C07-05: every variant's SD-JWT VC verifies (typ, digests, vct, binding).
pub async fn c07_05(iut: &Iut) -> Vec<Assertion> {
    let observations = iut.observations().await;
    if observations.is_empty() {
        return vec![Assertion::not_applicable(
            "SD-JWT VC",
            "the issuer metadata has no dc+sd-jwt configuration",
        )];
    }
    let expected = "typ dc+sd-jwt, signature, digests and disclosures verify, vct = the configuration's, cnf = the proven key";
    observations
        .iter()
        .map(|o| {
            let name = format!("configuration {}", o.configuration);
            let (Some(credential), Ok(key)) = (&o.credential, &o.key) else {
                let why = o
                    .error
                    .clone()
                    .or_else(|| o.key.as_ref().err().cloned())
                    .unwrap_or_default();
                if why.contains("--issuer-ca") {
                    return Assertion::skipped(&name, SkipKind::MissingInput, why);
                }
                return Assertion::fail(&name, expected, why);
            };
            let vct = iut
                .metadata
                .credential_configurations_supported
                .get(&o.configuration)
                .and_then(|c| c.vct.clone())
                .unwrap_or_default();
            match avow_formats::sd_jwt_vc::verify(
                credential,
                key,
                &AlgorithmAllowList::es256(),
                now(),
                60,
                false,
            ) {
                Ok(v) => {
                    let mut problems = Vec::new();
                    if !v.is_of_type(&vct) {
                        problems.push(format!("vct {} is not {vct}", v.vct));
                    }
                    if v.holder_key.is_none() || v.holder_key != o.holder {
                        problems.push("cnf.jwk is not the proven key".into());
                    }
                    Assertion::check(
                        problems.is_empty(),
                        &name,
                        expected,
                        if problems.is_empty() {
                            format!("verified; {} disclosure(s)", v.disclosures.len())
                        } else {
                            problems.join("; ")
                        },
                    )
                }
                Err(e) => Assertion::fail(&name, expected, e.to_string()),
            }
        })
        .collect()
}
