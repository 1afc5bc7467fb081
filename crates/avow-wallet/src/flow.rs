//! The issuance flows (OID4VCI §3.5, §6 – §8): an [`IssuanceSession`] talks to
//! one issuer with one DPoP key; [`Wallet::receive`] runs a whole offer.

use crate::client::{Fetched, HttpClient};
use crate::error::WalletError;
use crate::issuer::{IssuerInfo, discover};
use crate::offer::resolve_offer;
use crate::store::{CredentialStore, StoredCredential};
use crate::validate::{ValidationContext, validate_sd_jwt_vc};
use avow_core::credential::CredentialResponse;
use avow_core::metadata::FORMAT_DC_SD_JWT;
use avow_core::nonce::NonceResponse;
use avow_core::offer::{CredentialOffer, PRE_AUTHORIZED_CODE_GRANT};
use avow_core::proof::PROOF_TYP;
use avow_core::token::TokenResponse;
use avow_core::{Clock, SystemClock};
use avow_crypto::dpop::{NewDpopProof, create_proof};
use avow_crypto::jws::sign_compact;
use avow_crypto::x509::TrustAnchors;
use avow_crypto::{Random, Signer, SoftwareSigner, SystemRandom};
use avow_formats::sd_jwt_vc::VerifiedSdJwtVc;
use std::sync::Arc;

/// One conversation with one issuer under one DPoP key (WAL-DPOP-01).
pub struct IssuanceSession<'a> {
    client: &'a HttpClient,
    pub info: Arc<IssuerInfo>,
    dpop_key: SoftwareSigner,
    access_token: Option<String>,
    clock: &'a dyn Clock,
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
            access_token: None,
            clock,
        })
    }

    /// Sends a request with a DPoP proof; on `use_dpop_nonce` retries once
    /// with the nonce the server just handed out (WAL-DPOP-02, -03).
    async fn send_with_dpop(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
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
            let fetched = self.client.send(request).await?;
            let wants_nonce = (fetched.status == 400 || fetched.status == 401)
                && fetched.error().protocol_error() == Some("use_dpop_nonce");
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
        let mut form = vec![
            ("grant_type", PRE_AUTHORIZED_CODE_GRANT),
            ("pre-authorized_code", code),
        ];
        if let Some(tx) = tx_code {
            form.push(("tx_code", tx));
        }
        let url = self.info.authorization_server.token_endpoint.clone();
        let fetched = self
            .send_with_dpop("POST", &url, None, |r| r.form(&form))
            .await?;
        if fetched.status != 200 {
            return Err(fetched.error());
        }
        let token: TokenResponse = fetched.json()?;
        if !token.token_type.eq_ignore_ascii_case("DPoP") {
            return Err(WalletError::UnexpectedResponse(
                "the token is not DPoP-bound".into(),
            ));
        }
        self.access_token = Some(token.access_token.clone());
        Ok(token)
    }

    /// A fresh `c_nonce` from the Nonce Endpoint (OID4VCI §7; WAL-CRED-01).
    pub async fn fetch_c_nonce(&self) -> Result<String, WalletError> {
        let url = self
            .info
            .metadata
            .nonce_endpoint
            .clone()
            .ok_or_else(|| WalletError::Metadata("the issuer has no nonce endpoint".into()))?;
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
        let token = self
            .access_token
            .as_deref()
            .ok_or_else(|| WalletError::UnexpectedResponse("no access token yet".into()))?;
        let body = serde_json::json!({ "credential_configuration_id": configuration_id, "proofs": { "jwt": [proof] } });
        let url = self.info.metadata.credential_endpoint.clone();
        let fetched = self
            .send_with_dpop("POST", &url, Some(token), |r| r.json(&body))
            .await?;
        if fetched.status != 200 {
            return Err(fetched.error());
        }
        fetched.json()
    }
}

#[derive(Debug, Clone)]
pub struct WalletOptions {
    /// Development only: accept `http://` issuers on loopback addresses.
    pub allow_http_loopback: bool,
    /// Anchors for issuer certificates (`x5c`).
    pub trust_anchors: TrustAnchors,
    pub clock_skew: i64,
}

/// A credential that passed validation and was stored.
#[derive(Debug)]
pub struct ReceivedCredential {
    pub stored: StoredCredential,
    pub verified: VerifiedSdJwtVc,
}

pub struct Wallet {
    client: HttpClient,
    store: CredentialStore,
    options: WalletOptions,
    clock: Arc<dyn Clock>,
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
        })
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
        let info = discover(&self.client, &offer.credential_issuer).await?;
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

    pub async fn accept(
        &self,
        offer: &CredentialOffer,
        info: Arc<IssuerInfo>,
        tx_code: Option<&str>,
    ) -> Result<Vec<ReceivedCredential>, WalletError> {
        let grant = offer.grants.pre_authorized_code.as_ref().ok_or_else(|| {
            WalletError::Metadata("the offer has no pre-authorized code grant (the authorization code flow is not available yet)".into())
        })?;
        if grant.tx_code.is_some() && tx_code.is_none() {
            return Err(WalletError::TxCodeRequired);
        }
        let tx_code = if grant.tx_code.is_some() {
            tx_code
        } else {
            None
        };
        let mut session = IssuanceSession::new(&self.client, info.clone(), self.clock.as_ref())?;
        session
            .redeem_pre_authorized_code(&grant.pre_authorized_code, tx_code)
            .await?;
        let mut received = Vec::new();
        for configuration_id in &offer.credential_configuration_ids {
            received.push(self.obtain(&session, configuration_id).await?);
        }
        Ok(received)
    }

    async fn obtain(
        &self,
        session: &IssuanceSession<'_>,
        configuration_id: &str,
    ) -> Result<ReceivedCredential, WalletError> {
        let metadata = &session.info.metadata;
        let configuration = metadata
            .credential_configurations_supported
            .get(configuration_id)
            .ok_or_else(|| {
                WalletError::Metadata(format!(
                    "configuration {configuration_id} vanished from metadata"
                ))
            })?;
        if configuration.format != FORMAT_DC_SD_JWT {
            return Err(WalletError::Metadata(format!(
                "format {} is not supported by this wallet yet",
                configuration.format
            )));
        }
        let expected_vct = configuration
            .vct
            .clone()
            .ok_or_else(|| WalletError::Metadata("the configuration has no vct".into()))?;
        // WAL-KEY-01: a fresh key per credential instance.
        let holder_key = SoftwareSigner::generate()?;
        let mut nonce_retry = false;
        let response = loop {
            let c_nonce = session.fetch_c_nonce().await?;
            let proof = session.key_proof(&holder_key, &c_nonce).await?;
            match session.request_credential(configuration_id, &proof).await {
                // WAL-CRED-11: a stale nonce is retried once with a fresh one.
                Err(e) if e.protocol_error() == Some("invalid_nonce") && !nonce_retry => {
                    nonce_retry = true
                }
                other => break other?,
            }
        };
        let issued = response
            .credentials
            .and_then(|c| c.into_iter().next())
            .ok_or_else(|| {
                WalletError::UnexpectedResponse("the response carries no credential".into())
            })?;
        let credential = issued
            .credential
            .as_str()
            .ok_or_else(|| {
                WalletError::UnexpectedResponse("an SD-JWT VC credential must be a string".into())
            })?
            .to_owned();
        let verified = validate_sd_jwt_vc(
            &credential,
            &ValidationContext {
                trust_anchors: &self.options.trust_anchors,
                credential_issuer: &metadata.credential_issuer,
                expected_vct: &expected_vct,
                holder_key: holder_key.public_jwk(),
                now: self.clock.now(),
                skew: self.options.clock_skew,
            },
        )?;
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
            holder_key_pkcs8: avow_crypto::b64::encode(holder_key.to_pkcs8()?),
            holder_key_thumbprint: holder_key.public_jwk().thumbprint(),
            received_at: self.clock.now(),
            expires_at: verified
                .claims
                .get("exp")
                .and_then(serde_json::Value::as_i64),
            notification_id: response.notification_id,
        };
        // WAL-VAL-08: stored only after validation passed.
        self.store.put(&stored)?;
        Ok(ReceivedCredential { stored, verified })
    }
}
