//! Nonce Response (OID4VCI 1.0 §7.2).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NonceResponse {
    pub c_nonce: String,
}
