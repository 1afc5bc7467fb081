-- Avow issuer transaction state (DESIGN.md "Storage").
--
-- One migration set for SQLite and PostgreSQL, read through sqlx's Any
-- driver: only TEXT and BIGINT columns (Any decodes integers from BIGINT on
-- PostgreSQL; SQLite's BIGINT has INTEGER affinity). JSON values are stored as
-- TEXT. Secrets (pre-authorized codes, tx_codes, access tokens) are stored
-- only as hashes computed by the caller. Times are Unix seconds.

-- Instance-wide secrets that every issuer instance must share.
CREATE TABLE shared_secrets (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL
);

-- Holder data: id and a JSON object of claims.
CREATE TABLE holders (
    id TEXT PRIMARY KEY,
    claims TEXT NOT NULL
);

-- Credential offers and their pre-authorized code grant (OID4VCI 1.0 §4.1).
-- state: 'offered' -> 'redeemed' (ISS-TPA-09) or 'invalidated' (ISS-TPA-05).
CREATE TABLE offers (
    offer_id TEXT PRIMARY KEY,
    offer_json TEXT NOT NULL,
    holder_id TEXT NOT NULL,
    configuration_ids TEXT NOT NULL,
    pre_authorized_code_hash TEXT NOT NULL UNIQUE,
    tx_code_hash TEXT,
    state TEXT NOT NULL,
    wrong_tx_code_attempts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX offers_expires_at ON offers (expires_at);

-- Access tokens (by hash) with the grant they carry (ISS-TOK-10).
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    holder_id TEXT NOT NULL,
    configuration_ids TEXT NOT NULL,
    client_id TEXT,
    dpop_jkt TEXT NOT NULL,
    offer_id TEXT,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

-- Single-use values: c_nonce, DPoP jti, proof jti, ... (ISS-SEC-02,
-- ISS-NONCE-03, ISS-DPOP-04). The primary key makes consumption atomic
-- across instances.
CREATE TABLE consumed_values (
    scope TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (scope, value)
);
CREATE INDEX consumed_values_expires_at ON consumed_values (expires_at);

-- What the issuer keeps after issuance: no credential bytes (ISS-SEC-07).
CREATE TABLE issuances (
    id TEXT PRIMARY KEY,
    holder_id TEXT NOT NULL,
    configuration_id TEXT NOT NULL,
    key_thumbprint TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX issuances_holder_id ON issuances (holder_id, issued_at);
