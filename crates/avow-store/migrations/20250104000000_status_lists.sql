-- Token Status Lists (draft-ietf-oauth-status-list; ISS-STAT-01 … -06).
--
-- Same rules as the earlier migrations: only TEXT and BIGINT columns, times
-- in Unix seconds. Allocation and status changes are single statements
-- guarded by constraints, so they hold across issuer instances.

-- One row per list. seq orders the lists and is UNIQUE, so concurrent
-- instances that all find no open list agree on one new list (the first
-- INSERT of seq = max + 1 wins). is_full: 0 or 1, set once every index of
-- the list is taken.
CREATE TABLE status_lists (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    bits BIGINT NOT NULL,
    size BIGINT NOT NULL,
    is_full BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row per allocated index: the primary key makes every index single
-- use (ISS-STAT-01). status: 0 VALID, 1 INVALID (final), 2 SUSPENDED
-- (ISS-STAT-05). Unallocated indices have no row and are VALID.
CREATE TABLE status_entries (
    list_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    status BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (list_id, idx)
);

-- The status list entry of an issued credential, for revocation by
-- issuance id (ISS-STAT-06); NULL when status lists were off.
ALTER TABLE issuances ADD COLUMN status_list_id TEXT;
ALTER TABLE issuances ADD COLUMN status_index BIGINT;
