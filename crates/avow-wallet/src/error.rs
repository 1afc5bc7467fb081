//! Wallet errors. Messages name what failed; they never carry tokens, codes,
//! keys or claim values (WAL-STORE-04).

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("offer: {0}")]
    Offer(#[from] avow_core::offer::OfferError),
    #[error("transport: {0}")]
    Transport(String),
    #[error("refused URL {0}: only https (or http on loopback in development) is allowed")]
    InsecureUrl(String),
    #[error("the issuer answered {status} {error}: {description}")]
    Protocol {
        status: u16,
        error: String,
        description: String,
    },
    #[error("unexpected response: {0}")]
    UnexpectedResponse(String),
    #[error("metadata: {0}")]
    Metadata(String),
    #[error("credential rejected: {0}")]
    Validation(String),
    #[error("a transaction code is required and none was given")]
    TxCodeRequired,
    #[error("storage: {0}")]
    Storage(String),
    #[error("crypto: {0}")]
    Crypto(#[from] avow_crypto::CryptoError),
    /// The issuer deferred issuance (VCI §8.3): the transactions are stored
    /// for later polling (`Wallet::poll_pending`; WAL-DEF-01). `received`
    /// holds what other configurations of the same offer delivered (stored).
    #[error(
        "issuance deferred by the issuer: {} transaction(s) pending ({} credential(s) received)",
        .pending.len(),
        .received.len()
    )]
    Deferred {
        pending: Vec<String>,
        received: Vec<crate::flow::ReceivedCredential>,
    },
}

impl WalletError {
    /// The OAuth/OID4VCI error code, when the issuer sent one.
    pub fn protocol_error(&self) -> Option<&str> {
        match self {
            Self::Protocol { error, .. } => Some(error),
            _ => None,
        }
    }
}
