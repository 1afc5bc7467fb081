//! The mutual-TLS listener (RFC 8705; ISS-CLI-01 … -03): the same public
//! router as the plain listener, over TLS (tokio-rustls on aws-lc-rs), asking
//! every client for a certificate without requiring one.
//!
//! A presented certificate must pass the TLS handshake signature check
//! (possession of its key). Whether it chains to a configured client CA is
//! decided right after the handshake with rustls's `WebPkiClientVerifier`
//! at the issuer's clock, and recorded in [`PeerCertificates`]: an untrusted
//! certificate thus yields `401 invalid_client` naming the reason, rather
//! than an opaque handshake failure. Handlers read the certificates from the
//! request extensions (`Option<Extension<PeerCertificates>>`); requests on
//! the plain listener have none.

use crate::state::{AppState, IssuerState};
use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Handshakes in progress at once; more connections wait in the kernel backlog.
const MAX_HANDSHAKES: usize = 256;
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificates a client presented on the mutual-TLS listener.
#[derive(Debug, Clone)]
pub struct PeerCertificates {
    chain: Arc<Vec<Vec<u8>>>,
    untrusted: Option<Arc<str>>,
}

impl PeerCertificates {
    /// A chain (leaf first) that was verified to a configured client CA.
    pub fn verified(chain: Vec<Vec<u8>>) -> Self {
        Self {
            chain: Arc::new(chain),
            untrusted: None,
        }
    }

    /// A chain that proved possession of its key but did not verify; `reason` says why.
    pub fn untrusted(chain: Vec<Vec<u8>>, reason: &str) -> Self {
        Self {
            chain: Arc::new(chain),
            untrusted: Some(Arc::from(reason)),
        }
    }

    /// The client certificate (DER).
    pub fn leaf(&self) -> Option<&[u8]> {
        self.chain.first().map(Vec::as_slice)
    }

    /// The whole chain as presented, leaf first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    pub fn is_verified(&self) -> bool {
        self.untrusted.is_none() && self.leaf().is_some()
    }

    /// Why the chain did not verify, if it did not.
    pub fn untrusted_reason(&self) -> Option<&str> {
        self.untrusted.as_deref()
    }

    /// `x5t#S256` of the client certificate: base64url(SHA-256(DER)) (RFC 8705 §3.1).
    pub fn thumbprint(&self) -> Option<String> {
        self.leaf().map(avow_crypto::hash::sha256_b64)
    }
}

/// Who is on the other end of a TLS connection.
#[derive(Debug, Clone)]
pub struct TlsPeer {
    pub remote: SocketAddr,
    pub certificates: Option<PeerCertificates>,
}

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("mtls listener: {0}")]
pub struct TlsError(String);

fn err(context: &str) -> impl Fn(&dyn std::fmt::Display) -> TlsError + '_ {
    move |e| TlsError(format!("{context}: {e}"))
}

/// Accepts client certificates for the handshake (the key-possession check is
/// the inner verifier's), leaving the trust decision to [`TlsListener`].
#[derive(Debug)]
struct DeferredClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for DeferredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The TLS side of the listener: server certificate and client verification.
struct TlsSetup {
    acceptor: TlsAcceptor,
    verifier: Arc<dyn ClientCertVerifier>,
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| TlsError(format!("{}: {e}", path.display())))
}

fn tls_setup(state: &IssuerState) -> Result<Option<TlsSetup>, TlsError> {
    let Some(mtls) = &state.config.client_authentication.mtls else {
        return Ok(None);
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for der in &state.client_auth.mtls_client_cas {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| err("client CA")(&e))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| err("client certificate verifier")(&e))?;
    let chain: Vec<CertificateDer<'static>> =
        avow_crypto::x509::certs_from_pem(&read(&mtls.certificate)?)
            .map_err(|e| err("mtls.certificate")(&e))?
            .into_iter()
            .map(CertificateDer::from)
            .collect();
    let key = avow_crypto::pem::decode_one("PRIVATE KEY", &read(&mtls.private_key)?)
        .map_err(|e| err("mtls.private_key (PEM PKCS#8 expected)")(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("TLS versions")(&e))?
        .with_client_cert_verifier(Arc::new(DeferredClientVerifier {
            inner: verifier.clone(),
        }))
        .with_single_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .map_err(|e| err("mtls.certificate / mtls.private_key")(&e))?;
    // axum serves HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsSetup {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        verifier,
    }))
}

/// Accepts TCP connections and completes TLS handshakes concurrently, handing
/// finished connections to axum in order of completion.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, TlsPeer)>,
    local_addr: SocketAddr,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl TlsListener {
    /// Binds `client_authentication.mtls.listen` when configured. Needs a Tokio runtime.
    pub fn bind(state: &AppState) -> Result<Option<Self>, TlsError> {
        let Some(setup) = tls_setup(state)? else {
            return Ok(None);
        };
        let Some(mtls) = &state.config.client_authentication.mtls else {
            return Ok(None);
        };
        let std_listener = std::net::TcpListener::bind(&mtls.listen)
            .map_err(|e| TlsError(format!("listen {}: {e}", mtls.listen)))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| err("listen")(&e))?;
        let tcp = TcpListener::from_std(std_listener).map_err(|e| err("listen")(&e))?;
        let local_addr = tcp.local_addr().map_err(|e| err("listen")(&e))?;
        let (tx, incoming) = mpsc::channel(64);
        let accept_task = tokio::spawn(accept_loop(tcp, setup, state.clone(), tx));
        tracing::info!(addr = %local_addr, "mutual-TLS listener (tls_client_auth) started");
        Ok(Some(Self {
            incoming,
            local_addr,
            accept_task,
        }))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

async fn accept_loop(
    tcp: TcpListener,
    setup: TlsSetup,
    state: AppState,
    tx: mpsc::Sender<(TlsStream<TcpStream>, TlsPeer)>,
) {
    let setup = Arc::new(setup);
    let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, remote) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "mTLS accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let setup = setup.clone();
        let state = state.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, setup.acceptor.accept(stream))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let certificates = tls
                .get_ref()
                .1
                .peer_certificates()
                .filter(|chain| !chain.is_empty())
                .map(|chain| check_chain(&setup.verifier, chain, state.now()));
            let _ = tx
                .send((
                    tls,
                    TlsPeer {
                        remote,
                        certificates,
                    },
                ))
                .await;
        });
    }
}

/// The trust decision for a presented chain (ISS-CLI-01), at the issuer's clock.
fn check_chain(
    verifier: &Arc<dyn ClientCertVerifier>,
    chain: &[CertificateDer<'static>],
    now: i64,
) -> PeerCertificates {
    let ders: Vec<Vec<u8>> = chain.iter().map(|c| c.as_ref().to_vec()).collect();
    let Some((leaf, intermediates)) = chain.split_first() else {
        return PeerCertificates::untrusted(ders, "empty certificate chain");
    };
    let time = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).unwrap_or(0)));
    match verifier.verify_client_cert(leaf, intermediates, time) {
        Ok(_) => PeerCertificates::verified(ders),
        Err(e) => PeerCertificates::untrusted(ders, &e.to_string()),
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = TlsPeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept loop only ends when the listener goes away.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(TlsPeer {
            remote: self.local_addr,
            certificates: None,
        })
    }
}

/// Marks, in the request extensions, a request that came over the mutual-TLS
/// listener (with or without a client certificate): e.g. for accepting the
/// `mtls_endpoint_aliases` URL as DPoP `htu` there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViaMtlsListener;

/// Puts the connection's certificates into the request extensions.
async fn expose_peer_certificates(
    ConnectInfo(peer): ConnectInfo<TlsPeer>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(ViaMtlsListener);
    if let Some(certificates) = peer.certificates {
        request.extensions_mut().insert(certificates);
    }
    next.run(request).await
}

/// Serves the public router on `listener` until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: TlsListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = crate::app::public_router(state)
        .layer(axum::middleware::from_fn(expose_peer_certificates))
        .into_make_service_with_connect_info::<TlsPeer>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "mutual-TLS listener failed");
    }
}
