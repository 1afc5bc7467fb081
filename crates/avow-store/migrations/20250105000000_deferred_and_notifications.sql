-- Deferred issuance (OID4VCI 1.0 §9; ISS-DEF-01 … -09) and the
-- Notification Endpoint (OID4VCI 1.0 §11; ISS-NOTIF-01 … -06).
--
-- Same rules as the earlier migrations: only TEXT and BIGINT columns, times
-- in Unix seconds, booleans as 0 / 1. Secrets (transaction_id,
-- notification_id) are stored only as hashes computed by the caller; `id`
-- is a separate, non-secret handle for the operator.

-- One row per deferred transaction. state: pending → approved | denied
-- (operator) → issued (approved and fetched once). Every transition is one
-- UPDATE guarded by the current state, so it holds across instances.
-- holder_keys: JSON array of the proven holder public keys (JWK), in proof
-- order. grant_key names the grant whose access tokens may fetch it.
CREATE TABLE deferred_transactions (
    id TEXT PRIMARY KEY,
    transaction_hash TEXT NOT NULL UNIQUE,
    holder_id TEXT NOT NULL,
    configuration_id TEXT NOT NULL,
    grant_key TEXT NOT NULL,
    client_id TEXT,
    holder_keys TEXT NOT NULL,
    response_encrypted BIGINT NOT NULL,
    poll_interval BIGINT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    last_polled_at BIGINT,
    issued_at BIGINT,
    expires_at BIGINT NOT NULL,
    purge_at BIGINT NOT NULL
);

CREATE INDEX deferred_transactions_by_state ON deferred_transactions (state, created_at);

-- One row per notification_id handed out (one per Credential Response or
-- Deferred Credential Response with credentials).
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    notification_hash TEXT NOT NULL UNIQUE,
    grant_key TEXT NOT NULL,
    holder_id TEXT NOT NULL,
    configuration_id TEXT NOT NULL,
    credential_count BIGINT NOT NULL,
    deferred_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX notifications_by_holder ON notifications (holder_id, created_at);

-- The events received for a notification. Identical repeats (same event and
-- description) update one row (ISS-NOTIF-04: idempotent); description_key
-- is 'n' without a description and 'd:<description>' with one.
CREATE TABLE notification_events (
    notification_id TEXT NOT NULL,
    event TEXT NOT NULL,
    description_key TEXT NOT NULL,
    event_description TEXT,
    first_received_at BIGINT NOT NULL,
    last_received_at BIGINT NOT NULL,
    repeats BIGINT NOT NULL,
    PRIMARY KEY (notification_id, event, description_key)
);
