//! Deleting a stored credential the holder declines (OID4VCI 1.0 §11.1;
//! WAL-NOTIF-03).
//!
//! VCI §11.1: `credential_deleted` reports an issuance that ended
//! unsuccessfully through a user action. When the holder declines (deletes)
//! a received credential whose response carried a `notification_id` and the
//! issuer publishes a `notification_endpoint`, the wallet sends
//! `credential_deleted` with an access token of the issuing grant: the one
//! kept with the credential ([`crate::store::StoredAccess`]) while it is
//! valid, otherwise a fresh one from the stored refresh token (WAL-TOK-04).
//!
//! The credential is deleted first; the notification never blocks or fails
//! the deletion (bounded attempts, WAL-NOTIF-04), its outcome is returned.

use crate::error::WalletError;
use crate::flow::{IssuanceSession, Wallet};
use crate::store::StoredCredential;
use avow_crypto::SoftwareSigner;
use std::sync::Arc;

/// What deleting a credential told the issuer (WAL-NOTIF-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionNotice {
    /// The issuer acknowledged `credential_deleted`.
    Sent,
    /// Nothing to send: no `notification_id`, or the issuer has no
    /// notification endpoint.
    NotApplicable,
    /// It could not be sent: no valid access token and no refresh token,
    /// or the issuer refused or could not be reached.
    NotSent,
}

impl Wallet {
    /// Deletes a stored credential the holder declines and, when the
    /// credential has a `notification_id` and the issuer a notification
    /// endpoint, sends `credential_deleted` (VCI §11.1; WAL-NOTIF-03).
    /// An unknown id is an error; a notification that cannot be sent is not.
    pub async fn delete_credential(&self, id: &str) -> Result<DeletionNotice, WalletError> {
        let stored = self
            .store()
            .get(id)?
            .ok_or_else(|| WalletError::Storage(format!("no credential {id}")))?;
        self.store().remove(id)?;
        let notice = self.notify_deleted(&stored).await;
        tracing::info!(credential = %id, notice = ?notice, "credential deleted");
        Ok(notice)
    }

    async fn notify_deleted(&self, stored: &StoredCredential) -> DeletionNotice {
        let Some(notification_id) = stored.notification_id.as_deref() else {
            return DeletionNotice::NotApplicable;
        };
        let info = match self.discover(&stored.credential_issuer).await {
            Ok(info) => Arc::new(info),
            Err(e) => {
                tracing::warn!(error = %e, "credential_deleted not sent: issuer discovery failed");
                return DeletionNotice::NotSent;
            }
        };
        if info.metadata.notification_endpoint.is_none() {
            return DeletionNotice::NotApplicable;
        }
        // The access token of the issuance, while it is valid.
        match self.kept_access_session(stored, info.clone()) {
            Ok(Some(session)) => {
                if crate::notify::declined(&session, Some(notification_id)).await {
                    return DeletionNotice::Sent;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "the kept access token is unusable"),
        }
        // Otherwise a fresh access token of the same grant (WAL-TOK-04).
        let Some(grant) = &stored.grant else {
            return DeletionNotice::NotSent;
        };
        let mut session = match self.grant_session(info, grant).await {
            Ok(session) => session,
            Err(e) => {
                tracing::warn!(error = %e, "credential_deleted not sent: no session for the grant");
                return DeletionNotice::NotSent;
            }
        };
        if let Err(e) = session.refresh(&grant.refresh_token).await {
            tracing::warn!(error = %e, "credential_deleted not sent: refresh failed");
            return DeletionNotice::NotSent;
        }
        if crate::notify::declined(&session, Some(notification_id)).await {
            DeletionNotice::Sent
        } else {
            DeletionNotice::NotSent
        }
    }

    /// A session on the kept access token and DPoP key, unless it expired.
    fn kept_access_session(
        &self,
        stored: &StoredCredential,
        info: Arc<crate::issuer::IssuerInfo>,
    ) -> Result<Option<IssuanceSession<'_>>, WalletError> {
        let Some(access) = &stored.notification_access else {
            return Ok(None);
        };
        if access.expires_at.is_some_and(|at| at <= self.clock.now()) {
            return Ok(None);
        }
        let dpop_key =
            SoftwareSigner::from_pkcs8(&avow_crypto::b64::decode(&access.dpop_key_pkcs8)?)?;
        let mut session =
            IssuanceSession::new(self.client(), info, self.clock.as_ref())?.with_dpop_key(dpop_key);
        session.set_access_token(access.access_token.clone(), access.expires_at);
        Ok(Some(session))
    }
}
