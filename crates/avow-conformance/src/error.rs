//! Errors of the runner itself (bad configuration, unreachable issuer). What
//! the issuer under test does wrong is never an error here: it is a verdict.

#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Io(String),
    #[error("transport: {0}")]
    Transport(String),
    #[error("unexpected response: {0}")]
    Unexpected(String),
    #[error("login script: {0}")]
    LoginScript(String),
    #[error("crypto: {0}")]
    Crypto(#[from] avow_crypto::CryptoError),
    #[error("wallet: {0}")]
    Wallet(#[from] avow_wallet::WalletError),
}

impl ConformanceError {
    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::Unexpected(message.into())
    }
}
