//! The OpenID conformance modules of `oid4vci-1_0-issuer-haip-test-plan`
//! (`CONF-OIDF-*`): each module is the catalogue checks it shares probes
//! with ([`catalogue::module_covers`]) plus probes of its own — the
//! metadata, signed-metadata, additional-request, multiple-client,
//! skip-notification and batch-privacy probes here, the authorization
//! server attacks in [`super::oidf_as`].

use super::attestations::{self, bound_key, credentials, issue_attested};
use super::{Auth, AuthorizationAsk, Iut, PkceMode, Tx, now, probe};
use crate::catalogue::{self, CheckDef};
use crate::error::ConformanceError;
use crate::http::{Request, Response};
use crate::report::{Assertion, CheckResult, SkipKind, Status, Verdict};
use avow_crypto::{AlgorithmAllowList, CompactJws, SoftwareSigner};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Runs a module: its covered checks (reusing their results when they ran
/// already), then its own probes.
pub async fn run(iut: &Iut, def: &CheckDef, done: &[CheckResult]) -> Vec<Assertion> {
    let mut out = Vec::new();
    for covered in catalogue::module_covers(def.id) {
        out.push(covered_check(iut, covered, done).await);
    }
    out.extend(match def.id {
        "CONF-OIDF-META" => metadata(iut),
        "CONF-OIDF-SIGNED-META" => signed_metadata(iut).await,
        "CONF-OIDF-ADDITIONAL" => additional_requests(iut).await,
        "CONF-OIDF-MULTI-CLIENT" => multiple_clients(iut).await,
        "CONF-OIDF-SKIP-NOTIF" => skip_notification(iut).await,
        "CONF-OIDF-BATCH" => batch_privacy(iut).await,
        "CONF-OIDF-KATT-SIG" => super::oidf_as::wua_bad_signature(iut).await,
        "CONF-OIDF-CATT-SIG" => super::oidf_as::wia_bad_signature(iut).await,
        "CONF-OIDF-CATT-NO-SUB" => super::oidf_as::wia_without_sub(iut).await,
        "CONF-OIDF-TOKEN-IN-QUERY" => super::oidf_as::token_in_query(iut).await,
        "CONF-OIDF-DPOP-IAT" => super::oidf_as::dpop_iat_window(iut).await,
        "CONF-OIDF-DPOP-JTI" => super::oidf_as::dpop_jti_reuse(iut).await,
        "CONF-OIDF-DPOP-BINDING" => super::oidf_as::dpop_key_binding(iut).await,
        "CONF-OIDF-CODE-REUSE" => super::oidf_as::code_reuse(iut).await,
        "CONF-OIDF-CODE-EXPIRED" => super::oidf_as::code_expired(iut).await,
        "CONF-OIDF-PAR-REUSE" => super::oidf_as::par_reuse(iut).await,
        "CONF-OIDF-PAR-EXPIRED" => super::oidf_as::par_expired(iut).await,
        "CONF-OIDF-PAR-CLIENT" => super::oidf_as::par_client_binding(iut).await,
        "CONF-OIDF-REDIRECT-URI" => super::oidf_as::redirect_uri_required(iut).await,
        "CONF-OIDF-REFRESH" => super::oidf_as::refresh(iut).await,
        _ => Vec::new(),
    });
    out
}

/// The verdict of a covered catalogue check as one assertion of the module.
async fn covered_check(iut: &Iut, id: &str, done: &[CheckResult]) -> Assertion {
    let name = format!("covered: {id}");
    let verdict = match done.iter().find(|r| r.id == id) {
        Some(r) => r.verdict.clone(),
        None => match catalogue::find(id) {
            Some(def) => Verdict::of(&Box::pin(crate::runner::run_one(iut, def, done)).await),
            None => {
                return Assertion::fail(&name, "a catalogue check", "no such check");
            }
        },
    };
    let reason = verdict.reason.clone().unwrap_or_default();
    match verdict.status {
        Status::Pass => Assertion::pass(&name, "pass", "pass"),
        Status::Fail => Assertion::fail(&name, "pass", reason),
        Status::Warning => Assertion::warning(&name, "pass", "warning", &reason),
        Status::NotApplicable => Assertion::not_applicable(&name, reason),
        Status::Skipped => Assertion::skipped(
            &name,
            verdict.skip.unwrap_or(SkipKind::MissingInput),
            reason,
        ),
    }
}

// ---------------------------------------------------------------- metadata

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn array_has(v: &Value, pointer: &str, want: &str) -> bool {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(want)))
}

/// VCIIssuerMetadataTest: the members a HAIP issuer and its AS must publish.
fn metadata(iut: &Iut) -> Vec<Assertion> {
    let md = &iut.metadata_json;
    let asmd = &iut.authorization_server_json;
    let mut out = vec![Assertion::check(
        str_at(md, "/credential_issuer") == Some(iut.options.credential_issuer.as_str()),
        "credential_issuer",
        "equals the identifier the metadata was fetched for (VCI §12.2.2)",
        str_at(md, "/credential_issuer").unwrap_or("absent"),
    )];
    out.push(Assertion::check(
        str_at(md, "/credential_endpoint").is_some(),
        "credential_endpoint",
        "present (VCI §12.2.4)",
        str_at(md, "/credential_endpoint").unwrap_or("absent"),
    ));
    let configurations = md
        .get("credential_configurations_supported")
        .and_then(Value::as_object);
    let mut problems = Vec::new();
    let mut binds = false;
    for (id, c) in configurations.into_iter().flatten() {
        let format = str_at(c, "/format").unwrap_or_default();
        match format {
            "" => problems.push(format!("{id}: no format")),
            "dc+sd-jwt" if str_at(c, "/vct").is_none() => problems.push(format!("{id}: no vct")),
            "mso_mdoc" if str_at(c, "/doctype").is_none() => {
                problems.push(format!("{id}: no doctype"));
            }
            _ => {}
        }
        if c.get("cryptographic_binding_methods_supported").is_some() {
            binds = true;
            match c.get("proof_types_supported").and_then(Value::as_object) {
                Some(types) if !types.is_empty() => {
                    for (t, p) in types {
                        if p.get("proof_signing_alg_values_supported")
                            .and_then(Value::as_array)
                            .is_none_or(Vec::is_empty)
                        {
                            problems.push(format!(
                                "{id}: {t} without proof_signing_alg_values_supported"
                            ));
                        }
                    }
                }
                _ => problems.push(format!("{id}: binds keys but has no proof_types_supported")),
            }
        }
    }
    if configurations.is_none_or(|c| c.is_empty()) {
        problems.push("no credential_configurations_supported".into());
    }
    out.push(Assertion::check(
        problems.is_empty(),
        "credential_configurations_supported",
        "each with format (+ vct / doctype); binding configurations with proof_types_supported and their algorithms (VCI §12.2.4)",
        if problems.is_empty() {
            "as expected".into()
        } else {
            problems.join("; ")
        },
    ));
    out.push(Assertion::check(
        !binds || str_at(md, "/nonce_endpoint").is_some(),
        "nonce_endpoint",
        "present when a configuration binds keys (VCI §7; HAIP §4.1)",
        str_at(md, "/nonce_endpoint").unwrap_or("absent"),
    ));
    out.push(Assertion::check(
        str_at(asmd, "/issuer") == Some(iut.authorization_server.issuer.as_str())
            && str_at(asmd, "/token_endpoint").is_some(),
        "AS issuer and token_endpoint",
        "the AS metadata names the AS it was fetched for and a token_endpoint (RFC 8414 §2, §3.3)",
        format!(
            "issuer {:?}, token_endpoint {:?}",
            str_at(asmd, "/issuer"),
            str_at(asmd, "/token_endpoint")
        ),
    ));
    out.push(Assertion::check(
        array_has(asmd, "/dpop_signing_alg_values_supported", "ES256"),
        "dpop_signing_alg_values_supported",
        "contains ES256 (HAIP §4; RFC 9449 §5.1)",
        format!("{:?}", asmd.get("dpop_signing_alg_values_supported")),
    ));
    if iut.supports_code_flow() {
        let par = str_at(asmd, "/pushed_authorization_request_endpoint").is_some()
            && asmd.get("require_pushed_authorization_requests") == Some(&Value::Bool(true));
        out.push(Assertion::check(
            par,
            "PAR required",
            "pushed_authorization_request_endpoint and require_pushed_authorization_requests: true (HAIP §4; FAPI 2.0 SP §5.3.2.2)",
            format!(
                "endpoint {:?}, required {:?}",
                str_at(asmd, "/pushed_authorization_request_endpoint"),
                asmd.get("require_pushed_authorization_requests")
            ),
        ));
        out.push(Assertion::check(
            array_has(asmd, "/response_types_supported", "code"),
            "response_types_supported",
            "contains code (RFC 8414 §2)",
            format!("{:?}", asmd.get("response_types_supported")),
        ));
        out.push(Assertion::check(
            asmd.get("authorization_response_iss_parameter_supported") == Some(&Value::Bool(true)),
            "authorization_response_iss_parameter_supported",
            "true (RFC 9207 §3; FAPI 2.0 SP §5.3.2.2)",
            format!(
                "{:?}",
                asmd.get("authorization_response_iss_parameter_supported")
            ),
        ));
        let needs_details = configurations
            .into_iter()
            .flatten()
            .any(|(_, c)| c.get("scope").is_none());
        out.push(Assertion::check(
            !needs_details
                || array_has(
                    asmd,
                    "/authorization_details_types_supported",
                    "openid_credential",
                ),
            "authorization_details_types_supported",
            "contains openid_credential when a configuration has no scope (VCI §12.2.4)",
            format!("{:?}", asmd.get("authorization_details_types_supported")),
        ));
    }
    out
}

/// VCIIssuerMetadataSignedTest: `Accept: application/jwt` (VCI §12.2.2).
async fn signed_metadata(iut: &Iut) -> Vec<Assertion> {
    let name = "signed metadata";
    let expected = "a JWT with typ openidvci-issuer-metadata+jwt, x5c to the issuer CA (anchor not included), sub = credential_issuer, iat, exp, and every plain metadata member";
    vec![
        probe(name, expected, |rec| async move {
            let url = well_known(&iut.options.credential_issuer);
            let response = iut
                .send(
                    &rec,
                    "issuer metadata, Accept: application/jwt",
                    Request::get(&url).header("Accept", "application/jwt"),
                )
                .await?;
            let is_jwt = response
                .content_type()
                .is_some_and(|c| c.starts_with("application/jwt"));
            if response.status == 200 && !is_jwt {
                return Ok(Assertion::not_applicable(
                    name,
                    "the issuer serves no signed metadata (Accept: application/jwt answered plain JSON)",
                ));
            }
            if response.status != 200 {
                return Ok(Assertion::fail(name, expected, response.describe()));
            }
            Ok(judge_signed_metadata(iut, &response, expected))
        })
        .await,
        issuer_info(iut),
    ]
}

fn well_known(issuer: &str) -> String {
    match reqwest::Url::parse(issuer) {
        Ok(u) if u.path() != "/" && !u.path().is_empty() => format!(
            "{}/.well-known/openid-credential-issuer{}",
            u.origin().ascii_serialization(),
            u.path().trim_end_matches('/')
        ),
        _ => format!(
            "{}/.well-known/openid-credential-issuer",
            issuer.trim_end_matches('/')
        ),
    }
}

fn judge_signed_metadata(iut: &Iut, response: &Response, expected: &str) -> Assertion {
    let name = "signed metadata";
    let text = response.text();
    let Ok(jws) = CompactJws::parse(text.trim()) else {
        return Assertion::fail(name, expected, "not a compact JWS");
    };
    let mut problems = Vec::new();
    if jws.header_str("typ") != Some("openidvci-issuer-metadata+jwt") {
        problems.push(format!("typ {:?}", jws.header_str("typ")));
    }
    match jws.x5c() {
        None => problems.push("no x5c".into()),
        Some(Err(e)) => problems.push(format!("x5c: {e}")),
        Some(Ok(chain)) => {
            if iut
                .options
                .issuer_trust_anchors
                .iter()
                .any(|(_, der)| chain.contains(der))
            {
                problems.push("x5c includes the trust anchor".into());
            }
            if iut.anchors.is_empty() {
                problems.push("no --issuer-ca to validate x5c against".into());
            } else {
                match iut.anchors.validate_chain(&chain, now()) {
                    Ok(key) => {
                        if jws.verify(&key, &AlgorithmAllowList::es256()).is_err() {
                            problems.push("the signature does not verify with the x5c leaf".into());
                        }
                    }
                    Err(e) => problems.push(format!("x5c does not chain to the issuer CA: {e}")),
                }
            }
        }
    }
    match serde_json::from_slice::<Value>(jws.payload()) {
        Ok(claims) => {
            if claims.get("sub").and_then(Value::as_str)
                != Some(iut.options.credential_issuer.as_str())
            {
                problems.push("sub ≠ credential_issuer".into());
            }
            if claims.get("iat").and_then(Value::as_i64).is_none() {
                problems.push("no iat".into());
            }
            match claims.get("exp").and_then(Value::as_i64) {
                Some(exp) if exp > now() => {}
                Some(_) => problems.push("expired".into()),
                None => problems.push("no exp".into()),
            }
            for (k, v) in iut.metadata_json.as_object().into_iter().flatten() {
                if claims.get(k) != Some(v) {
                    problems.push(format!("{k} differs from the plain metadata"));
                }
            }
        }
        Err(_) => problems.push("the payload is not JSON".into()),
    }
    if iut.anchors.is_empty() && problems.len() == 1 {
        return Iut::missing(name, "no --issuer-ca: the x5c chain cannot be validated");
    }
    Assertion::check(
        problems.is_empty(),
        name,
        expected,
        if problems.is_empty() {
            "as expected".into()
        } else {
            problems.join("; ")
        },
    )
}

/// ETSI `issuer_info`, when present: an array of `{format, data}` (ISS-SMETA-05).
fn issuer_info(iut: &Iut) -> Assertion {
    let name = "issuer_info";
    let Some(info) = iut.metadata_json.get("issuer_info") else {
        return Assertion::not_applicable(
            name,
            "the metadata has no issuer_info (ETSI TS 119 472-3)",
        );
    };
    let ok = info.as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter().all(|e| {
                e.get("format").and_then(Value::as_str).is_some() && e.get("data").is_some()
            })
    });
    Assertion::check(
        ok,
        name,
        "a non-empty array of {format, data} (ETSI TS 119 472-3)",
        if ok {
            "as expected".to_owned()
        } else {
            format!("{info}").chars().take(200).collect()
        },
    )
}

// ---------------------------------------------------------------- flows

fn primary(iut: &Iut) -> Result<String, ConformanceError> {
    iut.primary_configuration().ok_or_else(|| {
        ConformanceError::Config("no SD-JWT VC configuration to use (--configuration)".into())
    })
}

/// VCIIssuerHappyFlowAdditionalRequests: one token, two credential requests.
async fn additional_requests(iut: &Iut) -> Vec<Assertion> {
    let name = "two credential requests with one access token";
    let expected = "HTTP 200 twice, each credential bound to its own new key";
    vec![
        probe(name, expected, |rec| async move {
            let configuration = primary(iut)?;
            let tx = iut.token_tx(&rec, &configuration).await?;
            let mut observed = Vec::new();
            let mut ok = true;
            for _ in 0..2 {
                let holder = SoftwareSigner::generate()?;
                let (response, credential) = tx.issue(&holder).await?;
                let bound = credential
                    .as_deref()
                    .and_then(super::proofs::holder_key_of)
                    .is_some_and(|k| &k == avow_crypto::Signer::public_jwk(&holder));
                ok &= bound;
                observed.push(format!(
                    "{} ({})",
                    response.status,
                    if bound {
                        "bound to the new key"
                    } else {
                        "not bound to the new key"
                    }
                ));
            }
            Ok(Assertion::check(ok, name, expected, observed.join(", ")))
        })
        .await,
    ]
}

/// VCIIssuerHappyFlowMultipleClients.
async fn multiple_clients(iut: &Iut) -> Vec<Assertion> {
    if !iut.supports_code_flow() {
        return vec![Assertion::not_applicable(
            "multiple clients",
            "the AS metadata has no authorization_endpoint (no authorization-code flow)",
        )];
    }
    if !iut.supports_attestation() {
        return vec![Assertion::not_applicable(
            "multiple clients",
            "the AS does not use client attestation (the runner has one client)",
        )];
    }
    let second = format!(
        "{}/second-client",
        iut.options.client_id.trim_end_matches('/')
    );
    let mut out = Vec::new();
    for client in [iut.options.client_id.clone(), second.clone()] {
        let name = format!("client {client}: authorization code flow");
        let expected = "HTTP 200 credential";
        out.push(
            probe(&name, expected, |rec| {
                let name = name.clone();
                let client = client.clone();
                async move {
                    let configuration = primary(iut)?;
                    let mut tx = iut.tx_as(&rec, &configuration, &client).await?;
                    let grant = tx
                        .authorize(AuthorizationAsk::Scope, PkceMode::S256)
                        .await?;
                    let response = tx
                        .redeem_code(&grant, Some(&grant.verifier), Auth::Good)
                        .await?;
                    if response.status != 200 {
                        return Ok(Assertion::fail(&name, expected, response.describe()));
                    }
                    let (response, credential) = tx.issue(&SoftwareSigner::generate()?).await?;
                    Ok(Assertion::check(
                        credential.is_some(),
                        &name,
                        expected,
                        response.describe(),
                    ))
                }
            })
            .await,
        );
    }
    let name = "a code redeemed by another client";
    let expected = "HTTP 400 invalid_grant";
    out.push(
        probe(name, expected, |rec| async move {
            let configuration = primary(iut)?;
            let first = iut.tx(&rec, &configuration).await?;
            let grant = first
                .authorize(AuthorizationAsk::Scope, PkceMode::S256)
                .await?;
            let mut other = iut.tx_as(&rec, &configuration, &second).await?;
            let response = other
                .redeem_code(&grant, Some(&grant.verifier), Auth::Good)
                .await?;
            Ok(super::expect_error(
                name,
                &response,
                400,
                &["invalid_grant"],
                &["invalid_client"],
            ))
        })
        .await,
    );
    out
}

/// VCIIssuerHappyFlowWithSkipNotification: the wallet never notifies.
async fn skip_notification(iut: &Iut) -> Vec<Assertion> {
    let name = "issuances without notifications";
    let expected = "HTTP 200 for each of two issuances that are never notified";
    vec![
        probe(name, expected, |rec| async move {
            let configuration = primary(iut)?;
            let mut statuses = Vec::new();
            for _ in 0..2 {
                let tx = iut.token_tx(&rec, &configuration).await?;
                let (response, _) = tx.issue(&SoftwareSigner::generate()?).await?;
                statuses.push(response.status);
            }
            Ok(Assertion::check(
                statuses.iter().all(|s| *s == 200),
                name,
                expected,
                format!("{statuses:?}"),
            ))
        })
        .await,
    ]
}

// ---------------------------------------------------------------- batch privacy

/// What one batch credential shows of itself.
struct BatchView {
    key: Option<String>,
    salts: Vec<String>,
    data: BTreeSet<String>,
    status: Option<(u64, String)>,
    iat: Option<i64>,
    exp: Option<i64>,
}

fn view(credential: &str) -> Option<BatchView> {
    let sd = avow_formats::sd_jwt_vc::peek(credential).ok()?;
    let payload = sd.unverified_payload().ok()?;
    let status = payload
        .get("status")
        .and_then(|s| s.get("status_list"))
        .and_then(|l| Some((l.get("idx")?.as_u64()?, l.get("uri")?.as_str()?.to_owned())));
    Some(BatchView {
        key: bound_key(credential, false).map(|k| k.thumbprint()),
        salts: sd
            .disclosures()
            .iter()
            .map(|d| d.salt().to_owned())
            .collect(),
        data: sd
            .disclosures()
            .iter()
            .map(|d| format!("{:?}={}", d.name(), without_digests(d.value())))
            .collect(),
        status,
        iat: payload.get("iat").and_then(Value::as_i64),
        exp: payload.get("exp").and_then(Value::as_i64),
    })
}

/// A disclosed value without the digests of nested disclosures (`_sd`,
/// `{"...": digest}`), which differ between credentials by design.
fn without_digests(value: &Value) -> Value {
    match value {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "_sd")
                .map(|(k, v)| (k.clone(), without_digests(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| match v {
                    Value::Object(o) if o.contains_key("...") => Value::String("...".into()),
                    other => without_digests(other),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Proofs for `holders` on the configuration's proof path, one request.
async fn issue_batch(
    iut: &Iut,
    tx: &Tx<'_>,
    configuration: &str,
    n: usize,
) -> Result<(Response, Vec<SoftwareSigner>), ConformanceError> {
    if let Some(via_jwt) = attestations::wua_path(iut, configuration) {
        return issue_attested(iut, tx, configuration, n, via_jwt).await;
    }
    let holders: Vec<SoftwareSigner> = (0..n)
        .map(|_| SoftwareSigner::generate().map_err(ConformanceError::from))
        .collect::<Result<_, _>>()?;
    let nonce = tx.c_nonce().await?;
    let mut proofs = Vec::new();
    for h in &holders {
        proofs.push(Value::String(tx.proof(h, &nonce).await?));
    }
    let response = tx
        .credential(
            "batch credential request",
            tx.request_body(json!({ "jwt": proofs })),
        )
        .await?;
    Ok((response, holders))
}

/// VCIIssuerBatchIssuance (ISS-BATCH-02, -03).
async fn batch_privacy(iut: &Iut) -> Vec<Assertion> {
    let n = attestations::batch_size(iut).min(3);
    if n < 2 {
        return vec![Assertion::not_applicable(
            "batch privacy",
            "the issuer metadata has no batch_credential_issuance with batch_size ≥ 2",
        )];
    }
    let name = format!("batch of {n}");
    let expected = format!(
        "{n} credentials with the same data, bound to the {n} proven keys, with distinct salts and status entries and independently randomized iat/exp"
    );
    vec![
        probe(&name, &expected, |rec| {
            let name = name.clone();
            let expected = expected.clone();
            async move {
                let configuration = primary(iut)?;
                let tx = iut.token_tx(&rec, &configuration).await?;
                let (response, holders) = issue_batch(iut, &tx, &configuration, n).await?;
                let issued = credentials(&response);
                if issued.len() != n {
                    return Ok(Assertion::fail(&name, &expected, response.describe()));
                }
                let views: Vec<BatchView> = issued.iter().filter_map(|c| view(c)).collect();
                if views.len() != n {
                    return Ok(Assertion::fail(
                        &name,
                        &expected,
                        "not every credential is an SD-JWT VC",
                    ));
                }
                Ok(judge_batch(&name, &expected, &views, &holders))
            }
        })
        .await,
    ]
}

fn judge_batch(
    name: &str,
    expected: &str,
    views: &[BatchView],
    holders: &[SoftwareSigner],
) -> Assertion {
    let mut problems = Vec::new();
    let proven: BTreeSet<String> = holders
        .iter()
        .map(|h| avow_crypto::Signer::public_jwk(h).thumbprint())
        .collect();
    let keys: BTreeSet<String> = views.iter().filter_map(|v| v.key.clone()).collect();
    if keys != proven {
        problems.push("the bound keys are not exactly the proven keys".to_owned());
    }
    let mut salts = BTreeSet::new();
    let all_salts: Vec<&String> = views.iter().flat_map(|v| &v.salts).collect();
    for s in &all_salts {
        if !salts.insert(*s) {
            problems.push("a disclosure salt repeats across the batch".into());
            break;
        }
    }
    if views.windows(2).any(|w| match w {
        [a, b] => a.data != b.data,
        _ => false,
    }) {
        problems.push("the credentials do not carry the same data".into());
    }
    let statuses: Vec<&(u64, String)> = views.iter().filter_map(|v| v.status.as_ref()).collect();
    let distinct_status: BTreeSet<&(u64, String)> = statuses.iter().copied().collect();
    if distinct_status.len() != statuses.len() {
        problems.push("two credentials share a status list entry".into());
    }
    let iats: BTreeSet<Option<i64>> = views.iter().map(|v| v.iat).collect();
    let exps: BTreeSet<Option<i64>> = views.iter().map(|v| v.exp).collect();
    let has_times = views.iter().any(|v| v.iat.is_some() || v.exp.is_some());
    if has_times && iats.len() == 1 && exps.len() == 1 {
        problems.push("every credential has the same iat and exp (linkable)".into());
    }
    Assertion::check(
        problems.is_empty(),
        name,
        expected,
        if problems.is_empty() {
            format!(
                "{} credentials; {} status entries; {} distinct iat values",
                views.len(),
                statuses.len(),
                iats.len()
            )
        } else {
            problems.join("; ")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_view(key: &str, salts: &[&str], idx: u64, iat: i64) -> BatchView {
        BatchView {
            key: Some(key.to_owned()),
            salts: salts.iter().map(|s| (*s).to_owned()).collect(),
            data: ["given_name=\"Erika\"".to_owned()].into_iter().collect(),
            status: Some((idx, "https://issuer.example/status-lists/1".to_owned())),
            iat: Some(iat),
            exp: Some(iat + 3600),
        }
    }

    fn keys(n: usize) -> Vec<SoftwareSigner> {
        (0..n)
            .map(|_| SoftwareSigner::generate().expect("key"))
            .collect()
    }

    fn thumb(k: &SoftwareSigner) -> String {
        avow_crypto::Signer::public_jwk(k).thumbprint()
    }

    #[test]
    fn a_private_batch_passes_and_each_linkable_trait_fails() {
        let holders = keys(2);
        let (a, b) = (thumb(&holders[0]), thumb(&holders[1]));
        let good = [
            batch_view(&a, &["s1", "s2"], 7, 1000),
            batch_view(&b, &["s3", "s4"], 9, 1200),
        ];
        assert_eq!(judge_batch("b", "e", &good, &holders).status, Status::Pass);
        let cases = [
            (
                "same salt",
                [
                    batch_view(&a, &["s1"], 7, 1000),
                    batch_view(&b, &["s1"], 9, 1200),
                ],
            ),
            (
                "same status entry",
                [
                    batch_view(&a, &["s1"], 7, 1000),
                    batch_view(&b, &["s2"], 7, 1200),
                ],
            ),
            (
                "same times",
                [
                    batch_view(&a, &["s1"], 7, 1000),
                    batch_view(&b, &["s2"], 9, 1000),
                ],
            ),
            (
                "one key twice",
                [
                    batch_view(&a, &["s1"], 7, 1000),
                    batch_view(&a, &["s2"], 9, 1200),
                ],
            ),
        ];
        for (label, views) in cases {
            assert_eq!(
                judge_batch("b", "e", &views, &holders).status,
                Status::Fail,
                "{label}"
            );
        }
        let mut other_data = [
            batch_view(&a, &["s1"], 7, 1000),
            batch_view(&b, &["s2"], 9, 1200),
        ];
        other_data[1].data = ["given_name=\"Max\"".to_owned()].into_iter().collect();
        assert_eq!(
            judge_batch("b", "e", &other_data, &holders).status,
            Status::Fail
        );
    }

    #[test]
    fn nested_disclosure_digests_do_not_count_as_data() {
        let a = json!({"street": "x", "_sd": ["d1"], "list": [{"...": "d2"}, 1]});
        let b = json!({"street": "x", "_sd": ["d9"], "list": [{"...": "d8"}, 1]});
        assert_eq!(without_digests(&a), without_digests(&b));
        assert_ne!(
            without_digests(&a),
            without_digests(&json!({"street": "y"}))
        );
    }

    #[test]
    fn the_well_known_url_is_path_inserted() {
        assert_eq!(
            well_known("https://issuer.example"),
            "https://issuer.example/.well-known/openid-credential-issuer"
        );
        assert_eq!(
            well_known("https://issuer.example/tenant/"),
            "https://issuer.example/.well-known/openid-credential-issuer/tenant"
        );
    }
}
