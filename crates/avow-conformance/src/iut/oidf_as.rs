//! Probes of the OpenID conformance modules that the APTITUDE catalogue has
//! no check for (see `catalogue`, `CONF-OIDF-*`): DPoP, authorization-code,
//! PAR, refresh-token and client-attestation attacks on the authorization
//! server, and the access token in the query string. Every attack runs on a
//! fresh transaction (CONF-RUN-04).

use super::attestations::{jwt_wua_configuration, wua_path};
use super::{
    Auth, AuthorizationAsk, Iut, PkceMode, Tx, expect_error, first_credential, now, probe, sign,
};
use crate::error::ConformanceError;
use crate::http::{Body, Request, Response, param, query_params};
use crate::pki::WalletProviderPki;
use crate::report::{Assertion, Status};
use avow_core::key_attestation::{ISO_18045_HIGH, KEY_ATTESTATION_HEADER, KeyAttestationsRequired};
use avow_crypto::dpop::{NewDpopProof, create_proof};
use avow_crypto::{EcPublicJwk, Random, Signer, SoftwareSigner, SystemRandom};
use serde_json::{Value, json};

const NO_CONFIGURATION: &str =
    "the issuer metadata has no SD-JWT VC configuration (pass --configuration)";
const NO_LOGIN_SCRIPT: &str = "the authorization step needs --login-script";
const NO_CODE_WAIT: &str = "needs --expiry-wait SECONDS ≥ the IUT's authorization code lifetime";
const NO_PAR_WAIT: &str =
    "needs --expiry-wait SECONDS ≥ the IUT's request_uri lifetime (expires_in)";
const WIA_HEADER: &str = "OAuth-Client-Attestation";

fn primary(iut: &Iut) -> Result<String, ConformanceError> {
    iut.primary_configuration()
        .ok_or_else(|| ConformanceError::Config(NO_CONFIGURATION.into()))
}

/// The verdict when the authorization-code flow cannot be probed: not
/// applicable without an authorization endpoint, skipped without a login script.
fn code_flow_unavailable(iut: &Iut, name: &str) -> Option<Assertion> {
    if !iut.supports_code_flow() {
        return Some(Assertion::not_applicable(
            name,
            "the AS metadata has no authorization_endpoint (no authorization-code flow)",
        ));
    }
    if iut.options.login_script.is_none() {
        return Some(Iut::missing(name, NO_LOGIN_SCRIPT));
    }
    None
}

fn par_unavailable(iut: &Iut, name: &str) -> Option<Assertion> {
    if iut
        .authorization_server
        .pushed_authorization_request_endpoint
        .is_none()
    {
        return Some(Assertion::not_applicable(
            name,
            "the AS metadata has no pushed_authorization_request_endpoint",
        ));
    }
    None
}

// ---------------------------------------------------------------- DPoP helpers

/// How a hand-built DPoP proof deviates from a good one.
#[derive(Clone, Copy)]
struct ProofShape<'a> {
    /// Signed by this key instead of the transaction's DPoP key.
    key: Option<&'a SoftwareSigner>,
    /// Added to the current time for `iat`.
    iat_offset: i64,
    /// Send `Authorization: DPoP <token>` (off: the token travels elsewhere).
    authorization_header: bool,
}

impl ProofShape<'_> {
    const GOOD: ProofShape<'static> = ProofShape {
        key: None,
        iat_offset: 0,
        authorization_header: true,
    };
}

/// The URL without query and fragment: the DPoP `htu` (RFC 9449 §4.2).
fn htu(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url.get(..end).unwrap_or(url)
}

/// Sends `request` with exactly `proof` in the `DPoP` header, the access
/// token (in `Authorization` unless `authorization_header` is off) and the
/// client authentication `auth`.
async fn send_exact(
    tx: &Tx<'_>,
    label: &str,
    request: Request,
    proof: &str,
    access_token: Option<&str>,
    authorization_header: bool,
    auth: &Auth,
) -> Result<Response, ConformanceError> {
    let mut req = request.header("DPoP", proof);
    if let Some(token) = access_token
        && authorization_header
    {
        req = req.header("Authorization", format!("DPoP {token}"));
    }
    let req = tx.with_client_auth(req, auth).await?;
    tx.iut.send(&tx.rec, label, req).await
}

/// Sends `request` with a DPoP proof of `shape` carrying the current DPoP
/// nonce; like [`Tx::send_dpop`] it retries once (with a new proof) on
/// `use_dpop_nonce` / `use_attestation_challenge`, so a rejection is about
/// the shape, not a stale nonce. Returns the response and the last proof.
async fn send_shaped(
    tx: &Tx<'_>,
    label: &str,
    request: Request,
    access_token: Option<&str>,
    auth: &Auth,
    shape: ProofShape<'_>,
) -> Result<(Response, String), ConformanceError> {
    let mut retried = false;
    loop {
        let target = htu(&request.url).to_owned();
        let nonce = tx.iut.dpop_nonce(&target);
        let signer: &dyn Signer = match shape.key {
            Some(k) => k,
            None => &tx.dpop,
        };
        let proof = create_proof(
            signer,
            NewDpopProof {
                htm: &request.method,
                htu: &target,
                iat: now() + shape.iat_offset,
                jti: SystemRandom.token(16),
                access_token,
                nonce: nonce.as_deref(),
            },
        )
        .await?;
        let response = send_exact(
            tx,
            label,
            request.clone(),
            &proof,
            access_token,
            shape.authorization_header,
            auth,
        )
        .await?;
        let retry = match response.error_code().as_deref() {
            Some("use_dpop_nonce") => true,
            Some("use_attestation_challenge") => matches!(auth, Auth::Good),
            _ => false,
        };
        if retry && !retried && (response.status == 400 || response.status == 401) {
            retried = true;
            continue;
        }
        return Ok((response, proof));
    }
}

/// Does the response carry a `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1)?
fn has_dpop_challenge(response: &Response) -> bool {
    response
        .header("www-authenticate")
        .and_then(|c| c.trim_start().get(..4))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("dpop"))
}

/// A resource-server rejection: `401` with a code in `codes` (from the
/// challenge or the body) and a `WWW-Authenticate: DPoP` challenge.
fn expect_dpop_401(
    name: &str,
    response: &Response,
    codes: &[&str],
    tolerated: &[&str],
) -> Assertion {
    let a = expect_error(name, response, 401, codes, tolerated);
    if a.status == Status::Pass && !has_dpop_challenge(response) {
        return Assertion::fail(
            name,
            &format!("{} with a WWW-Authenticate: DPoP challenge", a.expected),
            format!(
                "{} without a WWW-Authenticate: DPoP challenge (RFC 9449 §7.1)",
                response.describe()
            ),
        );
    }
    a
}

// ---------------------------------------------------------------- grants and bodies

/// A token request body redeeming a fresh grant of `tx`: a pre-authorized
/// code when an offer can be had, else a code from the login script.
async fn grant_form(tx: &Tx<'_>) -> Result<Vec<(String, String)>, ConformanceError> {
    let iut = tx.iut;
    let mut form = if iut.supports_pre_authorized() && iut.can_get_offer() {
        let offer = iut.fresh_offer(&tx.rec, &tx.configuration, false).await?;
        let code = offer
            .pre_authorized_code()
            .ok_or_else(|| ConformanceError::unexpected("the offer has no pre-authorized code"))?
            .to_owned();
        let mut form = vec![
            (
                "grant_type".to_owned(),
                avow_core::offer::PRE_AUTHORIZED_CODE_GRANT.to_owned(),
            ),
            ("pre-authorized_code".to_owned(), code),
        ];
        if let Some(tx_code) = offer.tx_code {
            form.push(("tx_code".into(), tx_code));
        }
        form
    } else if iut.supports_code_flow() && iut.options.login_script.is_some() {
        let grant = tx
            .authorize(AuthorizationAsk::Scope, PkceMode::S256)
            .await?;
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), grant.code),
            ("redirect_uri".to_owned(), grant.redirect_uri),
            ("code_verifier".to_owned(), grant.verifier),
        ]
    } else {
        return Err(ConformanceError::Config(
            iut.token_source_missing()
                .unwrap_or_else(|| "no token source".into()),
        ));
    };
    if let Some(id) = tx.client_id() {
        form.push(("client_id".into(), id.to_owned()));
    }
    Ok(form)
}

fn token_request(tx: &Tx<'_>, form: Vec<(String, String)>) -> Request {
    Request::post(
        &tx.iut.authorization_server.token_endpoint,
        Body::Form(form),
    )
}

fn credential_request(tx: &Tx<'_>, body: Value) -> Request {
    Request::post(&tx.iut.metadata.credential_endpoint, Body::Json(body))
}

/// Levels a configuration's key attestations must claim.
fn wua_levels(iut: &Iut, configuration: &str) -> (Vec<String>, Vec<String>) {
    let required = iut
        .metadata
        .credential_configurations_supported
        .get(configuration)
        .and_then(|c| {
            c.proof_types_supported
                .values()
                .find_map(|p| p.key_attestations_required.as_ref())
        })
        .and_then(KeyAttestationsRequired::from_metadata)
        .unwrap_or_default();
    let first = |accepted: &[String]| {
        vec![
            accepted
                .first()
                .cloned()
                .unwrap_or_else(|| ISO_18045_HIGH.to_owned()),
        ]
    };
    (
        first(&required.key_storage),
        first(&required.user_authentication),
    )
}

/// A credential request body proving `holder` with a fresh `c_nonce`, the way
/// the transaction's configuration wants it: a plain `jwt` proof, a `jwt`
/// proof with a key attestation, or `proofs.attestation`. `tamper_wua`
/// breaks the key attestation's signature.
async fn credential_body(
    tx: &Tx<'_>,
    holder: &SoftwareSigner,
    tamper_wua: bool,
) -> Result<Value, ConformanceError> {
    let iut = tx.iut;
    let nonce = tx.c_nonce().await?;
    let Some(via_jwt) = wua_path(iut, &tx.configuration) else {
        let proof = tx.proof(holder, &nonce).await?;
        return Ok(tx.request_body(json!({ "jwt": [proof] })));
    };
    let (key_storage, user_authentication) = wua_levels(iut, &tx.configuration);
    let spec = WalletProviderPki::good_wua(
        vec![holder.public_jwk().clone()],
        Some(nonce.clone()),
        key_storage,
        user_authentication,
        now(),
    );
    let mut wua = iut.pki.issue_wua(&spec).await?;
    if tamper_wua {
        wua = tamper_signature(&wua)
            .ok_or_else(|| ConformanceError::unexpected("the key attestation is not a JWS"))?;
    }
    if via_jwt {
        let (mut header, claims) = tx.proof_parts(holder, Some(&nonce));
        header.remove("jwk");
        header.insert(KEY_ATTESTATION_HEADER.into(), Value::String(wua));
        let proof = sign(holder, header, &claims).await?;
        Ok(tx.request_body(json!({ "jwt": [proof] })))
    } else {
        Ok(tx.request_body(json!({ "attestation": [wua] })))
    }
}

/// The JWS with its signature bytes flipped (still well-formed base64url).
fn tamper_signature(jws: &str) -> Option<String> {
    let (signing_input, signature) = jws.rsplit_once('.')?;
    let mut bytes = avow_crypto::b64::decode(signature).ok()?;
    for b in bytes.iter_mut().take(4) {
        *b ^= 0x5a;
    }
    if bytes.is_empty() {
        return None;
    }
    Some(format!(
        "{signing_input}.{}",
        avow_crypto::b64::encode(bytes)
    ))
}

// ---------------------------------------------------------------- CONF-OIDF-DPOP-IAT

/// CONF-OIDF-DPOP-IAT: token requests whose DPoP `iat` is 300 s off.
pub async fn dpop_iat_window(iut: &Iut) -> Vec<Assertion> {
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("DPoP iat window", e.to_string())],
    };
    let mut out = Vec::new();
    for (offset, name) in [
        (
            -300,
            "token request with a DPoP proof iat 300 s in the past",
        ),
        (
            300,
            "token request with a DPoP proof iat 300 s in the future",
        ),
    ] {
        let configuration = configuration.clone();
        out.push(
            probe(name, "HTTP 400 invalid_dpop_proof", |rec| async move {
                let tx = iut.tx(&rec, &configuration).await?;
                let form = grant_form(&tx).await?;
                let shape = ProofShape {
                    iat_offset: offset,
                    ..ProofShape::GOOD
                };
                let (response, _) = send_shaped(
                    &tx,
                    name,
                    token_request(&tx, form),
                    None,
                    &Auth::Good,
                    shape,
                )
                .await?;
                Ok(
                    expect_error(name, &response, 400, &["invalid_dpop_proof"], &[]).with_note(
                        "the proof carries the current DPoP nonce (when the AS hands one out)",
                    ),
                )
            })
            .await,
        );
    }
    out
}

// ---------------------------------------------------------------- CONF-OIDF-DPOP-JTI

const NONCE_REPLAY_NOTE: &str = "RFC 9449 §11.1 lets a server fight replay with nonces; ISS-DPOP-04 wants invalid_dpop_proof for a seen jti";

/// CONF-OIDF-DPOP-JTI: the same DPoP proof twice, at the credential and at the token endpoint.
pub async fn dpop_jti_reuse(iut: &Iut) -> Vec<Assertion> {
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("DPoP jti reuse", e.to_string())],
    };
    let mut out = Vec::new();
    let name = "credential request replaying a used DPoP proof (same jti)";
    let expected = "the first request HTTP 200; the replay HTTP 401 invalid_dpop_proof (WWW-Authenticate: DPoP), no credential";
    let c = configuration.clone();
    out.push(
        probe(name, expected, |rec| async move {
            let tx = iut.token_tx(&rec, &c).await?;
            let token = tx.token()?;
            let first_body = credential_body(&tx, &SoftwareSigner::generate()?, false).await?;
            let (first, proof) = send_shaped(
                &tx,
                "credential request",
                credential_request(&tx, first_body),
                Some(&token),
                &Auth::None,
                ProofShape::GOOD,
            )
            .await?;
            if first_credential(&first).is_none() {
                return Ok(Assertion::fail(
                    name,
                    expected,
                    format!("the first request was not served: {}", first.describe()),
                ));
            }
            // A good body (new key, fresh c_nonce): only the DPoP proof is replayed.
            let second_body = credential_body(&tx, &SoftwareSigner::generate()?, false).await?;
            let second = send_exact(
                &tx,
                "credential request with the same DPoP proof",
                credential_request(&tx, second_body),
                &proof,
                Some(&token),
                true,
                &Auth::None,
            )
            .await?;
            Ok(expect_dpop_401(
                name,
                &second,
                &["invalid_dpop_proof"],
                &["use_dpop_nonce"],
            ))
        })
        .await,
    );
    let name = "token request replaying a used DPoP proof (same jti)";
    let expected = "the first request HTTP 200; the replay HTTP 400 invalid_dpop_proof";
    let c = configuration;
    out.push(
        probe(name, expected, |rec| async move {
            let tx = iut.tx(&rec, &c).await?;
            // Both grants first, so the replay follows the first use at once
            // (well inside any iat window).
            let first_form = grant_form(&tx).await?;
            let second_form = grant_form(&tx).await?;
            let (first, proof) = send_shaped(
                &tx,
                "token request",
                token_request(&tx, first_form),
                None,
                &Auth::Good,
                ProofShape::GOOD,
            )
            .await?;
            if first.status != 200 {
                return Ok(Assertion::fail(
                    name,
                    expected,
                    format!("the first request was not served: {}", first.describe()),
                ));
            }
            let second = send_exact(
                &tx,
                "token request (another grant) with the same DPoP proof",
                token_request(&tx, second_form),
                &proof,
                None,
                true,
                &Auth::Good,
            )
            .await?;
            let a = expect_error(
                name,
                &second,
                400,
                &["invalid_dpop_proof"],
                &["use_dpop_nonce"],
            );
            Ok(if a.status == Status::Warning {
                a.with_note(NONCE_REPLAY_NOTE)
            } else {
                a
            })
        })
        .await,
    );
    out
}

// ---------------------------------------------------------------- CONF-OIDF-DPOP-BINDING

/// CONF-OIDF-DPOP-BINDING: the access token with a proof of another key.
pub async fn dpop_key_binding(iut: &Iut) -> Vec<Assertion> {
    let name = "access token presented with a DPoP proof of another key";
    let expected = "HTTP 401 invalid_dpop_proof (WWW-Authenticate: DPoP), no credential";
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing(name, e.to_string())],
    };
    vec![
        probe(name, expected, |rec| async move {
            let tx = iut.token_tx(&rec, &configuration).await?;
            let token = tx.token()?;
            let other = SoftwareSigner::generate()?;
            let body = credential_body(&tx, &SoftwareSigner::generate()?, false).await?;
            let shape = ProofShape {
                key: Some(&other),
                ..ProofShape::GOOD
            };
            let (response, _) = send_shaped(
                &tx,
                "credential request, DPoP proof by another key",
                credential_request(&tx, body),
                Some(&token),
                &Auth::None,
                shape,
            )
            .await?;
            Ok(expect_dpop_401(
                name,
                &response,
                &["invalid_dpop_proof"],
                &["invalid_token"],
            ))
        })
        .await,
    ]
}

// ---------------------------------------------------------------- CONF-OIDF-CODE-*

/// Authorizes and redeems once: the transaction then holds the token.
async fn redeemed_code<'a>(
    iut: &'a Iut,
    rec: &crate::transcript::Recorder,
    configuration: &str,
) -> Result<(Tx<'a>, super::CodeGrant, Response), ConformanceError> {
    let mut tx = iut.tx(rec, configuration).await?;
    let grant = tx
        .authorize(AuthorizationAsk::Scope, PkceMode::S256)
        .await?;
    let response = tx
        .redeem_code(&grant, Some(&grant.verifier), Auth::Good)
        .await?;
    if response.status != 200 {
        return Err(ConformanceError::unexpected(format!(
            "the first redemption answered {}",
            response.describe()
        )));
    }
    Ok((tx, grant, response))
}

/// CONF-OIDF-CODE-REUSE: a code redeemed twice; the first token revoked.
pub async fn code_reuse(iut: &Iut) -> Vec<Assertion> {
    if let Some(a) = code_flow_unavailable(iut, "authorization code reuse") {
        return vec![a];
    }
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("authorization code reuse", e.to_string())],
    };
    let mut out = Vec::new();
    let name = "authorization code redeemed a second time";
    let c = configuration.clone();
    out.push(
        probe(name, "HTTP 400 invalid_grant", |rec| async move {
            let (mut tx, grant, _) = redeemed_code(iut, &rec, &c).await?;
            let second = tx
                .redeem_code(&grant, Some(&grant.verifier), Auth::Good)
                .await?;
            Ok(expect_error(name, &second, 400, &["invalid_grant"], &[]))
        })
        .await,
    );
    let name = "access token of a replayed code at the credential endpoint";
    let expected = "HTTP 401 invalid_token (the token is revoked, ISS-TAC-03), no credential";
    let c = configuration;
    out.push(
        probe(name, expected, |rec| async move {
            let (mut tx, grant, _) = redeemed_code(iut, &rec, &c).await?;
            let token = tx.access_token.clone();
            let second = tx
                .redeem_code(&grant, Some(&grant.verifier), Auth::Good)
                .await?;
            if second.status == 200 {
                return Ok(Assertion::fail(
                    name,
                    expected,
                    "the replayed code was redeemed again (HTTP 200)",
                ));
            }
            tx.access_token = token;
            let body = credential_body(&tx, &SoftwareSigner::generate()?, false).await?;
            let response = tx
                .credential("credential request with the first token", body)
                .await?;
            Ok(expect_dpop_401(name, &response, &["invalid_token"], &[]))
        })
        .await,
    );
    out
}

/// CONF-OIDF-CODE-EXPIRED: a code redeemed after its lifetime.
pub async fn code_expired(iut: &Iut) -> Vec<Assertion> {
    let name = "expired authorization code";
    if let Some(a) = code_flow_unavailable(iut, name) {
        return vec![a];
    }
    let Some(wait) = iut.options.expiry_wait else {
        return vec![Iut::missing(name, NO_CODE_WAIT)];
    };
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing(name, e.to_string())],
    };
    vec![
        probe(name, "HTTP 400 invalid_grant", |rec| async move {
            let mut tx = iut.tx(&rec, &configuration).await?;
            let grant = tx
                .authorize(AuthorizationAsk::Scope, PkceMode::S256)
                .await?;
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            let response = tx
                .redeem_code(&grant, Some(&grant.verifier), Auth::Good)
                .await?;
            Ok(expect_error(name, &response, 400, &["invalid_grant"], &[])
                .with_note(format!("redeemed {wait} s after the code was issued")))
        })
        .await,
    ]
}

// ---------------------------------------------------------------- CONF-OIDF-PAR-*

/// A PAR of `tx` (201 required); its request_uri.
async fn pushed(tx: &Tx<'_>) -> Result<String, ConformanceError> {
    let (response, _, _) = tx
        .par(AuthorizationAsk::Scope, PkceMode::S256, &Auth::Good, None)
        .await?;
    if response.status != 201 {
        return Err(ConformanceError::unexpected(format!(
            "PAR answered {}",
            response.describe()
        )));
    }
    response
        .json()
        .and_then(|v| {
            v.get("request_uri")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .ok_or_else(|| ConformanceError::unexpected("the PAR response has no request_uri"))
}

fn authorization_url(
    iut: &Iut,
    client_id: &str,
    request_uri: &str,
) -> Result<String, ConformanceError> {
    let endpoint = iut
        .authorization_server
        .authorization_endpoint
        .as_deref()
        .ok_or_else(|| {
            ConformanceError::unexpected("the AS metadata has no authorization_endpoint")
        })?;
    Ok(avow_wallet::authorize::authorization_url(
        endpoint,
        client_id,
        request_uri,
    ))
}

fn tx_client_id(tx: &Tx<'_>) -> String {
    tx.client_id()
        .unwrap_or(&tx.iut.options.client_id)
        .to_owned()
}

/// `GET /authorize` with `client_id` + `request_uri`, without a session.
async fn authorization_get(
    tx: &Tx<'_>,
    label: &str,
    client_id: &str,
    request_uri: &str,
) -> Result<Response, ConformanceError> {
    let url = authorization_url(tx.iut, client_id, request_uri)?;
    tx.iut.http.send(&tx.rec, label, Request::get(&url)).await
}

const REFUSED: &str = "an error: an HTTP 4xx error page, or a redirect to the redirect_uri with error= (never a login page or a code)";

/// The authorization endpoint must not proceed (ISS-AUTHZ-01).
fn judge_refused(name: &str, response: &Response, redirect_uri: &str) -> Assertion {
    let status = response.status;
    if (400..500).contains(&status) {
        return Assertion::pass(name, REFUSED, format!("HTTP {status} error page"));
    }
    if (300..400).contains(&status) {
        let Some(location) = response.header("location") else {
            return Assertion::fail(name, REFUSED, format!("HTTP {status} without Location"));
        };
        if !location.starts_with(redirect_uri) {
            return Assertion::fail(
                name,
                REFUSED,
                format!(
                    "HTTP {status} redirect to {} (the flow proceeds)",
                    crate::transcript::redact_url(location)
                ),
            );
        }
        let params = query_params(location);
        return match (param(&params, "error"), param(&params, "code")) {
            (Some(error), None) => Assertion::pass(
                name,
                REFUSED,
                format!("HTTP {status} redirect to the redirect_uri with error={error}"),
            ),
            (_, Some(_)) => Assertion::fail(
                name,
                REFUSED,
                format!("HTTP {status} redirect to the redirect_uri with a code"),
            ),
            (None, None) => Assertion::fail(
                name,
                REFUSED,
                format!("HTTP {status} redirect to the redirect_uri without error"),
            ),
        };
    }
    let observed = if status == 200 {
        "HTTP 200 page (the authorization proceeds to login/consent)".to_owned()
    } else {
        response.describe()
    };
    Assertion::fail(name, REFUSED, observed)
}

/// CONF-OIDF-PAR-REUSE: a request_uri used for a whole authorization, then again.
pub async fn par_reuse(iut: &Iut) -> Vec<Assertion> {
    let name = "request_uri used a second time";
    if let Some(a) = code_flow_unavailable(iut, name).or_else(|| par_unavailable(iut, name)) {
        return vec![a];
    }
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing(name, e.to_string())],
    };
    vec![
        probe(name, REFUSED, |rec| async move {
            let script = iut
                .options
                .login_script
                .as_ref()
                .ok_or_else(|| ConformanceError::Config(NO_LOGIN_SCRIPT.into()))?;
            let tx = iut.tx(&rec, &configuration).await?;
            let request_uri = pushed(&tx).await?;
            let client_id = tx_client_id(&tx);
            let url = authorization_url(iut, &client_id, &request_uri)?;
            let redirect_uri = iut.redirect_uri();
            let callback = script.run(&iut.http, &rec, &url, &redirect_uri).await?;
            if param(&query_params(&callback), "code").is_none() {
                return Err(ConformanceError::unexpected(
                    "the first authorization ended without a code",
                ));
            }
            let response = authorization_get(
                &tx,
                "authorization endpoint, the same request_uri again",
                &client_id,
                &request_uri,
            )
            .await?;
            Ok(judge_refused(name, &response, &redirect_uri))
        })
        .await,
    ]
}

/// CONF-OIDF-PAR-EXPIRED: a request_uri used after its lifetime.
pub async fn par_expired(iut: &Iut) -> Vec<Assertion> {
    let name = "expired request_uri";
    if !iut.supports_code_flow() {
        return vec![Assertion::not_applicable(
            name,
            "the AS metadata has no authorization_endpoint (no authorization-code flow)",
        )];
    }
    if let Some(a) = par_unavailable(iut, name) {
        return vec![a];
    }
    let Some(wait) = iut.options.expiry_wait else {
        return vec![Iut::missing(name, NO_PAR_WAIT)];
    };
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing(name, e.to_string())],
    };
    vec![
        probe(name, REFUSED, |rec| async move {
            let tx = iut.tx(&rec, &configuration).await?;
            let request_uri = pushed(&tx).await?;
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            let response = authorization_get(
                &tx,
                "authorization endpoint, expired request_uri",
                &tx_client_id(&tx),
                &request_uri,
            )
            .await?;
            Ok(judge_refused(name, &response, &iut.redirect_uri())
                .with_note(format!("presented {wait} s after the PAR")))
        })
        .await,
    ]
}

/// CONF-OIDF-PAR-CLIENT: a request_uri presented with another client_id.
pub async fn par_client_binding(iut: &Iut) -> Vec<Assertion> {
    let name = "request_uri presented with another client_id";
    if !iut.supports_code_flow() {
        return vec![Assertion::not_applicable(
            name,
            "the AS metadata has no authorization_endpoint (no authorization-code flow)",
        )];
    }
    if let Some(a) = par_unavailable(iut, name) {
        return vec![a];
    }
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing(name, e.to_string())],
    };
    vec![
        probe(name, REFUSED, |rec| async move {
            let tx = iut.tx(&rec, &configuration).await?;
            let request_uri = pushed(&tx).await?;
            let other = format!("{}/another-client", tx_client_id(&tx).trim_end_matches('/'));
            let response = authorization_get(
                &tx,
                "authorization endpoint, request_uri of another client",
                &other,
                &request_uri,
            )
            .await?;
            Ok(judge_refused(name, &response, &iut.redirect_uri()))
        })
        .await,
    ]
}

// ---------------------------------------------------------------- CONF-OIDF-REDIRECT-URI

/// CONF-OIDF-REDIRECT-URI: a PAR without redirect_uri.
pub async fn redirect_uri_required(iut: &Iut) -> Vec<Assertion> {
    let name = "PAR without redirect_uri";
    if let Some(a) = par_unavailable(iut, name) {
        return vec![a];
    }
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing(name, e.to_string())],
    };
    vec![
        probe(name, "HTTP 400 invalid_request", |rec| async move {
            let tx = iut.tx(&rec, &configuration).await?;
            let endpoint = iut
                .authorization_server
                .pushed_authorization_request_endpoint
                .clone()
                .unwrap_or_default();
            let verifier = SystemRandom.token(32);
            let mut form = vec![
                ("response_type".to_owned(), "code".to_owned()),
                ("client_id".to_owned(), tx_client_id(&tx)),
                ("state".to_owned(), SystemRandom.token(16)),
                (
                    "code_challenge".to_owned(),
                    avow_crypto::hash::sha256_b64(verifier.as_bytes()),
                ),
                ("code_challenge_method".to_owned(), "S256".to_owned()),
            ];
            let scope = iut
                .metadata
                .credential_configurations_supported
                .get(&configuration)
                .and_then(|c| c.scope.clone());
            match scope {
                Some(scope) => form.push(("scope".into(), scope)),
                None => form.push((
                    "authorization_details".into(),
                    json!([{ "type": "openid_credential", "credential_configuration_id": configuration }])
                        .to_string(),
                )),
            }
            let response = tx
                .send_dpop(
                    "pushed authorization request without redirect_uri",
                    Request::post(&endpoint, Body::Form(form)),
                    None,
                    &Auth::Good,
                )
                .await?;
            Ok(expect_error(name, &response, 400, &["invalid_request"], &[]))
        })
        .await,
    ]
}

// ---------------------------------------------------------------- CONF-OIDF-REFRESH

const NO_REFRESH: &str = "the token response has no refresh_token (the AS issues none here)";

/// A transaction holding the tokens of a fresh grant: the authorization-code
/// flow when the AS has one (refresh tokens usually come from it), else the
/// pre-authorized code. Returns the refresh token, if any.
async fn tokens_for_refresh<'a>(
    iut: &'a Iut,
    rec: &crate::transcript::Recorder,
    configuration: &str,
) -> Result<(Tx<'a>, Option<String>), ConformanceError> {
    let tx = if iut.supports_code_flow() {
        if iut.options.login_script.is_none() {
            return Err(ConformanceError::Config(NO_LOGIN_SCRIPT.into()));
        }
        redeemed_code(iut, rec, configuration).await?.0
    } else {
        iut.token_tx(rec, configuration).await?
    };
    let refresh_token = tx
        .token_response
        .as_ref()
        .and_then(|t| t.get("refresh_token"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((tx, refresh_token))
}

/// `grant_type=refresh_token` with the transaction's DPoP key and client authentication.
async fn refresh_request(
    tx: &mut Tx<'_>,
    label: &str,
    refresh_token: &str,
) -> Result<Response, ConformanceError> {
    let mut form = vec![
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), refresh_token.to_owned()),
    ];
    if let Some(id) = tx.client_id() {
        form.push(("client_id".into(), id.to_owned()));
    }
    let response = tx
        .send_dpop(label, token_request(tx, form), None, &Auth::Good)
        .await?;
    tx.keep_token(&response);
    Ok(response)
}

fn refresh_token_of(response: &Response) -> Option<String> {
    response
        .json()?
        .get("refresh_token")?
        .as_str()
        .map(str::to_owned)
}

/// CONF-OIDF-REFRESH: refresh with the bound key (works), another key
/// (refused) and a rotated token (refused, family revoked).
pub async fn refresh(iut: &Iut) -> Vec<Assertion> {
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("refresh token", e.to_string())],
    };
    let mut out = Vec::new();
    let name = "refresh with the bound DPoP key and client instance";
    let expected = "HTTP 200 with a new access token that is served at the credential endpoint";
    let c = configuration.clone();
    let first = probe(name, expected, |rec| async move {
        let (mut tx, refresh_token) = tokens_for_refresh(iut, &rec, &c).await?;
        let Some(refresh_token) = refresh_token else {
            return Ok(Assertion::not_applicable(name, NO_REFRESH));
        };
        let old = tx.access_token.clone();
        let response =
            refresh_request(&mut tx, "token request (refresh_token)", &refresh_token).await?;
        if response.status != 200 {
            return Ok(Assertion::fail(name, expected, response.describe()));
        }
        if tx.access_token.is_none() || tx.access_token == old {
            return Ok(Assertion::fail(
                name,
                expected,
                "HTTP 200 without a new access_token",
            ));
        }
        let (response, credential) = tx.issue(&SoftwareSigner::generate()?).await?;
        Ok(Assertion::check(
            credential.is_some(),
            name,
            expected,
            format!(
                "refresh HTTP 200; credential request {}",
                response.describe()
            ),
        ))
    })
    .await;
    // No refresh token here (not applicable) or no way to get one (skipped):
    // the attacks on it would say the same.
    let stop = matches!(first.status, Status::NotApplicable | Status::Skipped);
    out.push(first);
    if stop {
        return out;
    }

    let name = "refresh with another DPoP key";
    let c = configuration.clone();
    out.push(
        probe(name, "HTTP 400 invalid_grant", |rec| async move {
            let (mut tx, refresh_token) = tokens_for_refresh(iut, &rec, &c).await?;
            let Some(refresh_token) = refresh_token else {
                return Ok(Assertion::not_applicable(name, NO_REFRESH));
            };
            tx.dpop = SoftwareSigner::generate()?;
            let response = refresh_request(
                &mut tx,
                "token request (refresh_token), DPoP proof by another key",
                &refresh_token,
            )
            .await?;
            Ok(expect_error(
                name,
                &response,
                400,
                &["invalid_grant"],
                &["invalid_dpop_proof"],
            ))
        })
        .await,
    );

    let name = "reuse of a rotated refresh token";
    let expected = "HTTP 400 invalid_grant, and the newer refresh token of the family revoked (HTTP 400 invalid_grant)";
    let c = configuration;
    out.push(
        probe(name, expected, |rec| async move {
            let (mut tx, refresh_token) = tokens_for_refresh(iut, &rec, &c).await?;
            let Some(refresh_token) = refresh_token else {
                return Ok(Assertion::not_applicable(name, NO_REFRESH));
            };
            let rotated = refresh_request(&mut tx, "token request (refresh_token)", &refresh_token).await?;
            if rotated.status != 200 {
                return Ok(Assertion::fail(
                    name,
                    expected,
                    format!("the first refresh was not served: {}", rotated.describe()),
                ));
            }
            let newer = refresh_token_of(&rotated);
            let reuse = refresh_request(
                &mut tx,
                "token request (refresh_token), the rotated token again",
                &refresh_token,
            )
            .await?;
            let a = expect_error(name, &reuse, 400, &["invalid_grant"], &[]);
            if a.status != Status::Pass {
                return Ok(a);
            }
            let Some(newer) = newer else {
                return Ok(a.with_note(
                    "the refresh response had no new refresh_token (no rotation): the family check was not possible",
                ));
            };
            let family = refresh_request(
                &mut tx,
                "token request (refresh_token), the newer token after the reuse",
                &newer,
            )
            .await?;
            let ok = family.status == 400 && family.error_code().as_deref() == Some("invalid_grant");
            Ok(Assertion::check(
                ok,
                name,
                expected,
                format!(
                    "reuse {}; newer refresh token afterwards {}",
                    reuse.describe(),
                    family.describe()
                ),
            ))
        })
        .await,
    );
    out
}

// ---------------------------------------------------------------- CONF-OIDF-TOKEN-IN-QUERY

/// CONF-OIDF-TOKEN-IN-QUERY: `?access_token=` and no Authorization header.
pub async fn token_in_query(iut: &Iut) -> Vec<Assertion> {
    let name = "credential request with the access token in the query";
    let expected = "HTTP 401 with a WWW-Authenticate: DPoP challenge (no error code or invalid_token): unauthenticated, no credential";
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing(name, e.to_string())],
    };
    vec![
        probe(name, expected, |rec| async move {
            let tx = iut.token_tx(&rec, &configuration).await?;
            let token = tx.token()?;
            let body = credential_body(&tx, &SoftwareSigner::generate()?, false).await?;
            let endpoint = &iut.metadata.credential_endpoint;
            let separator = if endpoint.contains('?') { '&' } else { '?' };
            let url = format!(
                "{endpoint}{separator}access_token={}",
                avow_core::percent::encode(&token)
            );
            let shape = ProofShape {
                authorization_header: false,
                ..ProofShape::GOOD
            };
            let (response, _) = send_shaped(
                &tx,
                "credential request, access token in the query",
                Request::post(&url, Body::Json(body)),
                Some(&token),
                &Auth::None,
                shape,
            )
            .await?;
            let code = response.error_code();
            if response.status == 401
                && has_dpop_challenge(&response)
                && matches!(code.as_deref(), None | Some("invalid_token"))
            {
                return Ok(Assertion::pass(name, expected, response.describe()));
            }
            if (400..500).contains(&response.status) {
                return Ok(Assertion::warning(
                    name,
                    expected,
                    response.describe(),
                    "refused, but not as an unauthenticated DPoP request (ISS-DPOP-10)",
                ));
            }
            Ok(Assertion::fail(name, expected, response.describe()))
        })
        .await,
    ]
}

// ---------------------------------------------------------------- CONF-OIDF-CATT-*

/// Where client attestations are probed: PAR when there is one, else the
/// token endpoint with a fresh pre-authorized code.
fn attestation_target(iut: &Iut) -> Option<(bool, &'static str)> {
    if iut
        .authorization_server
        .pushed_authorization_request_endpoint
        .is_some()
    {
        return Some((true, "PAR"));
    }
    (iut.supports_pre_authorized() && iut.can_get_offer() && !iut.anonymous_pre_authorized())
        .then_some((false, "token (pre-authorized code)"))
}

/// Sends a PAR (or token request) whose WIA is what `wia` makes of the
/// transaction's good WIA and wallet instance key (the PoP stays good).
async fn with_faulty_wia<F, Fut>(iut: &Iut, name: &str, wia: F) -> Assertion
where
    F: FnOnce(String, EcPublicJwk) -> Fut,
    Fut: std::future::Future<Output = Result<String, ConformanceError>>,
{
    let Some((at_par, label)) = attestation_target(iut) else {
        return Iut::missing(
            name,
            "no PAR endpoint and no pre-authorized offer to probe client attestation with",
        );
    };
    let full = format!("{label}: {name}");
    probe(&full, "HTTP 401 invalid_client", |rec| {
        let full = full.clone();
        async move {
            let configuration = primary(iut)?;
            let mut tx = iut.tx(&rec, &configuration).await?;
            let (good, instance_key) = tx
                .attestation
                .as_ref()
                .map(|a| (a.wia.clone(), a.instance.public_jwk().clone()))
                .ok_or_else(|| ConformanceError::unexpected("the transaction has no WIA"))?;
            let faulty = wia(good, instance_key).await?;
            let url = if at_par {
                iut.authorization_server
                    .pushed_authorization_request_endpoint
                    .clone()
                    .unwrap_or_default()
            } else {
                iut.authorization_server.token_endpoint.clone()
            };
            let mut headers = tx.attestation_headers(&url, None).await?;
            for (k, v) in headers.iter_mut() {
                if k.eq_ignore_ascii_case(WIA_HEADER) {
                    v.clone_from(&faulty);
                }
            }
            let response = if at_par {
                tx.par(
                    AuthorizationAsk::Scope,
                    PkceMode::S256,
                    &Auth::Fixed(headers),
                    None,
                )
                .await?
                .0
            } else {
                let offer = iut.fresh_offer(&rec, &configuration, false).await?;
                let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
                tx.redeem_pre_authorized(
                    &code,
                    offer.tx_code.as_deref(),
                    Auth::Fixed(headers),
                    None,
                )
                .await?
            };
            Ok(expect_error(
                &full,
                &response,
                401,
                &["invalid_client"],
                &[],
            ))
        }
    })
    .await
}

fn attestation_not_used(iut: &Iut, name: &str) -> Option<Assertion> {
    (!iut.supports_attestation()).then(|| {
        Assertion::not_applicable(
            name,
            "token_endpoint_auth_methods_supported has no attest_jwt_client_auth",
        )
    })
}

/// CONF-OIDF-CATT-NO-SUB: a WIA without `sub`.
pub async fn wia_without_sub(iut: &Iut) -> Vec<Assertion> {
    let name = "WIA without sub";
    if let Some(a) = attestation_not_used(iut, name) {
        return vec![a];
    }
    vec![
        with_faulty_wia(iut, name, |_, instance_key| async move {
            let mut spec =
                WalletProviderPki::good_wia(&iut.options.client_id, &instance_key, now());
            spec.without_sub = true;
            iut.pki.issue_wia(&spec).await
        })
        .await,
    ]
}

/// CONF-OIDF-CATT-SIG: a good WIA whose signature is tampered with.
pub async fn wia_bad_signature(iut: &Iut) -> Vec<Assertion> {
    let name = "WIA with a tampered signature";
    if let Some(a) = attestation_not_used(iut, name) {
        return vec![a];
    }
    vec![
        with_faulty_wia(iut, name, |wia, _| async move {
            tamper_signature(&wia)
                .ok_or_else(|| ConformanceError::unexpected("the WIA is not a JWS"))
        })
        .await,
    ]
}

// ---------------------------------------------------------------- CONF-OIDF-KATT-SIG

/// CONF-OIDF-KATT-SIG: a key attestation whose signature is tampered with.
pub async fn wua_bad_signature(iut: &Iut) -> Vec<Assertion> {
    let name = "key attestation with a tampered signature";
    let configuration = jwt_wua_configuration(iut).or_else(|| {
        iut.metadata
            .credential_configurations_supported
            .keys()
            .find(|id| wua_path(iut, id).is_some())
            .cloned()
    });
    let Some(configuration) = configuration else {
        return vec![Assertion::not_applicable(
            name,
            "no credential configuration requires key attestations",
        )];
    };
    vec![
        probe(name, "HTTP 400 invalid_proof", |rec| async move {
            let tx = iut.token_tx(&rec, &configuration).await?;
            let body = credential_body(&tx, &SoftwareSigner::generate()?, true).await?;
            let response = tx
                .credential(
                    "credential request, key attestation signature tampered",
                    body,
                )
                .await?;
            Ok(
                expect_error(name, &response, 400, &["invalid_proof"], &[]).with_note(format!(
                    "{configuration}, proofs.{}",
                    if wua_path(iut, &configuration) == Some(true) {
                        "jwt + key_attestation"
                    } else {
                        "attestation"
                    }
                )),
            )
        })
        .await,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_drops_query_and_fragment() {
        assert_eq!(
            htu("https://a.example/credential?access_token=x"),
            "https://a.example/credential"
        );
        assert_eq!(htu("https://a.example/token#f"), "https://a.example/token");
        assert_eq!(htu("https://a.example/token"), "https://a.example/token");
    }

    #[test]
    fn tampered_signature_differs_and_stays_base64url() {
        let jws = format!("aGVhZA.cGF5bG9hZA.{}", avow_crypto::b64::encode([7u8; 64]));
        let tampered = tamper_signature(&jws).expect("tampered");
        assert_ne!(tampered, jws);
        let (input, signature) = tampered.rsplit_once('.').expect("three parts");
        assert_eq!(input, "aGVhZA.cGF5bG9hZA");
        assert_eq!(avow_crypto::b64::decode(signature).expect("b64").len(), 64);
        assert!(tamper_signature("no-dots").is_none());
    }
}
