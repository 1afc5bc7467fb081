//! The reference issuer of the wallet-under-test mode: Avow's own issuer
//! and authorization server, in-process on SQLite, behind the
//! [`observer`](super::observer) layer. It plays the HAIP profile strictly
//! (PAR, PKCE S256, DPoP, wallet attestation at PAR and token, key
//! attestations, no anonymous pre-authorized access) so every duty of the
//! wallet is observable.
//!
//! One issuer per [`Profile`]: response encryption is issuer-wide metadata
//! (VCI §12.2.4), so "requires A128GCM only" (CONF-C10-05) and "requires
//! A256GCM only" (CONF-C11-01) are issuers of their own. They share one data
//! directory and so one DEVELOPMENT PKI: the wallet trusts a single CA.

use super::observer::{Observer, observe};
use crate::error::ConformanceError;
use avow_core::key_attestation::KeyAttestationsRequired;
use avow_issuer::config::SignatureProfile;
use avow_issuer::{AppState, IssuerConfig, build_state};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The holder every offer is for, and how the wallet's user logs in.
pub const HOLDER_ID: &str = "demo-erika";
pub const HOLDER_PASSWORD: &str = "erika-demo-password";

/// The credential configurations of the reference issuer.
pub mod configurations {
    /// PID SD-JWT VC, issuer key as `x5c` (VCI-005/006/008/009/010).
    pub const PID_X509: &str = "pid-sd-jwt";
    /// PID SD-JWT VC, issuer key as header `jwk` (VCI-001).
    pub const PID_JWK: &str = "pid-jwk";
    /// PID SD-JWT VC, issuer key by `kid` → JWKS (VCI-002).
    pub const PID_KID: &str = "pid-kid";
    /// PID SD-JWT VC, issuer `did:web` (VCI-004).
    pub const PID_DID_WEB: &str = "pid-did-web";
    /// PID mdoc, `attestation` proof only (VCI-005/008).
    pub const PID_MDOC: &str = "pid-mdoc";
    /// PID SD-JWT VC issued only after the operator approves (VCI §9).
    pub const PID_DEFERRED: &str = "pid-deferred";
}

/// The seconds a deferred response asks the wallet to wait.
pub const DEFERRED_INTERVAL: u64 = 1;
/// How many proofs one credential request may carry.
pub const BATCH_SIZE: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// No credential encryption.
    Plain,
    /// Encrypted responses required, `enc` A128GCM only (VCI-CHECK-10).
    A128Gcm,
    /// Encrypted responses required, `enc` A256GCM only (VCI-CHECK-11).
    A256Gcm,
}

impl Profile {
    /// Its place among the reference issuers: the port offset from the first.
    pub fn index(self) -> u16 {
        match self {
            Self::Plain => 0,
            Self::A128Gcm => 1,
            Self::A256Gcm => 2,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::A128Gcm => "a128gcm",
            Self::A256Gcm => "a256gcm",
        }
    }
}

/// A running reference issuer.
pub struct ReferenceIssuer {
    pub profile: Profile,
    /// The Credential Issuer Identifier (also the AS issuer).
    pub url: String,
    pub state: AppState,
    pub observer: Observer,
    admin_url: String,
    http: reqwest::Client,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn config_for(
    profile: Profile,
    public_url: &str,
    data_dir: &Path,
    wallet_provider_anchors: &[PathBuf],
) -> Result<IssuerConfig, ConformanceError> {
    let mut config =
        IssuerConfig::defaults().map_err(|e| ConformanceError::Config(e.to_string()))?;
    config.server.public_url = public_url.to_owned();
    // The runner's issuer is a test tool on loopback: generated PKI, http.
    config.server.dev_mode = true;
    config.storage.data_dir = data_dir.to_path_buf();
    config.storage.database_url = Some(format!(
        "sqlite://{}?mode=rwc",
        data_dir.join(format!("{}.db", profile.name())).display()
    ));
    config.policy.pre_authorized_grant_anonymous_access = false;
    config.client_authentication.wallet_provider_anchors = wallet_provider_anchors.to_vec();
    config.batch.batch_size = BATCH_SIZE;
    config.deferred.enabled = true;
    config.notifications.enabled = true;
    match profile {
        Profile::Plain => {
            config.encryption.enabled = false;
        }
        Profile::A128Gcm | Profile::A256Gcm => {
            config.encryption.enabled = true;
            config.encryption.response_required = true;
            config.encryption.enc_values_supported = vec![
                if profile == Profile::A128Gcm {
                    "A128GCM"
                } else {
                    "A256GCM"
                }
                .to_owned(),
            ];
        }
    }
    let pid = config
        .credential_configurations
        .get(configurations::PID_X509)
        .cloned()
        .ok_or_else(|| ConformanceError::Config("the defaults have no pid-sd-jwt".into()))?;
    let attested = avow_issuer::key_proof::ProofsConfig {
        types: Some(vec!["jwt".into(), "attestation".into()]),
        key_attestations_required: Some(KeyAttestationsRequired {
            key_storage: Vec::new(),
            user_authentication: Vec::new(),
        }),
    };
    let mut variants = Vec::new();
    for (id, profile) in [
        (configurations::PID_X509, SignatureProfile::X5c),
        (configurations::PID_JWK, SignatureProfile::Jwk),
        (configurations::PID_KID, SignatureProfile::Kid),
        (configurations::PID_DID_WEB, SignatureProfile::DidWeb),
    ] {
        let mut c = pid.clone();
        c.scope = format!("scope-{id}");
        c.signature_profile = profile;
        c.proofs = Some(attested.clone());
        variants.push((id, c));
    }
    let mut deferred = pid.clone();
    deferred.scope = format!("scope-{}", configurations::PID_DEFERRED);
    deferred.deferred = true;
    deferred.deferred_interval = Some(DEFERRED_INTERVAL);
    deferred.proofs = Some(attested);
    variants.push((configurations::PID_DEFERRED, deferred));
    for (id, c) in variants {
        config.credential_configurations.insert(id.to_owned(), c);
    }
    // Only what the runner issues: the PID in its formats and profiles.
    config.credential_configurations.retain(|id, _| {
        [
            configurations::PID_X509,
            configurations::PID_JWK,
            configurations::PID_KID,
            configurations::PID_DID_WEB,
            configurations::PID_MDOC,
            configurations::PID_DEFERRED,
        ]
        .contains(&id.as_str())
    });
    Ok(config)
}

/// The public URL of the reference issuer `offset` places after the first:
/// `base` with its port moved on by `offset` (each issuer is its own origin).
pub fn public_url_for(base: &str, offset: u16) -> Result<String, ConformanceError> {
    let bad = |why: &str| ConformanceError::Config(format!("--public-url {base}: {why}"));
    let mut url = reqwest::Url::parse(base).map_err(|_| bad("not a URL"))?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("an origin without path, query or fragment"));
    }
    let port = url
        .port_or_known_default()
        .and_then(|p| p.checked_add(offset))
        .ok_or_else(|| bad("no port to count from"))?;
    url.set_port(Some(port))
        .map_err(|_| bad("cannot carry a port"))?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

impl ReferenceIssuer {
    /// Starts the issuer of `profile` on `listen`: its address, and the
    /// public URL when a TLS-terminating proxy fronts it.
    pub async fn start(
        profile: Profile,
        listen: &super::Listen,
        data_dir: &Path,
        wallet_provider_anchors: &[PathBuf],
    ) -> Result<Self, ConformanceError> {
        let io = |e: std::io::Error| ConformanceError::Config(format!("reference issuer: {e}"));
        let port = match listen.first_port {
            0 => 0,
            first => first.checked_add(profile.index()).ok_or_else(|| {
                ConformanceError::Config("--listen: the port range ends above 65535".into())
            })?,
        };
        let public = tokio::net::TcpListener::bind((listen.host.as_str(), port))
            .await
            .map_err(io)?;
        let admin = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(io)?;
        let public_addr = public.local_addr().map_err(io)?;
        let admin_addr = admin.local_addr().map_err(io)?;
        let url = match &listen.public_url {
            Some(base) => public_url_for(base, profile.index())?,
            None => format!("http://{public_addr}"),
        };
        let mut config = config_for(profile, &url, data_dir, wallet_provider_anchors)?;
        config.server.listen = public_addr.to_string();
        config.server.admin_listen = admin_addr.to_string();
        let state = build_state(
            config,
            Arc::new(avow_core::SystemClock),
            Arc::new(avow_crypto::SystemRandom),
        )
        .await
        .map_err(|e| ConformanceError::Config(format!("reference issuer: {e}")))?;
        let observer = Observer::new(state.clone());
        let public_app = avow_issuer::app::public_router(state.clone()).layer(
            axum::middleware::from_fn_with_state(observer.clone(), observe),
        );
        let admin_app = avow_issuer::admin::router(state.clone());
        let (shutdown, watch) = tokio::sync::watch::channel(false);
        let stop = |mut w: tokio::sync::watch::Receiver<bool>| async move {
            let _ = w.wait_for(|s| *s).await;
        };
        let w = watch.clone();
        let public_task = tokio::spawn(async move {
            let _ = axum::serve(public, public_app)
                .with_graceful_shutdown(stop(w))
                .await;
        });
        let admin_task = tokio::spawn(async move {
            let _ = axum::serve(admin, admin_app)
                .with_graceful_shutdown(stop(watch))
                .await;
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| ConformanceError::Config(e.to_string()))?;
        let issuer = Self {
            profile,
            url,
            state,
            observer,
            admin_url: format!("http://{admin_addr}"),
            http,
            shutdown,
            tasks: vec![public_task, admin_task],
        };
        let holders: serde_json::Value = serde_json::from_str(avow_issuer::config::DEMO_HOLDERS)
            .map_err(|e| ConformanceError::Config(e.to_string()))?;
        issuer
            .admin_call("PUT", "/admin/holders", Some(holders))
            .await?;
        Ok(issuer)
    }

    /// The PEM file of the CA the wallet under test must trust.
    pub fn trust_anchor(&self) -> Option<PathBuf> {
        self.state.keys.dev_anchor.clone()
    }

    /// Calls the admin API; the JSON answer of a 2xx.
    pub async fn admin_call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, ConformanceError> {
        let url = format!("{}{path}", self.admin_url);
        let request = match method {
            "PUT" => self.http.put(&url),
            "POST" => self.http.post(&url),
            _ => self.http.get(&url),
        }
        .bearer_auth(&self.state.admin_token);
        let request = match body {
            Some(b) => request.json(&b),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| ConformanceError::Config(format!("admin {path}: {e}")))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ConformanceError::Config(format!(
                "admin {path}: {status} {text}"
            )));
        }
        Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    /// Approves every pending deferred transaction (the runner's operator).
    pub async fn approve_pending(&self) -> Result<usize, ConformanceError> {
        let pending = self
            .admin_call("GET", "/admin/deferred?state=pending", None)
            .await?;
        let mut approved = 0;
        for t in pending.as_array().into_iter().flatten() {
            if let Some(id) = t.get("id").and_then(|v| v.as_str()) {
                self.admin_call("POST", &format!("/admin/deferred/{id}/approve"), None)
                    .await?;
                approved += 1;
            }
        }
        Ok(approved)
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reference_issuer_gets_its_own_origin() {
        assert_eq!(
            public_url_for("https://runner.example:8443", 0)
                .ok()
                .as_deref(),
            Some("https://runner.example:8443")
        );
        assert_eq!(
            public_url_for("https://runner.example:8443/", 2)
                .ok()
                .as_deref(),
            Some("https://runner.example:8445")
        );
        assert_eq!(
            public_url_for("https://runner.example", 1).ok().as_deref(),
            Some("https://runner.example:444")
        );
        assert!(public_url_for("https://runner.example/issuer", 0).is_err());
        assert!(public_url_for("not a url", 0).is_err());
    }
}
