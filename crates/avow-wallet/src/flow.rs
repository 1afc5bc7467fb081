//! The issuance flows (OID4VCI §3.5, §6 – §8): an [`IssuanceSession`] talks to
//! one issuer with one DPoP key; [`Wallet::receive`] runs a whole offer.

use crate::attestation::ClientAttestation;
use crate::authorize::{Pkce, UserAgent, authorization_url, parse_callback};
use crate::client::{Fetched, HttpClient};
use crate::encryption::RequestEncryption;
use crate::error::WalletError;
use crate::issuer::IssuerInfo;
use crate::offer::resolve_offer;
use crate::store::{CredentialStore, StoredCredential, StoredGrant};
use crate::validate::{ExpectedBinding, ValidationContext, validate_sd_jwt_vc_with};
use avow_core::authorization::AuthorizationDetail;
use avow_core::credential::{CredentialResponse, CredentialSelector};
use avow_core::metadata::FORMAT_DC_SD_JWT;
use avow_core::nonce::NonceResponse;
use avow_core::offer::{CredentialOffer, PRE_AUTHORIZED_CODE_GRANT};
use avow_core::proof::PROOF_TYP;
use avow_core::token::TokenResponse;
use avow_core::{Clock, SystemClock};
use avow_crypto::EcPublicJwk;
use avow_crypto::dpop::{NewDpopProof, create_proof};
use avow_crypto::jws::sign_compact;
use avow_crypto::x509::TrustAnchors;
use avow_crypto::{Random, Signer, SoftwareSigner, SystemRandom};
use avow_formats::sd_jwt_vc::VerifiedSdJwtVc;
use std::sync::Arc;

/// What a session keeps of its token responses.
#[derive(Default)]
struct Tokens {
    access_token: Option<String>,
    /// When the access token expires (from `expires_in`; WAL-DEF-06).
    expires_at: Option<i64>,
    /// The latest refresh token (rotated on refresh; WAL-TOK-04, WAL-CRED-11).
    refresh_token: Option<String>,
    /// A legacy `c_nonce` of the token response (C-07; WAL-TOK-06), used
    /// only when the issuer has no Nonce Endpoint.
    c_nonce: Option<String>,
}

/// The legacy `c_nonce` member of a token response (C-07; WAL-TOK-06):
/// a non-empty string, or nothing.
fn token_response_c_nonce(body: &serde_json::Value) -> Option<String> {
    body.get("c_nonce")
        .and_then(serde_json::Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

/// One conversation with one issuer under one DPoP key (WAL-DPOP-01).
pub struct IssuanceSession<'a> {
    client: &'a HttpClient,
    pub info: Arc<IssuerInfo>,
    dpop_key: SoftwareSigner,
    /// What the last token response gave (behind a lock: a credential
    /// request refreshes it in place on DPoP 401 `invalid_token`, WAL-CRED-11).
    tokens: std::sync::Mutex<Tokens>,
    clock: &'a dyn Clock,
    /// Wallet attestation presented at PAR and token (WAL-ATT-02); `None` = anonymous.
    attestation: Option<ClientAttestation>,
    /// Response-encryption preference (WAL-CRED-08): `None` encrypts only when the issuer requires it.
    encryption: Option<crate::encryption::Enc>,
}

impl<'a> IssuanceSession<'a> {
    pub fn new(
        client: &'a HttpClient,
        info: Arc<IssuerInfo>,
        clock: &'a dyn Clock,
    ) -> Result<Self, WalletError> {
        Ok(Self {
            client,
            info,
            dpop_key: SoftwareSigner::generate()?,
            tokens: std::sync::Mutex::new(Tokens::default()),
            clock,
            attestation: None,
            encryption: None,
        })
    }

    /// Asks for encrypted credential responses with this `enc` (when the
    /// issuer lists it), the request then encrypted too (WAL-CRED-08, -09).
    pub fn with_encryption(mut self, preference: Option<crate::encryption::Enc>) -> Self {
        self.encryption = preference;
        self
    }

    /// Authenticates PAR and token requests with this wallet attestation.
    pub fn with_attestation(mut self, attestation: ClientAttestation) -> Self {
        self.attestation = Some(attestation);
        self
    }

    /// Continues with an existing DPoP key (refresh needs the bound key, WAL-TOK-04).
    pub fn with_dpop_key(mut self, key: SoftwareSigner) -> Self {
        self.dpop_key = key;
        self
    }

    pub fn dpop_key(&self) -> &SoftwareSigner {
        &self.dpop_key
    }

    /// The token state; a poisoned lock still holds consistent data (every
    /// writer replaces whole fields), so it is used as is.
    fn tokens(&self) -> std::sync::MutexGuard<'_, Tokens> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current access token and when it expires (deferred.rs, notify.rs).
    pub(crate) fn access_token(&self) -> Option<String> {
        self.tokens().access_token.clone()
    }

    pub(crate) fn access_token_expires_at(&self) -> Option<i64> {
        self.tokens().expires_at
    }

    /// The refresh token of the last token response, if any: after a
    /// refresh during the flow (WAL-CRED-11) the rotated one (WAL-TOK-04).
    pub fn refresh_token(&self) -> Option<String> {
        self.tokens().refresh_token.clone()
    }

    /// Continues with a stored access token (deferred.rs: WAL-DEF-02).
    pub(crate) fn set_access_token(&mut self, token: String, expires_at: Option<i64>) {
        let mut tokens = self.tokens();
        tokens.access_token = Some(token);
        tokens.expires_at = expires_at;
    }

    /// The access token and DPoP key to keep with the credentials of a
    /// response, for a later `credential_deleted` (VCI §11.1;
    /// WAL-NOTIF-03): only when there is a `notification_id` and the issuer
    /// has a notification endpoint.
    pub(crate) fn notification_access(
        &self,
        notification_id: Option<&str>,
    ) -> Option<crate::store::StoredAccess> {
        notification_id?;
        self.info.metadata.notification_endpoint.as_ref()?;
        let access_token = self.access_token()?;
        let dpop_key_pkcs8 = avow_crypto::b64::encode(self.dpop_key.to_pkcs8().ok()?);
        Some(crate::store::StoredAccess {
            access_token,
            expires_at: self.access_token_expires_at(),
            dpop_key_pkcs8,
        })
    }

    /// `grant` with the refresh token this session holds now: a refresh
    /// during the flow rotates it (WAL-CRED-11, WAL-TOK-04).
    pub(crate) fn current_grant(&self, grant: StoredGrant) -> StoredGrant {
        match self.refresh_token() {
            Some(refresh_token) => StoredGrant {
                refresh_token,
                ..grant
            },
            None => grant,
        }
    }

    pub fn attestation(&self) -> Option<&ClientAttestation> {
        self.attestation.as_ref()
    }

    /// The client_id this session authenticates as, if attested.
    pub fn client_id(&self) -> Option<&str> {
        self.attestation.as_ref().map(|a| a.client_id.as_str())
    }

    /// The attestation headers for a request to the authorization server:
    /// a fresh PoP with the latest challenge (ABCA §5.1, §6; WAL-ATT-02, -03).
    async fn attestation_headers(
        &self,
        url: &str,
    ) -> Result<Vec<(&'static str, String)>, WalletError> {
        let Some(attestation) = &self.attestation else {
            return Ok(Vec::new());
        };
        let challenge = match &self.info.authorization_server.challenge_endpoint {
            Some(endpoint) => {
                let fetched = self.client.send(self.client.post(endpoint)?).await?;
                if fetched.status != 200 {
                    return Err(fetched.error());
                }
                let body: serde_json::Value = fetched.json()?;
                body.get("attestation_challenge")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned)
            }
            None => self.client.attestation_challenge(url),
        };
        let pop = attestation
            .pop(
                &self.info.authorization_server.issuer,
                challenge.as_deref(),
                self.clock.now(),
            )
            .await?;
        Ok(vec![
            ("OAuth-Client-Attestation", attestation.wia.clone()),
            ("OAuth-Client-Attestation-PoP", pop),
        ])
    }

    /// Sends a request with a DPoP proof; on `use_dpop_nonce` retries once
    /// with the nonce the server just handed out (WAL-DPOP-02, -03).
    pub(crate) async fn send_with_dpop(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Fetched, WalletError> {
        self.send_as_client(method, url, access_token, false, build)
            .await
    }

    /// As [`Self::send_with_dpop`], optionally with client authentication;
    /// retries once on `use_dpop_nonce` or `use_attestation_challenge`.
    async fn send_as_client(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        authenticate: bool,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Fetched, WalletError> {
        let mut retried = false;
        loop {
            let nonce = self.client.dpop_nonce(url);
            let proof = create_proof(
                &self.dpop_key,
                NewDpopProof {
                    htm: method,
                    htu: url,
                    iat: self.clock.now(),
                    jti: SystemRandom.token(16),
                    access_token,
                    nonce: nonce.as_deref(),
                },
            )
            .await?;
            let mut request = build(self.client.post(url)?).header("DPoP", proof);
            if let Some(token) = access_token {
                request = request.header(reqwest::header::AUTHORIZATION, format!("DPoP {token}"));
            }
            if authenticate {
                for (name, value) in self.attestation_headers(url).await? {
                    request = request.header(name, value);
                }
            }
            let fetched = self.client.send(request).await?;
            let wants_nonce = (fetched.status == 400 || fetched.status == 401)
                && matches!(
                    fetched.error().protocol_error(),
                    Some("use_dpop_nonce" | "use_attestation_challenge")
                );
            if wants_nonce && !retried {
                retried = true;
                continue;
            }
            return Ok(fetched);
        }
    }

    /// Token Request for the Pre-Authorized Code grant (OID4VCI §6.1; WAL-PRE-01, WAL-TOK-01).
    pub async fn redeem_pre_authorized_code(
        &mut self,
        code: &str,
        tx_code: Option<&str>,
    ) -> Result<TokenResponse, WalletError> {
        self.redeem_pre_authorized_code_for(code, tx_code, &[])
            .await
    }

    /// As [`Self::redeem_pre_authorized_code`], with `authorization_details`
    /// naming the configurations wanted (VCI §6.1.1; WAL-PRE-03) when
    /// `details` is not empty. The issuer may then answer with
    /// `credential_identifiers`, which the credential requests must use
    /// (VCI §6.2, §8.2; WAL-TOK-02, WAL-CRED-02).
    pub async fn redeem_pre_authorized_code_for(
        &mut self,
        code: &str,
        tx_code: Option<&str>,
        details: &[AuthorizationDetail],
    ) -> Result<TokenResponse, WalletError> {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", PRE_AUTHORIZED_CODE_GRANT.to_owned()),
            ("pre-authorized_code", code.to_owned()),
        ];
        if let Some(tx) = tx_code {
            form.push(("tx_code", tx.to_owned()));
        }
        if let Some(id) = self.client_id() {
            form.push(("client_id", id.to_owned()));
        }
        if !details.is_empty() {
            let json = serde_json::to_string(details)
                .map_err(|e| WalletError::UnexpectedResponse(e.to_string()))?;
            form.push(("authorization_details", json));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.token_request(&form).await
    }

    /// Sends a token request with DPoP and, when attested, client authentication (WAL-AUTH-08, WAL-TOK-01).
    async fn token_request(&mut self, form: &[(&str, &str)]) -> Result<TokenResponse, WalletError> {
        self.token_request_shared(form).await
    }

    /// [`Self::token_request`] through the token lock, so that a credential
    /// request can refresh in place (WAL-CRED-11). Keeps the access token,
    /// its expiry, the (rotated) refresh token and a legacy `c_nonce`
    /// (C-07; WAL-TOK-06) of the response.
    async fn token_request_shared(
        &self,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, WalletError> {
        let url = self.info.authorization_server.token_endpoint.clone();
        let authenticate = self.attestation.is_some();
        let fetched = self
            .send_as_client("POST", &url, None, authenticate, |r| r.form(form))
            .await?;
        if fetched.status != 200 {
            return Err(fetched.error());
        }
        let body: serde_json::Value = fetched.json()?;
        let c_nonce = token_response_c_nonce(&body);
        let token: TokenResponse = serde_json::from_value(body).map_err(|e| {
            WalletError::UnexpectedResponse(format!("the token response is malformed: {e}"))
        })?;
        if !token.token_type.eq_ignore_ascii_case("DPoP") {
            return Err(WalletError::UnexpectedResponse(
                "the token is not DPoP-bound".into(),
            ));
        }
        let expires_at = i64::try_from(token.expires_in)
            .ok()
            .map(|s| self.clock.now().saturating_add(s));
        let mut tokens = self.tokens();
        tokens.access_token = Some(token.access_token.clone());
        tokens.expires_at = expires_at;
        if let Some(refresh_token) = &token.refresh_token {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        tokens.c_nonce = c_nonce;
        Ok(token)
    }

    /// Pushes the authorization request (RFC 9126; WAL-AUTH-01, -05) and returns the `request_uri`.
    pub async fn push_authorization_request(
        &self,
        request: &AuthorizationRequest<'_>,
    ) -> Result<String, WalletError> {
        let client_id = self.client_id().ok_or_else(|| {
            WalletError::UnexpectedResponse(
                "the authorization code flow needs a wallet attestation".into(),
            )
        })?;
        let endpoint = self
            .info
            .authorization_server
            .pushed_authorization_request_endpoint
            .clone()
            .ok_or_else(|| {
                WalletError::Metadata("the authorization server has no PAR endpoint".into())
            })?;
        let mut form: Vec<(&str, String)> = vec![
            ("response_type", "code".into()),
            ("client_id", client_id.to_owned()),
            ("redirect_uri", request.redirect_uri.to_owned()),
            ("state", request.state.to_owned()),
            ("code_challenge", request.pkce.challenge.clone()),
            ("code_challenge_method", "S256".into()),
        ];
        if !request.scopes.is_empty() {
            form.push(("scope", request.scopes.join(" ")));
        }
        if !request.authorization_details.is_empty() {
            let json = serde_json::to_string(request.authorization_details)
                .map_err(|e| WalletError::UnexpectedResponse(e.to_string()))?;
            form.push(("authorization_details", json));
        }
        if let Some(issuer_state) = request.issuer_state {
            form.push(("issuer_state", issuer_state.to_owned()));
        }
        // The DPoP header at PAR binds the code to this session's key (RFC 9449 §10).
        let fetched = self
            .send_as_client("POST", &endpoint, None, true, |r| r.form(&form))
            .await?;
        if fetched.status != 201 {
            return Err(fetched.error());
        }
        let body: serde_json::Value = fetched.json()?;
        body.get("request_uri")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                WalletError::UnexpectedResponse("the PAR response has no request_uri".into())
            })
    }

    /// Token Request for the `authorization_code` grant (RFC 6749 §4.1.3; WAL-AUTH-08).
    pub async fn redeem_authorization_code(
        &mut self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<TokenResponse, WalletError> {
        let client_id = self.client_id().unwrap_or_default().to_owned();
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", &client_id),
        ])
        .await
    }

    /// Token Request for the `refresh_token` grant with the bound DPoP key (WAL-TOK-04).
    pub async fn refresh(&mut self, refresh_token: &str) -> Result<TokenResponse, WalletError> {
        self.refresh_shared(refresh_token).await
    }

    /// [`Self::refresh`] in place, for the retry of a credential request
    /// refused with DPoP 401 `invalid_token` (VCI §8.3.1.2; WAL-CRED-11).
    pub(crate) async fn refresh_shared(
        &self,
        refresh_token: &str,
    ) -> Result<TokenResponse, WalletError> {
        let client_id = self.client_id().unwrap_or_default().to_owned();
        self.token_request_shared(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &client_id),
        ])
        .await
    }

    /// The `c_nonce` for the next key proofs: a fresh one from the Nonce
    /// Endpoint by `POST` without a token (OID4VCI §7.1; WAL-CRED-01);
    /// when the issuer has no Nonce Endpoint, the legacy `c_nonce` of the
    /// token response (C-07; WAL-TOK-06). Neither is an error.
    pub async fn fetch_c_nonce(&self) -> Result<String, WalletError> {
        let Some(url) = self.info.metadata.nonce_endpoint.clone() else {
            return self.tokens().c_nonce.clone().ok_or_else(|| {
                WalletError::Metadata(
                    "the issuer has no nonce endpoint and the token response carried no c_nonce"
                        .into(),
                )
            });
        };
        let fetched = self.client.send(self.client.post(&url)?).await?;
        if fetched.status != 200 {
            return Err(fetched.error());
        }
        Ok(fetched.json::<NonceResponse>()?.c_nonce)
    }

    /// A `jwt` key proof (OID4VCI App. F.1; WAL-CRED-04).
    pub async fn key_proof(
        &self,
        holder_key: &dyn Signer,
        c_nonce: &str,
    ) -> Result<String, WalletError> {
        let mut header = serde_json::Map::new();
        header.insert("typ".into(), PROOF_TYP.into());
        header.insert("jwk".into(), holder_key.public_jwk().to_json());
        let claims = serde_json::json!({
            "aud": self.info.metadata.credential_issuer,
            "iat": self.clock.now(),
            "nonce": c_nonce,
        });
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| WalletError::UnexpectedResponse(e.to_string()))?;
        Ok(sign_compact(holder_key, header, &payload).await?)
    }

    /// Credential Request with one `jwt` proof (OID4VCI §8.2; WAL-CRED-02, -03).
    pub async fn request_credential(
        &self,
        configuration_id: &str,
        proof: &str,
    ) -> Result<CredentialResponse, WalletError> {
        self.request_credential_by(
            &CredentialSelector::ConfigurationId(configuration_id.to_owned()),
            proof,
        )
        .await
    }

    /// Credential Request naming the credential by configuration or by
    /// identifier from the token response (WAL-CRED-02, WAL-TOK-02).
    pub async fn request_credential_by(
        &self,
        selector: &CredentialSelector,
        proof: &str,
    ) -> Result<CredentialResponse, WalletError> {
        self.request_credential_with(
            selector,
            &avow_core::credential::Proofs::Jwt(vec![proof.to_owned()]),
        )
        .await
    }

    /// Credential Request with any `proofs` (`jwt` or `attestation`, one or
    /// a batch; WAL-CRED-03, -05 … -07; see `crate::key_proofs`).
    pub async fn request_credential_with(
        &self,
        selector: &CredentialSelector,
        proofs: &avow_core::credential::Proofs,
    ) -> Result<CredentialResponse, WalletError> {
        self.request_credential_proving(selector, Some(proofs))
            .await
    }

    /// Credential Request with `proofs`, or without them for a bearer
    /// configuration, one without `proof_types_supported` (VCI §8.2,
    /// §12.2.4; WAL-CRED-03: omitted when the configuration has none).
    pub async fn request_credential_proving(
        &self,
        selector: &CredentialSelector,
        proofs: Option<&avow_core::credential::Proofs>,
    ) -> Result<CredentialResponse, WalletError> {
        let token = self
            .access_token()
            .ok_or_else(|| WalletError::UnexpectedResponse("no access token yet".into()))?;
        let token = token.as_str();
        let mut body = match selector {
            CredentialSelector::ConfigurationId(id) => {
                serde_json::json!({ "credential_configuration_id": id })
            }
            CredentialSelector::Identifier(id) => {
                serde_json::json!({ "credential_identifier": id })
            }
        };
        if let (Some(proofs), Some(object)) = (proofs, body.as_object_mut()) {
            object.insert("proofs".into(), crate::key_proofs::proofs_json(proofs));
        }
        let url = self.info.metadata.credential_endpoint.clone();
        // WAL-CRED-08 … -10, -12: encrypted when required or preferred; a
        // fresh ephemeral key per request; one retry with encryption on
        // invalid_encryption_parameters (WAL-CRED-11).
        let mut force = false;
        loop {
            let encryption = RequestEncryption::plan(&self.info.metadata, self.encryption, force)?;
            let (content_type, bytes) = encryption.encode(body.clone())?;
            let fetched = self
                .send_with_dpop("POST", &url, Some(token), |r| {
                    r.header(reqwest::header::CONTENT_TYPE, content_type)
                        .body(bytes.clone())
                })
                .await?;
            // 202: deferred, {transaction_id, interval}, encoded like any
            // Credential Response (VCI §8.3; WAL-DEF-01, deferred.rs).
            if fetched.status == 200 || fetched.status == 202 {
                return encryption.decode_response(&fetched);
            }
            let error = fetched.error();
            let retry = !force
                && !encryption.encrypts_response()
                && self.info.metadata.credential_response_encryption.is_some()
                && error.protocol_error() == Some("invalid_encryption_parameters");
            if !retry {
                return Err(error);
            }
            force = true;
        }
    }
}

/// What the wallet pushes at PAR.
pub struct AuthorizationRequest<'a> {
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub pkce: &'a Pkce,
    pub scopes: &'a [String],
    pub authorization_details: &'a [AuthorizationDetail],
    pub issuer_state: Option<&'a str>,
}

/// Where the wallet gets Wallet Instance Attestations (WAL-ATT-01): the
/// wallet provider. The development provider implements it.
pub trait WiaSource: Send + Sync {
    fn issue_wia<'a>(
        &'a self,
        client_id: &'a str,
        instance_key: &'a EcPublicJwk,
        now: i64,
    ) -> WiaFuture<'a>;

    /// A key attestation (WUA) of holder keys (WAL-KEY-03; `crate::key_proofs`).
    /// Providers that attest no keys keep this default, which refuses.
    fn issue_key_attestation<'a>(
        &'a self,
        _request: &'a crate::key_proofs::KeyAttestationRequest,
    ) -> WiaFuture<'a> {
        crate::key_proofs::no_key_attestations()
    }
}

pub type WiaFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, WalletError>> + Send + 'a>>;

#[derive(Clone)]
pub struct WalletOptions {
    /// Development only: accept `http://` issuers on loopback addresses.
    pub allow_http_loopback: bool,
    /// Anchors for issuer certificates (`x5c`).
    pub trust_anchors: TrustAnchors,
    pub clock_skew: i64,
    /// The wallet's OAuth client_id (the WIA `sub`).
    pub client_id: String,
    /// The wallet provider; without it the wallet can only use anonymous pre-authorized access.
    pub wia_source: Option<Arc<dyn WiaSource>>,
    /// Use anonymous pre-authorized access when the issuer allows it (VCI §12.3).
    pub prefer_anonymous: bool,
    /// Credential response encryption (WAL-CRED-08 … -10): `None` encrypts
    /// only when the issuer requires it; `Some(enc)` always asks for
    /// encrypted responses, preferring `enc` when the issuer lists it, and
    /// refuses issuers that offer no response encryption.
    pub encryption: Option<crate::encryption::Enc>,
}

/// A credential that passed validation and was stored.
#[derive(Debug)]
pub struct ReceivedCredential {
    pub stored: StoredCredential,
    pub verified: VerifiedCredential,
}

/// A credential that passed validation, by format.
#[derive(Debug)]
pub enum VerifiedCredential {
    SdJwtVc(VerifiedSdJwtVc),
    Mdoc(avow_formats::mdoc::VerifiedMdoc),
    /// `jwt_vc_json` (VCI A.1.1).
    JwtVc(avow_formats::jwt_vc::VerifiedJwtVc),
}

impl VerifiedCredential {
    pub fn sd_jwt_vc(&self) -> Option<&VerifiedSdJwtVc> {
        match self {
            Self::SdJwtVc(v) => Some(v),
            Self::Mdoc(_) | Self::JwtVc(_) => None,
        }
    }

    pub fn mdoc(&self) -> Option<&avow_formats::mdoc::VerifiedMdoc> {
        match self {
            Self::Mdoc(v) => Some(v),
            Self::SdJwtVc(_) | Self::JwtVc(_) => None,
        }
    }

    pub fn jwt_vc(&self) -> Option<&avow_formats::jwt_vc::VerifiedJwtVc> {
        match self {
            Self::JwtVc(v) => Some(v),
            Self::SdJwtVc(_) | Self::Mdoc(_) => None,
        }
    }
}

/// What the wallet expects of a credential of a configuration (WAL-VAL-03, -04).
pub(crate) enum ExpectedType {
    Vct(String),
    Doctype(String),
    /// `jwt_vc_json`: `credential_definition.type` (VCI A.1.1.2).
    CredentialDefinition(Vec<String>),
}

impl ExpectedType {
    pub(crate) fn of(
        configuration: &avow_core::metadata::CredentialConfiguration,
    ) -> Result<Self, WalletError> {
        match (
            configuration.format.as_str(),
            &configuration.vct,
            &configuration.doctype,
        ) {
            (FORMAT_DC_SD_JWT, Some(vct), _) => Ok(Self::Vct(vct.clone())),
            (avow_core::metadata::FORMAT_MSO_MDOC, _, Some(doctype)) => {
                Ok(Self::Doctype(doctype.clone()))
            }
            (avow_core::metadata::FORMAT_JWT_VC_JSON, _, _) => configuration
                .credential_definition
                .as_ref()
                .filter(|d| !d.types.is_empty())
                .map(|d| Self::CredentialDefinition(d.types.clone()))
                .ok_or_else(|| {
                    WalletError::Metadata(
                        "jwt_vc_json configuration lacks credential_definition.type".into(),
                    )
                }),
            (format, _, _) => Err(WalletError::Metadata(format!(
                "format {format} is not supported by this wallet, or lacks its type"
            ))),
        }
    }
}

pub struct Wallet {
    client: HttpClient,
    store: CredentialStore,
    pub(crate) options: WalletOptions,
    pub(crate) clock: Arc<dyn Clock>,
    signed_metadata: crate::issuer::SignedMetadataPolicy,
    /// Credential instances wanted per configuration (WAL-CRED-07; default 1).
    batch_size_wanted: usize,
    /// Longest wait between deferred polls, seconds (WAL-DEF-03; deferred.rs).
    pub(crate) deferred_backoff_cap: u64,
    /// Send `authorization_details` in pre-authorized token requests (WAL-PRE-03).
    pre_authorized_details: bool,
}

impl Wallet {
    pub fn new(options: WalletOptions, store: CredentialStore) -> Result<Self, WalletError> {
        Self::with_clock(options, store, Arc::new(SystemClock))
    }

    pub fn with_clock(
        options: WalletOptions,
        store: CredentialStore,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, WalletError> {
        Ok(Self {
            client: HttpClient::new(options.allow_http_loopback)?,
            store,
            options,
            clock,
            signed_metadata: crate::issuer::SignedMetadataPolicy::Prefer,
            batch_size_wanted: 1,
            deferred_backoff_cap: crate::deferred::DEFAULT_BACKOFF_CAP,
            pre_authorized_details: false,
        })
    }

    /// Names the offered configurations in the pre-authorized token request
    /// with `authorization_details` (VCI §6.1.1; WAL-PRE-03, MAY). The
    /// issuer may then answer with `credential_identifiers`, which the
    /// wallet uses in its credential requests (WAL-CRED-02, WAL-TOK-02).
    pub fn with_pre_authorized_authorization_details(mut self, on: bool) -> Self {
        self.pre_authorized_details = on;
        self
    }

    /// Asks for `n` instances of each credential, each bound to its own key,
    /// in one batch request (at most the issuer's `batch_size`; WAL-CRED-07).
    pub fn with_batch_size_wanted(mut self, n: usize) -> Self {
        self.batch_size_wanted = n.max(1);
        self
    }

    /// How this wallet treats signed issuer metadata (default: prefer and verify).
    pub fn with_signed_metadata(mut self, policy: crate::issuer::SignedMetadataPolicy) -> Self {
        self.signed_metadata = policy;
        self
    }

    /// Issuer discovery under this wallet's signed-metadata policy and trust anchors.
    pub async fn discover(&self, credential_issuer: &str) -> Result<IssuerInfo, WalletError> {
        crate::issuer::discover_with(
            &self.client,
            credential_issuer,
            self.signed_metadata,
            &self.options.trust_anchors,
            self.clock.now(),
        )
        .await
    }

    pub fn store(&self) -> &CredentialStore {
        &self.store
    }

    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Resolves an offer without acting on it, for the holder to confirm (WAL-OFFER-08).
    pub async fn preview(&self, link: &str) -> Result<(CredentialOffer, IssuerInfo), WalletError> {
        let offer = resolve_offer(&self.client, link).await?;
        let info = self.discover(&offer.credential_issuer).await?;
        // WAL-OFFER-05: every offered id must be in the issuer's metadata.
        for id in &offer.credential_configuration_ids {
            if !info
                .metadata
                .credential_configurations_supported
                .contains_key(id)
            {
                return Err(WalletError::Metadata(format!(
                    "offered configuration {id} is not in the issuer metadata"
                )));
            }
        }
        Ok((offer, info))
    }

    /// Runs a pre-authorized offer end to end: token, nonce, proof,
    /// credential, validation, encrypted storage. `tx_code` must be given
    /// when the offer asks for one (WAL-OFFER-10).
    pub async fn receive(
        &self,
        link: &str,
        tx_code: Option<&str>,
    ) -> Result<Vec<ReceivedCredential>, WalletError> {
        let (offer, info) = self.preview(link).await?;
        self.accept(&offer, Arc::new(info), tx_code).await
    }

    /// Accepts an offer: the pre-authorized grant when present (WAL-OFFER-06:
    /// pre-authorized first), otherwise the authorization-code grant through `agent`.
    pub async fn accept(
        &self,
        offer: &CredentialOffer,
        info: Arc<IssuerInfo>,
        tx_code: Option<&str>,
    ) -> Result<Vec<ReceivedCredential>, WalletError> {
        let Some(grant) = offer.grants.pre_authorized_code.as_ref() else {
            return Err(WalletError::Metadata(
                "the offer has no pre-authorized code grant; use the authorization code flow"
                    .into(),
            ));
        };
        if grant.tx_code.is_some() && tx_code.is_none() {
            return Err(WalletError::TxCodeRequired);
        }
        let tx_code = if grant.tx_code.is_some() {
            tx_code
        } else {
            None
        };
        let mut session = self.session(info.clone(), true).await?;
        // WAL-PRE-03: optionally name the configurations wanted.
        let details: Vec<AuthorizationDetail> = if self.pre_authorized_details {
            offer
                .credential_configuration_ids
                .iter()
                .map(|id| AuthorizationDetail {
                    kind: avow_core::authorization::OPENID_CREDENTIAL.into(),
                    credential_configuration_id: id.clone(),
                    locations: None,
                    claims: None,
                    credential_identifiers: None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let token = session
            .redeem_pre_authorized_code_for(&grant.pre_authorized_code, tx_code, &details)
            .await?;
        // WAL-CRED-02, WAL-TOK-02: identifiers of the token response win.
        let identifiers = identifiers_by_configuration(&token);
        let mut received = Vec::new();
        let mut pending = Vec::new();
        for configuration_id in &offer.credential_configuration_ids {
            let selector = selector_for(&identifiers, configuration_id);
            let obtained = self
                .obtain(
                    &session,
                    configuration_id,
                    &selector,
                    None,
                    self.batch_size_wanted,
                )
                .await;
            // WAL-DEF-01: a deferred configuration does not stop the others.
            crate::deferred::collect(&mut received, &mut pending, obtained)?;
        }
        crate::deferred::finish(received, pending)
    }

    /// A session with a fresh DPoP key and a fresh wallet attestation for
    /// this authorization server (WAL-ATT-01). Pre-authorized access goes
    /// anonymous only when the issuer allows it and the wallet prefers it, or
    /// has no wallet provider (WAL-PRE-02).
    async fn session(
        &self,
        info: Arc<IssuerInfo>,
        pre_authorized: bool,
    ) -> Result<IssuanceSession<'_>, WalletError> {
        let anonymous_allowed = pre_authorized
            && info
                .authorization_server
                .pre_authorized_grant_anonymous_access_supported;
        let session = IssuanceSession::new(&self.client, info, self.clock.as_ref())?
            .with_encryption(self.options.encryption);
        match &self.options.wia_source {
            Some(_) if anonymous_allowed && self.options.prefer_anonymous => Ok(session),
            Some(source) => {
                let instance_key = SoftwareSigner::generate()?;
                let wia = source.issue_wia(&self.options.client_id, instance_key.public_jwk(), self.clock.now()).await?;
                Ok(session.with_attestation(ClientAttestation::new(self.options.client_id.clone(), wia, instance_key)))
            }
            None if anonymous_allowed => Ok(session),
            None => Err(WalletError::Metadata(
                "this issuer requires client authentication and the wallet has no wallet provider configured".into(),
            )),
        }
    }

    /// The authorization-code flow (VCI §3.4, APT §6.1): PAR with PKCE, DPoP
    /// and the wallet attestation, the holder's login and consent through
    /// `agent`, the code exchange, then one credential per configuration.
    /// With an offer, its `issuer_state` correlates the session (WAL-AUTH-01).
    pub async fn authorize_and_receive(
        &self,
        info: Arc<IssuerInfo>,
        configuration_ids: &[String],
        issuer_state: Option<&str>,
        agent: &dyn UserAgent,
    ) -> Result<Vec<ReceivedCredential>, WalletError> {
        let mut session = self.session(info.clone(), false).await?;
        let mut scopes = Vec::new();
        let mut details = Vec::new();
        for id in configuration_ids {
            let configuration = info
                .metadata
                .credential_configurations_supported
                .get(id)
                .ok_or_else(|| {
                    WalletError::Metadata(format!(
                        "configuration {id} is not in the issuer metadata"
                    ))
                })?;
            // WAL-AUTH-03: the scope when there is one, authorization_details otherwise.
            match &configuration.scope {
                Some(scope) => scopes.push(scope.clone()),
                None => details.push(AuthorizationDetail {
                    kind: avow_core::authorization::OPENID_CREDENTIAL.into(),
                    credential_configuration_id: id.clone(),
                    locations: None,
                    claims: None,
                    credential_identifiers: None,
                }),
            }
        }
        let pkce = Pkce::generate(&SystemRandom);
        let state = SystemRandom.token(16);
        let redirect_uri = agent.redirect_uri();
        let request = AuthorizationRequest {
            redirect_uri: &redirect_uri,
            state: &state,
            pkce: &pkce,
            scopes: &scopes,
            authorization_details: &details,
            issuer_state,
        };
        let request_uri = session.push_authorization_request(&request).await?;
        let endpoint = info
            .authorization_server
            .authorization_endpoint
            .clone()
            .ok_or_else(|| {
                WalletError::Metadata(
                    "the authorization server has no authorization endpoint".into(),
                )
            })?;
        let client_id = session.client_id().unwrap_or_default().to_owned();
        let callback = agent
            .authorize(&authorization_url(&endpoint, &client_id, &request_uri))
            .await?;
        let code = parse_callback(&callback, &state, &info.authorization_server.issuer)?;
        let token = session
            .redeem_authorization_code(&code, &redirect_uri, &pkce.verifier)
            .await?;
        let refresh = match (&token.refresh_token, session.attestation()) {
            (Some(refresh_token), Some(attestation)) => Some(StoredGrant {
                refresh_token: refresh_token.clone(),
                dpop_key_pkcs8: avow_crypto::b64::encode(session.dpop_key().to_pkcs8()?),
                instance_key_pkcs8: avow_crypto::b64::encode(attestation.instance_key_pkcs8()?),
                client_id: attestation.client_id.clone(),
            }),
            _ => None,
        };
        let identifiers = identifiers_by_configuration(&token);
        let mut received = Vec::new();
        let mut pending = Vec::new();
        for id in configuration_ids {
            let selector = selector_for(&identifiers, id);
            let obtained = self
                .obtain(
                    &session,
                    id,
                    &selector,
                    refresh.clone(),
                    self.batch_size_wanted,
                )
                .await;
            // WAL-DEF-01: a deferred configuration does not stop the others.
            crate::deferred::collect(&mut received, &mut pending, obtained)?;
        }
        crate::deferred::finish(received, pending)
    }

    /// Refreshes a stored credential: a new access token from the stored
    /// refresh token (same DPoP and instance keys, WAL-TOK-04), then a fresh
    /// credential that replaces the old one (WAL-STORE-03).
    pub async fn refresh(&self, credential_id: &str) -> Result<ReceivedCredential, WalletError> {
        let old = self
            .store
            .get(credential_id)?
            .ok_or_else(|| WalletError::Storage(format!("no credential {credential_id}")))?;
        let grant = old
            .grant
            .clone()
            .ok_or_else(|| WalletError::Metadata("this credential has no refresh token".into()))?;
        let info = Arc::new(self.discover(&old.credential_issuer).await?);
        let mut session = self.grant_session(info, &grant).await?;
        let token = session.refresh(&grant.refresh_token).await?;
        let rotated = StoredGrant {
            refresh_token: token
                .refresh_token
                .clone()
                .unwrap_or(grant.refresh_token.clone()),
            ..grant
        };
        let identifiers = identifiers_by_configuration(&token);
        let selector = selector_for(&identifiers, &old.credential_configuration_id);
        // One instance replaces the old one (batch size 1).
        let mut fresh = self
            .obtain(
                &session,
                &old.credential_configuration_id,
                &selector,
                Some(rotated),
                1,
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                WalletError::UnexpectedResponse("the response carries no credential".into())
            })?;
        // The refreshed credential takes the old one's place.
        self.store.remove(&fresh.stored.id)?;
        fresh.stored.id = old.id.clone();
        self.store.put(&fresh.stored)?;
        Ok(fresh)
    }

    /// A session that continues a stored grant: its DPoP key and a fresh
    /// WIA for its instance key, ready to refresh (WAL-TOK-04).
    pub(crate) async fn grant_session(
        &self,
        info: Arc<IssuerInfo>,
        grant: &StoredGrant,
    ) -> Result<IssuanceSession<'_>, WalletError> {
        let source = self
            .options
            .wia_source
            .as_ref()
            .ok_or_else(|| WalletError::Metadata("no wallet provider configured".into()))?;
        let instance_key =
            SoftwareSigner::from_pkcs8(&avow_crypto::b64::decode(&grant.instance_key_pkcs8)?)?;
        let wia = source
            .issue_wia(
                &grant.client_id,
                instance_key.public_jwk(),
                self.clock.now(),
            )
            .await?;
        let dpop_key =
            SoftwareSigner::from_pkcs8(&avow_crypto::b64::decode(&grant.dpop_key_pkcs8)?)?;
        Ok(
            IssuanceSession::new(&self.client, info, self.clock.as_ref())?
                .with_encryption(self.options.encryption)
                .with_dpop_key(dpop_key)
                .with_attestation(ClientAttestation::new(
                    grant.client_id.clone(),
                    wia,
                    instance_key,
                )),
        )
    }

    /// Requests `wanted` instances of a configuration (one request, key
    /// proofs as the configuration asks: `crate::key_proofs`), then validates
    /// and stores each, credential `i` bound to key `i` (WAL-VAL-05).
    async fn obtain(
        &self,
        session: &IssuanceSession<'_>,
        configuration_id: &str,
        selector: &CredentialSelector,
        grant: Option<StoredGrant>,
        wanted: usize,
    ) -> Result<Vec<ReceivedCredential>, WalletError> {
        let metadata = &session.info.metadata;
        let configuration = metadata
            .credential_configurations_supported
            .get(configuration_id)
            .ok_or_else(|| {
                WalletError::Metadata(format!(
                    "configuration {configuration_id} vanished from metadata"
                ))
            })?;
        let expected = ExpectedType::of(configuration)?;
        // WAL-KEY-01, -03, WAL-CRED-03 … -07, -11: fresh keys, proofs, request (key_proofs.rs).
        let (response, holder_keys) = crate::key_proofs::request_credentials(
            session,
            configuration,
            selector,
            wanted,
            self.options.wia_source.as_deref(),
            self.clock.now(),
        )
        .await?;
        // WAL-CRED-11: a refresh during the request rotated the refresh token.
        let grant = grant.map(|g| session.current_grant(g));
        // A bearer configuration (VCI §12.2.4): no key was proven, one
        // credential is expected, bound to nothing (WAL-CRED-03).
        let bearer = matches!(
            crate::key_proofs::ProofMethod::for_configuration(configuration),
            Ok(crate::key_proofs::ProofMethod::Bearer)
        );
        // ---- deferred issuance (deferred.rs): WAL-DEF-01 ----
        if response.credentials.is_none() && response.transaction_id.is_some() {
            // A pending transaction keeps the holder keys to validate
            // against; a bearer one keeps none (deferred.rs knows why).
            return Err(crate::deferred::persist(
                self,
                session,
                configuration_id,
                &response,
                &holder_keys,
                grant,
            )
            .await);
        }
        // ---- end deferred issuance ----
        let notification_id = response.notification_id.clone();
        let issued = response.credentials.unwrap_or_default();
        // WAL-VAL-05: credential `i` is bound to key `i`; a bearer
        // configuration's one credential to none.
        let slots: Vec<Option<SoftwareSigner>> = if bearer {
            vec![None]
        } else {
            holder_keys.into_iter().map(Some).collect()
        };
        // WAL-NOTIF-02: any failure from here on is reported (notify.rs).
        let count = crate::key_proofs::check_count(issued.len(), slots.len());
        crate::notify::on_failure(session, notification_id.as_deref(), count).await?;
        let mut received = Vec::with_capacity(issued.len());
        for (issued, holder_key) in issued.into_iter().zip(slots) {
            let one = self
                .receive_credential(
                    &session.info,
                    configuration_id,
                    configuration,
                    &expected,
                    issued,
                    holder_key,
                    notification_id.clone(),
                    grant.clone(),
                )
                .await;
            received
                .push(crate::notify::on_failure(session, notification_id.as_deref(), one).await?);
        }
        // WAL-NOTIF-03: what a later credential_deleted needs.
        let access = session.notification_access(notification_id.as_deref());
        // WAL-VAL-08: stored only after every credential of the response passed validation.
        for credential in &mut received {
            credential.stored.notification_access = access.clone();
            let stored = self.store.put(&credential.stored);
            crate::notify::on_failure(session, notification_id.as_deref(), stored).await?;
        }
        // WAL-NOTIF-01: accepted once every credential of the response is stored.
        crate::notify::accepted(session, notification_id.as_deref()).await;
        Ok(received)
    }

    /// Validates one issued credential against its holder key, and its
    /// mandatory claims (WAL-VAL-01 … -04, -06); the caller stores it.
    /// `holder_key` is `None` for the credential
    /// of a bearer configuration (VCI §12.2.4): then `cnf` is not checked
    /// (WAL-VAL-03 binds the credentials of bound configurations), the
    /// signature, times, type, mandatory claims and status still are, and
    /// the stored credential has no holder key (empty `holder_key_pkcs8`
    /// and `holder_key_thumbprint`). An mdoc always needs its key.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn receive_credential(
        &self,
        info: &IssuerInfo,
        configuration_id: &str,
        configuration: &avow_core::metadata::CredentialConfiguration,
        expected: &ExpectedType,
        issued: avow_core::credential::IssuedCredential,
        holder_key: Option<SoftwareSigner>,
        notification_id: Option<String>,
        grant: Option<StoredGrant>,
    ) -> Result<ReceivedCredential, WalletError> {
        let binding = match &holder_key {
            Some(key) => ExpectedBinding::Key(key.public_jwk()),
            None if !configuration.binds_keys() => ExpectedBinding::Bearer,
            None => {
                return Err(WalletError::Validation(
                    "a credential of a configuration that binds keys came without a key proven for it".into(),
                ));
            }
        };
        let credential = issued
            .credential
            .as_str()
            .ok_or_else(|| {
                WalletError::UnexpectedResponse("the credential must be a string".into())
            })?
            .to_owned();
        let metadata = &info.metadata;
        let now = self.clock.now();
        let (verified, status_claims, expires_at) = match expected {
            ExpectedType::Vct(expected_vct) => {
                let (verified, _key_source) = validate_sd_jwt_vc_with(
                    &self.client,
                    &credential,
                    &ValidationContext {
                        trust_anchors: &self.options.trust_anchors,
                        credential_issuer: &metadata.credential_issuer,
                        expected_vct,
                        holder_key: binding,
                        now,
                        skew: self.options.clock_skew,
                    },
                    // WAL-VAL-02: the fallback key source.
                    info.authorization_server.jwks_uri.as_deref(),
                )
                .await?;
                // WAL-VAL-06: mandatory claims among the disclosed ones.
                crate::validate::require_mandatory_claims(configuration, &verified.claims)?;
                let exp = verified
                    .claims
                    .get("exp")
                    .and_then(serde_json::Value::as_i64);
                let claims = verified.claims.clone();
                (VerifiedCredential::SdJwtVc(verified), claims, exp)
            }
            ExpectedType::Doctype(doctype) => {
                // ISO 18013-5: an mdoc is always bound to its deviceKey.
                let ExpectedBinding::Key(device_key) = binding else {
                    return Err(WalletError::Validation(
                        "an mdoc needs a deviceKey: a bearer mso_mdoc configuration is not supported".into(),
                    ));
                };
                let verified = crate::validate::validate_mdoc(
                    &credential,
                    &self.options.trust_anchors,
                    doctype,
                    device_key,
                    now,
                    self.options.clock_skew,
                )?;
                // WAL-VAL-06: mandatory elements (paths `[namespace, element]`).
                crate::validate::require_mandatory_claims(
                    configuration,
                    &crate::validate::mdoc_claims(&verified),
                )?;
                let mut claims = serde_json::Map::new();
                if let Some(status) = &verified.status {
                    claims.insert("status".into(), status.to_status_claim());
                }
                let exp = Some(verified.valid_until);
                (VerifiedCredential::Mdoc(verified), claims, exp)
            }
            ExpectedType::CredentialDefinition(types) => {
                let (verified, _key_source) = crate::validate::validate_jwt_vc(
                    &self.client,
                    &credential,
                    types,
                    &ValidationContext {
                        trust_anchors: &self.options.trust_anchors,
                        credential_issuer: &metadata.credential_issuer,
                        expected_vct: "",
                        holder_key: binding,
                        now,
                        skew: self.options.clock_skew,
                    },
                )
                .await?;
                // The status claim is a JWT claim (Token Status List), read for WAL-VAL-07.
                let mut claims = serde_json::Map::new();
                if let Some(status) = avow_crypto::CompactJws::parse(credential.trim())
                    .ok()
                    .and_then(|j| serde_json::from_slice::<serde_json::Value>(j.payload()).ok())
                    .and_then(|p| p.get("status").cloned())
                {
                    claims.insert("status".into(), status);
                }
                let exp = verified.exp;
                (VerifiedCredential::JwtVc(verified), claims, exp)
            }
        };
        // WAL-VAL-07: the status list entry, before storing (see crate::status).
        let status_checked = crate::status::check_at_receipt(
            &self.client,
            &self.options.trust_anchors,
            &status_claims,
            crate::status::token_format_for(&configuration.format),
            now,
            self.options.clock_skew,
        )
        .await?;
        let display_name =
            |d: &[avow_core::metadata::Display]| d.iter().find_map(|d| d.name.clone());
        let stored = StoredCredential {
            id: uuid::Uuid::new_v4().simple().to_string(),
            format: configuration.format.clone(),
            credential_configuration_id: configuration_id.to_owned(),
            credential_issuer: metadata.credential_issuer.clone(),
            issuer_display_name: display_name(&metadata.display),
            credential_display_name: configuration
                .credential_metadata
                .as_ref()
                .and_then(|m| display_name(&m.display)),
            credential,
            holder_key_pkcs8: match &holder_key {
                Some(key) => avow_crypto::b64::encode(key.to_pkcs8()?),
                None => String::new(),
            },
            holder_key_thumbprint: holder_key
                .as_ref()
                .map(|key| key.public_jwk().thumbprint())
                .unwrap_or_default(),
            received_at: self.clock.now(),
            expires_at,
            notification_id,
            grant,
            status_checked,
            notification_access: None,
        };
        Ok(ReceivedCredential { stored, verified })
    }
}

/// The selector of a credential request for `configuration_id` (VCI §8.2;
/// WAL-CRED-02, WAL-TOK-02): the `credential_identifier` the token response
/// gave for it, otherwise the `credential_configuration_id`; never both.
pub(crate) fn selector_for(
    identifiers: &[(String, String)],
    configuration_id: &str,
) -> CredentialSelector {
    match identifiers.iter().find(|(c, _)| c == configuration_id) {
        Some((_, identifier)) => CredentialSelector::Identifier(identifier.clone()),
        None => CredentialSelector::ConfigurationId(configuration_id.to_owned()),
    }
}

/// `(configuration id, credential identifier)` pairs of a token response (WAL-TOK-02).
pub(crate) fn identifiers_by_configuration(token: &TokenResponse) -> Vec<(String, String)> {
    token
        .authorization_details
        .iter()
        .flatten()
        .filter_map(|d| serde_json::from_value::<AuthorizationDetail>(d.clone()).ok())
        .filter_map(|d| {
            Some((
                d.credential_configuration_id,
                d.credential_identifiers?.into_iter().next()?,
            ))
        })
        .collect()
}

impl WiaSource for crate::attestation::DevWalletProvider {
    fn issue_wia<'a>(
        &'a self,
        client_id: &'a str,
        instance_key: &'a EcPublicJwk,
        now: i64,
    ) -> WiaFuture<'a> {
        // One hour: long enough for a flow, short enough to stay fresh (ABCA §10).
        Box::pin(async move {
            crate::attestation::DevWalletProvider::issue_wia(
                self,
                client_id,
                instance_key,
                now,
                3600,
            )
            .await
        })
    }

    fn issue_key_attestation<'a>(
        &'a self,
        request: &'a crate::key_proofs::KeyAttestationRequest,
    ) -> WiaFuture<'a> {
        Box::pin(async move {
            crate::attestation::DevWalletProvider::issue_key_attestation(
                self,
                request,
                crate::attestation::DEV_WUA_LIFETIME,
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(body: serde_json::Value) -> TokenResponse {
        serde_json::from_value(body).expect("token response")
    }

    /// WAL-CRED-02, WAL-TOK-02: identifiers of the token response are
    /// used per configuration; without one, the configuration id; never both.
    #[test]
    fn wal_cred_02_selector_follows_the_token_response() {
        let with_ids = token(json!({
            "access_token": "at", "token_type": "DPoP", "expires_in": 60,
            "authorization_details": [
                { "type": "openid_credential", "credential_configuration_id": "pid",
                  "credential_identifiers": ["pid-1", "pid-2"], "unknown": true },
                { "type": "openid_credential", "credential_configuration_id": "mdl" }
            ],
            "unknown_member": 1
        }));
        let identifiers = identifiers_by_configuration(&with_ids);
        assert_eq!(identifiers, vec![("pid".to_owned(), "pid-1".to_owned())]);
        assert_eq!(
            selector_for(&identifiers, "pid"),
            CredentialSelector::Identifier("pid-1".into())
        );
        assert_eq!(
            selector_for(&identifiers, "mdl"),
            CredentialSelector::ConfigurationId("mdl".into())
        );
        let without = token(json!({
            "access_token": "at", "token_type": "DPoP", "expires_in": 60
        }));
        assert_eq!(
            selector_for(&identifiers_by_configuration(&without), "pid"),
            CredentialSelector::ConfigurationId("pid".into())
        );
    }

    fn info(nonce_endpoint: Option<&str>) -> IssuerInfo {
        let mut metadata = json!({
            "credential_issuer": "https://issuer.example",
            "credential_endpoint": "https://issuer.example/credential",
            "credential_configurations_supported": {},
        });
        if let Some(endpoint) = nonce_endpoint {
            metadata["nonce_endpoint"] = json!(endpoint);
        }
        IssuerInfo {
            metadata: serde_json::from_value(metadata).expect("metadata"),
            authorization_server: serde_json::from_value(json!({
                "issuer": "https://issuer.example",
                "token_endpoint": "https://issuer.example/token",
            }))
            .expect("AS metadata"),
        }
    }

    /// WAL-CRED-01 / C-07, WAL-TOK-06: without a nonce endpoint the
    /// token response's `c_nonce` is used; without either, a clear error.
    #[tokio::test]
    async fn wal_cred_01_c07_token_response_c_nonce_without_nonce_endpoint() {
        assert_eq!(
            token_response_c_nonce(&json!({ "c_nonce": "n-1", "c_nonce_expires_in": 86400 })),
            Some("n-1".into())
        );
        assert_eq!(token_response_c_nonce(&json!({ "c_nonce": "" })), None);
        assert_eq!(token_response_c_nonce(&json!({ "c_nonce": 7 })), None);

        let client = HttpClient::new(false).expect("client");
        let clock = SystemClock;
        let session = IssuanceSession::new(&client, Arc::new(info(None)), &clock).expect("session");
        let missing = session.fetch_c_nonce().await;
        assert!(
            matches!(&missing, Err(WalletError::Metadata(m)) if m.contains("c_nonce")),
            "{missing:?}"
        );
        session.tokens().c_nonce = Some("n-1".into());
        assert_eq!(session.fetch_c_nonce().await.ok().as_deref(), Some("n-1"));

        // With a nonce endpoint the token response's c_nonce is not used:
        // the endpoint is asked (here refused: http is not allowed).
        let session = IssuanceSession::new(
            &client,
            Arc::new(info(Some("http://issuer.example/nonce"))),
            &clock,
        )
        .expect("session");
        session.tokens().c_nonce = Some("n-1".into());
        assert!(session.fetch_c_nonce().await.is_err());
    }

    /// WAL-CRED-11: a refresh during the flow rotates the stored grant's
    /// refresh token; without one the grant is kept.
    #[test]
    fn wal_cred_11_rotated_refresh_token_is_kept() {
        let client = HttpClient::new(false).expect("client");
        let clock = SystemClock;
        let session = IssuanceSession::new(&client, Arc::new(info(None)), &clock).expect("session");
        let grant = StoredGrant {
            refresh_token: "old".into(),
            dpop_key_pkcs8: "d".into(),
            instance_key_pkcs8: "i".into(),
            client_id: "c".into(),
        };
        assert_eq!(session.current_grant(grant.clone()).refresh_token, "old");
        session.tokens().refresh_token = Some("new".into());
        assert_eq!(session.current_grant(grant).refresh_token, "new");
    }
}
