//! Deferred issuance, wallet side (OID4VCI 1.0 §8.3, §9; APT §6.3, §7.6;
//! WAL-DEF-01 … -08).
//!
//! * A `202 {transaction_id, interval}` of the Credential Endpoint is
//!   persisted before the holder hears of it ([`persist`], called by the
//!   flow; WAL-DEF-01): issuer, deferred endpoint, access token (with its
//!   expiry) and refresh grant, DPoP key, holder keys, `transaction_id` and
//!   the next poll time, sealed like every credential (AES-256-GCM with the
//!   store key, `pending/<id>.enc`). The flow then answers
//!   [`WalletError::Deferred`].
//! * [`Wallet::poll_pending`] polls every due transaction once (WAL-DEF-02:
//!   never before its `next_poll_at`). Another `202` adopts the new
//!   `interval` or, with the same interval, doubles the wait up to the cap
//!   (never below the interval; WAL-DEF-03); transient failures (transport,
//!   5xx) back off the same way. An expired access token is refreshed
//!   first, as is one the issuer calls `invalid_token`; without a refresh
//!   token the transaction fails with that reason (WAL-DEF-06). A `200` is
//!   validated and stored like any Credential Response and notified
//!   (WAL-DEF-04, WAL-NOTIF); `invalid_transaction_id` and
//!   `credential_request_denied` mark the transaction failed (WAL-DEF-05).
//!   A legacy `400 issuance_pending` (with `interval`) counts as a `202`
//!   (WAL-DEF-08, C-06).
//! * Pending transactions survive restarts; the holder lists, stops,
//!   resumes and forgets them ([`Wallet::pending_issuances`],
//!   [`Wallet::stop_pending`], [`Wallet::resume_pending`],
//!   [`Wallet::forget_pending`]; WAL-DEF-07). Completed transactions are
//!   removed; failed ones stay, shown as failed, until forgotten.

use crate::client::Fetched;
use crate::encryption::RequestEncryption;
use crate::error::WalletError;
use crate::flow::{IssuanceSession, ReceivedCredential, Wallet};
use crate::store::{CredentialStore, StoredGrant};
use avow_core::credential::CredentialResponse;
use avow_crypto::{Signer, SoftwareSigner, aead, b64};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// The default longest wait between polls, seconds (WAL-DEF-03).
pub const DEFAULT_BACKOFF_CAP: u64 = 3600;
/// The wait when the issuer names no usable `interval` (RFC 8628 §3.5's default).
pub const DEFAULT_INTERVAL: u64 = 5;
/// The legacy "still pending" error of pre-1.0 drafts (C-06).
pub const ISSUANCE_PENDING: &str = "issuance_pending";
const PENDING_DIR: &str = "pending";

/// Where a stored transaction stands (WAL-DEF-05: pending and failed differ).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PendingState {
    /// Polled when due.
    Pending,
    /// The holder stopped polling; `resume` continues.
    Stopped,
    /// Terminal: the issuer refused, or the wallet cannot continue.
    Failed { reason: String },
}

/// A deferred issuance transaction as the wallet keeps it (WAL-DEF-01).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingIssuance {
    pub id: String,
    pub credential_issuer: String,
    pub credential_configuration_id: String,
    pub deferred_credential_endpoint: String,
    pub transaction_id: String,
    pub access_token: String,
    #[serde(default)]
    pub access_token_expires_at: Option<i64>,
    /// The DPoP key the access token (and refresh token) is bound to, PKCS#8 base64url.
    pub dpop_key_pkcs8: String,
    /// Refresh token and its keys (authorization-code flow only).
    #[serde(default)]
    pub grant: Option<StoredGrant>,
    /// The holder keys of the request, in proof order, PKCS#8 base64url.
    pub holder_keys_pkcs8: Vec<String>,
    /// The issuer's latest `interval`, seconds.
    pub interval: u64,
    /// The current wait between polls, seconds (interval plus back-off).
    pub wait: u64,
    pub next_poll_at: i64,
    pub created_at: i64,
    #[serde(default)]
    pub last_polled_at: Option<i64>,
    #[serde(default)]
    pub polls: u32,
    /// The last transient failure, if the last poll had one.
    #[serde(default)]
    pub last_error: Option<String>,
    pub state: PendingState,
}

impl PendingIssuance {
    /// Pending and its poll time has come (WAL-DEF-02).
    pub fn is_due(&self, now: i64) -> bool {
        self.state == PendingState::Pending && self.next_poll_at <= now
    }
}

/// What one poll did.
#[derive(Debug)]
pub enum PollOutcome {
    /// The credentials arrived, were validated and stored; the transaction is gone.
    Received {
        id: String,
        credentials: Vec<ReceivedCredential>,
    },
    /// Still pending at the issuer; polled again at `next_poll_at`.
    Pending { id: String, next_poll_at: i64 },
    /// A transient failure; polled again at `next_poll_at`.
    Retrying {
        id: String,
        reason: String,
        next_poll_at: i64,
    },
    /// Terminal: the transaction is marked failed.
    Failed { id: String, reason: String },
    /// Not polled: not pending, or not due before `next_poll_at`.
    NotDue { id: String, next_poll_at: i64 },
}

/// The next wait after a `202` (WAL-DEF-03): a new interval is adopted as
/// is; the same interval doubles the wait, capped at `cap` but never below
/// the interval.
pub fn next_wait(previous_interval: u64, previous_wait: u64, interval: u64, cap: u64) -> u64 {
    let interval = interval.max(1);
    if interval != previous_interval {
        return interval;
    }
    backoff(previous_wait, interval, cap)
}

/// Doubling up to `cap`, never below `interval`.
/// When a poll `wait` seconds after `now` is due. The wallet's clock counts
/// whole seconds, so `now` can be up to a second behind the moment the
/// answer arrived; the extra second makes sure at least `wait` has really
/// passed (VCI §9.1: not before `interval`; WAL-DEF-02).
fn due_after(now: i64, wait: u64) -> i64 {
    now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX))
        .saturating_add(1)
}

fn backoff(wait: u64, interval: u64, cap: u64) -> u64 {
    wait.saturating_mul(2).max(interval).min(cap.max(interval))
}

/// How a Deferred Credential Response reads.
#[derive(Debug)]
enum Answer {
    Credentials(CredentialResponse),
    Pending(u64),
    Refused(WalletError),
}

/// WAL-DEF-08, C-06: `400 {"error": "issuance_pending", "interval": n}`.
fn legacy_pending(fetched: &Fetched) -> Option<u64> {
    if fetched.status != 400 {
        return None;
    }
    let body: serde_json::Value = serde_json::from_slice(&fetched.body).ok()?;
    (body.get("error")?.as_str()? == ISSUANCE_PENDING).then(|| {
        body.get("interval")
            .and_then(serde_json::Value::as_u64)
            .filter(|i| *i > 0)
            .unwrap_or(DEFAULT_INTERVAL)
    })
}

fn corrupt(what: &str) -> WalletError {
    WalletError::Storage(format!("a pending issuance record is unreadable: {what}"))
}

fn storage(e: impl std::fmt::Display) -> WalletError {
    WalletError::Storage(e.to_string())
}

// ---------------------------------------------------------------- persistence

fn record_path(store: &CredentialStore, id: &str) -> Result<PathBuf, WalletError> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(storage("invalid pending issuance id"));
    }
    Ok(store.dir().join(PENDING_DIR).join(format!("{id}.enc")))
}

/// Additional data binding a sealed record to its kind and id.
fn aad(id: &str) -> Vec<u8> {
    format!("{PENDING_DIR}/{id}").into_bytes()
}

fn save(store: &CredentialStore, pending: &PendingIssuance) -> Result<(), WalletError> {
    std::fs::create_dir_all(store.dir().join(PENDING_DIR)).map_err(storage)?;
    let plain = serde_json::to_vec(pending).map_err(storage)?;
    let sealed = aead::seal(store.key(), &plain, &aad(&pending.id))?;
    crate::store::write_private(&record_path(store, &pending.id)?, &sealed)
}

fn load(store: &CredentialStore, id: &str) -> Result<Option<PendingIssuance>, WalletError> {
    let sealed = match std::fs::read(record_path(store, id)?) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(storage(e)),
    };
    let plain = aead::open(store.key(), &sealed, &aad(id))
        .map_err(|_| storage("a pending issuance file failed its integrity check"))?;
    serde_json::from_slice(&plain).map(Some).map_err(storage)
}

fn remove(store: &CredentialStore, id: &str) -> Result<(), WalletError> {
    match std::fs::remove_file(record_path(store, id)?) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(storage(e)),
    }
}

fn load_all(store: &CredentialStore) -> Result<Vec<PendingIssuance>, WalletError> {
    let dir = store.dir().join(PENDING_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(storage(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let name = entry.map_err(storage)?.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".enc")) else {
            continue;
        };
        if let Some(pending) = load(store, id)? {
            out.push(pending);
        }
    }
    out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(out)
}

// ---------------------------------------------------------------- hooks of the flow

/// WAL-DEF-01: stores the transaction of a `202` and returns
/// [`WalletError::Deferred`] naming it (or the error that prevented storing).
pub(crate) async fn persist(
    wallet: &Wallet,
    session: &IssuanceSession<'_>,
    configuration_id: &str,
    response: &CredentialResponse,
    holder_keys: &[SoftwareSigner],
    grant: Option<StoredGrant>,
) -> WalletError {
    let stored = (|| -> Result<String, WalletError> {
        let metadata = &session.info.metadata;
        let endpoint = metadata
            .deferred_credential_endpoint
            .clone()
            .ok_or_else(|| {
                WalletError::UnexpectedResponse(
                    "the issuer deferred issuance but publishes no deferred_credential_endpoint"
                        .into(),
                )
            })?;
        let transaction_id = response
            .transaction_id
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                WalletError::UnexpectedResponse("a deferred response without transaction_id".into())
            })?;
        let access_token = session
            .access_token()
            .ok_or_else(|| WalletError::UnexpectedResponse("no access token".into()))?
            .to_owned();
        let interval = response
            .interval
            .filter(|i| *i > 0)
            .unwrap_or(DEFAULT_INTERVAL);
        let now = wallet.clock.now();
        let pending = PendingIssuance {
            id: uuid::Uuid::new_v4().simple().to_string(),
            credential_issuer: metadata.credential_issuer.clone(),
            credential_configuration_id: configuration_id.to_owned(),
            deferred_credential_endpoint: endpoint,
            transaction_id,
            access_token,
            access_token_expires_at: session.access_token_expires_at(),
            dpop_key_pkcs8: b64::encode(session.dpop_key().to_pkcs8()?),
            grant,
            holder_keys_pkcs8: holder_keys
                .iter()
                .map(|k| k.to_pkcs8().map(b64::encode))
                .collect::<Result<_, _>>()?,
            interval,
            wait: interval,
            next_poll_at: due_after(now, interval),
            created_at: now,
            last_polled_at: None,
            polls: 0,
            last_error: None,
            state: PendingState::Pending,
        };
        save(wallet.store(), &pending)?;
        tracing::info!(pending = %pending.id, interval, "issuance deferred; transaction stored");
        Ok(pending.id)
    })();
    match stored {
        Ok(id) => WalletError::Deferred {
            pending: vec![id],
            received: Vec::new(),
        },
        Err(e) => e,
    }
}

/// One configuration's outcome into the offer's: deferred ones are noted,
/// other errors end the flow.
pub(crate) fn collect(
    received: &mut Vec<ReceivedCredential>,
    pending: &mut Vec<String>,
    obtained: Result<Vec<ReceivedCredential>, WalletError>,
) -> Result<(), WalletError> {
    match obtained {
        Ok(credentials) => {
            received.extend(credentials);
            Ok(())
        }
        Err(WalletError::Deferred {
            pending: ids,
            received: credentials,
        }) => {
            pending.extend(ids);
            received.extend(credentials);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The offer's result: the credentials, or [`WalletError::Deferred`] when
/// anything is pending.
pub(crate) fn finish(
    received: Vec<ReceivedCredential>,
    pending: Vec<String>,
) -> Result<Vec<ReceivedCredential>, WalletError> {
    if pending.is_empty() {
        Ok(received)
    } else {
        Err(WalletError::Deferred { pending, received })
    }
}

// ---------------------------------------------------------------- the holder's API

impl Wallet {
    /// The longest wait between polls, seconds (default [`DEFAULT_BACKOFF_CAP`]; WAL-DEF-03).
    pub fn with_deferred_backoff_cap(mut self, seconds: u64) -> Self {
        self.deferred_backoff_cap = seconds.max(1);
        self
    }

    /// Every stored transaction, oldest first (WAL-DEF-07).
    pub fn pending_issuances(&self) -> Result<Vec<PendingIssuance>, WalletError> {
        load_all(self.store())
    }

    pub fn pending_issuance(&self, id: &str) -> Result<Option<PendingIssuance>, WalletError> {
        load(self.store(), id)
    }

    fn existing(&self, id: &str) -> Result<PendingIssuance, WalletError> {
        load(self.store(), id)?
            .ok_or_else(|| WalletError::Storage(format!("no pending issuance {id}")))
    }

    /// Stops polling a pending transaction (WAL-DEF-07).
    pub fn stop_pending(&self, id: &str) -> Result<PendingIssuance, WalletError> {
        let mut pending = self.existing(id)?;
        if pending.state == PendingState::Pending {
            pending.state = PendingState::Stopped;
            save(self.store(), &pending)?;
        }
        Ok(pending)
    }

    /// Resumes a stopped transaction: polled when its wait is over (WAL-DEF-07).
    pub fn resume_pending(&self, id: &str) -> Result<PendingIssuance, WalletError> {
        let mut pending = self.existing(id)?;
        if pending.state == PendingState::Stopped {
            pending.state = PendingState::Pending;
            save(self.store(), &pending)?;
        }
        Ok(pending)
    }

    /// Deletes a transaction record (any state).
    pub fn forget_pending(&self, id: &str) -> Result<(), WalletError> {
        self.existing(id)?;
        remove(self.store(), id)
    }

    /// The earliest poll time of the pending transactions, if any.
    pub fn next_pending_poll(&self) -> Result<Option<i64>, WalletError> {
        Ok(self
            .pending_issuances()?
            .iter()
            .filter(|p| p.state == PendingState::Pending)
            .map(|p| p.next_poll_at)
            .min())
    }

    /// Polls every due transaction once (WAL-DEF-02 … -06, -08).
    pub async fn poll_pending(&self) -> Result<Vec<PollOutcome>, WalletError> {
        let mut outcomes = Vec::new();
        for pending in self.pending_issuances()? {
            if pending.is_due(self.clock.now()) {
                outcomes.push(self.poll(pending).await?);
            }
        }
        Ok(outcomes)
    }

    /// Polls one transaction if it is due.
    pub async fn poll_pending_one(&self, id: &str) -> Result<PollOutcome, WalletError> {
        let pending = self.existing(id)?;
        if !pending.is_due(self.clock.now()) {
            return Ok(PollOutcome::NotDue {
                id: pending.id,
                next_poll_at: pending.next_poll_at,
            });
        }
        self.poll(pending).await
    }

    /// A session on the stored DPoP key and access token, optionally with a
    /// fresh wallet attestation for the stored instance key (refresh).
    async fn pending_session(
        &self,
        pending: &PendingIssuance,
        info: Arc<crate::issuer::IssuerInfo>,
        attested: bool,
    ) -> Result<IssuanceSession<'_>, WalletError> {
        let dpop_key = SoftwareSigner::from_pkcs8(&b64::decode(&pending.dpop_key_pkcs8)?)
            .map_err(|_| corrupt("DPoP key"))?;
        let mut session = IssuanceSession::new(self.client(), info, self.clock.as_ref())?
            .with_encryption(self.options.encryption)
            .with_dpop_key(dpop_key);
        if attested && let Some(grant) = &pending.grant {
            let source = self.options.wia_source.as_ref().ok_or_else(|| {
                WalletError::Metadata(
                    "renewing the access token needs a wallet provider; none is configured".into(),
                )
            })?;
            let instance_key = SoftwareSigner::from_pkcs8(&b64::decode(&grant.instance_key_pkcs8)?)
                .map_err(|_| corrupt("instance key"))?;
            let wia = source
                .issue_wia(
                    &grant.client_id,
                    instance_key.public_jwk(),
                    self.clock.now(),
                )
                .await?;
            session = session.with_attestation(crate::attestation::ClientAttestation::new(
                grant.client_id.clone(),
                wia,
                instance_key,
            ));
        }
        session.set_access_token(
            pending.access_token.clone(),
            pending.access_token_expires_at,
        );
        Ok(session)
    }

    /// WAL-DEF-06: a new access token from the stored refresh token; the
    /// rotated refresh token is stored at once.
    async fn renew<'s>(
        &'s self,
        pending: &mut PendingIssuance,
        info: Arc<crate::issuer::IssuerInfo>,
    ) -> Result<IssuanceSession<'s>, WalletError> {
        let Some(grant) = pending.grant.clone() else {
            return Err(WalletError::Metadata(
                "the access token expired and there is no refresh token to renew it".into(),
            ));
        };
        let mut session = self.pending_session(pending, info, true).await?;
        let token = session.refresh(&grant.refresh_token).await?;
        pending.access_token = token.access_token.clone();
        pending.access_token_expires_at = session.access_token_expires_at();
        pending.grant = Some(StoredGrant {
            refresh_token: token.refresh_token.unwrap_or(grant.refresh_token.clone()),
            ..grant
        });
        save(self.store(), pending)?;
        Ok(session)
    }

    async fn poll(&self, mut pending: PendingIssuance) -> Result<PollOutcome, WalletError> {
        let now = self.clock.now();
        pending.last_polled_at = Some(now);
        pending.polls = pending.polls.saturating_add(1);
        let info = match self.discover(&pending.credential_issuer).await {
            Ok(info) => Arc::new(info),
            Err(e) => return self.retry_later(pending, &e),
        };
        let expired = pending.access_token_expires_at.is_some_and(|at| at <= now);
        let mut renewed = false;
        let mut session = if expired {
            renewed = true;
            match self.renew(&mut pending, info.clone()).await {
                Ok(session) => session,
                Err(e) => return self.after_renewal_failure(pending, e),
            }
        } else {
            self.pending_session(&pending, info.clone(), false).await?
        };
        loop {
            let answer = match self.request_deferred(&session, &pending).await {
                Ok(answer) => answer,
                Err(e) => return self.retry_later(pending, &e),
            };
            match answer {
                Answer::Credentials(response) => {
                    return self.complete(&session, pending, response).await;
                }
                Answer::Pending(interval) => return self.still_pending(pending, interval),
                Answer::Refused(e) => match (e.protocol_error(), &e) {
                    (Some("invalid_transaction_id" | "credential_request_denied"), _) => {
                        return self.fail(pending, e.to_string());
                    }
                    (Some("invalid_token"), _) if !renewed => {
                        renewed = true;
                        session = match self.renew(&mut pending, info.clone()).await {
                            Ok(session) => session,
                            Err(e) => return self.after_renewal_failure(pending, e),
                        };
                    }
                    (_, WalletError::Protocol { status, .. }) if *status >= 500 => {
                        return self.retry_later(pending, &e);
                    }
                    _ => return self.fail(pending, e.to_string()),
                },
            }
        }
    }

    /// A refused renewal ends the transaction; an unreachable issuer does not.
    fn after_renewal_failure(
        &self,
        pending: PendingIssuance,
        e: WalletError,
    ) -> Result<PollOutcome, WalletError> {
        match &e {
            WalletError::Transport(_) => self.retry_later(pending, &e),
            WalletError::Protocol { status, .. } if *status >= 500 => self.retry_later(pending, &e),
            _ => self.fail(
                pending,
                format!("the access token could not be renewed: {e}"),
            ),
        }
    }

    /// One Deferred Credential Request (VCI §9.1): encrypted as the
    /// credential requests are, with one forced-encryption retry.
    async fn request_deferred(
        &self,
        session: &IssuanceSession<'_>,
        pending: &PendingIssuance,
    ) -> Result<Answer, WalletError> {
        let token = session
            .access_token()
            .ok_or_else(|| WalletError::UnexpectedResponse("no access token".into()))?
            .to_owned();
        let metadata = &session.info.metadata;
        let endpoint = metadata
            .deferred_credential_endpoint
            .clone()
            .unwrap_or_else(|| pending.deferred_credential_endpoint.clone());
        let mut force = false;
        loop {
            let encryption = RequestEncryption::plan(metadata, self.options.encryption, force)?;
            let (content_type, bytes) = encryption
                .encode(serde_json::json!({ "transaction_id": pending.transaction_id }))?;
            let fetched = session
                .send_with_dpop("POST", &endpoint, Some(&token), |r| {
                    r.header(reqwest::header::CONTENT_TYPE, content_type)
                        .body(bytes.clone())
                })
                .await?;
            if fetched.status == 200 || fetched.status == 202 {
                let response = encryption.decode_response(&fetched)?;
                return Ok(match (&response.credentials, fetched.status) {
                    (Some(_), _) => Answer::Credentials(response),
                    (None, 202) => Answer::Pending(
                        response
                            .interval
                            .filter(|i| *i > 0)
                            .unwrap_or(DEFAULT_INTERVAL),
                    ),
                    (None, _) => Answer::Refused(WalletError::UnexpectedResponse(
                        "a 200 deferred credential response without credentials".into(),
                    )),
                });
            }
            if let Some(interval) = legacy_pending(&fetched) {
                return Ok(Answer::Pending(interval));
            }
            let error = fetched.error();
            let retry = !force
                && !encryption.encrypts_response()
                && metadata.credential_response_encryption.is_some()
                && error.protocol_error() == Some("invalid_encryption_parameters");
            if !retry {
                return Ok(Answer::Refused(error));
            }
            force = true;
        }
    }

    /// WAL-DEF-03: adopt the interval, back off, poll again later.
    fn still_pending(
        &self,
        mut pending: PendingIssuance,
        interval: u64,
    ) -> Result<PollOutcome, WalletError> {
        pending.wait = next_wait(
            pending.interval,
            pending.wait,
            interval,
            self.deferred_backoff_cap,
        );
        pending.interval = interval.max(1);
        pending.next_poll_at = due_after(self.clock.now(), pending.wait);
        pending.last_error = None;
        save(self.store(), &pending)?;
        Ok(PollOutcome::Pending {
            id: pending.id,
            next_poll_at: pending.next_poll_at,
        })
    }

    fn retry_later(
        &self,
        mut pending: PendingIssuance,
        error: &WalletError,
    ) -> Result<PollOutcome, WalletError> {
        pending.wait = backoff(pending.wait, pending.interval, self.deferred_backoff_cap);
        pending.next_poll_at = due_after(self.clock.now(), pending.wait);
        let reason = error.to_string();
        pending.last_error = Some(reason.clone());
        save(self.store(), &pending)?;
        tracing::warn!(pending = %pending.id, reason = %reason, "polling a deferred issuance failed; retrying later");
        Ok(PollOutcome::Retrying {
            id: pending.id,
            reason,
            next_poll_at: pending.next_poll_at,
        })
    }

    /// WAL-DEF-05: terminal, kept as failed.
    fn fail(
        &self,
        mut pending: PendingIssuance,
        reason: String,
    ) -> Result<PollOutcome, WalletError> {
        pending.state = PendingState::Failed {
            reason: reason.clone(),
        };
        save(self.store(), &pending)?;
        tracing::info!(pending = %pending.id, reason = %reason, "deferred issuance failed");
        Ok(PollOutcome::Failed {
            id: pending.id,
            reason,
        })
    }

    /// WAL-DEF-04: validates every credential against its key, stores them
    /// all, notifies (WAL-NOTIF-01, -02) and forgets the transaction.
    async fn complete(
        &self,
        session: &IssuanceSession<'_>,
        pending: PendingIssuance,
        response: CredentialResponse,
    ) -> Result<PollOutcome, WalletError> {
        let notification_id = response.notification_id.clone();
        let metadata = &session.info.metadata;
        let Some(configuration) = metadata
            .credential_configurations_supported
            .get(&pending.credential_configuration_id)
        else {
            let error = WalletError::Metadata(format!(
                "configuration {} vanished from metadata",
                pending.credential_configuration_id
            ));
            crate::notify::on_failure::<()>(session, notification_id.as_deref(), Err(error))
                .await
                .err();
            return self.fail(
                pending,
                "the configuration vanished from the issuer metadata".into(),
            );
        };
        // The same expectations as the Credential Endpoint's responses (flow.rs).
        let expected = match crate::flow::ExpectedType::of(configuration) {
            Ok(expected) => expected,
            Err(e) => {
                let reason = e.to_string();
                crate::notify::on_failure::<()>(session, notification_id.as_deref(), Err(e))
                    .await
                    .err();
                return self.fail(pending, reason);
            }
        };
        let mut holder_keys = Vec::with_capacity(pending.holder_keys_pkcs8.len());
        for key in &pending.holder_keys_pkcs8 {
            holder_keys.push(
                SoftwareSigner::from_pkcs8(&b64::decode(key)?)
                    .map_err(|_| corrupt("holder key"))?,
            );
        }
        // WAL-VAL-05: credential `i` is bound to key `i`; a bearer
        // configuration (WAL-CRED-03) proved no key and gets one unbound credential.
        let bearer = matches!(
            crate::key_proofs::ProofMethod::for_configuration(configuration),
            Ok(crate::key_proofs::ProofMethod::Bearer)
        );
        let slots: Vec<Option<SoftwareSigner>> = if bearer && holder_keys.is_empty() {
            vec![None]
        } else {
            holder_keys.into_iter().map(Some).collect()
        };
        let issued = response.credentials.unwrap_or_default();
        let count = crate::key_proofs::check_count(issued.len(), slots.len());
        if let Err(e) = crate::notify::on_failure(session, notification_id.as_deref(), count).await
        {
            return self.fail(pending, e.to_string());
        }
        let mut received = Vec::with_capacity(issued.len());
        for (issued, holder_key) in issued.into_iter().zip(slots) {
            let one = self
                .receive_credential(
                    &session.info,
                    &pending.credential_configuration_id,
                    configuration,
                    &expected,
                    issued,
                    holder_key,
                    notification_id.clone(),
                    pending.grant.clone(),
                )
                .await;
            match crate::notify::on_failure(session, notification_id.as_deref(), one).await {
                Ok(credential) => received.push(credential),
                Err(e) => return self.fail(pending, e.to_string()),
            }
        }
        // WAL-NOTIF-03: what a later credential_deleted needs.
        let access = session.notification_access(notification_id.as_deref());
        // WAL-VAL-08: stored only after every credential passed validation.
        for credential in &mut received {
            credential.stored.notification_access = access.clone();
            let stored = self.store().put(&credential.stored);
            if let Err(e) =
                crate::notify::on_failure(session, notification_id.as_deref(), stored).await
            {
                return self.fail(pending, e.to_string());
            }
        }
        crate::notify::accepted(session, notification_id.as_deref()).await;
        remove(self.store(), &pending.id)?;
        tracing::info!(pending = %pending.id, count = received.len(), "deferred credentials received");
        Ok(PollOutcome::Received {
            id: pending.id,
            credentials: received,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_adopt_double_and_cap() {
        // Same interval: doubles, capped, never below the interval.
        assert_eq!(next_wait(60, 60, 60, 3600), 120);
        assert_eq!(next_wait(60, 2400, 60, 3600), 3600);
        assert_eq!(next_wait(60, 3600, 60, 3600), 3600);
        // A new interval is adopted as is.
        assert_eq!(next_wait(60, 480, 10, 3600), 10);
        assert_eq!(next_wait(60, 60, 7200, 3600), 7200);
        // A cap below the interval never wins.
        assert_eq!(next_wait(7200, 7200, 7200, 3600), 7200);
        assert_eq!(next_wait(5, 5, 0, 3600), 1);
        assert_eq!(backoff(u64::MAX, 5, u64::MAX), u64::MAX);
    }

    fn fetched(status: u16, body: &str) -> Fetched {
        Fetched {
            status,
            headers: reqwest::header::HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn legacy_issuance_pending_reads_as_pending() {
        assert_eq!(
            legacy_pending(&fetched(
                400,
                r#"{"error":"issuance_pending","interval":30}"#
            )),
            Some(30)
        );
        assert_eq!(
            legacy_pending(&fetched(400, r#"{"error":"issuance_pending"}"#)),
            Some(DEFAULT_INTERVAL)
        );
        assert_eq!(
            legacy_pending(&fetched(
                400,
                r#"{"error":"issuance_pending","interval":0}"#
            )),
            Some(DEFAULT_INTERVAL)
        );
        assert_eq!(
            legacy_pending(&fetched(400, r#"{"error":"invalid_transaction_id"}"#)),
            None
        );
        assert_eq!(
            legacy_pending(&fetched(401, r#"{"error":"issuance_pending"}"#)),
            None
        );
        assert_eq!(legacy_pending(&fetched(400, "no json")), None);
    }

    fn sample(id: &str, created_at: i64) -> PendingIssuance {
        PendingIssuance {
            id: id.into(),
            credential_issuer: "https://issuer.example".into(),
            credential_configuration_id: "pid".into(),
            deferred_credential_endpoint: "https://issuer.example/deferred_credential".into(),
            transaction_id: "secret-transaction".into(),
            access_token: "secret-token".into(),
            access_token_expires_at: Some(100),
            dpop_key_pkcs8: "k".into(),
            grant: None,
            holder_keys_pkcs8: vec!["h".into()],
            interval: 5,
            wait: 5,
            next_poll_at: 10,
            created_at,
            last_polled_at: None,
            polls: 0,
            last_error: None,
            state: PendingState::Pending,
        }
    }

    #[test]
    fn records_are_sealed_and_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("avow-pending-test-{}", uuid::Uuid::new_v4()));
        let store = CredentialStore::open(&dir).unwrap_or_else(|e| panic!("{e}"));
        save(&store, &sample("b", 2)).unwrap_or_else(|e| panic!("{e}"));
        save(&store, &sample("a", 1)).unwrap_or_else(|e| panic!("{e}"));
        let raw = std::fs::read(dir.join("pending/a.enc")).unwrap_or_default();
        assert!(
            !raw.windows(12).any(|w| w == b"secret-token"),
            "plaintext on disk"
        );
        let reopened = CredentialStore::open(&dir).unwrap_or_else(|e| panic!("{e}"));
        let all = load_all(&reopened).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            all.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(all[0], sample("a", 1));
        // A record moved to another id fails its integrity check.
        let _ = std::fs::copy(dir.join("pending/a.enc"), dir.join("pending/c.enc"));
        assert!(load(&reopened, "c").is_err());
        assert!(record_path(&reopened, "../x").is_err());
        remove(&reopened, "a").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load(&reopened, "a").ok().flatten(), None);
        assert!(sample("x", 0).is_due(10) && !sample("x", 0).is_due(9));
        let _ = std::fs::remove_dir_all(dir);
    }
}
