//! Start-up: store, keys, shared secrets, metadata; then the two listeners.

use crate::config::IssuerConfig;
use crate::keys::{IssuerKeys, write_private};
use crate::state::{AppState, Endpoints, IssuerState};
use avow_core::Clock;
use avow_crypto::server_nonce::ServerNonces;
use avow_crypto::{AlgorithmAllowList, Random};
use avow_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error("store: {0}")]
    Store(#[from] avow_store::StoreError),
    #[error("{0}")]
    Io(String),
}

/// Builds the shared state. `clock` and `random` are injected (tests fix them).
pub async fn build_state(
    config: IssuerConfig,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
) -> Result<AppState, StartError> {
    config.validate()?;
    std::fs::create_dir_all(&config.storage.data_dir)
        .map_err(|e| StartError::Io(format!("{}: {e}", config.storage.data_dir.display())))?;
    let store = Store::connect(&config.database_url()).await?;
    let keys = IssuerKeys::load(&config, clock.now())?;
    let encryption = crate::credential_encryption::CredentialEncryption::load(&config)?;
    let client_auth = crate::client_auth::ClientAuthTrust::load(&config, clock.now())
        .map_err(|e| StartError::Io(e.to_string()))?;
    let mut candidate = [0u8; 32];
    random.fill(&mut candidate);
    let nonce_key = store.shared_secret("server-nonce-key", &candidate).await?;
    let admin_token = admin_token(&config, random.as_ref())?;
    let issuer_id = config.server.public_url.trim_end_matches('/').to_owned();
    let endpoints = Endpoints::new(&issuer_id);
    let encode = |v: serde_json::Result<Vec<u8>>| {
        v.map(axum::body::Bytes::from)
            .map_err(|e| StartError::Io(e.to_string()))
    };
    let credential_issuer_metadata = encode(serde_json::to_vec(
        &crate::metadata::credential_issuer_metadata(&config, &issuer_id, &endpoints, &encryption),
    ))?;
    let authorization_server_metadata = encode(serde_json::to_vec(
        &crate::metadata::authorization_server_metadata(&config, &issuer_id, &endpoints),
    ))?;
    let jwt_vc_issuer_metadata = encode(serde_json::to_vec(
        &crate::metadata::jwt_vc_issuer_metadata(&issuer_id, &keys),
    ))?;
    let holder_authenticator =
        crate::authorize::StoreHolderAuthenticator::new(store.clone(), random.as_ref())
            .map_err(|e| StartError::Io(e.to_string()))?;
    Ok(Arc::new(IssuerState {
        config,
        issuer_id,
        endpoints,
        store,
        keys,
        encryption,
        nonces: ServerNonces::new(&nonce_key),
        clock,
        random,
        algorithms: AlgorithmAllowList::es256(),
        client_auth,
        admin_token,
        holder_authenticator: Arc::new(holder_authenticator),
        credential_issuer_metadata,
        authorization_server_metadata,
        jwt_vc_issuer_metadata,
    }))
}

/// The configured admin token, or in dev mode a generated one kept in `data_dir/admin-token`.
fn admin_token(config: &IssuerConfig, random: &dyn Random) -> Result<String, StartError> {
    if let Some(token) = &config.server.admin_token {
        return Ok(token.clone());
    }
    let path = config.storage.data_dir.join("admin-token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().to_owned());
    }
    let token = random.token(32);
    write_private(&path, &token)?;
    Ok(token)
}

/// A running issuer: the public and admin listeners and a purge task.
pub struct RunningIssuer {
    pub state: AppState,
    pub public_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The mutual-TLS listener (`client_authentication.mtls`), when configured.
    pub tls_addr: Option<SocketAddr>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningIssuer {
    /// Serves on already-bound listeners (tests bind port 0).
    pub fn start(
        state: AppState,
        public: TcpListener,
        admin: TcpListener,
    ) -> Result<Self, StartError> {
        let public_addr = public
            .local_addr()
            .map_err(|e| StartError::Io(e.to_string()))?;
        let admin_addr = admin
            .local_addr()
            .map_err(|e| StartError::Io(e.to_string()))?;
        let tls =
            crate::tls::TlsListener::bind(&state).map_err(|e| StartError::Io(e.to_string()))?;
        let tls_addr = tls.as_ref().map(crate::tls::TlsListener::local_addr);
        let (shutdown, watch) = tokio::sync::watch::channel(false);
        let stop = |mut w: tokio::sync::watch::Receiver<bool>| async move {
            let _ = w.wait_for(|s| *s).await;
        };
        let public_app = crate::app::public_router(state.clone());
        let admin_app = crate::admin::router(state.clone());
        let mut tasks = Vec::new();
        let w = watch.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(public, public_app)
                .with_graceful_shutdown(stop(w))
                .await
            {
                tracing::error!(error = %e, "public listener failed");
            }
        }));
        let w = watch.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(admin, admin_app)
                .with_graceful_shutdown(stop(w))
                .await
            {
                tracing::error!(error = %e, "admin listener failed");
            }
        }));
        if let Some(listener) = tls {
            tasks.push(tokio::spawn(crate::tls::serve(
                state.clone(),
                listener,
                stop(watch.clone()),
            )));
        }
        let purge_state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            let mut stopping = std::pin::pin!(stop(watch));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = purge_state.store.purge_expired(purge_state.now()).await {
                            tracing::warn!(error = %e, "purging expired state failed");
                        }
                    }
                    _ = &mut stopping => break,
                }
            }
        }));
        Ok(Self {
            state,
            public_addr,
            admin_addr,
            tls_addr,
            shutdown,
            tasks,
        })
    }

    /// Binds the configured addresses and serves.
    pub async fn bind(state: AppState) -> Result<Self, StartError> {
        let public = TcpListener::bind(&state.config.server.listen)
            .await
            .map_err(|e| StartError::Io(format!("listen {}: {e}", state.config.server.listen)))?;
        let admin = TcpListener::bind(&state.config.server.admin_listen)
            .await
            .map_err(|e| {
                StartError::Io(format!(
                    "admin_listen {}: {e}",
                    state.config.server.admin_listen
                ))
            })?;
        Self::start(state, public, admin)
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Waits until the listeners end (they only end on shutdown or failure).
    pub async fn wait(&mut self) {
        for task in &mut self.tasks {
            let _ = task.await;
        }
    }
}
