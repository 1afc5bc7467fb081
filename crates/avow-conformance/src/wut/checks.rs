//! The wallet-side assertions (REQUIREMENTS §5.2, the `WUT:` rows): each
//! reads one [`Transaction`] — what the wallet under test sent the
//! reference issuer, in order — and says what the wallet did against what
//! the specification wants, with the exchanges that show it.

use super::Transaction;
use super::observer::Observed;
use crate::report::Assertion;
use crate::transcript::Exchange;
use avow_crypto::x509::TrustAnchors;
use avow_crypto::{AlgorithmAllowList, CompactJws, EcPublicJwk};
use serde_json::{Map, Value};

/// How far a wallet's `iat` may be from the moment the runner received it.
pub const IAT_WINDOW: i64 = 60;

const PRE_AUTHORIZED_GRANT: &str = avow_core::offer::PRE_AUTHORIZED_CODE_GRANT;

/// Whether the wallet kept what it received, as far as the runner can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// It sent `credential_accepted`.
    Accepted,
    /// It sent `credential_failure` / `credential_deleted`, or its command failed.
    Refused(String),
    /// Its command succeeded but it sent no notification.
    Unconfirmed(String),
    /// No credential reached the wallet.
    NothingIssued(String),
    /// The wallet did not finish in time: proves nothing either way (CONF-RUN-04).
    TimedOut(String),
}

/// A compact JWS decoded without verification (the checks verify what they need).
pub struct Jwt {
    pub jws: CompactJws,
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

impl Jwt {
    pub fn parse(compact: &str) -> Option<Self> {
        let jws = CompactJws::parse(compact.trim()).ok()?;
        let header = jws.header().clone();
        let claims = serde_json::from_slice::<Value>(jws.payload())
            .ok()?
            .as_object()?
            .clone();
        Some(Self {
            jws,
            header,
            claims,
        })
    }

    pub fn typ(&self) -> Option<&str> {
        self.header.get("typ").and_then(Value::as_str)
    }

    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn verifies_with(&self, key: &EcPublicJwk) -> bool {
        self.jws.verify(key, &AlgorithmAllowList::es256()).is_ok()
    }

    /// The `x5c` chain validated to `anchors`; the leaf's key.
    pub fn x5c_key(&self, anchors: &TrustAnchors, now: i64) -> Result<EcPublicJwk, String> {
        let chain = self
            .jws
            .x5c()
            .ok_or("no x5c header")?
            .map_err(|e| format!("x5c: {e}"))?;
        if anchors.is_empty() {
            // No anchor configured: the leaf key, unvalidated (reported as such).
            let leaf = chain.first().ok_or("empty x5c")?;
            return avow_crypto::x509::leaf_public_key(leaf).map_err(|e| e.to_string());
        }
        anchors
            .validate_chain(&chain, now)
            .map_err(|e| format!("x5c does not chain to the wallet provider anchor: {e}"))
    }
}

fn jwk_of(value: Option<&Value>) -> Option<EcPublicJwk> {
    value.and_then(|v| EcPublicJwk::from_json(v).ok())
}

fn secs(o: &Observed) -> i64 {
    o.at_ms.div_euclid(1000)
}

impl Transaction {
    pub fn requests<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Observed> + 'a {
        self.observed.iter().filter(move |o| o.path == path)
    }

    pub fn first(&self, path: &str) -> Option<&Observed> {
        self.observed.iter().find(|o| o.path == path)
    }

    /// Every exchange of the transaction (redacted), for a report.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.observed
            .iter()
            .map(|o| o.exchange(&format!("wallet → {} {}", o.method, o.path)))
            .collect()
    }

    fn exchanges_of(&self, paths: &[&str]) -> Vec<Exchange> {
        self.observed
            .iter()
            .filter(|o| paths.contains(&o.path.as_str()))
            .map(|o| o.exchange(&format!("wallet → {} {}", o.method, o.path)))
            .collect()
    }

    /// The offer's pre-authorized code, if it has that grant.
    pub fn offered_code(&self) -> Option<&str> {
        self.offer
            .pointer(
                "/grants/urn:ietf:params:oauth:grant-type:pre-authorized_code/pre-authorized_code",
            )
            .and_then(Value::as_str)
    }

    pub fn offered_issuer_state(&self) -> Option<&str> {
        self.offer
            .pointer("/grants/authorization_code/issuer_state")
            .and_then(Value::as_str)
    }

    /// The client the wallet authenticated as: PAR `client_id`, else the WIA `sub` at the token endpoint.
    pub fn client_id(&self) -> Option<String> {
        if let Some(id) = self.first("/par").and_then(|o| o.form_value("client_id")) {
            return Some(id.to_owned());
        }
        self.first("/token")
            .and_then(|o| o.header("oauth-client-attestation"))
            .and_then(Jwt::parse)
            .and_then(|w| w.str_claim("sub").map(str::to_owned))
    }

    /// `c_nonce` values the runner handed out before `seq`, oldest first.
    pub fn c_nonces_before(&self, seq: u64) -> Vec<String> {
        self.observed
            .iter()
            .filter(|o| o.seq < seq && o.path == "/nonce" && o.succeeded())
            .filter_map(|o| {
                o.response_json()
                    .and_then(|v| v.get("c_nonce").and_then(Value::as_str).map(str::to_owned))
            })
            .collect()
    }

    /// Attestation challenges the runner handed out before `seq`.
    pub fn challenges_before(&self, seq: u64) -> Vec<String> {
        let mut out = Vec::new();
        for o in self.observed.iter().filter(|o| o.seq < seq) {
            if let Some(c) = o.response_header("oauth-client-attestation-challenge") {
                out.push(c.to_owned());
            }
            if o.path == crate::wut::checks::CHALLENGE_PATH
                && let Some(c) = o.response_json().and_then(|v| {
                    v.get("attestation_challenge")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
            {
                out.push(c);
            }
        }
        out
    }

    /// The configuration's metadata entry.
    pub fn configuration_metadata(&self) -> Option<&Value> {
        self.metadata
            .get("credential_configurations_supported")?
            .get(self.scenario.configuration)
    }

    pub fn batch_size(&self) -> usize {
        self.metadata
            .pointer("/batch_credential_issuance/batch_size")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(1)
    }

    /// Credential requests with their decoded bodies.
    pub fn credential_requests(&self) -> Vec<(&Observed, &Value)> {
        self.requests("/credential")
            .filter_map(|o| o.json.as_ref().map(|j| (o, j)))
            .collect()
    }

    /// Whether a credential was handed to the wallet (credential or deferred endpoint).
    pub fn credential_delivered(&self) -> bool {
        self.observed.iter().any(|o| {
            matches!(o.path.as_str(), "/credential" | "/deferred_credential") && o.status == 200
        })
    }

    fn drive_summary(&self) -> String {
        let mut s = String::new();
        for outcome in [&self.receive, &self.poll].into_iter().flatten() {
            s.push_str(&outcome.summary);
            s.push('\n');
        }
        s
    }

    /// What the wallet did with the credential.
    pub fn stored(&self) -> Stored {
        if [&self.receive, &self.poll]
            .into_iter()
            .flatten()
            .any(|o| o.timed_out)
        {
            return Stored::TimedOut(self.drive_summary());
        }
        if !self.credential_delivered() {
            return Stored::NothingIssued(self.drive_summary());
        }
        let events: Vec<&str> = self
            .requests("/notification")
            .filter_map(|o| o.json.as_ref()?.get("event")?.as_str())
            .collect();
        if let Some(e) = events
            .iter()
            .find(|e| **e == "credential_failure" || **e == "credential_deleted")
        {
            return Stored::Refused(format!("notification {e}"));
        }
        if events.contains(&"credential_accepted") {
            return Stored::Accepted;
        }
        let failed = [&self.receive, &self.poll]
            .into_iter()
            .flatten()
            .any(|o| o.success == Some(false));
        if failed {
            return Stored::Refused(format!(
                "the wallet command failed: {}",
                self.drive_summary()
            ));
        }
        Stored::Unconfirmed(self.drive_summary())
    }

    /// A failed assertion when the runner could not set the scenario up.
    fn setup_failure(&self, name: &str) -> Option<Assertion> {
        self.setup_error
            .as_ref()
            .map(|e| Assertion::fail(name, "the reference issuer serves the scenario", e.clone()))
    }
}

/// The attestation challenge path of the reference issuer.
pub const CHALLENGE_PATH: &str = "/challenge";

fn wrap(t: &Transaction, name: &str, body: impl FnOnce() -> Vec<Assertion>) -> Vec<Assertion> {
    if let Some(a) = t.setup_failure(name) {
        return vec![a];
    }
    body()
}

fn tagged(t: &Transaction, name: &str) -> String {
    format!("{name} [{}]", t.scenario.label())
}

/// CONF-C01-05: offer → (offer URI) → issuer and AS metadata → the grant's first request.
pub fn c01_05(t: &Transaction) -> Vec<Assertion> {
    let name = tagged(t, "offer processing");
    wrap(t, &name, || {
        let mut out = Vec::new();
        let mut order = Vec::new();
        if let Some(path) = &t.offer_path {
            let fetched = t.first(path);
            out.push(Assertion::check(
                fetched.is_some_and(|o| o.method == "GET" && o.status == 200),
                &format!("{name}: offer URI fetched"),
                "GET credential_offer_uri → 200",
                fetched.map_or("never fetched".into(), |o| {
                    format!("{} {}", o.method, o.status)
                }),
            ));
            order.push(("credential_offer_uri", fetched.map(|o| o.seq)));
        }
        let issuer_md = t.first("/.well-known/openid-credential-issuer");
        let as_md = t.first("/.well-known/oauth-authorization-server");
        order.push(("issuer metadata", issuer_md.map(|o| o.seq)));
        order.push(("AS metadata", as_md.map(|o| o.seq)));
        let (grant_path, grant) = match t.scenario.grant {
            super::Grant::PreAuthorized => ("/token", t.first("/token")),
            super::Grant::AuthorizationCode => ("/par", t.first("/par")),
        };
        order.push((grant_path, grant.map(|o| o.seq)));
        let missing: Vec<&str> = order
            .iter()
            .filter(|(_, s)| s.is_none())
            .map(|(n, _)| *n)
            .collect();
        let seqs: Vec<u64> = order.iter().filter_map(|(_, s)| *s).collect();
        let in_order = seqs.windows(2).all(|w| w.first() < w.get(1));
        out.push(Assertion::check(
            missing.is_empty() && in_order,
            &format!("{name}: fetch order"),
            &format!(
                "{} in this order",
                order
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
            if missing.is_empty() {
                format!("order by arrival: {seqs:?}")
            } else {
                format!("missing: {}", missing.join(", "))
            },
        ));
        let carried = match t.scenario.grant {
            super::Grant::PreAuthorized => {
                grant.and_then(|o| o.form_value("pre-authorized_code")) == t.offered_code()
            }
            super::Grant::AuthorizationCode => {
                grant.and_then(|o| o.form_value("issuer_state")) == t.offered_issuer_state()
            }
        };
        out.push(Assertion::check(
            grant.is_some() && carried,
            &format!("{name}: the offered value is used"),
            match t.scenario.grant {
                super::Grant::PreAuthorized => {
                    "the token request carries the offered pre-authorized_code"
                }
                super::Grant::AuthorizationCode => "the PAR carries the offered issuer_state",
            },
            if grant.is_none() {
                "no such request".to_owned()
            } else if carried {
                "it does".to_owned()
            } else {
                "a different or no value".to_owned()
            },
        ));
        if let Some(first) = out.first_mut() {
            first.exchanges.extend(t.exchanges_of(&[
                t.offer_path.as_deref().unwrap_or("-"),
                "/.well-known/openid-credential-issuer",
                "/.well-known/oauth-authorization-server",
                grant_path,
            ]));
        }
        out
    })
}

fn field_is(o: &Observed, name: &str, want: &str) -> bool {
    o.form_value(name) == Some(want)
}

/// CONF-C02-03: PAR parameters, the browser step, the token request.
pub fn c02_03(t: &Transaction) -> Vec<Assertion> {
    let name = tagged(t, "authorization code flow");
    wrap(t, &name, || {
        let mut out = Vec::new();
        let Some(par) = t.first("/par") else {
            return vec![
                Assertion::fail(&name, "a pushed authorization request", "none")
                    .with_exchanges(t.exchanges()),
            ];
        };
        let mut missing = Vec::new();
        for field in ["client_id", "redirect_uri", "state", "code_challenge"] {
            if par.form_value(field).is_none_or(str::is_empty) {
                missing.push(field.to_owned());
            }
        }
        if !field_is(par, "response_type", "code") {
            missing.push("response_type=code".into());
        }
        if !field_is(par, "code_challenge_method", "S256") {
            missing.push("code_challenge_method=S256".into());
        }
        if par.form_value("scope").is_none() && par.form_value("authorization_details").is_none() {
            missing.push("scope or authorization_details".into());
        }
        out.push(
            Assertion::check(
                missing.is_empty(),
                &format!("{name}: PAR parameters"),
                "response_type=code, client_id, redirect_uri, state, code_challenge, code_challenge_method=S256, scope or authorization_details",
                if missing.is_empty() { "all present".into() } else { format!("missing or wrong: {}", missing.join(", ")) },
            )
            .with_exchanges(vec![par.exchange("PAR")]),
        );
        let authorize = t.first("/authorize");
        let keys: Vec<&str> = authorize
            .map(|o| o.query.iter().map(|(k, _)| k.as_str()).collect())
            .unwrap_or_default();
        let only = authorize.is_some()
            && keys.contains(&"client_id")
            && keys.contains(&"request_uri")
            && keys
                .iter()
                .all(|k| *k == "client_id" || *k == "request_uri");
        out.push(
            Assertion::check(
                only,
                &format!("{name}: authorization request"),
                "GET /authorize with only client_id and request_uri",
                authorize.map_or("no authorization request".into(), |_| {
                    format!("parameters: {}", keys.join(", "))
                }),
            )
            .with_exchanges(
                authorize
                    .map(|o| vec![o.exchange("authorization request")])
                    .unwrap_or_default(),
            ),
        );
        let token = t
            .requests("/token")
            .find(|o| o.form_value("grant_type") == Some("authorization_code"));
        let token_ok = token.is_some_and(|o| {
            ["code", "redirect_uri", "code_verifier"]
                .iter()
                .all(|f| o.form_value(f).is_some_and(|v| !v.is_empty()))
                && o.form_value("redirect_uri") == par.form_value("redirect_uri")
        });
        out.push(
            Assertion::check(
                token_ok,
                &format!("{name}: token request"),
                "grant_type=authorization_code with code, the PAR's redirect_uri and code_verifier",
                token.map_or("no authorization_code token request".into(), |o| {
                    format!(
                        "fields: {}",
                        o.form
                            .iter()
                            .map(|(k, _)| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
            )
            .with_exchanges(
                token
                    .map(|o| vec![o.exchange("token request")])
                    .unwrap_or_default(),
            ),
        );
        let credential = t.first("/credential");
        out.push(Assertion::check(
            credential.is_some(),
            &format!("{name}: credential request follows"),
            "a credential request with the access token",
            credential.map_or("none".into(), |o| format!("status {}", o.status)),
        ));
        out
    })
}

/// CONF-C03-04: the PKCE pair.
pub fn c03_04(t: &Transaction) -> Vec<Assertion> {
    let name = tagged(t, "PKCE");
    wrap(t, &name, || {
        let Some(par) = t.first("/par") else {
            return vec![
                Assertion::fail(&name, "a PAR with code_challenge", "no PAR")
                    .with_exchanges(t.exchanges()),
            ];
        };
        let method = par.form_value("code_challenge_method");
        let mut out = vec![
            Assertion::check(
                method == Some("S256"),
                &format!("{name}: method"),
                "code_challenge_method=S256",
                method.unwrap_or("absent").to_owned(),
            )
            .with_exchanges(vec![par.exchange("PAR")]),
        ];
        let Some(token) = t
            .requests("/token")
            .find(|o| o.form_value("code_verifier").is_some())
        else {
            out.push(Assertion::fail(
                &format!("{name}: code_verifier"),
                "a token request with code_verifier",
                "none",
            ));
            return out;
        };
        let verifier = token.form_value("code_verifier").unwrap_or_default();
        let challenge = par.form_value("code_challenge").unwrap_or_default();
        let unreserved = verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'));
        let len = verifier.chars().count();
        let expected = avow_crypto::hash::sha256_b64(verifier.as_bytes());
        let matches =
            avow_crypto::hash::constant_time_eq(expected.as_bytes(), challenge.as_bytes());
        out.push(Assertion::check(
            (43..=128).contains(&len) && unreserved,
            &format!("{name}: code_verifier"),
            "43–128 unreserved characters",
            format!("{len} characters, unreserved only: {unreserved}"),
        ));
        out.push(
            Assertion::check(
                matches,
                &format!("{name}: code_challenge"),
                "BASE64URL(SHA-256(code_verifier))",
                if matches {
                    "matches"
                } else {
                    "does not match the verifier"
                },
            )
            .with_exchanges(vec![token.exchange("token request")]),
        );
        out
    })
}

/// Checks one request's WIA + PoP (CONF-C03A-06); problems found.
fn attestation_problems(
    t: &Transaction,
    o: &Observed,
    anchors: &TrustAnchors,
    seen_jti: &mut Vec<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(wia) = o.header("oauth-client-attestation") else {
        return vec!["no OAuth-Client-Attestation header".into()];
    };
    let Some(pop) = o.header("oauth-client-attestation-pop") else {
        return vec!["no OAuth-Client-Attestation-PoP header".into()];
    };
    let (Some(wia), Some(pop)) = (Jwt::parse(wia), Jwt::parse(pop)) else {
        return vec!["an attestation header is not a JWT".into()];
    };
    if wia.typ() != Some("oauth-client-attestation+jwt") {
        problems.push(format!("WIA typ {:?}", wia.typ()));
    }
    match wia.x5c_key(anchors, secs(o)) {
        Ok(key) if wia.verifies_with(&key) => {}
        Ok(_) => problems.push("the WIA signature does not verify with its x5c leaf".into()),
        Err(e) => problems.push(format!("WIA {e}")),
    }
    let client_id = o
        .form_value("client_id")
        .map(str::to_owned)
        .or_else(|| t.client_id());
    if client_id.is_some() && wia.str_claim("sub") != client_id.as_deref() {
        problems.push("WIA sub ≠ client_id".into());
    }
    let cnf = jwk_of(wia.claims.get("cnf").and_then(|c| c.get("jwk")));
    match &cnf {
        None => problems.push("WIA without cnf.jwk".into()),
        Some(key) if !pop.verifies_with(key) => {
            problems.push("the PoP is not signed by the WIA cnf key".into());
        }
        Some(_) => {}
    }
    if pop.typ() != Some("oauth-client-attestation-pop+jwt") {
        problems.push(format!("PoP typ {:?}", pop.typ()));
    }
    let aud_ok = match pop.claims.get("aud") {
        Some(Value::String(a)) => a == &t.issuer_url,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(&t.issuer_url)),
        _ => false,
    };
    if !aud_ok {
        problems.push("PoP aud ≠ the AS issuer identifier".into());
    }
    match pop.claims.get("iat").and_then(Value::as_i64) {
        Some(iat) if (iat - secs(o)).abs() <= IAT_WINDOW => {}
        Some(iat) => problems.push(format!("PoP iat {} s off", iat - secs(o))),
        None => problems.push("PoP without iat".into()),
    }
    match pop.str_claim("jti") {
        Some(jti) if seen_jti.iter().any(|j| j == jti) => {
            problems.push("PoP jti reused".into());
        }
        Some(jti) => seen_jti.push(jti.to_owned()),
        None => problems.push("PoP without jti".into()),
    }
    let issued = t.challenges_before(o.seq);
    if !issued.is_empty() {
        match pop.str_claim("challenge") {
            Some(c) if issued.iter().any(|i| i == c) => {}
            Some(_) => problems.push("PoP challenge is not one the runner issued".into()),
            None => problems.push("PoP without the challenge the runner issued".into()),
        }
    }
    problems
}

/// CONF-C03A-06: WIA + PoP at PAR and token.
pub fn c03a_06(t: &Transaction, anchors: &TrustAnchors) -> Vec<Assertion> {
    let name = tagged(t, "wallet attestation");
    wrap(t, &name, || {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        let mut targets: Vec<&Observed> = Vec::new();
        if t.scenario.grant == super::Grant::AuthorizationCode {
            match t.first("/par") {
                Some(o) => targets.push(o),
                None => out.push(Assertion::fail(
                    &format!("{name}: PAR"),
                    "a PAR with WIA + PoP",
                    "no PAR",
                )),
            }
        }
        match t.requests("/token").next() {
            Some(o) => targets.push(o),
            None => out.push(Assertion::fail(
                &format!("{name}: token"),
                "a token request with WIA + PoP",
                "no token request",
            )),
        }
        for o in targets {
            let problems = attestation_problems(t, o, anchors, &mut seen);
            out.push(
                Assertion::check(
                    problems.is_empty(),
                    &format!("{name}: {}", o.path),
                    "WIA (typ, x5c to the provider anchor, sub = client_id, cnf.jwk) and PoP (typ, cnf key, aud = AS issuer, fresh iat, unique jti, the issued challenge)",
                    if problems.is_empty() { "as expected".into() } else { problems.join("; ") },
                )
                .with_exchanges(vec![o.exchange(&o.path)]),
            );
        }
        out
    })
}

/// CONF-C04-04: the pre-authorized code grant, and no PAR / authorization.
pub fn c04_04(t: &Transaction) -> Vec<Assertion> {
    let name = tagged(t, "pre-authorized code grant");
    wrap(t, &name, || {
        let token = t.first("/token");
        let ok = token.is_some_and(|o| {
            o.form_value("grant_type") == Some(PRE_AUTHORIZED_GRANT)
                && o.form_value("pre-authorized_code") == t.offered_code()
        });
        let detours: Vec<&str> = t
            .observed
            .iter()
            .filter(|o| o.path == "/par" || o.path.starts_with("/authorize"))
            .map(|o| o.path.as_str())
            .collect();
        vec![
            Assertion::check(
                ok,
                &format!("{name}: token request"),
                "grant_type=urn:ietf:params:oauth:grant-type:pre-authorized_code with the offered code",
                token.map_or("no token request".into(), |o| {
                    format!("grant_type={}", o.form_value("grant_type").unwrap_or("absent"))
                }),
            )
            .with_exchanges(token.map(|o| vec![o.exchange("token request")]).unwrap_or_default()),
            Assertion::check(
                detours.is_empty(),
                &format!("{name}: no PAR or authorization call"),
                "none",
                if detours.is_empty() { "none".into() } else { detours.join(", ") },
            ),
        ]
    })
}

/// The `credential_identifiers` of the token response, if any.
fn token_identifiers(t: &Transaction) -> Vec<String> {
    t.requests("/token")
        .filter(|o| o.succeeded())
        .filter_map(Observed::response_json)
        .flat_map(|v| {
            v.get("authorization_details")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|d| {
            d.get("credential_identifiers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// CONF-C05-05: one selector consistent with the token response, `proofs` with one type, never `proof`.
pub fn c05_05(t: &Transaction) -> Vec<Assertion> {
    let name = tagged(t, "credential request shape");
    wrap(t, &name, || {
        let requests = t.credential_requests();
        if requests.is_empty() {
            return vec![
                Assertion::fail(&name, "a credential request", "none (or not readable)")
                    .with_exchanges(t.exchanges()),
            ];
        }
        let identifiers = token_identifiers(t);
        let offered: Vec<&str> = t
            .offer
            .get("credential_configuration_ids")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        requests
            .into_iter()
            .map(|(o, body)| {
                let mut problems = Vec::new();
                let by_id = body.get("credential_identifier").and_then(Value::as_str);
                let by_config = body.get("credential_configuration_id").and_then(Value::as_str);
                match (by_id, by_config) {
                    (Some(_), Some(_)) => problems.push("both selectors".to_owned()),
                    (None, None) => problems.push("no selector".to_owned()),
                    (Some(id), None) if !identifiers.iter().any(|i| i == id) => {
                        problems.push("credential_identifier not from the token response".into());
                    }
                    (None, Some(_)) if !identifiers.is_empty() => problems.push(
                        "credential_configuration_id although the token response returned credential_identifiers".into(),
                    ),
                    (None, Some(c)) if !offered.contains(&c) => {
                        problems.push("credential_configuration_id not in the offer".into());
                    }
                    _ => {}
                }
                if body.get("proof").is_some() {
                    problems.push("the legacy proof parameter".into());
                }
                match body.get("proofs").and_then(Value::as_object) {
                    Some(p) if p.len() == 1 => {}
                    Some(p) => problems.push(format!("proofs with {} proof types", p.len())),
                    None => problems.push("no proofs object".into()),
                }
                Assertion::check(
                    problems.is_empty(),
                    &name,
                    "exactly one selector consistent with the token response; proofs with one proof type; no proof",
                    if problems.is_empty() { "as expected".into() } else { problems.join("; ") },
                )
                .with_exchanges(vec![o.exchange("credential request")])
            })
            .collect()
    })
}

/// The key a `jwt` proof is signed with: its `jwk`, else the first attested key.
fn proof_key(proof: &Jwt) -> Option<EcPublicJwk> {
    if let Some(key) = jwk_of(proof.header.get("jwk")) {
        return Some(key);
    }
    let wua = Jwt::parse(proof.header.get("key_attestation")?.as_str()?)?;
    jwk_of(wua.claims.get("attested_keys")?.as_array()?.first())
}

fn jwt_proofs(body: &Value) -> Vec<String> {
    body.pointer("/proofs/jwt")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// CONF-C06-04: every `jwt` proof, and distinct keys within `batch_size`.
pub fn c06_04(t: &Transaction) -> Vec<Assertion> {
    let name = tagged(t, "jwt key proofs");
    wrap(t, &name, || {
        let requests = t.credential_requests();
        let with_jwt: Vec<_> = requests
            .iter()
            .filter(|(_, b)| !jwt_proofs(b).is_empty())
            .collect();
        if with_jwt.is_empty() {
            return vec![
                Assertion::fail(&name, "a credential request with jwt proofs", "none")
                    .with_exchanges(t.exchanges()),
            ];
        }
        let allowed: Vec<String> = t
            .configuration_metadata()
            .and_then(|c| {
                c.pointer("/proof_types_supported/jwt/proof_signing_alg_values_supported")
            })
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let client_id = t.client_id();
        let mut out = Vec::new();
        for (o, body) in with_jwt {
            let latest = t.c_nonces_before(o.seq).pop();
            let proofs = jwt_proofs(body);
            let mut problems = Vec::new();
            let mut keys = Vec::new();
            for (i, compact) in proofs.iter().enumerate() {
                let Some(proof) = Jwt::parse(compact) else {
                    problems.push(format!("proof {i}: not a JWS"));
                    continue;
                };
                if proof.typ() != Some("openid4vci-proof+jwt") {
                    problems.push(format!("proof {i}: typ {:?}", proof.typ()));
                }
                let alg = proof
                    .header
                    .get("alg")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !allowed.iter().any(|a| a == alg) {
                    problems.push(format!("proof {i}: alg {alg} not supported"));
                }
                if proof.str_claim("aud") != Some(&t.issuer_url) {
                    problems.push(format!("proof {i}: aud ≠ the credential issuer"));
                }
                if latest.is_none() || proof.str_claim("nonce") != latest.as_deref() {
                    problems.push(format!("proof {i}: nonce is not the latest c_nonce"));
                }
                match proof.claims.get("iat").and_then(Value::as_i64) {
                    Some(iat) if (iat - secs(o)).abs() <= IAT_WINDOW => {}
                    other => {
                        problems.push(format!("proof {i}: iat {other:?} outside ±{IAT_WINDOW} s"))
                    }
                }
                if let Some(id) = &client_id
                    && proof.str_claim("iss") != Some(id.as_str())
                {
                    problems.push(format!("proof {i}: iss ≠ client_id"));
                }
                match proof_key(&proof) {
                    Some(key) if proof.verifies_with(&key) => keys.push(key.thumbprint()),
                    Some(_) => problems.push(format!("proof {i}: signature does not verify")),
                    None => problems.push(format!("proof {i}: no key (jwk or key_attestation)")),
                }
            }
            let mut distinct = keys.clone();
            distinct.sort();
            distinct.dedup();
            if distinct.len() != keys.len() {
                problems.push("two proofs with the same key".into());
            }
            if proofs.len() > t.batch_size() {
                problems.push(format!(
                    "{} proofs, batch_size {}",
                    proofs.len(),
                    t.batch_size()
                ));
            }
            out.push(
                Assertion::check(
                    problems.is_empty(),
                    &format!("{name}: {} proof(s)", proofs.len()),
                    "typ openid4vci-proof+jwt, supported alg, aud = issuer, nonce = latest c_nonce, iat ±60 s, iss = client_id, valid signature; distinct keys, at most batch_size",
                    if problems.is_empty() { "as expected".into() } else { problems.join("; ") },
                )
                .with_exchanges(t.exchanges_of(&["/nonce", "/credential"])),
            );
        }
        out
    })
}

/// Whether the configuration demands key attestations.
fn requires_key_attestation(t: &Transaction) -> bool {
    t.configuration_metadata().is_some_and(|c| {
        c.get("proof_types_supported")
            .and_then(Value::as_object)
            .is_some_and(|p| {
                p.contains_key("attestation")
                    || p.values()
                        .any(|v| v.get("key_attestations_required").is_some())
            })
    })
}

fn wua_problems(wua: &Jwt, nonce: Option<&str>, anchors: &TrustAnchors, now: i64) -> Vec<String> {
    let mut problems = Vec::new();
    if wua.typ() != Some("key-attestation+jwt") {
        problems.push(format!("WUA typ {:?}", wua.typ()));
    }
    match wua.x5c_key(anchors, now) {
        Ok(key) if wua.verifies_with(&key) => {}
        Ok(_) => problems.push("the WUA signature does not verify with its x5c leaf".into()),
        Err(e) => problems.push(format!("WUA {e}")),
    }
    if wua.claims.get("exp").and_then(Value::as_i64).is_none() {
        problems.push("WUA without exp".into());
    }
    if nonce.is_none() || wua.str_claim("nonce") != nonce {
        problems.push("WUA nonce is not the c_nonce".into());
    }
    if wua
        .claims
        .get("attested_keys")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        problems.push("WUA without attested_keys".into());
    }
    problems
}

/// CONF-C06A-04: the WUA in `key_attestation` (jwt) or as the single `attestation`.
pub fn c06a_04(t: &Transaction, anchors: &TrustAnchors) -> Vec<Assertion> {
    let name = tagged(t, "key attestation");
    wrap(t, &name, || {
        if !requires_key_attestation(t) {
            return vec![Assertion::not_applicable(
                &name,
                "the configuration requires no key attestation",
            )];
        }
        let requests = t.credential_requests();
        if requests.is_empty() {
            return vec![
                Assertion::fail(&name, "a credential request", "none")
                    .with_exchanges(t.exchanges()),
            ];
        }
        let mut out = Vec::new();
        for (o, body) in requests {
            let nonce = t.c_nonces_before(o.seq).pop();
            let mut problems = Vec::new();
            let jwt = jwt_proofs(body);
            let attestations: Vec<&str> = body
                .pointer("/proofs/attestation")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !jwt.is_empty() {
                for (i, compact) in jwt.iter().enumerate() {
                    let Some(proof) = Jwt::parse(compact) else {
                        continue;
                    };
                    let Some(wua) = proof
                        .header
                        .get("key_attestation")
                        .and_then(Value::as_str)
                        .and_then(Jwt::parse)
                    else {
                        problems.push(format!("proof {i}: no key_attestation header"));
                        continue;
                    };
                    problems.extend(
                        wua_problems(&wua, nonce.as_deref(), anchors, secs(o))
                            .into_iter()
                            .map(|p| format!("proof {i}: {p}")),
                    );
                    let first = jwk_of(
                        wua.claims
                            .get("attested_keys")
                            .and_then(Value::as_array)
                            .and_then(|a| a.first()),
                    );
                    if !first.is_some_and(|k| proof.verifies_with(&k)) {
                        problems.push(format!("proof {i}: not signed by attested_keys[0]"));
                    }
                }
            } else if attestations.len() == 1 {
                match attestations.first().and_then(|a| Jwt::parse(a)) {
                    Some(wua) => {
                        problems.extend(wua_problems(&wua, nonce.as_deref(), anchors, secs(o)))
                    }
                    None => problems.push("the attestation is not a JWT".into()),
                }
            } else {
                problems.push(format!(
                    "{} attestation elements (exactly one expected)",
                    attestations.len()
                ));
            }
            out.push(
                Assertion::check(
                    problems.is_empty(),
                    &name,
                    "WUA (typ key-attestation+jwt, x5c to the provider anchor, exp, nonce = c_nonce) in key_attestation signed by attested_keys[0], or as the single attestation",
                    if problems.is_empty() { "as expected".into() } else { problems.join("; ") },
                )
                .with_exchanges(vec![o.exchange("credential request")]),
            );
        }
        out
    })
}

/// CONF-C07-06 (one variant): the wallet stores a credential it can tie to the issuer.
pub fn stores(t: &Transaction) -> Assertion {
    let name = tagged(t, "stored");
    if let Some(a) = t.setup_failure(&name) {
        return a;
    }
    let expected = "the wallet validates and keeps the credential (credential_accepted, or its command succeeds)";
    let evidence = t.exchanges_of(&["/credential", "/deferred_credential", "/notification"]);
    match t.stored() {
        Stored::Accepted => {
            Assertion::pass(&name, expected, "credential_accepted").with_exchanges(evidence)
        }
        Stored::Unconfirmed(s) => Assertion::pass(&name, expected, "the wallet command succeeded")
            .with_note(format!("no notification was sent; {s}"))
            .with_exchanges(evidence),
        Stored::Refused(why) => Assertion::fail(&name, expected, why).with_exchanges(t.exchanges()),
        Stored::NothingIssued(why) => {
            Assertion::fail(&name, expected, format!("no credential was issued: {why}"))
                .with_exchanges(t.exchanges())
        }
        Stored::TimedOut(why) => {
            Assertion::fail(&name, expected, format!("the wallet did not finish: {why}"))
                .with_exchanges(t.exchanges())
        }
    }
}

/// CONF-C07-06 (negative): a credential signed by an unpublished key is refused.
pub fn refuses(t: &Transaction) -> Assertion {
    let name = tagged(t, "refused");
    if let Some(a) = t.setup_failure(&name) {
        return a;
    }
    let expected =
        "the wallet refuses it (credential_failure, or its command fails) and never accepts it";
    match t.stored() {
        Stored::Refused(why) => Assertion::pass(&name, expected, why)
            .with_exchanges(t.exchanges_of(&["/credential", "/notification"])),
        Stored::Accepted => {
            Assertion::fail(&name, expected, "credential_accepted").with_exchanges(t.exchanges())
        }
        Stored::Unconfirmed(s) => Assertion::fail(
            &name,
            expected,
            format!("the wallet command succeeded: {s}"),
        )
        .with_exchanges(t.exchanges()),
        Stored::NothingIssued(why) => Assertion::fail(
            &name,
            expected,
            format!("the probe did not get as far as issuing: {why}"),
        )
        .with_exchanges(t.exchanges()),
        // A wallet that hangs has not refused anything (CONF-RUN-04).
        Stored::TimedOut(why) => Assertion::fail(
            &name,
            expected,
            format!("the wallet did not finish, which is not a refusal: {why}"),
        )
        .with_exchanges(t.exchanges()),
    }
}

/// CONF-C08-03: no `jwt` proof for an mdoc configuration.
pub fn c08_03(t: &Transaction) -> Vec<Assertion> {
    let name = tagged(t, "mdoc proof type");
    wrap(t, &name, || {
        let requests = t.credential_requests();
        let jwt: Vec<_> = requests
            .iter()
            .filter(|(_, b)| b.pointer("/proofs/jwt").is_some())
            .collect();
        vec![
            Assertion::check(
                !requests.is_empty() && jwt.is_empty(),
                &name,
                "credential requests without a jwt proof",
                if requests.is_empty() {
                    "no credential request".into()
                } else {
                    format!(
                        "{} of {} requests carry proofs.jwt",
                        jwt.len(),
                        requests.len()
                    )
                },
            )
            .with_exchanges(t.exchanges_of(&["/credential"])),
        ]
    })
}

/// CONF-C09-01 / -02: the `tx_code` at the token endpoint.
pub fn c09(t: &Transaction, must_match: bool) -> Vec<Assertion> {
    let name = tagged(t, "transaction code");
    wrap(t, &name, || {
        let token = t.first("/token");
        let sent = token.and_then(|o| o.form_value("tx_code"));
        let mut out = vec![
            Assertion::check(
                if must_match {
                    sent.is_some() && sent == t.tx_code.as_deref()
                } else {
                    sent.is_some()
                },
                &format!("{name}: sent"),
                if must_match {
                    "tx_code = the value given through the hook"
                } else {
                    "a tx_code parameter"
                },
                match sent {
                    None => "no tx_code".to_owned(),
                    Some(v) if Some(v) == t.tx_code.as_deref() => "the given value".to_owned(),
                    Some(_) => "another value".to_owned(),
                },
            )
            .with_exchanges(
                token
                    .map(|o| vec![o.exchange("token request")])
                    .unwrap_or_default(),
            ),
        ];
        if !must_match {
            out.push(stores(t));
        }
        out
    })
}

/// CONF-C10-05 / C11-01: encrypted responses with only `enc` on offer.
pub fn c10_05(t: &Transaction, enc: &str) -> Vec<Assertion> {
    let name = tagged(t, "response encryption");
    wrap(t, &name, || {
        let requests = t.credential_requests();
        if requests.is_empty() {
            return vec![
                Assertion::fail(&name, "a readable credential request", "none")
                    .with_exchanges(t.exchanges()),
            ];
        }
        let algs: Vec<String> = t
            .metadata
            .pointer("/credential_response_encryption/alg_values_supported")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        for (o, body) in requests {
            let p = body.get("credential_response_encryption");
            let mut problems = Vec::new();
            match p {
                None => problems.push("no credential_response_encryption".to_owned()),
                Some(p) => {
                    if p.get("enc").and_then(Value::as_str) != Some(enc) {
                        problems.push(format!("enc {:?}", p.get("enc")));
                    }
                    let jwk = p.get("jwk");
                    if jwk.is_some_and(|k| k.get("d").is_some()) {
                        problems.push("the jwk carries a private key".into());
                    }
                    if jwk_of(jwk).is_none() {
                        problems.push("no usable EC P-256 jwk".into());
                    }
                    let alg = jwk.and_then(|k| k.get("alg")).and_then(Value::as_str);
                    if !alg.is_some_and(|a| algs.iter().any(|s| s == a)) {
                        problems.push(format!("jwk alg {alg:?} not in alg_values_supported"));
                    }
                }
            }
            if o.status == 200
                && !o
                    .response_header("content-type")
                    .is_some_and(|c| c.starts_with("application/jwt"))
            {
                problems.push("the issuer's answer was not encrypted".into());
            }
            out.push(
                Assertion::check(
                    problems.is_empty(),
                    &format!("{name}: request"),
                    &format!("credential_response_encryption {{jwk (public, alg ∈ alg_values_supported), enc: {enc}}}"),
                    if problems.is_empty() { "as expected".into() } else { problems.join("; ") },
                )
                .with_exchanges(vec![o.exchange("credential request")]),
            );
        }
        out.push(stores(t));
        out
    })
}

/// CONF-WDEF-01: deferred polling.
pub fn deferred_polling(t: &Transaction) -> Vec<Assertion> {
    let name = tagged(t, "deferred polling");
    wrap(t, &name, || {
        let accepted = t.requests("/credential").find(|o| o.status == 202);
        let Some(accepted) = accepted else {
            return vec![
                Assertion::fail(
                    &name,
                    "a 202 deferred answer to the credential request",
                    "none",
                )
                .with_exchanges(t.exchanges()),
            ];
        };
        let answer = accepted.response_json().unwrap_or(Value::Null);
        let transaction_id = answer
            .get("transaction_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut interval = answer.get("interval").and_then(Value::as_i64).unwrap_or(5) * 1000;
        // The last "wait" answer; a retry after another answer (a DPoP nonce
        // challenge) belongs to the same poll and is measured from it too.
        let mut last = accepted.at_ms;
        let polls: Vec<&Observed> = t.requests("/deferred_credential").collect();
        let mut problems = Vec::new();
        if polls.is_empty() {
            problems.push("the wallet never polled".to_owned());
        }
        for (i, poll) in polls.iter().enumerate() {
            let waited = poll.at_ms - last;
            // The runner's clock granularity and scheduling: 100 ms of grace.
            if waited + 100 < interval {
                problems.push(format!(
                    "poll {i} came {waited} ms after the last answer (interval {interval} ms)"
                ));
            }
            if poll
                .json
                .as_ref()
                .and_then(|j| j.get("transaction_id"))
                .and_then(Value::as_str)
                != Some(transaction_id.as_str())
            {
                problems.push(format!("poll {i}: not the transaction_id"));
            }
            if !poll
                .header("authorization")
                .is_some_and(|a| a.starts_with("DPoP "))
                || poll.header("dpop").is_none()
            {
                problems.push(format!(
                    "poll {i}: not a DPoP-bound access token with a DPoP proof"
                ));
            }
            if poll.status == 202 {
                last = poll.at_ms;
                if let Some(next) = poll
                    .response_json()
                    .and_then(|v| v.get("interval").and_then(Value::as_i64))
                {
                    interval = next * 1000;
                }
            }
        }
        let fetched = polls.iter().any(|p| p.status == 200);
        if !fetched && !polls.is_empty() {
            problems.push("the wallet stopped before fetching the credential".into());
        }
        vec![
            Assertion::check(
                problems.is_empty(),
                &format!("{name}: polling"),
                "POST deferred_credential {transaction_id} with the DPoP-bound token, never before interval, until the credential arrives",
                if problems.is_empty() { format!("{} poll(s)", polls.len()) } else { problems.join("; ") },
            )
            .with_exchanges(t.exchanges_of(&["/credential", "/deferred_credential"])),
            stores(t),
        ]
    })
}

/// CONF-WNOTIF-01: the notification of a transaction (`accepted`: the event expected).
pub fn notification(t: &Transaction, accepted: bool) -> Vec<Assertion> {
    let name = tagged(t, "notification");
    wrap(t, &name, || {
        let want = if accepted {
            "credential_accepted"
        } else {
            "credential_failure"
        };
        let issued_id = t
            .requests("/credential")
            .filter(|o| o.status == 200)
            .filter_map(Observed::response_json)
            .find_map(|v| {
                v.get("notification_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        let notification = t.first("/notification");
        let mut problems = Vec::new();
        match notification {
            None => problems.push("no notification".to_owned()),
            Some(o) => {
                let body = o.json.clone().unwrap_or(Value::Null);
                if body.get("event").and_then(Value::as_str) != Some(want) {
                    problems.push(format!("event {:?}", body.get("event")));
                }
                if issued_id.is_none()
                    || body.get("notification_id").and_then(Value::as_str) != issued_id.as_deref()
                {
                    problems.push("not the notification_id of the response".into());
                }
                if let Some(d) = body.get("event_description").and_then(Value::as_str)
                    && !d.chars().all(|c| c.is_ascii() && !c.is_ascii_control())
                {
                    problems.push("event_description is not printable ASCII".into());
                }
                if !o
                    .header("authorization")
                    .is_some_and(|a| a.starts_with("DPoP "))
                    || o.header("dpop").is_none()
                {
                    problems.push("not a DPoP-bound access token with a DPoP proof".into());
                }
                if o.status != 204 {
                    problems.push(format!("the issuer answered {}", o.status));
                }
            }
        }
        vec![
            Assertion::check(
                problems.is_empty(),
                &name,
                &format!("POST notification {{notification_id, event: {want}}} with the DPoP-bound access token"),
                if problems.is_empty() { "as expected".into() } else { problems.join("; ") },
            )
            .with_exchanges(t.exchanges_of(&["/notification"])),
        ]
    })
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
