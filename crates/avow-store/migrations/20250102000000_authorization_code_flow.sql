-- State of the authorization-code flow: pushed authorization requests,
-- holder login sessions, authorization codes, refresh tokens, grant
-- revocation and holder passwords.
--
-- Same rules as the initial migration: only TEXT and BIGINT columns, JSON as
-- TEXT, secrets (request_uri, session id, CSRF token, code, refresh token,
-- password) only as hashes computed by the caller, times in Unix seconds.
-- Every single-use value is consumed by one conditional UPDATE on its state
-- column (ISS-SEC-02).

-- Pushed authorization requests (RFC 9126), by request_uri hash.
-- state: 'pushed' -> 'used' (ISS-AUTHZ-01, ISS-AUTHZ-03, ISS-PAR-11).
CREATE TABLE par_requests (
    request_uri_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    request_json TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX par_requests_expires_at ON par_requests (expires_at);

-- Holder login sessions of the authorization endpoint (login -> consent).
-- state: 'open' -> 'consumed' (at consent).
CREATE TABLE auth_sessions (
    session_hash TEXT PRIMARY KEY,
    request_json TEXT NOT NULL,
    csrf_hash TEXT NOT NULL,
    holder_id TEXT,
    failed_logins BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX auth_sessions_expires_at ON auth_sessions (expires_at);

-- Authorization codes (ISS-AUTHZ-08), by hash, with the grant they carry.
-- state: 'issued' -> 'redeemed' (ISS-TAC-02, ISS-TAC-03).
CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    grant_json TEXT NOT NULL,
    state TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_grant_id ON authorization_codes (grant_id);

-- Refresh tokens (ISS-TRT-01), by hash; one grant_id per token family.
-- state: 'active' -> 'rotated' (ISS-TRT-03) or 'revoked'.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    grant_json TEXT NOT NULL,
    state TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);

-- Revoked grants (ISS-TAC-03, ISS-TRT-03). Checked when a token is read or
-- rotated, so a token stored after the revocation (a request in flight when
-- the replay was detected) is refused too.
CREATE TABLE revoked_grants (
    grant_id TEXT PRIMARY KEY
);

-- Access tokens of the authorization-code and refresh-token grants name
-- their grant, so a replay can revoke them; revoked: 0 or 1.
ALTER TABLE access_tokens ADD COLUMN grant_id TEXT;
ALTER TABLE access_tokens ADD COLUMN revoked BIGINT NOT NULL DEFAULT 0;
CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id);

-- Holder passwords as PHC strings computed by the caller (ISS-AUTHZ-04).
ALTER TABLE holders ADD COLUMN password_hash TEXT;
