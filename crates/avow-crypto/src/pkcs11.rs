//! An ES256 [`Signer`] whose P-256 private key lives in a PKCS#11 token (an
//! HSM in production; SoftHSM2 in tests). ISS-SIG-06: production signing keys
//! sit behind the same [`Signer`] interface as the development software keys.
//!
//! - The key is found by token label and key label (`CKA_LABEL`); the private
//!   key never leaves the token.
//! - The public key is read from the token: `CKA_EC_POINT` of the public key
//!   object (PKCS#11 v3.0 §2.3.3: a DER OCTET STRING wrapping the SEC1
//!   uncompressed point), with `CKA_EC_PARAMS` naming P-256.
//! - Signing is `CKM_ECDSA` over the SHA-256 digest of the JWS signing input;
//!   its output `r || s` (each 32 bytes) is exactly the JWS ES256 signature
//!   encoding (RFC 7518 §3.4), so no DER conversion happens.
//! - At start-up one signature is made and verified with the public key read
//!   from the token, so a mismatched pair is refused before anything is signed.
//!
//! Concurrency: PKCS#11 sessions are not thread-safe (a `cryptoki` `Session`
//! is `Send`, not `Sync`), so sessions sit in a pool: each signature takes a
//! session of its own (opening one when the pool is empty) and gives it back
//! afterwards; at most [`MAX_SESSIONS`] signatures are in flight. `C_Sign` blocks, so it runs on tokio's blocking pool. A session
//! that fails (token reset, session closed, logged out) is dropped and the
//! signature retried once with a fresh, logged-in session.
//!
//! The user PIN is held as a [`SecretString`](cryptoki::types::AuthPin)
//! (zeroized on drop) and never appears in errors or `Debug` output.

use crate::alg::JwsAlgorithm;
use crate::error::CryptoError;
use crate::jwk::EcPublicJwk;
use crate::signer::{SignFuture, Signer, verify_es256};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// DER of the OID prime256v1 / secp256r1 (1.2.840.10045.3.1.7), the
/// `CKA_EC_PARAMS` of a P-256 key (RFC 5480 §2.1.1.1).
const P256_EC_PARAMS: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// Signatures in flight per signer, and so sessions open on the token (HSMs
/// limit sessions: `CKR_SESSION_COUNT`); idle sessions are kept for reuse.
const MAX_SESSIONS: usize = 16;

/// Where the key is: the PKCS#11 module, the token and the key's label.
#[derive(Debug, Clone)]
pub struct Pkcs11KeyRef {
    /// The module (shared library) of the token, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// `CKA_LABEL` of the token (its `CK_TOKEN_INFO.label`, blank padding ignored).
    pub token_label: String,
    /// `CKA_LABEL` of the private key (and of its public key object).
    pub key_label: String,
}

/// An ES256 key held in a PKCS#11 token.
pub struct Pkcs11Signer {
    inner: Arc<Inner>,
    public: EcPublicJwk,
    /// Bounds the signatures in flight to [`MAX_SESSIONS`].
    in_flight: tokio::sync::Semaphore,
}

struct Inner {
    context: Pkcs11,
    slot: Slot,
    key: Pkcs11KeyRef,
    pin: AuthPin,
    idle: Mutex<Vec<KeySession>>,
}

/// A logged-in session and the handle of the private key in it.
struct KeySession {
    session: Session,
    private_key: ObjectHandle,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("module", &self.inner.key.module)
            .field("token_label", &self.inner.key.token_label)
            .field("key_label", &self.inner.key.key_label)
            .field("thumbprint", &self.public.thumbprint())
            .finish_non_exhaustive()
    }
}

/// A PKCS#11 failure as a [`CryptoError`]: the function and the `CKR_` code,
/// never an argument (so never the PIN).
fn fail(what: &str, e: Pkcs11Error) -> CryptoError {
    let detail = match e {
        Pkcs11Error::Pkcs11(rv, function) => format!("{function} returned {rv:?}"),
        Pkcs11Error::LibraryLoading(e) => format!("cannot load the module: {e}"),
        other => format!("{other:?}"),
    };
    CryptoError::Pkcs11(format!("{what}: {detail}"))
}

/// One initialized context per module and process: `C_Initialize` may be
/// called once per process (PKCS#11 v3.0 §5.4), and a context is never
/// finalized while a signer could still use it.
fn context(module: &Path) -> Result<Pkcs11, CryptoError> {
    static MODULES: Mutex<BTreeMap<PathBuf, Pkcs11>> = Mutex::new(BTreeMap::new());
    let mut modules = MODULES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(context) = modules.get(module) {
        return Ok(context.clone());
    }
    let what = format!("PKCS#11 module {}", module.display());
    let context = Pkcs11::new(module).map_err(|e| fail(&what, e))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(fail(&what, e)),
    }
    modules.insert(module.to_owned(), context.clone());
    Ok(context)
}

impl Pkcs11Signer {
    /// Opens the token labelled `key.token_label` in `key.module`, logs in
    /// with `pin` (the user PIN) and finds the P-256 key labelled
    /// `key.key_label`; checks with one signature that the private key and
    /// the public key read from the token belong together.
    ///
    /// Blocking (it talks to the token); call it at start-up.
    pub fn open(key: Pkcs11KeyRef, pin: String) -> Result<Self, CryptoError> {
        let context = context(&key.module)?;
        let slot = find_slot(&context, &key)?;
        let inner = Arc::new(Inner {
            context,
            slot,
            key,
            pin: AuthPin::from(pin),
            idle: Mutex::new(Vec::new()),
        });
        let session = inner.open_session()?;
        let public = read_public_key(&session, &inner.key)?;
        inner.give_back(session);
        let signer = Self {
            inner,
            public,
            in_flight: tokio::sync::Semaphore::new(MAX_SESSIONS),
        };
        // The pair check: a token whose public key object belongs to another
        // private key would publish a key that verifies nothing.
        let probe = b"avow pkcs11 key check";
        let signature = signer.inner.sign_digest(&crate::hash::sha256(probe))?;
        verify_es256(&signer.public, probe, &signature).map_err(|_| {
            CryptoError::Pkcs11(format!(
                "key {:?} on token {:?}: the private key does not match the public key object of the same label",
                signer.inner.key.key_label, signer.inner.key.token_label
            ))
        })?;
        Ok(signer)
    }

    /// Signs synchronously (blocks on the token).
    pub fn sign_blocking(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.sign_digest(&crate::hash::sha256(message))
    }
}

fn find_slot(context: &Pkcs11, key: &Pkcs11KeyRef) -> Result<Slot, CryptoError> {
    let what = format!("PKCS#11 module {}", key.module.display());
    let mut found = Vec::new();
    for slot in context.get_slots_with_token().map_err(|e| fail(&what, e))? {
        let info = context.get_token_info(slot).map_err(|e| fail(&what, e))?;
        if info.label() == key.token_label {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(CryptoError::Pkcs11(format!(
            "{what}: no token labelled {:?}",
            key.token_label
        ))),
        _ => Err(CryptoError::Pkcs11(format!(
            "{what}: {} tokens are labelled {:?}; token labels must be unique",
            found.len(),
            key.token_label
        ))),
    }
}

/// The one object of `class` with the key's label, an EC key.
fn find_key(
    session: &Session,
    key: &Pkcs11KeyRef,
    class: ObjectClass,
    name: &str,
) -> Result<Option<ObjectHandle>, CryptoError> {
    let template = [
        Attribute::Class(class),
        Attribute::KeyType(KeyType::EC),
        Attribute::Label(key.key_label.as_bytes().to_vec()),
    ];
    let what = format!(
        "{name} key {:?} on token {:?}",
        key.key_label, key.token_label
    );
    let found = session
        .find_objects(&template)
        .map_err(|e| fail(&what, e))?;
    match found.as_slice() {
        [] => Ok(None),
        [handle] => Ok(Some(*handle)),
        _ => Err(CryptoError::Pkcs11(format!(
            "{what}: {} EC keys have this label; key labels must be unique",
            found.len()
        ))),
    }
}

/// `CKA_EC_POINT` and `CKA_EC_PARAMS` of the public key object with the
/// key's label (or, for tokens that keep them there, of the private key).
fn read_public_key(
    key_session: &KeySession,
    key: &Pkcs11KeyRef,
) -> Result<EcPublicJwk, CryptoError> {
    let session = &key_session.session;
    let object = match find_key(session, key, ObjectClass::PUBLIC_KEY, "public")? {
        Some(handle) => handle,
        None => key_session.private_key,
    };
    let what = format!(
        "public key {:?} on token {:?}",
        key.key_label, key.token_label
    );
    let attributes = session
        .get_attributes(object, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| fail(&what, e))?;
    let mut params = None;
    let mut point = None;
    for attribute in attributes {
        match attribute {
            Attribute::EcParams(bytes) => params = Some(bytes),
            Attribute::EcPoint(bytes) => point = Some(bytes),
            _ => {}
        }
    }
    if params.as_deref() != Some(P256_EC_PARAMS) {
        return Err(CryptoError::Pkcs11(format!(
            "{what}: not a P-256 key (CKA_EC_PARAMS is not prime256v1); ES256 needs P-256"
        )));
    }
    let Some(point) = point else {
        return Err(CryptoError::Pkcs11(format!(
            "{what}: the token does not reveal CKA_EC_POINT"
        )));
    };
    ec_point_to_jwk(&point)
}

/// `CKA_EC_POINT` to a JWK: the DER OCTET STRING (`04 41 || point`) that
/// PKCS#11 specifies, or the bare 65-byte point some modules return.
pub fn ec_point_to_jwk(ec_point: &[u8]) -> Result<EcPublicJwk, CryptoError> {
    match ec_point {
        [0x04, 0x41, point @ ..] if point.len() == 65 => EcPublicJwk::from_uncompressed(point),
        point if point.len() == 65 => EcPublicJwk::from_uncompressed(point),
        _ => Err(CryptoError::InvalidKey(
            "CKA_EC_POINT is not an uncompressed P-256 point",
        )),
    }
}

impl Inner {
    /// A new read-only session, logged in as the user, with the private key found.
    fn open_session(&self) -> Result<KeySession, CryptoError> {
        let what = format!("token {:?}", self.key.token_label);
        let session = self
            .context
            .open_ro_session(self.slot)
            .map_err(|e| fail(&what, e))?;
        // The login state is shared by every session of the process (PKCS#11
        // v3.0 §5.6): only the first session logs in.
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(fail(&format!("{what}: login"), e)),
        }
        let Some(private_key) = find_key(&session, &self.key, ObjectClass::PRIVATE_KEY, "private")?
        else {
            return Err(CryptoError::Pkcs11(format!(
                "{what}: no private EC key labelled {:?}",
                self.key.key_label
            )));
        };
        Ok(KeySession {
            session,
            private_key,
        })
    }

    fn take(&self) -> Result<KeySession, CryptoError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(session) => Ok(session),
            None => self.open_session(),
        }
    }

    fn give_back(&self, session: KeySession) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_SESSIONS {
            idle.push(session);
        }
    }

    /// `CKM_ECDSA` over a SHA-256 digest; a failing session is dropped and
    /// the signature retried once on a fresh one.
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, CryptoError> {
        let session = self.take()?;
        let signature = match session
            .session
            .sign(&Mechanism::Ecdsa, session.private_key, digest)
        {
            Ok(signature) => {
                self.give_back(session);
                signature
            }
            Err(_) => {
                drop(session);
                let session = self.open_session()?;
                let signature = session
                    .session
                    .sign(&Mechanism::Ecdsa, session.private_key, digest)
                    .map_err(|e| fail(&format!("signing with key {:?}", self.key.key_label), e))?;
                self.give_back(session);
                signature
            }
        };
        // CKM_ECDSA on P-256: r || s, 32 bytes each (PKCS#11 v3.0 §2.3.1).
        if signature.len() != 64 {
            return Err(CryptoError::Pkcs11(format!(
                "signing with key {:?}: CKM_ECDSA returned {} bytes, not the 64 of a P-256 r || s",
                self.key.key_label,
                signature.len()
            )));
        }
        Ok(signature)
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> JwsAlgorithm {
        JwsAlgorithm::Es256
    }

    fn public_jwk(&self) -> &EcPublicJwk {
        &self.public
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
        Box::pin(async move {
            let digest = crate::hash::sha256(message);
            match tokio::runtime::Handle::try_current() {
                // C_Sign blocks (an HSM round trip): keep it off the async workers.
                Ok(runtime) => {
                    let _permit = self
                        .in_flight
                        .acquire()
                        .await
                        .map_err(|_| CryptoError::SigningFailed)?;
                    let inner = self.inner.clone();
                    runtime
                        .spawn_blocking(move || inner.sign_digest(&digest))
                        .await
                        .map_err(|_| CryptoError::SigningFailed)?
                }
                Err(_) => self.inner.sign_digest(&digest),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_point_accepts_der_octet_string_and_bare_point() {
        let key = crate::SoftwareSigner::generate().unwrap();
        let point = key.public_jwk().uncompressed();
        let mut der = vec![0x04, 0x41];
        der.extend_from_slice(&point);
        assert_eq!(&ec_point_to_jwk(&der).unwrap(), key.public_jwk());
        assert_eq!(&ec_point_to_jwk(&point).unwrap(), key.public_jwk());
        assert!(ec_point_to_jwk(&der[..66]).is_err());
        assert!(ec_point_to_jwk(&[]).is_err());
        // A compressed point (33 bytes) wrapped in an OCTET STRING.
        let mut compressed = vec![0x04, 0x21, 0x02];
        compressed.extend_from_slice(key.public_jwk().x());
        assert!(ec_point_to_jwk(&compressed).is_err());
    }

    #[test]
    fn a_missing_module_is_a_clear_error() {
        let error = Pkcs11Signer::open(
            Pkcs11KeyRef {
                module: "/nonexistent/libpkcs11.so".into(),
                token_label: "T".into(),
                key_label: "L".into(),
            },
            "secret-pin-1234".into(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.contains("/nonexistent/libpkcs11.so"), "{error}");
        assert!(!error.contains("secret-pin-1234"), "{error}");
    }
}
