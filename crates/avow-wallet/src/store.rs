//! The wallet's credential store: one AES-256-GCM encrypted file per
//! credential (WAL-STORE-01, -02).
//!
//! DEVELOPMENT KEY STORE: the storage key is a file beside the data
//! (`store.key`, mode 0600). On a device it belongs in the platform key store
//! (WAL-KEY-02); this software stand-in is labelled as such wherever shown.

use crate::error::WalletError;
use avow_crypto::aead;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the wallet keeps of a credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredCredential {
    pub id: String,
    pub format: String,
    pub credential_configuration_id: String,
    pub credential_issuer: String,
    #[serde(default)]
    pub issuer_display_name: Option<String>,
    #[serde(default)]
    pub credential_display_name: Option<String>,
    /// The credential as issued (compact SD-JWT VC).
    pub credential: String,
    /// The holder key the credential is bound to, PKCS#8 DER base64url (software key store).
    pub holder_key_pkcs8: String,
    pub holder_key_thumbprint: String,
    pub received_at: i64,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub notification_id: Option<String>,
    /// What refreshing this credential needs (authorization-code flow only).
    #[serde(default)]
    pub grant: Option<StoredGrant>,
    /// The status list check at receipt (WAL-VAL-07): `Some(true)` VALID,
    /// `Some(false)` the list was unreachable, `None` no status reference.
    #[serde(default)]
    pub status_checked: Option<bool>,
    /// The issuance's access token and DPoP key, kept (encrypted, like
    /// every field) only while a `notification_id` and a notification
    /// endpoint exist, to send `credential_deleted` when the holder
    /// declines the credential (VCI §11.1; WAL-NOTIF-03).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_access: Option<StoredAccess>,
}

/// A DPoP-bound access token with its key (WAL-TOK-05: only inside the
/// encrypted record; `Debug` leaves both out, WAL-STORE-04).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredAccess {
    pub access_token: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// The DPoP key the token is bound to, PKCS#8 base64url.
    pub dpop_key_pkcs8: String,
}

impl std::fmt::Debug for StoredAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAccess")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A refresh token with the keys it is bound to (WAL-TOK-04, -05): stored
/// inside the encrypted record, never in the clear.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredGrant {
    pub refresh_token: String,
    /// The DPoP key the refresh token is bound to, PKCS#8 base64url.
    pub dpop_key_pkcs8: String,
    /// The wallet instance key of the attestation, PKCS#8 base64url.
    pub instance_key_pkcs8: String,
    pub client_id: String,
}

pub struct CredentialStore {
    dir: PathBuf,
    key: [u8; 32],
}

impl std::fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn storage(e: impl std::fmt::Display) -> WalletError {
    WalletError::Storage(e.to_string())
}

impl CredentialStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, WalletError> {
        std::fs::create_dir_all(dir.join("credentials")).map_err(storage)?;
        let key_path = dir.join("store.key");
        let key = match std::fs::read(&key_path) {
            Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| storage("store.key is not 32 bytes"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                avow_crypto::Random::fill(&avow_crypto::SystemRandom, &mut key);
                write_private(&key_path, &key)?;
                key
            }
            Err(e) => return Err(storage(e)),
        };
        Ok(Self {
            dir: dir.to_owned(),
            key,
        })
    }

    /// The store's directory and sealing key, for the other encrypted
    /// records of the wallet (pending deferred issuances: deferred.rs).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }

    fn path(&self, id: &str) -> Result<PathBuf, WalletError> {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(storage("invalid credential id"));
        }
        Ok(self.dir.join("credentials").join(format!("{id}.enc")))
    }

    pub fn put(&self, credential: &StoredCredential) -> Result<(), WalletError> {
        let plain = serde_json::to_vec(credential).map_err(storage)?;
        let sealed = aead::seal(&self.key, &plain, credential.id.as_bytes())?;
        write_private(&self.path(&credential.id)?, &sealed)
    }

    pub fn get(&self, id: &str) -> Result<Option<StoredCredential>, WalletError> {
        let path = self.path(id)?;
        let sealed = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(storage(e)),
        };
        let plain = aead::open(&self.key, &sealed, id.as_bytes())
            .map_err(|_| storage("a credential file failed its integrity check"))?;
        serde_json::from_slice(&plain).map(Some).map_err(storage)
    }

    /// Deletes a credential; absent is not an error.
    pub fn remove(&self, id: &str) -> Result<(), WalletError> {
        match std::fs::remove_file(self.path(id)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(storage(e)),
        }
    }

    /// Every credential, oldest first.
    pub fn list(&self) -> Result<Vec<StoredCredential>, WalletError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("credentials")).map_err(storage)? {
            let name = entry.map_err(storage)?.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".enc")) else {
                continue;
            };
            if let Some(c) = self.get(id)? {
                out.push(c);
            }
        }
        out.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));
        Ok(out)
    }
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), WalletError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp).map_err(storage)?;
    file.write_all(bytes).map_err(storage)?;
    file.sync_all().map_err(storage)?;
    std::fs::rename(&tmp, path).map_err(storage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str) -> StoredCredential {
        StoredCredential {
            id: id.into(),
            format: "dc+sd-jwt".into(),
            credential_configuration_id: "pid".into(),
            credential_issuer: "https://i.example".into(),
            issuer_display_name: None,
            credential_display_name: None,
            credential: "eyJ.x.y~".into(),
            holder_key_pkcs8: "k".into(),
            holder_key_thumbprint: "t".into(),
            received_at: 1,
            expires_at: None,
            notification_id: None,
            grant: None,
            status_checked: None,
            notification_access: None,
        }
    }

    #[test]
    fn stores_encrypted_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("avow-wallet-test-{}", uuid::Uuid::new_v4()));
        let store = CredentialStore::open(&dir).unwrap_or_else(|e| panic!("{e}"));
        store.put(&sample("a")).unwrap_or_else(|e| panic!("{e}"));
        let raw = std::fs::read(dir.join("credentials/a.enc")).unwrap_or_default();
        assert!(
            !raw.windows(7).any(|w| w == b"eyJ.x.y"),
            "plaintext on disk"
        );
        let reopened = CredentialStore::open(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reopened.get("a").ok().flatten(), Some(sample("a")));
        assert_eq!(reopened.list().map(|l| l.len()).ok(), Some(1));
        assert!(reopened.get("../etc").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
