//! Issuer-under-test mode: the runner is a reference wallet with its own
//! wallet provider. [`Iut`] holds what discovery found and the inputs
//! (offers, admin API, login script, trust anchors); [`Tx`] is one fresh
//! transaction (its own DPoP key, wallet instance key and WIA), so a
//! negative probe never spoils a later step (CONF-RUN-04).

pub mod attestations;
pub mod cases;
pub mod checks;
pub mod encryption;
pub mod oidf;
pub mod oidf_as;
pub mod proofs;
pub mod signature;

use crate::error::ConformanceError;
use crate::http::{Body, Http, Request, Response, param, query_params};
use crate::login_script::{DEFAULT_REDIRECT_URI, LoginScript};
use crate::pki::{WalletProviderPki, attestation_pop};
use crate::report::{Assertion, SkipKind};
use crate::transcript::{Exchange, Recorder};
use avow_core::client_attestation::ATTEST_JWT_CLIENT_AUTH;
use avow_core::metadata::{AuthorizationServerMetadata, CredentialIssuerMetadata, well_known_url};
use avow_core::offer::PRE_AUTHORIZED_CODE_GRANT;
use avow_crypto::dpop::{NewDpopProof, create_proof};
use avow_crypto::x509::TrustAnchors;
use avow_crypto::{Random, Signer, SoftwareSigner, SystemRandom};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// The issuer's admin API, when the IUT is Avow (offers on demand).
#[derive(Debug, Clone)]
pub struct AdminApi {
    pub url: String,
    pub token: String,
    /// The holder the offers are made for.
    pub holder_id: String,
}

/// The inputs of an issuer run.
#[derive(Debug, Clone)]
pub struct IutOptions {
    pub credential_issuer: String,
    pub admin: Option<AdminApi>,
    /// Offer links to use, one per transaction that needs an offer.
    pub offers: Vec<String>,
    /// The transaction code of the given offers that ask for one.
    pub tx_code: Option<String>,
    pub login_script: Option<LoginScript>,
    pub redirect_uri: Option<String>,
    /// The runner wallet's client_id (the WIA `sub`).
    pub client_id: String,
    /// Issuer CAs / IACAs the credentials' `x5c` must chain to: (source, DER).
    pub issuer_trust_anchors: Vec<(String, Vec<u8>)>,
    pub allow_http_loopback: bool,
    /// Seconds to wait for single-use values to expire (expired-code and
    /// expired-nonce probes); `None` skips those probes.
    pub expiry_wait: Option<u64>,
    /// The configuration the generic checks use (default: the first SD-JWT VC one).
    pub configuration: Option<String>,
}

impl IutOptions {
    pub fn new(credential_issuer: &str) -> Self {
        Self {
            credential_issuer: credential_issuer.trim_end_matches('/').to_owned(),
            admin: None,
            offers: Vec::new(),
            tx_code: None,
            login_script: None,
            redirect_uri: None,
            client_id: "https://wallet.conformance.avow.dev".into(),
            issuer_trust_anchors: Vec::new(),
            allow_http_loopback: false,
            expiry_wait: None,
            configuration: None,
        }
    }
}

/// How an issued credential conveys its issuer key (CONF-C07-01 … -04).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Jwk,
    Kid,
    DidWeb,
    X509,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Self::Jwk => "jwk",
            Self::Kid => "kid → JWKS",
            Self::DidWeb => "did:web",
            Self::X509 => "X.509 (x5c)",
        }
    }
}

/// The issuer under test.
pub struct Iut {
    pub options: IutOptions,
    pub http: Http,
    pub pki: WalletProviderPki,
    pub metadata: CredentialIssuerMetadata,
    pub metadata_json: Value,
    pub authorization_server: AuthorizationServerMetadata,
    pub authorization_server_json: Value,
    pub anchors: TrustAnchors,
    offers: Mutex<VecDeque<String>>,
    dpop_nonces: Mutex<HashMap<String, String>>,
    challenges: Mutex<HashMap<String, String>>,
    /// Signature variant seen per configuration (C07, used by the cases).
    pub variants: Mutex<BTreeMap<String, Variant>>,
    /// One issued credential per SD-JWT VC configuration (C07), once per run.
    pub observed: Mutex<Option<Vec<signature::Observed>>>,
}

impl std::fmt::Debug for Iut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iut")
            .field("credential_issuer", &self.metadata.credential_issuer)
            .finish_non_exhaustive()
    }
}

pub fn now() -> i64 {
    avow_core::Clock::now(&avow_core::SystemClock)
}

fn origin(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// A resolved offer.
#[derive(Debug, Clone)]
pub struct Offer {
    pub link: String,
    /// Every link the issuer produced for this offer (schemes, by value and by reference).
    pub links: Vec<String>,
    /// The offer object as JSON (checked raw, so lenient parsing hides nothing).
    pub json: Value,
    pub tx_code: Option<String>,
    /// From the admin API (true) or given on the command line.
    pub created: bool,
}

impl Offer {
    pub fn pre_authorized_code(&self) -> Option<&str> {
        self.json
            .pointer(&format!(
                "/grants/{}/pre-authorized_code",
                PRE_AUTHORIZED_CODE_GRANT.replace('/', "~1")
            ))
            .and_then(Value::as_str)
    }

    pub fn asks_tx_code(&self) -> bool {
        self.json
            .pointer(&format!(
                "/grants/{}/tx_code",
                PRE_AUTHORIZED_CODE_GRANT.replace('/', "~1")
            ))
            .is_some()
    }

    pub fn configuration_ids(&self) -> Vec<String> {
        self.json
            .get("credential_configuration_ids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Iut {
    /// Discovery (VCI §12.2.2, RFC 8414): issuer metadata, then the
    /// authorization server's. Exchanges go to `rec`.
    pub async fn discover(
        options: IutOptions,
        pki: WalletProviderPki,
        rec: &Recorder,
    ) -> Result<Self, ConformanceError> {
        let http = Http::new(options.allow_http_loopback)?;
        let issuer = options.credential_issuer.clone();
        let url = well_known_url(&issuer, "openid-credential-issuer")
            .ok_or_else(|| ConformanceError::Config(format!("{issuer} is not an issuer URL")))?;
        let response = http
            .send(
                rec,
                "issuer metadata",
                Request::get(&url).header("Accept", "application/json"),
            )
            .await?;
        if response.status != 200 {
            return Err(ConformanceError::unexpected(format!(
                "issuer metadata answered {}",
                response.describe()
            )));
        }
        let metadata_json = response
            .json()
            .ok_or_else(|| ConformanceError::unexpected("issuer metadata is not JSON"))?;
        let metadata: CredentialIssuerMetadata = serde_json::from_value(metadata_json.clone())
            .map_err(|e| ConformanceError::unexpected(format!("issuer metadata: {e}")))?;
        if metadata.credential_issuer != issuer {
            return Err(ConformanceError::unexpected(format!(
                "metadata credential_issuer {} is not the identifier used ({issuer})",
                metadata.credential_issuer
            )));
        }
        let anchors =
            TrustAnchors::new(options.issuer_trust_anchors.iter().map(|(_, d)| d.clone()))?;
        // Signed metadata, when offered (VCI §12.2.3): recorded; verified if anchors are given.
        let signed = http
            .send(
                rec,
                "signed issuer metadata (Accept: application/jwt)",
                Request::get(&url).header("Accept", "application/jwt"),
            )
            .await;
        if let Ok(signed) = signed
            && signed.status == 200
            && signed.content_type() == Some("application/jwt")
            && !anchors.is_empty()
        {
            let text = signed.text();
            if let Err(e) =
                avow_wallet::issuer::verify_signed_metadata(text.trim(), &issuer, &anchors, now())
            {
                return Err(ConformanceError::unexpected(format!(
                    "signed metadata does not verify: {e}"
                )));
            }
        }
        let as_id = metadata
            .authorization_servers
            .as_ref()
            .and_then(|a| a.first().cloned())
            .unwrap_or_else(|| issuer.clone());
        let as_url = well_known_url(&as_id, "oauth-authorization-server").ok_or_else(|| {
            ConformanceError::unexpected("the authorization server id is not a URL")
        })?;
        let response = http
            .send(
                rec,
                "authorization server metadata",
                Request::get(&as_url).header("Accept", "application/json"),
            )
            .await?;
        if response.status != 200 {
            return Err(ConformanceError::unexpected(format!(
                "authorization server metadata answered {}",
                response.describe()
            )));
        }
        let authorization_server_json = response.json().ok_or_else(|| {
            ConformanceError::unexpected("authorization server metadata is not JSON")
        })?;
        let authorization_server: AuthorizationServerMetadata =
            serde_json::from_value(authorization_server_json.clone()).map_err(|e| {
                ConformanceError::unexpected(format!("authorization server metadata: {e}"))
            })?;
        if authorization_server.issuer != as_id {
            return Err(ConformanceError::unexpected(
                "the authorization server issuer differs from its identifier (RFC 8414 §3.3)",
            ));
        }
        let offers = options.offers.iter().cloned().collect();
        Ok(Self {
            options,
            http,
            pki,
            metadata,
            metadata_json,
            authorization_server,
            authorization_server_json,
            anchors,
            offers: Mutex::new(offers),
            dpop_nonces: Mutex::new(HashMap::new()),
            challenges: Mutex::new(HashMap::new()),
            variants: Mutex::new(BTreeMap::new()),
            observed: Mutex::new(None),
        })
    }

    // ------------------------------------------------------------ metadata facts

    pub fn supports_code_flow(&self) -> bool {
        self.authorization_server.authorization_endpoint.is_some()
    }

    pub fn supports_pre_authorized(&self) -> bool {
        self.authorization_server
            .grant_types_supported
            .iter()
            .any(|g| g == PRE_AUTHORIZED_CODE_GRANT)
            || !self.options.offers.is_empty()
    }

    pub fn supports_attestation(&self) -> bool {
        self.authorization_server
            .token_endpoint_auth_methods_supported
            .iter()
            .any(|m| m == ATTEST_JWT_CLIENT_AUTH || m == "attest_jwt_client_auth_dpop")
    }

    pub fn anonymous_pre_authorized(&self) -> bool {
        self.authorization_server
            .pre_authorized_grant_anonymous_access_supported
    }

    /// Can the runner get an offer (admin API or a given one left)?
    pub fn can_get_offer(&self) -> bool {
        self.options.admin.is_some() || self.offers.lock().map(|o| !o.is_empty()).unwrap_or(false)
    }

    pub fn redirect_uri(&self) -> String {
        self.options
            .redirect_uri
            .clone()
            .or_else(|| {
                self.options
                    .login_script
                    .as_ref()
                    .and_then(|s| s.redirect_uri.clone())
            })
            .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned())
    }

    /// The configuration the generic checks use.
    pub fn primary_configuration(&self) -> Option<String> {
        if let Some(c) = &self.options.configuration {
            return Some(c.clone());
        }
        let sd_jwt: Vec<(&String, _)> = self
            .metadata
            .credential_configurations_supported
            .iter()
            .filter(|(_, c)| c.format == avow_core::metadata::FORMAT_DC_SD_JWT)
            .collect();
        sd_jwt
            .iter()
            .find(|(_, c)| c.vct.as_deref() == Some("urn:eudi:pid:1"))
            .or(sd_jwt.first())
            .map(|(id, _)| (*id).clone())
    }

    pub fn sd_jwt_configurations(&self) -> Vec<String> {
        self.metadata
            .credential_configurations_supported
            .iter()
            .filter(|(_, c)| c.format == avow_core::metadata::FORMAT_DC_SD_JWT)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Why a transaction cannot be had, for a skipped assertion; `None` when it can.
    pub fn token_source_missing(&self) -> Option<String> {
        let pre = self.supports_pre_authorized() && self.can_get_offer();
        let code = self.supports_code_flow() && self.options.login_script.is_some();
        if pre || code {
            None
        } else {
            Some("no way to obtain an access token: pass --admin-url/--admin-token, --offer links, or --login-script".into())
        }
    }

    /// A skipped assertion for a missing input.
    pub fn missing(name: &str, reason: impl Into<String>) -> Assertion {
        Assertion::skipped(name, SkipKind::MissingInput, reason)
    }

    // ------------------------------------------------------------ offers

    /// A fresh offer: created through the admin API, or the next given one.
    pub async fn fresh_offer(
        &self,
        rec: &Recorder,
        configuration: &str,
        with_tx_code: bool,
    ) -> Result<Offer, ConformanceError> {
        if let Some(admin) = &self.options.admin {
            let mut body = json!({
                "holder_id": admin.holder_id,
                "credential_configuration_ids": [configuration],
                "grants": ["pre_authorized_code"],
            });
            if with_tx_code {
                body["tx_code"] = json!({ "description": "sent by the conformance runner" });
            }
            let url = format!("{}/admin/offers", admin.url.trim_end_matches('/'));
            let response = self
                .http
                .send(
                    rec,
                    "admin API: create offer",
                    Request::post(&url, Body::Json(body))
                        .header("Authorization", format!("Bearer {}", admin.token)),
                )
                .await?;
            if response.status != 201 {
                return Err(ConformanceError::unexpected(format!(
                    "the admin API answered {}",
                    response.describe()
                )));
            }
            let created = response
                .json()
                .ok_or_else(|| ConformanceError::unexpected("the admin API answer is not JSON"))?;
            let link = created
                .pointer("/links/openid-credential-offer/by_reference")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ConformanceError::unexpected("the created offer has no by-reference link")
                })?
                .to_owned();
            let tx_code = created
                .get("tx_code")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let links = created
                .get("links")
                .and_then(Value::as_object)
                .map(|m| {
                    m.values()
                        .flat_map(|l| {
                            ["by_value", "by_reference"]
                                .map(|k| l.get(k).and_then(Value::as_str).map(str::to_owned))
                        })
                        .flatten()
                        .collect()
                })
                .unwrap_or_default();
            let json = self.resolve_offer(rec, &link).await?;
            return Ok(Offer {
                links,
                link,
                json,
                tx_code,
                created: true,
            });
        }
        let link = self
            .offers
            .lock()
            .ok()
            .and_then(|mut o| {
                let position = o.iter().position(|_| true)?;
                o.remove(position)
            })
            .ok_or_else(|| {
                ConformanceError::Config(
                    "no offer left: pass more --offer links or --admin-url".into(),
                )
            })?;
        let json = self.resolve_offer(rec, &link).await?;
        let offer = Offer {
            tx_code: None,
            links: vec![link.clone()],
            link,
            json,
            created: false,
        };
        let tx_code = if offer.asks_tx_code() {
            self.options.tx_code.clone()
        } else {
            None
        };
        Ok(Offer { tx_code, ..offer })
    }

    /// The offer object of a link (by value, or fetched by reference).
    pub async fn resolve_offer(
        &self,
        rec: &Recorder,
        link: &str,
    ) -> Result<Value, ConformanceError> {
        let params = query_params(link);
        if let Some(value) = param(&params, "credential_offer") {
            return serde_json::from_str(value).map_err(|e| {
                ConformanceError::unexpected(format!("credential_offer is not JSON: {e}"))
            });
        }
        let uri = param(&params, "credential_offer_uri").ok_or_else(|| {
            ConformanceError::unexpected(
                "the link has neither credential_offer nor credential_offer_uri",
            )
        })?;
        let response = self
            .http
            .send(
                rec,
                "fetch credential_offer_uri",
                Request::get(uri)
                    .header("Accept", "application/json")
                    .secret_path(),
            )
            .await?;
        if response.status != 200 {
            return Err(ConformanceError::unexpected(format!(
                "credential_offer_uri answered {}",
                response.describe()
            )));
        }
        response
            .json()
            .ok_or_else(|| ConformanceError::unexpected("credential_offer_uri did not answer JSON"))
    }

    // ------------------------------------------------------------ transactions

    /// A fresh transaction: new DPoP key, new wallet instance key and WIA.
    pub async fn tx(
        &self,
        rec: &Recorder,
        configuration: &str,
    ) -> Result<Tx<'_>, ConformanceError> {
        self.tx_as(rec, configuration, &self.options.client_id)
            .await
    }

    /// A fresh transaction of the client `client_id` (its own wallet
    /// instance and WIA when the AS uses client attestation).
    pub async fn tx_as(
        &self,
        rec: &Recorder,
        configuration: &str,
        client_id: &str,
    ) -> Result<Tx<'_>, ConformanceError> {
        let attestation = if self.supports_attestation() {
            let instance = SoftwareSigner::generate()?;
            let spec = WalletProviderPki::good_wia(client_id, instance.public_jwk(), now());
            let wia = self.pki.issue_wia(&spec).await?;
            Some(WalletInstance {
                client_id: client_id.to_owned(),
                wia,
                instance,
            })
        } else {
            None
        };
        Ok(Tx {
            iut: self,
            rec: rec.clone(),
            dpop: SoftwareSigner::generate()?,
            attestation,
            access_token: None,
            token_response: None,
            configuration: configuration.to_owned(),
        })
    }

    /// A fresh transaction holding an access token for `configuration`: the
    /// pre-authorized grant when an offer can be had, else the code flow.
    pub async fn token_tx(
        &self,
        rec: &Recorder,
        configuration: &str,
    ) -> Result<Tx<'_>, ConformanceError> {
        let mut tx = self.tx(rec, configuration).await?;
        if self.supports_pre_authorized() && self.can_get_offer() {
            let offer = self.fresh_offer(rec, configuration, false).await?;
            let code = offer
                .pre_authorized_code()
                .ok_or_else(|| {
                    ConformanceError::unexpected("the offer has no pre-authorized code")
                })?
                .to_owned();
            let response = tx
                .redeem_pre_authorized(&code, offer.tx_code.as_deref(), Auth::Good, None)
                .await?;
            if response.status != 200 {
                return Err(ConformanceError::unexpected(format!(
                    "the token request answered {}",
                    response.describe()
                )));
            }
            return Ok(tx);
        }
        if self.supports_code_flow() && self.options.login_script.is_some() {
            let grant = tx
                .authorize(AuthorizationAsk::Scope, PkceMode::S256)
                .await?;
            let response = tx
                .redeem_code(&grant, Some(&grant.verifier), Auth::Good)
                .await?;
            if response.status != 200 {
                return Err(ConformanceError::unexpected(format!(
                    "the token request answered {}",
                    response.describe()
                )));
            }
            return Ok(tx);
        }
        Err(ConformanceError::Config(
            self.token_source_missing()
                .unwrap_or_else(|| "no token source".into()),
        ))
    }

    fn remember(&self, response: &Response, url: &str) {
        let origin = origin(url);
        if let Some(n) = response.header("dpop-nonce")
            && let Ok(mut m) = self.dpop_nonces.lock()
        {
            m.insert(origin.clone(), n.to_owned());
        }
        if let Some(c) =
            response.header(avow_core::client_attestation::ATTESTATION_CHALLENGE_HEADER)
            && let Ok(mut m) = self.challenges.lock()
        {
            m.insert(origin, c.to_owned());
        }
    }

    fn dpop_nonce(&self, url: &str) -> Option<String> {
        self.dpop_nonces.lock().ok()?.get(&origin(url)).cloned()
    }

    /// Sends and remembers DPoP nonces and attestation challenges.
    pub async fn send(
        &self,
        rec: &Recorder,
        label: &str,
        request: Request,
    ) -> Result<Response, ConformanceError> {
        let url = request.url.clone();
        let response = self.http.send(rec, label, request).await?;
        self.remember(&response, &url);
        Ok(response)
    }

    /// An attestation challenge for the next PoP (ABCA §6), when the AS uses them.
    async fn challenge(
        &self,
        rec: &Recorder,
        url: &str,
    ) -> Result<Option<String>, ConformanceError> {
        if let Some(endpoint) = &self.authorization_server.challenge_endpoint {
            let response = self
                .send(
                    rec,
                    "attestation challenge",
                    Request::post(endpoint, Body::None),
                )
                .await?;
            if response.status != 200 {
                return Err(ConformanceError::unexpected(format!(
                    "the challenge endpoint answered {}",
                    response.describe()
                )));
            }
            return Ok(response.json().and_then(|v| {
                v.get("attestation_challenge")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }));
        }
        Ok(self
            .challenges
            .lock()
            .ok()
            .and_then(|m| m.get(&origin(url)).cloned()))
    }
}

/// The wallet instance of a transaction: its key and WIA.
pub struct WalletInstance {
    pub client_id: String,
    pub wia: String,
    pub instance: SoftwareSigner,
}

/// Client authentication of a PAR or token request.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No attestation headers.
    None,
    /// A good WIA + fresh PoP (retried once on use_attestation_challenge).
    Good,
    /// Exactly these headers (negative probes, replays).
    Fixed(Vec<(String, String)>),
}

/// Faults of the attestation headers (CONF-C03A-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationFault {
    ExpiredWia,
    UntrustedProvider,
    NoX5c,
    PopByAnotherKey,
    PopWrongAudience,
}

/// What the PAR asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationAsk {
    Scope,
    Details,
}

/// The PKCE of a PAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceMode {
    S256,
    Plain,
    Missing,
}

/// The result of an authorization: the code and what redeeming it needs.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    pub code: String,
    pub verifier: String,
    pub redirect_uri: String,
    pub callback: String,
    pub state: String,
}

/// One fresh transaction.
pub struct Tx<'a> {
    pub iut: &'a Iut,
    pub rec: Recorder,
    pub dpop: SoftwareSigner,
    pub attestation: Option<WalletInstance>,
    pub access_token: Option<String>,
    pub token_response: Option<Value>,
    pub configuration: String,
}

impl Tx<'_> {
    pub fn client_id(&self) -> Option<&str> {
        self.attestation.as_ref().map(|a| a.client_id.as_str())
    }

    pub fn take_exchanges(&self) -> Vec<Exchange> {
        self.rec.take()
    }

    /// The attestation headers, good or with `fault`.
    pub async fn attestation_headers(
        &self,
        url: &str,
        fault: Option<AttestationFault>,
    ) -> Result<Vec<(String, String)>, ConformanceError> {
        let Some(att) = &self.attestation else {
            return Ok(Vec::new());
        };
        let now = now();
        let pki = &self.iut.pki;
        let mut spec = WalletProviderPki::good_wia(&att.client_id, att.instance.public_jwk(), now);
        let wia = match fault {
            Some(AttestationFault::ExpiredWia) => {
                spec.iat = now - 7200;
                spec.exp = now - 3600;
                pki.issue_wia(&spec).await?
            }
            Some(AttestationFault::UntrustedProvider) => {
                spec.untrusted = true;
                pki.issue_wia(&spec).await?
            }
            Some(AttestationFault::NoX5c) => {
                spec.with_x5c = false;
                pki.issue_wia(&spec).await?
            }
            _ => att.wia.clone(),
        };
        let challenge = self.iut.challenge(&self.rec, url).await?;
        let audience = match fault {
            Some(AttestationFault::PopWrongAudience) => {
                "https://another-authorization-server.example".to_owned()
            }
            _ => self.iut.authorization_server.issuer.clone(),
        };
        let other;
        let key: &dyn Signer = match fault {
            Some(AttestationFault::PopByAnotherKey) => {
                other = SoftwareSigner::generate()?;
                &other
            }
            _ => &att.instance,
        };
        let pop = attestation_pop(
            key,
            &audience,
            &SystemRandom.token(16),
            now,
            challenge.as_deref(),
        )
        .await?;
        Ok(vec![
            ("OAuth-Client-Attestation".into(), wia),
            ("OAuth-Client-Attestation-PoP".into(), pop),
        ])
    }

    async fn dpop_proof(
        &self,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
    ) -> Result<String, ConformanceError> {
        let nonce = self.iut.dpop_nonce(htu);
        Ok(create_proof(
            &self.dpop,
            NewDpopProof {
                htm,
                htu,
                iat: now(),
                jti: SystemRandom.token(16),
                access_token,
                nonce: nonce.as_deref(),
            },
        )
        .await?)
    }

    /// Sends with a DPoP proof (and the access token / client authentication
    /// asked for); retries once on `use_dpop_nonce` / `use_attestation_challenge`.
    pub async fn send_dpop(
        &self,
        label: &str,
        request: Request,
        access_token: Option<&str>,
        auth: &Auth,
    ) -> Result<Response, ConformanceError> {
        let mut retried = false;
        loop {
            let mut req = request.clone();
            let proof = self.dpop_proof(&req.method, &req.url, access_token).await?;
            req = req.header("DPoP", proof);
            if let Some(token) = access_token {
                req = req.header("Authorization", format!("DPoP {token}"));
            }
            req = self.with_client_auth(req, auth).await?;
            let response = self.iut.send(&self.rec, label, req).await?;
            let code = response.error_code();
            let retry = match code.as_deref() {
                Some("use_dpop_nonce") => true,
                Some("use_attestation_challenge") => matches!(auth, Auth::Good),
                _ => false,
            };
            if retry && !retried && (response.status == 400 || response.status == 401) {
                retried = true;
                continue;
            }
            return Ok(response);
        }
    }

    /// Adds the client authentication headers `auth` asks for.
    pub(crate) async fn with_client_auth(
        &self,
        mut req: Request,
        auth: &Auth,
    ) -> Result<Request, ConformanceError> {
        match auth {
            Auth::None => {}
            Auth::Good => {
                for (k, v) in self.attestation_headers(&req.url, None).await? {
                    req = req.header(&k, v);
                }
            }
            Auth::Fixed(headers) => {
                for (k, v) in headers {
                    req = req.header(k, v.clone());
                }
            }
        }
        Ok(req)
    }

    /// The transaction's access token, or why there is none.
    pub(crate) fn token(&self) -> Result<String, ConformanceError> {
        self.access_token
            .clone()
            .ok_or_else(|| ConformanceError::unexpected("no access token in this transaction"))
    }

    fn keep_token(&mut self, response: &Response) {
        if response.status == 200
            && let Some(body) = response.json()
        {
            self.access_token = body
                .get("access_token")
                .and_then(Value::as_str)
                .map(str::to_owned);
            self.token_response = Some(body);
        }
    }

    /// Token request of the pre-authorized code grant.
    pub async fn redeem_pre_authorized(
        &mut self,
        code: &str,
        tx_code: Option<&str>,
        auth: Auth,
        client_id: Option<&str>,
    ) -> Result<Response, ConformanceError> {
        let mut form = vec![
            (
                "grant_type".to_owned(),
                PRE_AUTHORIZED_CODE_GRANT.to_owned(),
            ),
            ("pre-authorized_code".to_owned(), code.to_owned()),
        ];
        if let Some(tx) = tx_code {
            form.push(("tx_code".into(), tx.to_owned()));
        }
        let client_id = client_id.map(str::to_owned).or_else(|| match auth {
            Auth::None => None,
            _ => self.client_id().map(str::to_owned),
        });
        if let Some(id) = client_id {
            form.push(("client_id".into(), id));
        }
        let url = self.iut.authorization_server.token_endpoint.clone();
        let response = self
            .send_dpop(
                "token request (pre-authorized code)",
                Request::post(&url, Body::Form(form)),
                None,
                &auth,
            )
            .await?;
        self.keep_token(&response);
        Ok(response)
    }

    /// A pushed authorization request (RFC 9126). Returns the response and
    /// the PKCE verifier and state it used.
    pub async fn par(
        &self,
        ask: AuthorizationAsk,
        pkce: PkceMode,
        auth: &Auth,
        client_id: Option<&str>,
    ) -> Result<(Response, String, String), ConformanceError> {
        let endpoint = self
            .iut
            .authorization_server
            .pushed_authorization_request_endpoint
            .clone()
            .ok_or_else(|| {
                ConformanceError::unexpected(
                    "the AS metadata has no pushed_authorization_request_endpoint",
                )
            })?;
        let verifier = SystemRandom.token(32);
        let state = SystemRandom.token(16);
        let client_id = client_id
            .map(str::to_owned)
            .or_else(|| self.client_id().map(str::to_owned))
            .unwrap_or_else(|| self.iut.options.client_id.clone());
        let mut form = vec![
            ("response_type".to_owned(), "code".to_owned()),
            ("client_id".to_owned(), client_id),
            ("redirect_uri".to_owned(), self.iut.redirect_uri()),
            ("state".to_owned(), state.clone()),
        ];
        match pkce {
            PkceMode::S256 => {
                form.push((
                    "code_challenge".into(),
                    avow_crypto::hash::sha256_b64(verifier.as_bytes()),
                ));
                form.push(("code_challenge_method".into(), "S256".into()));
            }
            PkceMode::Plain => {
                form.push(("code_challenge".into(), verifier.clone()));
                form.push(("code_challenge_method".into(), "plain".into()));
            }
            PkceMode::Missing => {}
        }
        let configuration = self
            .iut
            .metadata
            .credential_configurations_supported
            .get(&self.configuration);
        match (ask, configuration.and_then(|c| c.scope.clone())) {
            (AuthorizationAsk::Scope, Some(scope)) => form.push(("scope".into(), scope)),
            _ => form.push((
                "authorization_details".into(),
                json!([{ "type": "openid_credential", "credential_configuration_id": self.configuration }]).to_string(),
            )),
        }
        let label = match pkce {
            PkceMode::S256 => "pushed authorization request",
            PkceMode::Plain => "pushed authorization request with code_challenge_method=plain",
            PkceMode::Missing => "pushed authorization request without code_challenge",
        };
        let response = self
            .send_dpop(
                label,
                Request::post(&endpoint, Body::Form(form)),
                None,
                auth,
            )
            .await?;
        Ok((response, verifier, state))
    }

    /// PAR + holder login (login script) + callback checks (state, iss).
    pub async fn authorize(
        &self,
        ask: AuthorizationAsk,
        pkce: PkceMode,
    ) -> Result<CodeGrant, ConformanceError> {
        let script = self.iut.options.login_script.as_ref().ok_or_else(|| {
            ConformanceError::Config("no --login-script for the authorization step".into())
        })?;
        let (response, verifier, state) = self.par(ask, pkce, &Auth::Good, None).await?;
        if response.status != 201 {
            return Err(ConformanceError::unexpected(format!(
                "PAR answered {}",
                response.describe()
            )));
        }
        let request_uri = response
            .json()
            .and_then(|v| {
                v.get("request_uri")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .ok_or_else(|| ConformanceError::unexpected("the PAR response has no request_uri"))?;
        let endpoint = self
            .iut
            .authorization_server
            .authorization_endpoint
            .clone()
            .ok_or_else(|| {
                ConformanceError::unexpected("the AS metadata has no authorization_endpoint")
            })?;
        let client_id = self
            .client_id()
            .unwrap_or(&self.iut.options.client_id)
            .to_owned();
        let url = avow_wallet::authorize::authorization_url(&endpoint, &client_id, &request_uri);
        let redirect_uri = self.iut.redirect_uri();
        let callback = script
            .run(&self.iut.http, &self.rec, &url, &redirect_uri)
            .await?;
        let params = query_params(&callback);
        let code = param(&params, "code").map(str::to_owned).ok_or_else(|| {
            ConformanceError::unexpected(format!(
                "the callback carries no code ({})",
                param(&params, "error").unwrap_or("no error either")
            ))
        })?;
        Ok(CodeGrant {
            code,
            verifier,
            redirect_uri,
            callback,
            state,
        })
    }

    /// Token request of the authorization code grant; `verifier: None` leaves it out.
    pub async fn redeem_code(
        &mut self,
        grant: &CodeGrant,
        verifier: Option<&str>,
        auth: Auth,
    ) -> Result<Response, ConformanceError> {
        let mut form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), grant.code.clone()),
            ("redirect_uri".to_owned(), grant.redirect_uri.clone()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier".into(), v.to_owned()));
        }
        if let Some(id) = self.client_id() {
            form.push(("client_id".into(), id.to_owned()));
        }
        let url = self.iut.authorization_server.token_endpoint.clone();
        let response = self
            .send_dpop(
                "token request (authorization code)",
                Request::post(&url, Body::Form(form)),
                None,
                &auth,
            )
            .await?;
        self.keep_token(&response);
        Ok(response)
    }

    /// A fresh `c_nonce` from the Nonce Endpoint (VCI §7).
    pub async fn c_nonce(&self) -> Result<String, ConformanceError> {
        let url = self.iut.metadata.nonce_endpoint.clone().ok_or_else(|| {
            ConformanceError::unexpected("the issuer metadata has no nonce_endpoint")
        })?;
        let response = self
            .iut
            .send(&self.rec, "nonce endpoint", Request::post(&url, Body::None))
            .await?;
        if response.status != 200 {
            return Err(ConformanceError::unexpected(format!(
                "the nonce endpoint answered {}",
                response.describe()
            )));
        }
        response
            .json()
            .and_then(|v| v.get("c_nonce").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| ConformanceError::unexpected("the nonce response has no c_nonce"))
    }

    /// The header and claims of a good `jwt` key proof (VCI App. F.1).
    pub fn proof_parts(
        &self,
        holder: &SoftwareSigner,
        c_nonce: Option<&str>,
    ) -> (Map<String, Value>, Map<String, Value>) {
        let mut header = Map::new();
        header.insert(
            "typ".into(),
            Value::String(avow_core::proof::PROOF_TYP.into()),
        );
        header.insert("jwk".into(), holder.public_jwk().to_json());
        let mut claims = Map::new();
        claims.insert(
            "aud".into(),
            Value::String(self.iut.metadata.credential_issuer.clone()),
        );
        claims.insert("iat".into(), json!(now()));
        if let Some(n) = c_nonce {
            claims.insert("nonce".into(), Value::String(n.to_owned()));
        }
        if let Some(id) = self.client_id() {
            claims.insert("iss".into(), Value::String(id.to_owned()));
        }
        (header, claims)
    }

    /// A good `jwt` key proof for `c_nonce`.
    pub async fn proof(
        &self,
        holder: &SoftwareSigner,
        c_nonce: &str,
    ) -> Result<String, ConformanceError> {
        let (header, claims) = self.proof_parts(holder, Some(c_nonce));
        sign(holder, header, &claims).await
    }

    /// The selector for this transaction's configuration: the credential
    /// identifier when the token response handed one out, else the id.
    pub fn selector(&self) -> (&'static str, String) {
        let identifier = self
            .token_response
            .as_ref()
            .and_then(|t| t.get("authorization_details"))
            .and_then(Value::as_array)
            .and_then(|details| {
                details.iter().find_map(|d| {
                    if d.get("credential_configuration_id").and_then(Value::as_str)
                        != Some(&self.configuration)
                    {
                        return None;
                    }
                    d.get("credential_identifiers")?
                        .as_array()?
                        .first()?
                        .as_str()
                        .map(str::to_owned)
                })
            });
        match identifier {
            Some(id) => ("credential_identifier", id),
            None => ("credential_configuration_id", self.configuration.clone()),
        }
    }

    /// A credential request body with this transaction's selector and `proofs`.
    pub fn request_body(&self, proofs: Value) -> Value {
        let (name, value) = self.selector();
        let mut body = Map::new();
        body.insert(name.into(), Value::String(value));
        body.insert("proofs".into(), proofs);
        Value::Object(body)
    }

    /// A credential request with this transaction's token (DPoP-bound).
    pub async fn credential(&self, label: &str, body: Value) -> Result<Response, ConformanceError> {
        let token = self.token()?;
        let url = self.iut.metadata.credential_endpoint.clone();
        self.send_dpop(
            label,
            Request::post(&url, Body::Json(body)),
            Some(&token),
            &Auth::None,
        )
        .await
    }

    /// Nonce, good proof by `holder`, credential request; the first credential string.
    pub async fn issue(
        &self,
        holder: &SoftwareSigner,
    ) -> Result<(Response, Option<String>), ConformanceError> {
        // A configuration that demands a key attestation gets one of `holder`.
        if let Some(via_jwt) = attestations::wua_path(self.iut, &self.configuration) {
            let response = attestations::issue_attested_keys(
                self.iut,
                self,
                &self.configuration,
                std::slice::from_ref(holder),
                via_jwt,
            )
            .await?;
            let credential = first_credential(&response);
            return Ok((response, credential));
        }
        self.issue_plain(holder).await
    }

    /// Nonce, a plain `jwt` proof by `holder` (its `jwk` header, no key
    /// attestation), credential request; the first credential string.
    pub async fn issue_plain(
        &self,
        holder: &SoftwareSigner,
    ) -> Result<(Response, Option<String>), ConformanceError> {
        let nonce = self.c_nonce().await?;
        let proof = self.proof(holder, &nonce).await?;
        let response = self
            .credential(
                "credential request",
                self.request_body(json!({ "jwt": [proof] })),
            )
            .await?;
        let credential = first_credential(&response);
        Ok((response, credential))
    }
}

/// The first `credentials[].credential` string of a 200 credential response.
pub fn first_credential(response: &Response) -> Option<String> {
    if response.status != 200 {
        return None;
    }
    response
        .json()?
        .get("credentials")?
        .as_array()?
        .first()?
        .get("credential")?
        .as_str()
        .map(str::to_owned)
}

/// Signs `claims` under `header` (ES256; `alg` set by the signer).
pub async fn sign(
    signer: &dyn Signer,
    header: Map<String, Value>,
    claims: &Map<String, Value>,
) -> Result<String, ConformanceError> {
    let payload =
        serde_json::to_vec(claims).map_err(|e| ConformanceError::unexpected(e.to_string()))?;
    Ok(avow_crypto::jws::sign_compact(signer, header, &payload).await?)
}

/// A compact JWS assembled without signing (`alg: none`, MACs, foreign algs).
pub fn forge(header: &Map<String, Value>, claims: &Map<String, Value>, signature: &[u8]) -> String {
    let enc = |v: &Map<String, Value>| {
        avow_crypto::b64::encode(serde_json::to_vec(v).unwrap_or_default())
    };
    format!(
        "{}.{}.{}",
        enc(header),
        enc(claims),
        avow_crypto::b64::encode(signature)
    )
}

/// Expects an OAuth error: `status` with a code in `codes` passes; a code in
/// `tolerated` (with a 4xx status) is a warning (CONF-RUN-08); anything else fails.
pub fn expect_error(
    name: &str,
    response: &Response,
    status: u16,
    codes: &[&str],
    tolerated: &[&str],
) -> Assertion {
    let expected = format!("HTTP {status} {}", codes.join(" or "));
    let code = response.error_code().unwrap_or_default();
    if response.status == status && codes.contains(&code.as_str()) {
        return Assertion::pass(name, &expected, response.describe());
    }
    if (400..500).contains(&response.status) && tolerated.contains(&code.as_str()) {
        return Assertion::warning(
            name,
            &expected,
            response.describe(),
            "a rejection with an error code another reading of the spec allows (CONF-RUN-08)",
        );
    }
    Assertion::fail(name, &expected, response.describe())
}

/// Runs one probe: `probe` gets its own recorder; a setup error becomes a
/// failed assertion that still carries the exchanges up to the error.
pub async fn probe<F, Fut>(name: &str, expected: &str, probe: F) -> Assertion
where
    F: FnOnce(Recorder) -> Fut,
    Fut: std::future::Future<Output = Result<Assertion, ConformanceError>>,
{
    let rec = Recorder::new();
    match probe(rec.clone()).await {
        Ok(a) => a.with_exchanges(rec.take()),
        Err(ConformanceError::Config(reason)) => {
            Iut::missing(name, reason).with_exchanges(rec.take())
        }
        Err(e) => Assertion::fail(name, expected, format!("the probe could not complete: {e}"))
            .with_exchanges(rec.take()),
    }
}
