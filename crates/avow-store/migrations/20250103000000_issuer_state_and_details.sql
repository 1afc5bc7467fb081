-- Authorization-code offers (OID4VCI §4.1.1): the issuer_state of an offer,
-- single use, bound to the offer's holder and configurations (ISS-OFFER-03,
-- ISS-PAR-09, ISS-AUTHZ-09). Stored only as a hash.
CREATE TABLE issuer_states (
    issuer_state_hash TEXT PRIMARY KEY,
    offer_id TEXT NOT NULL,
    holder_id TEXT NOT NULL,
    configuration_ids TEXT NOT NULL,
    used BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX issuer_states_expires_at ON issuer_states (expires_at);

-- The authorization_details (with credential_identifiers) a token response
-- answered with, so the credential endpoint can resolve identifiers (VCI §6.2, §8.2).
ALTER TABLE access_tokens ADD COLUMN authorization_details TEXT;

-- RFC 8705 §3: access tokens issued to a client authenticated with a TLS
-- client certificate are bound to it (x5t#S256) (ISS-CLI-03).
ALTER TABLE access_tokens ADD COLUMN certificate_thumbprint TEXT;
