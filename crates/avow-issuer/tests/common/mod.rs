//! Harness of the HTTP integration tests: a real issuer on loopback port 0
//! (public and admin listeners), on SQLite (fresh temporary directory) or
//! PostgreSQL (`DATABASE_URL`, default `postgres://postgres@127.0.0.1/test`,
//! in a fresh schema per test), with a [`FixedClock`] the tests move.
//!
//! Every request goes through [`TestIssuer::send`], which checks the headers
//! every response must carry (`Date`, `X-Request-Id`; ISS-SEC-09, -10).

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use avow_core::clock::FixedClock;
use avow_crypto::dpop::{NewDpopProof, create_proof};
use avow_crypto::x509::TrustAnchors;
use avow_crypto::{AlgorithmAllowList, EcPublicJwk, Random, Signer, SoftwareSigner, SystemRandom};
use avow_formats::sd_jwt_vc::VerifiedSdJwtVc;
use avow_issuer::offer::CreatedOffer;
use avow_issuer::{AppState, IssuerConfig, RunningIssuer, build_state};
use reqwest::RequestBuilder;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// The fixed start time of every test clock (2027-01-15).
pub const NOW: i64 = 1_800_000_000;
/// The credential configuration of the embedded defaults.
pub const PID: &str = "pid-sd-jwt";
/// The holder of `avow_issuer::config::DEMO_HOLDERS`.
pub const HOLDER: &str = "demo-erika";
pub const PRE_AUTH_GRANT: &str = avow_core::offer::PRE_AUTHORIZED_CODE_GRANT;
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

// ---------------------------------------------------------------- storage

/// Where one test's issuer keeps its state; shared by the instances of a
/// restart or of a two-instance test, removed when the last one is dropped.
pub struct Storage {
    pub backend: Backend,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// PostgreSQL: (admin URL, schema) to drop at the end.
    schema: Option<(String, String)>,
}

impl Storage {
    async fn new(backend: Backend) -> Arc<Self> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let data_dir = std::env::temp_dir().join(format!("avow-issuer-test-{id}"));
        match backend {
            // The issuer's default: SQLite file `avow.db` inside data_dir.
            Backend::Sqlite => Arc::new(Self {
                backend,
                data_dir,
                database_url: None,
                schema: None,
            }),
            Backend::Postgres => {
                use sqlx::{Connection, Executor};
                sqlx::any::install_default_drivers();
                let admin_url = std::env::var("DATABASE_URL")
                    .unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
                let schema = format!("avow_issuer_test_{id}");
                let mut admin = sqlx::AnyConnection::connect(&admin_url)
                    .await
                    .expect("connect to PostgreSQL (set DATABASE_URL)");
                admin
                    .execute(format!("CREATE SCHEMA {schema}").as_str())
                    .await
                    .expect("create schema");
                admin.close().await.expect("close admin connection");
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
                Arc::new(Self {
                    backend,
                    data_dir,
                    database_url: Some(url),
                    schema: Some((admin_url, schema)),
                })
            }
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((admin_url, schema)) = self.schema.take() {
            // Drop runs inside the test's runtime: clean up on a thread of its own.
            let cleanup = std::thread::spawn(move || {
                use sqlx::{Connection, Executor};
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("cleanup runtime");
                runtime.block_on(async {
                    match sqlx::AnyConnection::connect(&admin_url).await {
                        Ok(mut admin) => {
                            let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                            if let Err(e) = admin.execute(sql.as_str()).await {
                                eprintln!("dropping schema {schema} failed: {e}");
                            }
                            let _ = admin.close().await;
                        }
                        Err(e) => eprintln!("dropping schema {schema}: {e}"),
                    }
                });
            });
            let _ = cleanup.join();
        }
    }
}

// ---------------------------------------------------------------- responses

/// A response read to the end.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `error` parameter of a `WWW-Authenticate: DPoP …` challenge.
    pub fn challenge_error(&self) -> Option<String> {
        let challenge = self.header("www-authenticate")?;
        let rest = challenge.strip_prefix("DPoP ")?;
        let start = rest.find("error=\"")? + "error=\"".len();
        let end = rest[start..].find('"')?;
        Some(rest[start..start + end].to_owned())
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    #[track_caller]
    pub fn assert_no_store(&self) -> &Self {
        assert_eq!(
            self.header("cache-control"),
            Some("no-store"),
            "Cache-Control (ISS-SEC-09)"
        );
        self
    }

    /// Status, `error` code, a non-empty ASCII `error_description` without
    /// `"` or `\`, and `Cache-Control: no-store` (ISS-CRED-12, ISS-SEC-10).
    #[track_caller]
    pub fn assert_error(&self, status: u16, error: &str) -> &Self {
        self.assert_status(status);
        let body = self.json();
        assert_eq!(body["error"], error, "error code; body: {body}");
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(
            !description.is_empty()
                && description
                    .chars()
                    .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\'),
            "error_description must be specific plain ASCII: {body}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "error bodies are JSON"
        );
        self.assert_no_store()
    }

    /// A resource-endpoint authentication error: the JSON body and the
    /// `WWW-Authenticate: DPoP error="…"` challenge (RFC 9449 §7.1).
    #[track_caller]
    pub fn assert_dpop_challenge(&self, status: u16, error: &str) -> &Self {
        self.assert_error(status, error);
        assert_eq!(
            self.challenge_error().as_deref(),
            Some(error),
            "WWW-Authenticate: {:?}",
            self.header("www-authenticate")
        );
        self
    }
}

// ---------------------------------------------------------------- the issuer

/// An access token and the DPoP key it is bound to.
pub struct Token {
    pub access_token: String,
    pub key: SoftwareSigner,
}

/// A credential obtained through the wallet, with the key it is bound to.
pub struct Issued {
    pub credential: String,
    pub holder: SoftwareSigner,
}

pub struct TestIssuer {
    /// `server.public_url` = the Credential Issuer Identifier.
    pub url: String,
    pub admin_url: String,
    pub admin_token: String,
    pub state: AppState,
    pub clock: Arc<FixedClock>,
    pub http: reqwest::Client,
    running: Option<RunningIssuer>,
    storage: Arc<Storage>,
    configure: fn(&mut IssuerConfig),
}

impl TestIssuer {
    /// An issuer on the embedded defaults with the demo holders imported
    /// through the admin API.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Like [`Self::start`], with the configuration changed by `configure`.
    pub async fn start_with(backend: Backend, configure: fn(&mut IssuerConfig)) -> Self {
        let storage = Storage::new(backend).await;
        let issuer = Self::launch(storage, Arc::new(FixedClock::new(NOW)), configure).await;
        let holders: Value =
            serde_json::from_str(avow_issuer::config::DEMO_HOLDERS).expect("demo holders");
        issuer
            .import_holders(&holders)
            .await
            .assert_status(200)
            .json();
        issuer
    }

    async fn launch(
        storage: Arc<Storage>,
        clock: Arc<FixedClock>,
        configure: fn(&mut IssuerConfig),
    ) -> Self {
        let public = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind public");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind admin");
        let public_addr = public.local_addr().expect("public addr");
        let admin_addr = admin.local_addr().expect("admin addr");
        let mut config = IssuerConfig::defaults().expect("embedded defaults");
        config.server.public_url = format!("http://{public_addr}");
        config.server.listen = public_addr.to_string();
        config.server.admin_listen = admin_addr.to_string();
        config.storage.data_dir = storage.data_dir.clone();
        config.storage.database_url = storage.database_url.clone();
        // Until wallet attestation lands the tests use anonymous pre-authorized access.
        config.policy.pre_authorized_grant_anonymous_access = true;
        configure(&mut config);
        let state = build_state(config, clock.clone(), Arc::new(SystemRandom))
            .await
            .expect("build issuer state");
        let running = RunningIssuer::start(state.clone(), public, admin).expect("start issuer");
        let http = reqwest::Client::builder()
            // No idle connections: a stopped issuer leaves nothing half-open.
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            url: state.issuer_id.clone(),
            admin_url: format!("http://{admin_addr}"),
            admin_token: state.admin_token.clone(),
            state,
            clock,
            http,
            running: Some(running),
            storage,
            configure,
        }
    }

    pub fn backend(&self) -> Backend {
        self.storage.backend
    }

    /// Stops this instance and starts a new one on the same data directory
    /// and database (and the same clock and configuration).
    pub async fn restart(mut self) -> Self {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        Self::launch(self.storage.clone(), self.clock.clone(), self.configure).await
    }

    /// A second instance on the same data directory and database, as a
    /// horizontally scaled deployment runs.
    pub async fn sibling(&self) -> Self {
        Self::launch(self.storage.clone(), self.clock.clone(), self.configure).await
    }

    pub fn now(&self) -> i64 {
        avow_core::Clock::now(self.clock.as_ref())
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    pub fn nonce_url(&self) -> String {
        format!("{}/nonce", self.url)
    }

    pub fn credential_url(&self) -> String {
        format!("{}/credential", self.url)
    }

    /// Sends and reads the whole response; every response, public or admin,
    /// carries `Date` (ISS-SEC-09) and `X-Request-Id` (ISS-SEC-10).
    pub async fn send(&self, request: RequestBuilder) -> Resp {
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("response body").to_vec();
        assert!(headers.contains_key("date"), "no Date header (ISS-SEC-09)");
        assert!(
            headers.get("x-request-id").is_some_and(|v| !v.is_empty()),
            "no X-Request-Id header (ISS-SEC-10)"
        );
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, url: &str) -> Resp {
        self.send(self.http.get(url)).await
    }

    // ------------------------------------------------------------ admin API

    pub fn admin(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.admin_url))
            .bearer_auth(&self.admin_token)
    }

    /// Runs one SQL statement on this issuer's database, to make a state the
    /// API never makes (e.g. a holder record deleted behind the issuer's back).
    pub async fn execute_sql(&self, sql: &str) {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let mut connection = sqlx::AnyConnection::connect(&self.state.config.database_url())
            .await
            .expect("connect to the issuer database");
        connection.execute(sql).await.expect("execute SQL");
        connection.close().await.expect("close connection");
    }

    pub async fn import_holders(&self, holders: &Value) -> Resp {
        self.send(
            self.admin(reqwest::Method::PUT, "/admin/holders")
                .json(holders),
        )
        .await
    }

    pub async fn create_offer_request(&self, body: &Value) -> Resp {
        self.send(
            self.admin(reqwest::Method::POST, "/admin/offers")
                .json(body),
        )
        .await
    }

    /// An offer of the PID for the demo holder, optionally with a transaction code.
    pub async fn create_offer(&self, with_tx_code: bool) -> CreatedOffer {
        let mut body = json!({ "holder_id": HOLDER, "credential_configuration_ids": [PID] });
        if with_tx_code {
            body["tx_code"] = json!({ "description": "sent by mail" });
        }
        let response = self.create_offer_request(&body).await;
        response.assert_status(201).assert_no_store();
        serde_json::from_slice(&response.body).expect("created offer")
    }

    // ------------------------------------------------------------ token endpoint

    /// Client authentication at the token endpoint: the one place that adds
    /// it. Anonymous pre-authorized access needs nothing yet; wallet
    /// attestation headers (`OAuth-Client-Attestation`, `-PoP`) go here.
    pub async fn client_auth(&self, request: RequestBuilder) -> RequestBuilder {
        request
    }

    /// A fresh DPoP nonce, read from the Nonce Endpoint's `DPoP-Nonce` header.
    pub async fn dpop_nonce(&self) -> String {
        let response = self.send(self.http.post(self.nonce_url())).await;
        response.assert_status(200);
        response
            .header("dpop-nonce")
            .expect("DPoP-Nonce header")
            .to_owned()
    }

    /// A DPoP proof at the current test time with a fresh `jti`.
    pub async fn dpop(
        &self,
        key: &SoftwareSigner,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        self.dpop_at(key, htm, htu, access_token, nonce, self.now())
            .await
    }

    pub async fn dpop_at(
        &self,
        key: &SoftwareSigner,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        iat: i64,
    ) -> String {
        create_proof(
            key,
            NewDpopProof {
                htm,
                htu,
                iat,
                jti: SystemRandom.token(16),
                access_token,
                nonce,
            },
        )
        .await
        .expect("DPoP proof")
    }

    /// A valid token-endpoint DPoP proof (with a current nonce) for `key`.
    pub async fn token_dpop(&self, key: &SoftwareSigner) -> String {
        let nonce = self.dpop_nonce().await;
        self.dpop(key, "POST", &self.token_url(), None, Some(&nonce))
            .await
    }

    /// A token request with client authentication and the given `DPoP` headers.
    pub async fn token_request(&self, form: &[(&str, &str)], dpop: &[&str]) -> Resp {
        let mut request = self
            .client_auth(self.http.post(self.token_url()))
            .await
            .form(form);
        for proof in dpop {
            request = request.header("DPoP", *proof);
        }
        self.send(request).await
    }

    /// The token request of the pre-authorized code grant, with a valid DPoP proof by `key`.
    pub async fn redeem_with(
        &self,
        key: &SoftwareSigner,
        code: &str,
        tx_code: Option<&str>,
    ) -> Resp {
        let mut form = vec![
            ("grant_type", PRE_AUTH_GRANT),
            ("pre-authorized_code", code),
        ];
        if let Some(tx) = tx_code {
            form.push(("tx_code", tx));
        }
        let proof = self.token_dpop(key).await;
        self.token_request(&form, &[&proof]).await
    }

    pub async fn redeem(&self, code: &str, tx_code: Option<&str>) -> Resp {
        let key = SoftwareSigner::generate().expect("key");
        self.redeem_with(&key, code, tx_code).await
    }

    /// Redeems an offer's code for a DPoP-bound access token.
    pub async fn token(&self, offer: &CreatedOffer) -> Token {
        let key = SoftwareSigner::generate().expect("key");
        let response = self
            .redeem_with(&key, code_of(offer), offer.tx_code.as_deref())
            .await;
        response.assert_status(200);
        let access_token = response.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        Token { access_token, key }
    }

    /// An access token for a fresh offer without a transaction code.
    pub async fn fresh_token(&self) -> Token {
        let offer = self.create_offer(false).await;
        self.token(&offer).await
    }

    // ------------------------------------------------------------ nonce and credential endpoints

    pub async fn c_nonce(&self) -> String {
        let response = self.send(self.http.post(self.nonce_url())).await;
        response.assert_status(200);
        response.json()["c_nonce"]
            .as_str()
            .expect("c_nonce")
            .to_owned()
    }

    /// A credential request with a valid DPoP proof (current nonce, `ath`).
    pub async fn credential_request(&self, token: &Token, body: &Value) -> Resp {
        let nonce = self.dpop_nonce().await;
        let proof = self
            .dpop(
                &token.key,
                "POST",
                &self.credential_url(),
                Some(&token.access_token),
                Some(&nonce),
            )
            .await;
        self.credential_request_raw(&token.access_token, &proof, |r| r.json(body))
            .await
    }

    /// A credential request with the given token and DPoP proof; `body` adds the body.
    pub async fn credential_request_raw(
        &self,
        access_token: &str,
        dpop: &str,
        body: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Resp {
        let request = self
            .http
            .post(self.credential_url())
            .header("Authorization", format!("DPoP {access_token}"))
            .header("DPoP", dpop);
        self.send(body(request)).await
    }

    /// `{"credential_configuration_id": PID, "proofs": {"jwt": [proof]}}`.
    pub fn pid_request(proof: &str) -> Value {
        json!({ "credential_configuration_id": PID, "proofs": { "jwt": [proof] } })
    }

    /// The claims of a good key proof for `c_nonce`.
    pub fn proof_claims(&self, c_nonce: &str) -> Value {
        json!({ "aud": self.url, "iat": self.now(), "nonce": c_nonce })
    }

    /// A good `jwt` key proof (OID4VCI App. F.1) by `holder` for `c_nonce`.
    pub async fn key_proof(&self, holder: &SoftwareSigner, c_nonce: &str) -> String {
        jws(holder, proof_header(holder), &self.proof_claims(c_nonce)).await
    }

    // ------------------------------------------------------------ the wallet

    /// Runs an offer through avow-wallet: resolve by reference, discover,
    /// token, nonce, key proof, credential (with the test clock).
    pub async fn run_wallet(&self, offer: &CreatedOffer) -> Issued {
        let client = avow_wallet::HttpClient::new(true).expect("wallet client");
        let link = &offer.links["openid-credential-offer"].by_reference;
        let resolved = avow_wallet::offer::resolve_offer(&client, link)
            .await
            .expect("resolve offer");
        assert_eq!(resolved, offer.credential_offer);
        let info = avow_wallet::issuer::discover(&client, &resolved.credential_issuer)
            .await
            .expect("discover issuer");
        let grant = resolved
            .grants
            .pre_authorized_code
            .expect("pre-authorized code grant");
        let mut session =
            avow_wallet::flow::IssuanceSession::new(&client, Arc::new(info), self.clock.as_ref())
                .expect("session");
        let token = session
            .redeem_pre_authorized_code(&grant.pre_authorized_code, offer.tx_code.as_deref())
            .await
            .expect("token");
        assert_eq!(token.token_type, "DPoP");
        let holder = SoftwareSigner::generate().expect("holder key");
        let c_nonce = session.fetch_c_nonce().await.expect("c_nonce");
        let proof = session
            .key_proof(&holder, &c_nonce)
            .await
            .expect("key proof");
        let response = session
            .request_credential(PID, &proof)
            .await
            .expect("credential");
        let credentials = response.credentials.expect("credentials");
        assert_eq!(credentials.len(), 1);
        let credential = credentials[0]
            .credential
            .as_str()
            .expect("an SD-JWT VC is a string")
            .to_owned();
        Issued { credential, holder }
    }

    /// The development trust anchor the issuer wrote (`state.keys.dev_anchor`).
    pub fn trust_anchors(&self) -> TrustAnchors {
        let path = self.state.keys.dev_anchor.clone().expect("dev PKI anchor");
        let pem = std::fs::read_to_string(path).expect("read anchor");
        TrustAnchors::new(avow_crypto::x509::certs_from_pem(&pem).expect("anchor PEM"))
            .expect("anchor")
    }

    /// Verifies an issued SD-JWT VC with the key of its `x5c` leaf, after
    /// validating that chain to the dev CA; returns the result and the leaf key.
    pub fn verify_credential(&self, credential: &str) -> (VerifiedSdJwtVc, EcPublicJwk) {
        let sd_jwt = avow_formats::sd_jwt_vc::peek(credential).expect("parse SD-JWT");
        let x5c = sd_jwt
            .jws()
            .x5c()
            .expect("x5c header")
            .expect("x5c certificates");
        let issuer_key = self
            .trust_anchors()
            .validate_chain(&x5c, self.now())
            .expect("x5c validates to the dev CA");
        let verified = avow_formats::sd_jwt_vc::verify(
            credential,
            &issuer_key,
            &AlgorithmAllowList::es256(),
            self.now(),
            60,
            false,
        )
        .expect("credential verifies");
        (verified, issuer_key)
    }
}

/// The pre-authorized code of an offer.
pub fn code_of(offer: &CreatedOffer) -> &str {
    &offer
        .credential_offer
        .grants
        .pre_authorized_code
        .as_ref()
        .expect("pre-authorized grant")
        .pre_authorized_code
}

/// `{"typ": "openid4vci-proof+jwt", "jwk": <public key>}`.
pub fn proof_header(key: &SoftwareSigner) -> Value {
    json!({ "typ": avow_core::proof::PROOF_TYP, "jwk": key.public_jwk().to_json() })
}

/// Signs `claims` with `signer` (ES256) under `header` (`alg` is set by the signer).
pub async fn jws(signer: &SoftwareSigner, header: Value, claims: &Value) -> String {
    let header: Map<String, Value> = match header {
        Value::Object(map) => map,
        other => panic!("a JOSE header is an object, not {other}"),
    };
    let payload = serde_json::to_vec(claims).expect("claims");
    avow_crypto::jws::sign_compact(signer, header, &payload)
        .await
        .expect("sign")
}

/// A compact JWS assembled from parts without signing (for `alg` `none`, MACs …).
pub fn forged_jws(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let b64 = |v: &Value| avow_crypto::b64::encode(serde_json::to_vec(v).expect("json"));
    format!(
        "{}.{}.{}",
        b64(header),
        b64(claims),
        avow_crypto::b64::encode(signature)
    )
}

/// Replaces the header of a compact JWS, keeping payload and signature.
pub fn with_header(compact: &str, header: &Value) -> String {
    let mut parts = compact.splitn(2, '.');
    let _ = parts.next();
    let rest = parts.next().expect("a compact JWS");
    format!(
        "{}.{rest}",
        avow_crypto::b64::encode(serde_json::to_vec(header).expect("json"))
    )
}

/// The decoded header of a compact JWS.
pub fn header_of(compact: &str) -> Value {
    let first = compact.split('.').next().unwrap_or_default();
    serde_json::from_slice(&avow_crypto::b64::decode(first).expect("b64")).expect("json header")
}

/// The decoded payload of a compact JWS.
pub fn payload_of(compact: &str) -> Value {
    let second = compact.split('.').nth(1).unwrap_or_default();
    serde_json::from_slice(&avow_crypto::b64::decode(second).expect("b64")).expect("json payload")
}

/// A copy of a JSON object without `member`.
pub fn without(value: &Value, member: &str) -> Value {
    let mut copy = value.clone();
    if let Some(object) = copy.as_object_mut() {
        object.remove(member);
    }
    copy
}
