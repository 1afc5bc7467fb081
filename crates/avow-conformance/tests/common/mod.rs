//! Self-test harness: an in-process Avow issuer on SQLite (real clock, wallet
//! attestation required, `pre_authorized_grant_anonymous_access = false`)
//! that trusts the runner's wallet-provider CA, optionally behind a
//! deliberately broken reverse proxy that plays the issuer under test.

#![allow(dead_code)]

use avow_conformance::{AdminApi, IutOptions, LoginScript, WalletProviderPki};
use avow_core::key_attestation::{ISO_18045_HIGH, ISO_18045_MODERATE, KeyAttestationsRequired};
use avow_issuer::config::SignatureProfile;
use avow_issuer::{IssuerConfig, RunningIssuer, build_state};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Seconds after which pre-authorized codes, c_nonces, authorization codes
/// and request_uris are certainly expired in the test issuer (lifetimes 5 s,
/// clock skew 2 s).
pub const EXPIRY_WAIT: u64 = 9;

pub struct TestIssuer {
    /// The credential issuer identifier (the proxy's URL when there is one).
    pub url: String,
    pub admin_url: String,
    pub admin_token: String,
    pub dev_anchor: PathBuf,
    pub pki_dir: PathBuf,
    data_dir: PathBuf,
    running: Option<RunningIssuer>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        let _ = std::fs::remove_dir_all(&self.pki_dir);
    }
}

fn with_profiles(config: &mut IssuerConfig) {
    // Batch issuance, so CONF-C06A-03 attests more than one key.
    config.batch.batch_size = 2;
    let Some(pid) = config.credential_configurations.get("pid-sd-jwt").cloned() else {
        return;
    };
    // A configuration demanding a key attestation (both proof types; CONF-C06A).
    let mut wua = pid.clone();
    wua.scope = "scope-pid-wua".into();
    wua.proofs = Some(avow_issuer::key_proof::ProofsConfig {
        types: Some(vec!["jwt".into(), "attestation".into()]),
        key_attestations_required: Some(KeyAttestationsRequired {
            key_storage: vec![ISO_18045_HIGH.into(), ISO_18045_MODERATE.into()],
            user_authentication: vec![ISO_18045_HIGH.into(), ISO_18045_MODERATE.into()],
        }),
    });
    config
        .credential_configurations
        .insert("pid-wua".to_owned(), wua);
    for (id, profile) in [
        ("pid-jwk", SignatureProfile::Jwk),
        ("pid-kid", SignatureProfile::Kid),
        ("pid-did-web", SignatureProfile::DidWeb),
    ] {
        let mut configuration = pid.clone();
        configuration.scope = format!("scope-{id}");
        configuration.signature_profile = profile;
        config
            .credential_configurations
            .insert(id.to_owned(), configuration);
    }
}

impl TestIssuer {
    /// Starts Avow; with `fault`, a broken proxy in front of it is the IUT.
    pub async fn start(fault: Option<Fault>) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let data_dir = std::env::temp_dir().join(format!("avow-conformance-issuer-{id}"));
        let pki_dir = std::env::temp_dir().join(format!("avow-conformance-pki-{id}"));
        let pki = WalletProviderPki::generate_or_load(&pki_dir, avow_conformance::iut::now())
            .expect("runner PKI");
        drop(pki);
        let public = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind public");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind admin");
        let public_addr = public.local_addr().expect("addr");
        let admin_addr = admin.local_addr().expect("addr");
        let proxy = match fault {
            Some(_) => Some(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind proxy"),
            ),
            None => None,
        };
        let url = match &proxy {
            Some(p) => format!("http://{}", p.local_addr().expect("addr")),
            None => format!("http://{public_addr}"),
        };
        let mut config = IssuerConfig::defaults().expect("defaults");
        config.server.public_url = url.clone();
        config.server.listen = public_addr.to_string();
        config.server.admin_listen = admin_addr.to_string();
        config.storage.data_dir = data_dir.clone();
        config.policy.pre_authorized_grant_anonymous_access = false;
        config.policy.pre_authorized_code_lifetime = 5;
        config.policy.c_nonce_lifetime = 5;
        config.policy.clock_skew = 2;
        // Short enough for the expired-code and expired-request_uri probes.
        config.policy.authorization_code_lifetime = 5;
        config.authorization.par_lifetime = 5;
        config
            .client_authentication
            .wallet_provider_anchors
            .push(pki_dir.join(avow_conformance::pki::CA_CERT_FILE));
        with_profiles(&mut config);
        let state = build_state(
            config,
            Arc::new(avow_core::SystemClock),
            Arc::new(avow_crypto::SystemRandom),
        )
        .await
        .expect("issuer state");
        let dev_anchor = state.keys.dev_anchor.clone().expect("dev anchor");
        let admin_token = state.admin_token.clone();
        let running = RunningIssuer::start(state, public, admin).expect("start issuer");
        if let (Some(listener), Some(fault)) = (proxy, fault) {
            start_proxy(listener, format!("http://{public_addr}"), fault);
        }
        let issuer = Self {
            url,
            admin_url: format!("http://{admin_addr}"),
            admin_token,
            dev_anchor,
            pki_dir,
            data_dir,
            running: Some(running),
        };
        let holders: serde_json::Value =
            serde_json::from_str(avow_issuer::config::DEMO_HOLDERS).expect("holders");
        let response = reqwest::Client::new()
            .put(format!("{}/admin/holders", issuer.admin_url))
            .bearer_auth(&issuer.admin_token)
            .json(&holders)
            .send()
            .await
            .expect("import holders");
        assert_eq!(response.status().as_u16(), 200, "holders imported");
        issuer
    }

    pub fn pki(&self) -> WalletProviderPki {
        WalletProviderPki::load(&self.pki_dir, avow_conformance::iut::now()).expect("runner PKI")
    }

    /// Runner options: admin API, the login script, the dev anchor.
    pub fn options(&self, expiry_wait: Option<u64>) -> IutOptions {
        let mut options = IutOptions::new(&self.url);
        options.admin = Some(AdminApi {
            url: self.admin_url.clone(),
            token: self.admin_token.clone(),
            holder_id: "demo-erika".into(),
        });
        options.login_script = Some(LoginScript::from_toml(LOGIN_SCRIPT).expect("login script"));
        let pem = std::fs::read_to_string(&self.dev_anchor).expect("anchor");
        for der in avow_crypto::x509::certs_from_pem(&pem).expect("pem") {
            options
                .issuer_trust_anchors
                .push((self.dev_anchor.display().to_string(), der));
        }
        options.allow_http_loopback = true;
        options.expiry_wait = expiry_wait;
        options.configuration = Some("pid-sd-jwt".into());
        options
    }
}

/// The example script with the demo password inline (tests cannot set env vars safely).
pub const LOGIN_SCRIPT: &str = r#"
redirect_uri = "http://127.0.0.1:48555/callback"
[[page]]
url = "/authorize"
contains = "name=\"password\""
form = "/authorize/login"
fill = { username = "demo-erika", password = "erika-demo-password" }
press = "sign-in"
[[page]]
url = "/authorize/login"
contains = "name=\"decision\""
form = "/authorize/consent"
press = "approve"
"#;

// ---------------------------------------------------------------- broken issuers

/// One deliberately broken behaviour of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `400 invalid_nonce` at the credential endpoint becomes 200 with the
    /// last good response: replayed / unknown c_nonces look accepted.
    AcceptsBadNonces,
    /// `400 invalid_proof` becomes 200 with the last good response: a bad
    /// proof signature (and every other proof fault) looks accepted.
    AcceptsBadProofs,
    /// A PAR without `code_challenge` is forwarded with one added: the PAR
    /// without PKCE is answered 201.
    ParWithoutPkce,
    /// Issued credentials lose the `x5c` header (their signature breaks).
    StripsX5c,
    /// A plain `jwt` proof rejected with `400 invalid_proof` (as for the
    /// mdoc configuration, which takes `attestation` proofs only) becomes
    /// 200 with the last mdoc issued (or a dummy).
    AcceptsJwtProofForMdoc,
    /// `401 invalid_dpop_proof` at the credential endpoint becomes 200 with
    /// the last good response: a replayed DPoP proof (same jti) or a proof
    /// by a key the token is not bound to looks accepted.
    AcceptsBadDpopProofs,
    /// `400 invalid_credential_request` / `unknown_credential_*` at the
    /// credential endpoint become 200 with the last good response: the
    /// legacy `proof`, both selectors and unknown ids look accepted.
    AcceptsBadCredentialRequests,
    /// `400 invalid_encryption_parameters` becomes 200 with the last good
    /// response: an unsupported `enc` looks accepted.
    AcceptsBadEncryption,
    /// `401 invalid_client` at PAR and token becomes the last good answer
    /// of that endpoint: missing and faulty attestations look accepted.
    AcceptsBadClients,
    /// `400 invalid_grant` at the token endpoint becomes the last good
    /// token response: unknown, expired and replayed codes look accepted.
    AcceptsBadGrants,
}

struct Proxy {
    upstream: String,
    fault: Fault,
    http: reqwest::Client,
    last_credential: Mutex<Option<Vec<u8>>>,
    last_mdoc: Mutex<Option<Vec<u8>>>,
    /// The last 2xx answer of /par and /token (status, body).
    last_good: Mutex<std::collections::HashMap<String, (u16, Vec<u8>)>>,
}

fn start_proxy(listener: tokio::net::TcpListener, upstream: String, fault: Fault) {
    let proxy = Arc::new(Proxy {
        upstream,
        fault,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("proxy client"),
        last_credential: Mutex::new(None),
        last_mdoc: Mutex::new(None),
        last_good: Mutex::new(std::collections::HashMap::new()),
    });
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

async fn forward(
    axum::extract::State(proxy): axum::extract::State<Arc<Proxy>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let headers = request.headers().clone();
    let mut body = axum::body::to_bytes(request.into_body(), 1 << 22)
        .await
        .unwrap_or_default()
        .to_vec();
    if proxy.fault == Fault::ParWithoutPkce && path == "/par" {
        let text = String::from_utf8_lossy(&body).into_owned();
        if !text.contains("code_challenge=") {
            let verifier = "conformance-fixture-verifier-0123456789abcdefghijkl";
            body = format!(
                "{text}&code_challenge={}&code_challenge_method=S256",
                avow_crypto::hash::sha256_b64(verifier.as_bytes())
            )
            .into_bytes();
        }
    }
    let request_body = body.clone();
    let mut upstream = proxy
        .http
        .request(method, format!("{}{path_and_query}", proxy.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(response) = upstream.send().await else {
        return axum::http::StatusCode::BAD_GATEWAY.into_response_fix();
    };
    let mut status = response.status().as_u16();
    let response_headers = response.headers().clone();
    let mut bytes = response.bytes().await.unwrap_or_default().to_vec();
    if path == "/par" || path == "/token" {
        if (200..300).contains(&status) {
            if let Ok(mut last) = proxy.last_good.lock() {
                last.insert(path.clone(), (status, bytes.clone()));
            }
        } else {
            let error = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned));
            let rewrite = matches!(
                (proxy.fault, error.as_deref(), path.as_str()),
                (Fault::AcceptsBadClients, Some("invalid_client"), _)
                    | (Fault::AcceptsBadGrants, Some("invalid_grant"), "/token")
            );
            if rewrite {
                // The last good answer of the endpoint, or a made-up one.
                let made_up = if path == "/par" {
                    (
                        201,
                        br#"{"request_uri":"urn:ietf:params:oauth:request_uri:fixture","expires_in":60}"#
                            .to_vec(),
                    )
                } else {
                    (
                        200,
                        br#"{"access_token":"fixture","token_type":"DPoP","expires_in":300}"#
                            .to_vec(),
                    )
                };
                let (good_status, good) = proxy
                    .last_good
                    .lock()
                    .ok()
                    .and_then(|l| l.get(&path).cloned())
                    .unwrap_or(made_up);
                status = good_status;
                bytes = good;
            }
        }
    }
    if path == "/credential" {
        let error = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .or_else(|| {
                let challenge = response_headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())?;
                let start = challenge.find("error=\"")? + 7;
                let rest = challenge.get(start..)?;
                Some(rest.get(..rest.find('"')?)?.to_owned())
            });
        if status == 200 {
            if proxy.fault == Fault::StripsX5c {
                bytes = strip_x5c(&bytes);
            }
            if let Ok(mut last) = proxy.last_credential.lock() {
                *last = Some(bytes.clone());
            }
            if is_mdoc_response(&bytes)
                && let Ok(mut last) = proxy.last_mdoc.lock()
            {
                *last = Some(bytes.clone());
            }
        } else if proxy.fault == Fault::AcceptsJwtProofForMdoc {
            if error.as_deref() == Some("invalid_proof") && plain_jwt_proof(&request_body) {
                status = 200;
                bytes = proxy
                    .last_mdoc
                    .lock()
                    .ok()
                    .and_then(|l| l.clone())
                    .unwrap_or_else(|| {
                        br#"{"credentials":[{"credential":"omdvY1R5cGVwYWNjZXB0ZWQ"}]}"#.to_vec()
                    });
            }
        } else {
            let rewrite = matches!(
                (proxy.fault, error.as_deref()),
                (Fault::AcceptsBadNonces, Some("invalid_nonce"))
                    | (Fault::AcceptsBadProofs, Some("invalid_proof"))
                    | (Fault::AcceptsBadDpopProofs, Some("invalid_dpop_proof"))
                    | (
                        Fault::AcceptsBadCredentialRequests,
                        Some(
                            "invalid_credential_request"
                                | "unknown_credential_configuration"
                                | "unknown_credential_identifier"
                        )
                    )
                    | (
                        Fault::AcceptsBadEncryption,
                        Some("invalid_encryption_parameters")
                    )
            );
            if rewrite {
                let last = proxy.last_credential.lock().ok().and_then(|l| l.clone());
                status = 200;
                bytes = last.unwrap_or_else(|| {
                    br#"{"credentials":[{"credential":"accepted-by-the-broken-fixture"}]}"#.to_vec()
                });
            }
        }
    }
    let mut builder = axum::http::Response::builder().status(status);
    for (name, value) in &response_headers {
        if name != "content-length" && name != "transfer-encoding" {
            builder = builder.header(name, value);
        }
    }
    builder
        .body(axum::body::Body::from(bytes))
        .unwrap_or_else(|_| axum::http::Response::new(axum::body::Body::empty()))
}

trait IntoResponseFix {
    fn into_response_fix(self) -> axum::response::Response;
}

impl IntoResponseFix for axum::http::StatusCode {
    fn into_response_fix(self) -> axum::response::Response {
        let mut r = axum::http::Response::new(axum::body::Body::empty());
        *r.status_mut() = self;
        r
    }
}

/// Removes `x5c` from the issuer-signed JWT header of every credential.
fn strip_x5c(body: &[u8]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    if let Some(list) = value.get_mut("credentials").and_then(|c| c.as_array_mut()) {
        for item in list {
            let Some(credential) = item
                .get("credential")
                .and_then(|c| c.as_str())
                .map(str::to_owned)
            else {
                continue;
            };
            let (jwt, rest) = credential.split_once('~').unwrap_or((&credential, ""));
            let mut parts = jwt.splitn(2, '.');
            let header = parts.next().unwrap_or_default();
            let tail = parts.next().unwrap_or_default();
            let mut decoded: serde_json::Value =
                serde_json::from_slice(&avow_crypto::b64::decode(header).unwrap_or_default())
                    .unwrap_or_default();
            if let Some(obj) = decoded.as_object_mut() {
                obj.remove("x5c");
            }
            let header = avow_crypto::b64::encode(serde_json::to_vec(&decoded).unwrap_or_default());
            item["credential"] = serde_json::Value::String(format!("{header}.{tail}~{rest}"));
        }
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

/// Is this credential response an mdoc (base64url CBOR, no JWS dots)?
fn is_mdoc_response(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/credentials/0/credential")
                .and_then(|c| c.as_str())
                .map(|c| !c.contains('.'))
        })
        .unwrap_or(false)
}

/// Does the credential request carry a `jwt` proof with a `jwk` header (no key attestation)?
fn plain_jwt_proof(body: &[u8]) -> bool {
    let Some(proof) = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/proofs/jwt/0")
                .and_then(|p| p.as_str())
                .map(str::to_owned)
        })
    else {
        return false;
    };
    let header = proof.split('.').next().unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(
        &avow_crypto::b64::decode(header).unwrap_or_default(),
    )
    .ok()
    .is_some_and(|h| h.get("jwk").is_some() && h.get("key_attestation").is_none())
}
