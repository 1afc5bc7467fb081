//! How a holder proves who they are before consent (ISS-AUTHZ-04): a
//! pluggable [`HolderAuthenticator`], by default [`StoreHolderAuthenticator`]
//! (username = holder id, password checked against the argon2id PHC string
//! the admin API stored).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use avow_crypto::Random;
use avow_store::Store;
use std::future::Future;
use std::pin::Pin;

/// Longest username or password accepted; longer input fails without hashing.
pub const MAX_CREDENTIAL_LEN: usize = 1024;

/// Why authentication could not be decided (not: "wrong password").
#[derive(Debug, thiserror::Error)]
pub enum HolderAuthError {
    #[error("store: {0}")]
    Store(#[from] avow_store::StoreError),
    #[error("holder authentication unavailable: {0}")]
    Unavailable(String),
}

/// The result of one authentication: the holder id, or `None` for wrong
/// credentials.
pub type AuthenticateFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, HolderAuthError>> + Send + 'a>>;

/// A holder authentication method. Object-safe (a boxed future, like
/// `avow_crypto::Signer`), so the issuer holds an `Arc<dyn HolderAuthenticator>`
/// and a deployment can plug in its own (LDAP, an eID, a remote IdP check).
pub trait HolderAuthenticator: Send + Sync {
    /// `Ok(Some(holder_id))` when `username`/`password` identify a holder,
    /// `Ok(None)` when they do not. Implementations should take about the
    /// same time for unknown users as for wrong passwords.
    fn authenticate<'a>(&'a self, username: &'a str, password: &'a str) -> AuthenticateFuture<'a>;
}

/// Holder id + password, checked against `store.holder_password` (argon2id).
pub struct StoreHolderAuthenticator {
    store: Store,
    /// Verified for unknown holders, so they cost as much as a wrong password.
    dummy_hash: String,
}

impl StoreHolderAuthenticator {
    pub fn new(store: Store, random: &dyn Random) -> Result<Self, HolderAuthError> {
        let dummy_hash = hash_password(&random.token(24), random)?;
        Ok(Self { store, dummy_hash })
    }
}

impl HolderAuthenticator for StoreHolderAuthenticator {
    fn authenticate<'a>(&'a self, username: &'a str, password: &'a str) -> AuthenticateFuture<'a> {
        Box::pin(async move {
            if username.is_empty()
                || username.len() > MAX_CREDENTIAL_LEN
                || password.len() > MAX_CREDENTIAL_LEN
            {
                return Ok(None);
            }
            let stored = self.store.holder_password(username).await?;
            let known = stored.is_some();
            let phc = stored.unwrap_or_else(|| self.dummy_hash.clone());
            let password = password.to_owned();
            let matches = verify_password(password, phc).await?;
            Ok((known && matches).then(|| username.to_owned()))
        })
    }
}

/// An argon2id (default parameters: m = 19 MiB, t = 2, p = 1) PHC string of
/// `password` with a 16-byte salt from `random`.
pub fn hash_password(password: &str, random: &dyn Random) -> Result<String, HolderAuthError> {
    let mut salt = [0u8; 16];
    random.fill(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HolderAuthError::Unavailable(format!("hashing failed: {e}")))
}

/// [`hash_password`] off the async runtime (argon2 takes tens of milliseconds).
pub async fn hash_password_blocking(
    password: String,
    random: std::sync::Arc<dyn Random>,
) -> Result<String, HolderAuthError> {
    tokio::task::spawn_blocking(move || hash_password(&password, random.as_ref()))
        .await
        .map_err(|e| HolderAuthError::Unavailable(format!("hashing task failed: {e}")))?
}

/// Checks `password` against a PHC string, off the async runtime. A
/// malformed PHC string counts as a mismatch.
async fn verify_password(password: String, phc: String) -> Result<bool, HolderAuthError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok()
    })
    .await
    .map_err(|e| HolderAuthError::Unavailable(format!("verification task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use avow_crypto::SystemRandom;

    #[tokio::test]
    async fn hashes_verify() {
        let phc = hash_password("correct horse", &SystemRandom).expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(
            verify_password("correct horse".into(), phc.clone())
                .await
                .expect("verify")
        );
        assert!(!verify_password("wrong".into(), phc).await.expect("verify"));
        assert!(
            !verify_password("x".into(), "not a phc".into())
                .await
                .expect("verify")
        );
    }
}
