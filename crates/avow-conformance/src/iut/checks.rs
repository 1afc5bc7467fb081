//! Checks of the offer, the authorization server and the token endpoint
//! (VCI-CHECK-01 … -05, -03A, -09, -10 metadata), IUT mode.

use super::{AttestationFault, Auth, AuthorizationAsk, Iut, Offer, PkceMode, expect_error, probe};
use crate::error::ConformanceError;
use crate::http::{param, query_params};
use crate::report::Assertion;
use crate::transcript::Recorder;
use avow_core::offer::PRE_AUTHORIZED_CODE_GRANT;
use serde_json::{Value, json};

const NO_CONFIGURATION: &str =
    "the issuer metadata has no SD-JWT VC configuration (pass --configuration)";

impl Iut {
    /// Offers to examine: a fresh one from the admin API (with or without a
    /// tx_code), else every given offer (resolving does not consume them).
    pub async fn sample_offers(
        &self,
        rec: &Recorder,
        with_tx_code: bool,
    ) -> Result<Vec<Offer>, ConformanceError> {
        if self.options.admin.is_some() {
            let configuration = self
                .primary_configuration()
                .ok_or_else(|| ConformanceError::Config(NO_CONFIGURATION.into()))?;
            return Ok(vec![
                self.fresh_offer(rec, &configuration, with_tx_code).await?,
            ]);
        }
        let mut out = Vec::new();
        for link in &self.options.offers {
            let json = self.resolve_offer(rec, link).await?;
            out.push(Offer {
                link: link.clone(),
                links: vec![link.clone()],
                json,
                tx_code: None,
                created: false,
            });
        }
        if out.is_empty() {
            return Err(ConformanceError::Config(
                "no credential offer to examine: pass --offer links or --admin-url/--admin-token"
                    .into(),
            ));
        }
        Ok(out)
    }
}

fn primary(iut: &Iut) -> Result<String, ConformanceError> {
    iut.primary_configuration()
        .ok_or_else(|| ConformanceError::Config(NO_CONFIGURATION.into()))
}

async fn with_offers<F>(iut: &Iut, name: &str, with_tx_code: bool, each: F) -> Vec<Assertion>
where
    F: Fn(&Offer) -> Vec<Assertion>,
{
    let rec = Recorder::new();
    match iut.sample_offers(&rec, with_tx_code).await {
        Ok(offers) => {
            let mut out: Vec<Assertion> = offers.iter().flat_map(&each).collect();
            if let Some(first) = out.first_mut() {
                first.exchanges.extend(rec.take());
            }
            out
        }
        Err(ConformanceError::Config(reason)) => {
            vec![Iut::missing(name, reason).with_exchanges(rec.take())]
        }
        Err(e) => vec![
            Assertion::fail(name, "an offer", format!("could not obtain an offer: {e}"))
                .with_exchanges(rec.take()),
        ],
    }
}

// ================================================================ VCI-CHECK-01

/// CONF-C01-01: one of credential_offer / credential_offer_uri, scheme of C-03.
pub async fn c01_01(iut: &Iut) -> Vec<Assertion> {
    with_offers(iut, "offer link", false, |offer| {
        offer
            .links
            .iter()
            .map(|link| {
                let scheme = link.split("://").next().unwrap_or("").to_owned();
                let params = query_params(link);
                let by_value = params.iter().filter(|(k, _)| k == "credential_offer").count();
                let by_reference = params.iter().filter(|(k, _)| k == "credential_offer_uri").count();
                let name = format!(
                    "{scheme}:// link {}",
                    if by_value > 0 { "by value" } else { "by reference" }
                );
                let expected = "exactly one of credential_offer / credential_offer_uri; scheme openid-credential-offer, haip-vci, eu-eaa-offer (or https)";
                let observed = format!("scheme {scheme}, credential_offer ×{by_value}, credential_offer_uri ×{by_reference}");
                if by_value + by_reference != 1 {
                    return Assertion::fail(&name, expected, observed);
                }
                match scheme.as_str() {
                    "openid-credential-offer" | "haip-vci" | "eu-eaa-offer" => Assertion::pass(&name, expected, observed),
                    "https" => Assertion::pass(&name, expected, observed).with_note("an https link (universal link) is allowed by VCI §4.1"),
                    "haip" => Assertion::warning(&name, expected, observed, "haip:// is the legacy scheme of the 2023 HAIP draft (C-03)"),
                    _ => Assertion::fail(&name, expected, observed),
                }
            })
            .collect()
    })
    .await
}

/// CONF-C01-02: the by-reference fetch.
pub async fn c01_02(iut: &Iut) -> Vec<Assertion> {
    let rec = Recorder::new();
    let offers = match iut.sample_offers(&rec, false).await {
        Ok(o) => o,
        Err(ConformanceError::Config(r)) => return vec![Iut::missing("credential_offer_uri", r)],
        Err(e) => {
            return vec![
                Assertion::fail("credential_offer_uri", "an offer", e.to_string())
                    .with_exchanges(rec.take()),
            ];
        }
    };
    let _ = rec.take();
    let mut out = Vec::new();
    for offer in &offers {
        for link in &offer.links {
            let params = query_params(link);
            let Some(uri) = param(&params, "credential_offer_uri") else {
                continue;
            };
            let name = format!(
                "credential_offer_uri of a {}:// link",
                link.split("://").next().unwrap_or("")
            );
            let uri = uri.to_owned();
            let label = name.clone();
            out.push(
                probe(&label, "https, 200 application/json, a valid offer", |rec| async move {
                    let https = uri.starts_with("https://");
                    let mut note = None;
                    if !https {
                        if iut.http.allows_http_loopback() && iut.http.check_url(&uri).is_ok() {
                            note = Some("plain http on loopback, accepted only in development (--allow-http-loopback)");
                        } else {
                            return Ok(Assertion::fail(&name, "an https URL", "not https"));
                        }
                    }
                    let response = iut
                        .send(&rec, "GET credential_offer_uri", crate::http::Request::get(&uri).header("Accept", "application/json").secret_path())
                        .await?;
                    let parsed = avow_core::offer::parse_offer_json(&response.body)
                        .map_err(|e| e.to_string())
                        .and_then(|o| o.validate(iut.http.allows_http_loopback()).map_err(|e| e.to_string()));
                    let ok = response.status == 200 && response.content_type() == Some("application/json") && parsed.is_ok();
                    let observed = format!(
                        "HTTP {}, Content-Type {}, offer {}",
                        response.status,
                        response.content_type().unwrap_or("-"),
                        parsed.err().unwrap_or_else(|| "valid".into())
                    );
                    let a = Assertion::check(ok, &name, "200 application/json with a valid offer object", observed);
                    Ok(match note {
                        Some(n) => a.with_note(n),
                        None => a,
                    })
                })
                .await,
            );
        }
    }
    if out.is_empty() {
        out.push(Assertion::not_applicable(
            "credential_offer_uri",
            "every offer examined was passed by value",
        ));
    }
    out
}

/// CONF-C01-03: the offer matches the metadata.
pub async fn c01_03(iut: &Iut) -> Vec<Assertion> {
    let issuer = iut.metadata.credential_issuer.clone();
    let known: Vec<String> = iut
        .metadata
        .credential_configurations_supported
        .keys()
        .cloned()
        .collect();
    with_offers(iut, "offer vs metadata", false, move |offer| {
        let offered_issuer = offer
            .json
            .get("credential_issuer")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let ids = offer.configuration_ids();
        let unknown: Vec<&String> = ids.iter().filter(|id| !known.contains(id)).collect();
        vec![
            Assertion::check(
                offered_issuer == issuer,
                "credential_issuer",
                &format!("the metadata's credential_issuer {issuer}"),
                offered_issuer.clone(),
            ),
            Assertion::check(
                !ids.is_empty() && unknown.is_empty(),
                "credential_configuration_ids",
                "a non-empty list of keys of credential_configurations_supported",
                if ids.is_empty() {
                    "none".to_owned()
                } else if unknown.is_empty() {
                    format!("{ids:?}")
                } else {
                    format!("unknown ids {unknown:?}")
                },
            ),
        ]
    })
    .await
}

fn grant_checks(offer: &Value, authorization_servers: &[String]) -> Vec<Assertion> {
    let mut out = Vec::new();
    let Some(grants) = offer.get("grants").and_then(Value::as_object) else {
        out.push(Assertion::pass(
            "grants",
            "absent or an object",
            "absent (the wallet decides the grant)",
        ));
        return out;
    };
    let unknown: Vec<&String> = grants
        .keys()
        .filter(|k| *k != "authorization_code" && *k != PRE_AUTHORIZED_CODE_GRANT)
        .collect();
    out.push(Assertion::check(
        unknown.is_empty(),
        "grant types",
        "authorization_code and/or urn:ietf:params:oauth:grant-type:pre-authorized_code",
        format!("{:?}", grants.keys().collect::<Vec<_>>()),
    ));
    if let Some(pre) = grants.get(PRE_AUTHORIZED_CODE_GRANT) {
        let code_ok = pre
            .get("pre-authorized_code")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty());
        out.push(Assertion::check(
            code_ok,
            "pre-authorized_code",
            "a non-empty string",
            if code_ok {
                "present"
            } else {
                "missing or not a string"
            },
        ));
        if let Some(tx) = pre.get("tx_code") {
            let mode = tx.get("input_mode");
            let mode_ok = mode.is_none_or(|m| m == "numeric" || m == "text");
            let length_ok = tx
                .get("length")
                .is_none_or(|l| l.as_u64().is_some_and(|n| n > 0));
            let description_ok = tx.get("description").is_none_or(|d| {
                d.as_str()
                    .is_some_and(|d| d.chars().count() <= avow_core::offer::TX_CODE_DESCRIPTION_MAX)
            });
            out.push(Assertion::check(
                tx.is_object() && mode_ok && length_ok && description_ok,
                "tx_code",
                "an object; input_mode numeric|text, length a positive integer, description ≤ 300 characters",
                tx.to_string(),
            ));
        }
        out.push(as_check(pre, authorization_servers));
    }
    if let Some(code) = grants.get("authorization_code") {
        let state_ok = code.get("issuer_state").is_none_or(Value::is_string);
        out.push(Assertion::check(
            state_ok,
            "issuer_state",
            "a string when present",
            if state_ok { "ok" } else { "not a string" },
        ));
        out.push(as_check(code, authorization_servers));
    }
    out
}

fn as_check(grant: &Value, authorization_servers: &[String]) -> Assertion {
    match grant.get("authorization_server") {
        None => Assertion::pass(
            "authorization_server",
            "absent, or one of the metadata's authorization_servers",
            "absent",
        ),
        Some(v) => {
            let ok = v
                .as_str()
                .is_some_and(|s| authorization_servers.iter().any(|a| a == s));
            Assertion::check(
                ok,
                "authorization_server",
                "one of the metadata's authorization_servers",
                v.to_string(),
            )
        }
    }
}

/// CONF-C01-04: the grants are well formed.
pub async fn c01_04(iut: &Iut) -> Vec<Assertion> {
    let servers = iut
        .metadata
        .authorization_servers
        .clone()
        .unwrap_or_default();
    let mut out = with_offers(iut, "offer grants", false, |offer| {
        grant_checks(&offer.json, &servers)
    })
    .await;
    if iut.options.admin.is_some() && iut.supports_pre_authorized() {
        out.extend(
            with_offers(iut, "offer grants (with tx_code)", true, |offer| {
                grant_checks(&offer.json, &servers)
            })
            .await,
        );
    }
    out
}

// ================================================================ VCI-CHECK-02, -03

fn code_flow_missing(iut: &Iut) -> Option<Assertion> {
    if iut.options.login_script.is_none() {
        return Some(Iut::missing(
            "authorization",
            "the authorization step needs --login-script",
        ));
    }
    None
}

/// CONF-C02-01: PAR → login → callback with code, state, iss.
pub async fn c02_01(iut: &Iut) -> Vec<Assertion> {
    if let Some(a) = code_flow_missing(iut) {
        return vec![a];
    }
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("authorization", e.to_string())],
    };
    let expected = "PAR 201, then a callback with code, the sent state and iss = the AS issuer";
    vec![
        probe("authorization-code flow", expected, |rec| async move {
            let tx = iut.tx(&rec, &configuration).await?;
            let grant = tx
                .authorize(AuthorizationAsk::Scope, PkceMode::S256)
                .await?;
            let params = query_params(&grant.callback);
            let state = param(&params, "state");
            let iss = param(&params, "iss");
            let ok = state == Some(grant.state.as_str())
                && iss == Some(iut.authorization_server.issuer.as_str())
                && !grant.code.is_empty();
            Ok(Assertion::check(
                ok,
                "callback",
                expected,
                format!(
                    "code present, state {}, iss {}",
                    if state == Some(grant.state.as_str()) {
                        "matches"
                    } else {
                        "differs or missing"
                    },
                    iss.unwrap_or("missing")
                ),
            ))
        })
        .await,
    ]
}

/// CONF-C02-02: the token response of the code flow.
pub async fn c02_02(iut: &Iut) -> Vec<Assertion> {
    if let Some(a) = code_flow_missing(iut) {
        return vec![a];
    }
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("token", e.to_string())],
    };
    let mut out = Vec::new();
    for (ask, name) in [
        (AuthorizationAsk::Scope, "token response (scope)"),
        (
            AuthorizationAsk::Details,
            "token response (authorization_details)",
        ),
    ] {
        let configuration = configuration.clone();
        let expected = match ask {
            AuthorizationAsk::Scope => "200, access_token, token_type DPoP, expires_in",
            AuthorizationAsk::Details => {
                "200, access_token, token_type DPoP, expires_in, authorization_details with credential_identifiers"
            }
        };
        out.push(
            probe(name, expected, |rec| async move {
                let mut tx = iut.tx(&rec, &configuration).await?;
                let grant = tx.authorize(ask, PkceMode::S256).await?;
                let response = tx
                    .redeem_code(&grant, Some(&grant.verifier), Auth::Good)
                    .await?;
                let body = response.json().unwrap_or(Value::Null);
                let mut problems = Vec::new();
                if response.status != 200 {
                    problems.push(response.describe());
                }
                if !body.get("access_token").is_some_and(Value::is_string) {
                    problems.push("no access_token".into());
                }
                if !body
                    .get("token_type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("DPoP"))
                {
                    problems.push(format!(
                        "token_type {}",
                        body.get("token_type").unwrap_or(&Value::Null)
                    ));
                }
                if !body.get("expires_in").is_some_and(Value::is_u64) {
                    problems.push("no expires_in".into());
                }
                if ask == AuthorizationAsk::Details && !has_identifiers(&body, &tx.configuration) {
                    problems.push("no credential_identifiers for the configuration".into());
                }
                Ok(Assertion::check(
                    problems.is_empty(),
                    name,
                    expected,
                    if problems.is_empty() {
                        "as expected".to_owned()
                    } else {
                        problems.join("; ")
                    },
                ))
            })
            .await,
        );
    }
    out
}

fn has_identifiers(token: &Value, configuration: &str) -> bool {
    token
        .get("authorization_details")
        .and_then(Value::as_array)
        .is_some_and(|details| {
            details.iter().any(|d| {
                d.get("credential_configuration_id").and_then(Value::as_str) == Some(configuration)
                    && d.get("credential_identifiers")
                        .and_then(Value::as_array)
                        .is_some_and(|ids| !ids.is_empty() && ids.iter().all(Value::is_string))
            })
        })
}

/// CONF-C03-01: S256 (and not plain).
pub async fn c03_01(iut: &Iut) -> Vec<Assertion> {
    let methods = &iut.authorization_server.code_challenge_methods_supported;
    let observed = format!("{methods:?}");
    let expected = "code_challenge_methods_supported contains S256, not plain";
    let name = "code_challenge_methods_supported";
    if !methods.iter().any(|m| m == "S256") {
        return vec![Assertion::fail(name, expected, observed)];
    }
    if methods.iter().any(|m| m == "plain") {
        return vec![Assertion::warning(
            name,
            expected,
            observed,
            "plain is listed too (APT §7.3 wants S256 only)",
        )];
    }
    vec![Assertion::pass(name, expected, observed)]
}

/// CONF-C03-02: PAR without PKCE or with plain is rejected.
pub async fn c03_02(iut: &Iut) -> Vec<Assertion> {
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("PAR", e.to_string())],
    };
    let mut out = Vec::new();
    for (mode, name) in [
        (PkceMode::Missing, "PAR without code_challenge"),
        (PkceMode::Plain, "PAR with code_challenge_method=plain"),
    ] {
        let configuration = configuration.clone();
        out.push(
            probe(name, "HTTP 400 invalid_request", |rec| async move {
                let tx = iut.tx(&rec, &configuration).await?;
                let (response, _, _) = tx
                    .par(AuthorizationAsk::Scope, mode, &Auth::Good, None)
                    .await?;
                Ok(expect_error(
                    name,
                    &response,
                    400,
                    &["invalid_request"],
                    &[],
                ))
            })
            .await,
        );
    }
    out
}

/// CONF-C03-03: wrong or missing code_verifier.
pub async fn c03_03(iut: &Iut) -> Vec<Assertion> {
    if let Some(a) = code_flow_missing(iut) {
        return vec![a];
    }
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("token", e.to_string())],
    };
    let mut out = Vec::new();
    for (wrong, name) in [
        (true, "token request with a wrong code_verifier"),
        (false, "token request without code_verifier"),
    ] {
        let configuration = configuration.clone();
        let expected = if wrong {
            "HTTP 400 invalid_grant"
        } else {
            "HTTP 400 invalid_request or invalid_grant"
        };
        out.push(
            probe(name, expected, |rec| async move {
                let mut tx = iut.tx(&rec, &configuration).await?;
                let grant = tx
                    .authorize(AuthorizationAsk::Scope, PkceMode::S256)
                    .await?;
                let other = avow_crypto::Random::token(&avow_crypto::SystemRandom, 32);
                let response = tx
                    .redeem_code(&grant, if wrong { Some(&other) } else { None }, Auth::Good)
                    .await?;
                Ok(if wrong {
                    expect_error(name, &response, 400, &["invalid_grant"], &[])
                } else {
                    expect_error(
                        name,
                        &response,
                        400,
                        &["invalid_request", "invalid_grant"],
                        &[],
                    )
                })
            })
            .await,
        );
    }
    out
}

// ================================================================ VCI-CHECK-03A

/// CONF-C03A-01: attest_jwt_client_auth is advertised.
pub async fn c03a_01(iut: &Iut) -> Vec<Assertion> {
    let methods = &iut
        .authorization_server
        .token_endpoint_auth_methods_supported;
    vec![Assertion::check(
        iut.supports_attestation(),
        "token_endpoint_auth_methods_supported",
        "contains attest_jwt_client_auth (or attest_jwt_client_auth_dpop)",
        format!("{methods:?}"),
    )]
}

/// Where attestation probes are sent: PAR when there is one, else the token
/// endpoint with a fresh pre-authorized code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttEndpoint {
    Par,
    Token,
}

async fn attestation_probe(
    iut: &Iut,
    rec: &Recorder,
    at: AttEndpoint,
    auth: Auth,
    client_id: Option<&str>,
) -> Result<crate::http::Response, ConformanceError> {
    let configuration = primary(iut)?;
    let mut tx = iut.tx(rec, &configuration).await?;
    let auth = match auth {
        Auth::Fixed(h) if h.is_empty() => {
            let url = match at {
                AttEndpoint::Par => iut
                    .authorization_server
                    .pushed_authorization_request_endpoint
                    .clone()
                    .unwrap_or_default(),
                AttEndpoint::Token => iut.authorization_server.token_endpoint.clone(),
            };
            Auth::Fixed(tx.attestation_headers(&url, None).await?)
        }
        other => other,
    };
    match at {
        AttEndpoint::Par => Ok(tx
            .par(AuthorizationAsk::Scope, PkceMode::S256, &auth, client_id)
            .await?
            .0),
        AttEndpoint::Token => {
            let offer = iut.fresh_offer(rec, &configuration, false).await?;
            let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
            tx.redeem_pre_authorized(&code, offer.tx_code.as_deref(), auth, client_id)
                .await
        }
    }
}

fn attestation_endpoints(iut: &Iut) -> Vec<(AttEndpoint, &'static str)> {
    let mut out = Vec::new();
    if iut
        .authorization_server
        .pushed_authorization_request_endpoint
        .is_some()
    {
        out.push((AttEndpoint::Par, "PAR"));
    }
    if iut.supports_pre_authorized() && iut.can_get_offer() && !iut.anonymous_pre_authorized() {
        out.push((AttEndpoint::Token, "token (pre-authorized code)"));
    }
    out
}

/// CONF-C03A-02: no attestation headers → 401 invalid_client.
pub async fn c03a_02(iut: &Iut) -> Vec<Assertion> {
    let mut out = Vec::new();
    for (at, label) in attestation_endpoints(iut) {
        let name = format!("{label} without attestation headers");
        out.push(
            probe(&name, "HTTP 401 invalid_client", |rec| {
                let name = name.clone();
                async move {
                    let response =
                        attestation_probe(iut, &rec, at, Auth::None, Some(&iut.options.client_id))
                            .await?;
                    Ok(expect_error(
                        &name,
                        &response,
                        401,
                        &["invalid_client"],
                        &[],
                    ))
                }
            })
            .await,
        );
    }
    if iut
        .authorization_server
        .pushed_authorization_request_endpoint
        .is_none()
        && iut.supports_code_flow()
    {
        out.push(Assertion::fail(
            "PAR endpoint",
            "a pushed_authorization_request_endpoint (APT §7.3)",
            "none in the AS metadata",
        ));
    }
    if out.is_empty() {
        out.push(Iut::missing(
            "attestation probes",
            "no PAR endpoint and no pre-authorized offer to probe the token endpoint with",
        ));
    }
    out
}

/// CONF-C03A-03: faulty attestations.
pub async fn c03a_03(iut: &Iut) -> Vec<Assertion> {
    let Some((at, label)) = attestation_endpoints(iut).into_iter().next() else {
        return vec![Iut::missing(
            "attestation probes",
            "no PAR endpoint and no pre-authorized offer to probe the token endpoint with",
        )];
    };
    let faults: [(Option<AttestationFault>, &str, &[&str]); 6] = [
        (
            Some(AttestationFault::ExpiredWia),
            "expired WIA",
            &["invalid_client", "use_fresh_attestation"],
        ),
        (
            Some(AttestationFault::UntrustedProvider),
            "WIA signed by an untrusted wallet provider",
            &["invalid_client"],
        ),
        (
            Some(AttestationFault::NoX5c),
            "WIA without x5c",
            &["invalid_client"],
        ),
        (
            Some(AttestationFault::PopByAnotherKey),
            "PoP signed by a key other than cnf",
            &["invalid_client"],
        ),
        (
            Some(AttestationFault::PopWrongAudience),
            "PoP aud is not the AS issuer",
            &["invalid_client"],
        ),
        (
            None,
            "client_id differs from the WIA sub",
            &["invalid_client"],
        ),
    ];
    let mut out = Vec::new();
    for (fault, what, codes) in faults {
        let name = format!("{label}: {what}");
        let expected = format!(
            "HTTP {} {}",
            if codes.contains(&"use_fresh_attestation") {
                "401/400"
            } else {
                "401"
            },
            codes.join(" or ")
        );
        out.push(
            probe(&name, &expected, |rec| {
                let name = name.clone();
                async move {
                    let configuration = primary(iut)?;
                    let mut tx = iut.tx(&rec, &configuration).await?;
                    let url = match at {
                        AttEndpoint::Par => iut
                            .authorization_server
                            .pushed_authorization_request_endpoint
                            .clone()
                            .unwrap_or_default(),
                        AttEndpoint::Token => iut.authorization_server.token_endpoint.clone(),
                    };
                    let headers = tx.attestation_headers(&url, fault).await?;
                    let client_id = if fault.is_none() {
                        Some("https://another-wallet.conformance.avow.dev")
                    } else {
                        None
                    };
                    let response = match at {
                        AttEndpoint::Par => {
                            tx.par(
                                AuthorizationAsk::Scope,
                                PkceMode::S256,
                                &Auth::Fixed(headers),
                                client_id,
                            )
                            .await?
                            .0
                        }
                        AttEndpoint::Token => {
                            let offer = iut.fresh_offer(&rec, &configuration, false).await?;
                            let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
                            tx.redeem_pre_authorized(
                                &code,
                                offer.tx_code.as_deref(),
                                Auth::Fixed(headers),
                                client_id,
                            )
                            .await?
                        }
                    };
                    let a = if response.error_code().as_deref() == Some("use_fresh_attestation")
                        && codes.contains(&"use_fresh_attestation")
                    {
                        expect_error(&name, &response, 400, &["use_fresh_attestation"], &[])
                    } else {
                        expect_error(&name, &response, 401, &["invalid_client"], &[])
                    };
                    Ok(a)
                }
            })
            .await,
        );
    }
    out
}

/// CONF-C03A-04 (SHOULD): a replayed PoP is rejected.
pub async fn c03a_04(iut: &Iut) -> Vec<Assertion> {
    let Some((at, label)) = attestation_endpoints(iut).into_iter().next() else {
        return vec![Iut::missing(
            "attestation probes",
            "no PAR endpoint and no pre-authorized offer",
        )];
    };
    let name = format!("{label}: the same PoP (jti) twice");
    vec![
        probe(
            &name,
            "the second use rejected with invalid_client",
            |rec| {
                let name = name.clone();
                async move {
                    let configuration = primary(iut)?;
                    let tx = iut.tx(&rec, &configuration).await?;
                    let url = match at {
                        AttEndpoint::Par => iut
                            .authorization_server
                            .pushed_authorization_request_endpoint
                            .clone()
                            .unwrap_or_default(),
                        AttEndpoint::Token => iut.authorization_server.token_endpoint.clone(),
                    };
                    let headers = Auth::Fixed(tx.attestation_headers(&url, None).await?);
                    drop(tx);
                    let first = attestation_probe(iut, &rec, at, headers.clone(), None).await?;
                    if !(200..300).contains(&first.status) {
                        return Ok(Assertion::fail(
                            &name,
                            "the first use accepted",
                            first.describe(),
                        ));
                    }
                    let second = attestation_probe(iut, &rec, at, headers, None).await?;
                    let a = expect_error(
                        &name,
                        &second,
                        401,
                        &["invalid_client"],
                        &["use_attestation_challenge"],
                    );
                    Ok(if a.status == crate::report::Status::Fail {
                        Assertion::warning(
                            &name,
                            &a.expected,
                            a.observed,
                            "ABCA §11.1 says SHOULD: a replay that is not rejected is a warning",
                        )
                    } else {
                        a
                    })
                }
            },
        )
        .await,
    ]
}

/// CONF-C03A-05: a good attestation works at PAR and token.
pub async fn c03a_05(iut: &Iut) -> Vec<Assertion> {
    let mut out = Vec::new();
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("attestation", e.to_string())],
    };
    if iut
        .authorization_server
        .pushed_authorization_request_endpoint
        .is_some()
    {
        let configuration = configuration.clone();
        out.push(
            probe(
                "PAR with a valid WIA + PoP",
                "HTTP 201 with request_uri",
                |rec| async move {
                    let tx = iut.tx(&rec, &configuration).await?;
                    let (response, _, _) = tx
                        .par(AuthorizationAsk::Scope, PkceMode::S256, &Auth::Good, None)
                        .await?;
                    let ok = response.status == 201
                        && response
                            .json()
                            .is_some_and(|v| v.get("request_uri").is_some_and(Value::is_string));
                    Ok(Assertion::check(
                        ok,
                        "PAR with a valid WIA + PoP",
                        "HTTP 201 with request_uri",
                        response.describe(),
                    ))
                },
            )
            .await,
        );
    }
    out.push(
        probe(
            "token request with a valid WIA + PoP",
            "HTTP 200 with a DPoP access token",
            |rec| async move {
                match iut.token_tx(&rec, &configuration).await {
                    Ok(tx) => Ok(Assertion::check(
                        tx.access_token.is_some() && tx.attestation.is_some(),
                        "token request with a valid WIA + PoP",
                        "HTTP 200 with a DPoP access token",
                        "HTTP 200",
                    )),
                    Err(e) => Err(e),
                }
            },
        )
        .await,
    );
    out
}

// ================================================================ VCI-CHECK-04

/// CONF-C04-01: unknown, expired and reused codes.
pub async fn c04_01(iut: &Iut) -> Vec<Assertion> {
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("pre-authorized code", e.to_string())],
    };
    let mut out = Vec::new();
    let c = configuration.clone();
    out.push(
        probe(
            "unknown pre-authorized code",
            "HTTP 400 invalid_grant",
            |rec| async move {
                let mut tx = iut.tx(&rec, &c).await?;
                let code = avow_crypto::Random::token(&avow_crypto::SystemRandom, 32);
                let response = tx
                    .redeem_pre_authorized(&code, None, Auth::Good, None)
                    .await?;
                Ok(expect_error(
                    "unknown pre-authorized code",
                    &response,
                    400,
                    &["invalid_grant"],
                    &[],
                ))
            },
        )
        .await,
    );
    let c = configuration.clone();
    out.push(
        probe(
            "second use of a redeemed code",
            "HTTP 400 invalid_grant",
            |rec| async move {
                let offer = iut.fresh_offer(&rec, &c, false).await?;
                let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
                let mut first = iut.tx(&rec, &c).await?;
                let response = first
                    .redeem_pre_authorized(&code, offer.tx_code.as_deref(), Auth::Good, None)
                    .await?;
                if response.status != 200 {
                    return Ok(Assertion::fail(
                        "second use of a redeemed code",
                        "the first use accepted",
                        response.describe(),
                    ));
                }
                let mut second = iut.tx(&rec, &c).await?;
                let response = second
                    .redeem_pre_authorized(&code, offer.tx_code.as_deref(), Auth::Good, None)
                    .await?;
                Ok(expect_error(
                    "second use of a redeemed code",
                    &response,
                    400,
                    &["invalid_grant"],
                    &[],
                ))
            },
        )
        .await,
    );
    let c = configuration;
    out.push(match iut.options.expiry_wait {
        None => Iut::missing(
            "expired pre-authorized code",
            "needs --expiry-wait SECONDS ≥ the IUT's pre-authorized code lifetime",
        ),
        Some(wait) => {
            probe(
                "expired pre-authorized code",
                "HTTP 400 invalid_grant",
                |rec| async move {
                    let offer = iut.fresh_offer(&rec, &c, false).await?;
                    let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
                    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                    let mut tx = iut.tx(&rec, &c).await?;
                    let response = tx
                        .redeem_pre_authorized(&code, offer.tx_code.as_deref(), Auth::Good, None)
                        .await?;
                    Ok(expect_error(
                        "expired pre-authorized code",
                        &response,
                        400,
                        &["invalid_grant"],
                        &[],
                    )
                    .with_note(format!("redeemed {wait} s after the offer was created")))
                },
            )
            .await
        }
    });
    out
}

/// Can the runner get an offer with a tx_code (and know the code)?
pub fn tx_code_offer_available(iut: &Iut) -> bool {
    iut.options.admin.is_some() || iut.options.tx_code.is_some()
}

/// CONF-C04-02: a valid code; tx_code absent or wrong.
pub async fn c04_02(iut: &Iut) -> Vec<Assertion> {
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("pre-authorized code", e.to_string())],
    };
    let mut out = Vec::new();
    let c = configuration.clone();
    let expected = "HTTP 200, token_type DPoP, access_token";
    out.push(
        probe("valid pre-authorized code", expected, |rec| async move {
            let offer = iut.fresh_offer(&rec, &c, false).await?;
            let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
            let mut tx = iut.tx(&rec, &c).await?;
            let response = tx
                .redeem_pre_authorized(&code, offer.tx_code.as_deref(), Auth::Good, None)
                .await?;
            let body = response.json().unwrap_or(Value::Null);
            let ok = response.status == 200
                && body.get("access_token").is_some_and(Value::is_string)
                && body
                    .get("token_type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("DPoP"));
            Ok(Assertion::check(
                ok,
                "valid pre-authorized code",
                expected,
                format!(
                    "{}, token_type {}",
                    response.describe(),
                    body.get("token_type").unwrap_or(&Value::Null)
                ),
            ))
        })
        .await,
    );
    if !tx_code_offer_available(iut) {
        out.push(Assertion::not_applicable(
            "tx_code enforcement",
            "no offer with a transaction code can be had (no admin API, no --tx-code)",
        ));
        return out;
    }
    for (send, name) in [
        (None, "tx_code required but absent"),
        (Some("wrong"), "wrong tx_code"),
    ] {
        let c = configuration.clone();
        let expected = if send.is_none() {
            "HTTP 400 invalid_request"
        } else {
            "HTTP 400 invalid_grant"
        };
        out.push(
            probe(name, expected, |rec| async move {
                let offer = iut.fresh_offer(&rec, &c, true).await?;
                if !offer.asks_tx_code() {
                    return Ok(Assertion::fail(
                        name,
                        "an offer with tx_code",
                        "the offer carries no tx_code",
                    ));
                }
                let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
                let wrong = match (&offer.tx_code, send) {
                    (Some(right), Some(_)) => Some(if right == "000000" {
                        "111111".to_owned()
                    } else {
                        "000000".to_owned()
                    }),
                    (None, Some(_)) => Some("000000".to_owned()),
                    (_, None) => None,
                };
                let mut tx = iut.tx(&rec, &c).await?;
                let response = tx
                    .redeem_pre_authorized(&code, wrong.as_deref(), Auth::Good, None)
                    .await?;
                Ok(if send.is_none() {
                    expect_error(
                        name,
                        &response,
                        400,
                        &["invalid_request"],
                        &["invalid_grant", "invalid_tx_code"],
                    )
                } else {
                    expect_error(
                        name,
                        &response,
                        400,
                        &["invalid_grant"],
                        &["invalid_tx_code"],
                    )
                })
            })
            .await,
        );
    }
    out
}

/// CONF-C04-03: no client authentication.
pub async fn c04_03(iut: &Iut) -> Vec<Assertion> {
    if iut.anonymous_pre_authorized() {
        return vec![Assertion::not_applicable(
            "anonymous token request",
            "the AS metadata says pre-authorized_grant_anonymous_access_supported: true",
        )];
    }
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("pre-authorized code", e.to_string())],
    };
    vec![
        probe(
            "token request without client authentication",
            "HTTP 401 invalid_client",
            |rec| async move {
                let offer = iut.fresh_offer(&rec, &configuration, false).await?;
                let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
                let mut tx = iut.tx(&rec, &configuration).await?;
                let response = tx
                    .redeem_pre_authorized(&code, offer.tx_code.as_deref(), Auth::None, None)
                    .await?;
                Ok(expect_error(
                    "token request without client authentication",
                    &response,
                    401,
                    &["invalid_client"],
                    &[],
                ))
            },
        )
        .await,
    ]
}

// ================================================================ VCI-CHECK-05

async fn credential_probe(
    iut: &Iut,
    name: &str,
    expected: &str,
    status: u16,
    codes: &'static [&'static str],
    tolerated: &'static [&'static str],
    body: impl FnOnce(&super::Tx<'_>, String, String) -> Value,
) -> Assertion {
    probe(name, expected, |rec| async move {
        let configuration = primary(iut)?;
        let tx = iut.token_tx(&rec, &configuration).await?;
        let holder = avow_crypto::SoftwareSigner::generate()?;
        let nonce = tx.c_nonce().await?;
        let proof = tx.proof(&holder, &nonce).await?;
        let second = tx
            .proof(&avow_crypto::SoftwareSigner::generate()?, &nonce)
            .await?;
        let body = body(&tx, proof, second);
        let response = tx.credential(name, body).await?;
        Ok(expect_error(name, &response, status, codes, tolerated))
    })
    .await
}

/// CONF-C05-01: legacy `proof`.
pub async fn c05_01(iut: &Iut) -> Vec<Assertion> {
    vec![
        credential_probe(
            iut,
            "legacy proof member",
            "HTTP 400 invalid_credential_request",
            400,
            &["invalid_credential_request"],
            &["invalid_proof"],
            |tx, proof, _| {
                let (name, value) = tx.selector();
                json!({ name: value, "proof": { "proof_type": "jwt", "jwt": proof } })
            },
        )
        .await,
    ]
}

/// CONF-C05-02: missing proofs, two proof types, empty array.
pub async fn c05_02(iut: &Iut) -> Vec<Assertion> {
    vec![
        credential_probe(
            iut,
            "no proofs for a key-bound configuration",
            "HTTP 400 invalid_proof",
            400,
            &["invalid_proof"],
            &["invalid_credential_request"],
            |tx, _, _| {
                let (name, value) = tx.selector();
                json!({ name: value })
            },
        )
        .await,
        credential_probe(
            iut,
            "proofs with two proof types",
            "HTTP 400 invalid_proof or invalid_credential_request",
            400,
            &["invalid_proof", "invalid_credential_request"],
            &[],
            |tx, proof, _| tx.request_body(json!({ "jwt": [proof], "attestation": [proof] })),
        )
        .await,
        credential_probe(
            iut,
            "empty jwt proof array",
            "HTTP 400 invalid_proof or invalid_credential_request",
            400,
            &["invalid_proof", "invalid_credential_request"],
            &[],
            |tx, _, _| tx.request_body(json!({ "jwt": [] })),
        )
        .await,
    ]
}

/// CONF-C05-03: selector rules.
pub async fn c05_03(iut: &Iut) -> Vec<Assertion> {
    let mut out = vec![
        credential_probe(iut, "both credential_configuration_id and credential_identifier", "HTTP 400 invalid_credential_request", 400, &["invalid_credential_request"], &[], |tx, proof, _| {
            json!({ "credential_configuration_id": tx.configuration, "credential_identifier": "conformance-identifier", "proofs": { "jwt": [proof] } })
        })
        .await,
        credential_probe(iut, "unknown credential_configuration_id", "HTTP 400 unknown_credential_configuration", 400, &["unknown_credential_configuration"], &["invalid_credential_request"], |_, proof, _| {
            json!({ "credential_configuration_id": "conformance-unknown-configuration", "proofs": { "jwt": [proof] } })
        })
        .await,
    ];
    if iut.options.login_script.is_none() || !iut.supports_code_flow() {
        out.push(Assertion::not_applicable(
            "credential identifiers",
            "identifiers come from an authorization_details token of the code flow, which needs the code flow and --login-script",
        ));
        return out;
    }
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => {
            out.push(Iut::missing("credential identifiers", e.to_string()));
            return out;
        }
    };
    for (by_id, name) in [
        (
            true,
            "credential_configuration_id after identifiers were issued",
        ),
        (false, "unknown credential_identifier"),
    ] {
        let configuration = configuration.clone();
        let expected = if by_id {
            "HTTP 400 invalid_credential_request"
        } else {
            "HTTP 400 unknown_credential_identifier"
        };
        out.push(
            probe(name, expected, |rec| async move {
                let mut tx = iut.tx(&rec, &configuration).await?;
                let grant = tx.authorize(AuthorizationAsk::Details, PkceMode::S256).await?;
                let response = tx.redeem_code(&grant, Some(&grant.verifier), Auth::Good).await?;
                if response.status != 200 {
                    return Ok(Assertion::fail(name, "a token", response.describe()));
                }
                if !has_identifiers(tx.token_response.as_ref().unwrap_or(&Value::Null), &configuration) {
                    return Ok(Assertion::not_applicable(name, "the token response carried no credential_identifiers"));
                }
                let holder = avow_crypto::SoftwareSigner::generate()?;
                let nonce = tx.c_nonce().await?;
                let proof = tx.proof(&holder, &nonce).await?;
                let body = if by_id {
                    json!({ "credential_configuration_id": configuration, "proofs": { "jwt": [proof] } })
                } else {
                    json!({ "credential_identifier": "conformance-unknown-identifier", "proofs": { "jwt": [proof] } })
                };
                let response = tx.credential(name, body).await?;
                Ok(if by_id {
                    expect_error(name, &response, 400, &["invalid_credential_request"], &[])
                } else {
                    expect_error(name, &response, 400, &["unknown_credential_identifier"], &["invalid_credential_request"])
                })
            })
            .await,
        );
    }
    out
}

/// CONF-C05-04: more proofs than the batch size.
pub async fn c05_04(iut: &Iut) -> Vec<Assertion> {
    let batch = iut
        .metadata
        .batch_credential_issuance
        .as_ref()
        .map(|b| b.batch_size)
        .unwrap_or(1);
    let count = usize::try_from(batch).unwrap_or(1) + 1;
    let name = format!("{count} jwt proofs (batch size {batch})");
    vec![
        probe(&name, "HTTP 400", |rec| {
            let name = name.clone();
            async move {
                let configuration = primary(iut)?;
                let tx = iut.token_tx(&rec, &configuration).await?;
                let nonce = tx.c_nonce().await?;
                let mut proofs = Vec::new();
                for _ in 0..count {
                    proofs.push(Value::String(
                        tx.proof(&avow_crypto::SoftwareSigner::generate()?, &nonce)
                            .await?,
                    ));
                }
                let response = tx
                    .credential(&name, tx.request_body(json!({ "jwt": proofs })))
                    .await?;
                Ok(expect_error(
                    &name,
                    &response,
                    400,
                    &["invalid_proof", "invalid_credential_request"],
                    &[],
                ))
            }
        })
        .await,
    ]
}

// ================================================================ VCI-CHECK-09, -10

/// CONF-C09-03: the offer carries tx_code when asked; enforcement recorded.
pub async fn c09_03(iut: &Iut) -> Vec<Assertion> {
    if !tx_code_offer_available(iut) {
        return vec![Assertion::not_applicable(
            "tx_code offer",
            "no offer with a transaction code can be had (no admin API, no --tx-code)",
        )];
    }
    let configuration = match primary(iut) {
        Ok(c) => c,
        Err(e) => return vec![Iut::missing("tx_code offer", e.to_string())],
    };
    vec![
        probe(
            "tx_code offer and enforcement",
            "an offer with tx_code; enforcement recorded",
            |rec| async move {
                let offer = iut.fresh_offer(&rec, &configuration, true).await?;
                if !offer.asks_tx_code() {
                    return Ok(Assertion::fail(
                        "tx_code offer",
                        "an offer with tx_code",
                        "no tx_code in the offer",
                    ));
                }
                let code = offer.pre_authorized_code().unwrap_or_default().to_owned();
                let mut tx = iut.tx(&rec, &configuration).await?;
                let wrong = tx
                    .redeem_pre_authorized(&code, Some("999999x"), Auth::Good, None)
                    .await?;
                let enforcement = if wrong.status == 200 {
                    "none (a wrong tx_code was accepted)"
                } else {
                    "full (a wrong tx_code was rejected)"
                };
                let mut tx = iut.tx(&rec, &configuration).await?;
                let right = tx
                    .redeem_pre_authorized(&code, offer.tx_code.as_deref(), Auth::Good, None)
                    .await?;
                let observed = format!(
                    "enforcement: {enforcement}; with the right code: {}",
                    right.describe()
                );
                Ok(if wrong.status == 200 || right.status == 200 {
                    Assertion::pass(
                        "tx_code offer and enforcement",
                        "an offer with tx_code; issuance completes",
                        observed,
                    )
                } else {
                    Assertion::fail(
                        "tx_code offer and enforcement",
                        "an offer with tx_code; issuance completes",
                        observed,
                    )
                })
            },
        )
        .await,
    ]
}

/// CONF-C10-01: encryption metadata.
pub async fn c10_01(iut: &Iut) -> Vec<Assertion> {
    let Some(enc) = iut.metadata_json.get("credential_response_encryption") else {
        return vec![Assertion::not_applicable(
            "credential_response_encryption",
            "the issuer metadata has no credential_response_encryption",
        )];
    };
    let encs: Vec<&str> = enc
        .get("enc_values_supported")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let algs: Vec<&str> = enc
        .get("alg_values_supported")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    vec![
        Assertion::check(
            encs.contains(&"A128GCM"),
            "enc_values_supported",
            "contains A128GCM",
            format!("{encs:?}"),
        ),
        Assertion::check(
            algs.iter().any(|a| a.starts_with("ECDH-ES")),
            "alg_values_supported",
            "an ECDH-ES value",
            format!("{algs:?}"),
        ),
    ]
}
