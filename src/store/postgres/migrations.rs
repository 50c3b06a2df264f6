//! Versioned schema migrations for PostgreSQL: the same versions as SQLite's
//! (`sqlite/migrations.rs`), translated (BIGINT, BOOLEAN, BYTEA, JSONB for JSON documents,
//! identity columns for SQLite's AUTOINCREMENT). Applied in order, once, under an advisory
//! lock; the applied versions are rows of `o365_schema`.
//!
//! Differences on purpose:
//! - addresses are unique by `address_key` (their Unicode lower case, computed by the
//!   library), not by a NOCASE collation PostgreSQL does not have;
//! - messages keep their natural primary key (mailbox, id): SQLite's compact `id_key` works
//!   around SQLite's index layout, which PostgreSQL does not need, so version 3 only adds
//!   the own-mail indexes here;
//! - `folders.seq` keeps the order folders were first stored in (SQLite's rowid).
//!
//! Append new migrations; never edit one that has shipped.

pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, V1),
    (2, V2_ACTIVITIES),
    (3, V3_OWN_MAIL),
    (4, V4_CACHE_VERSIONS),
    (5, V5_OUTBOX_SUBMISSION_AND_SENT_FROM),
    (6, V6_LINKS_SEALED_FILES),
    (7, V7_BLOBS),
    (8, V8_CACHE_VERSIONS_BY_SCOPE),
];

/// The newest schema version this library knows.
pub fn newest() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

const V1: &str = r#"
CREATE TABLE mailboxes (
    id          TEXT PRIMARY KEY,
    address     TEXT NOT NULL,
    address_key TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'alias', 'shared')),
    alias_of    TEXT,
    alias_key   TEXT,
    main_user   TEXT NOT NULL,
    auth_state  TEXT NOT NULL DEFAULT 'not_authenticated',
    settings    JSONB NOT NULL DEFAULT '{}',
    account     JSONB,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX mailboxes_by_alias ON mailboxes(alias_key) WHERE kind = 'alias';

CREATE TABLE mailbox_users (
    mailbox_id  TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    position    BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, user_id)
);
CREATE INDEX mailbox_users_by_user ON mailbox_users(user_id);

CREATE TABLE audit (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    mailbox_id  TEXT,
    user_id     TEXT,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_by_mailbox ON audit(mailbox_id, seq);

CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    mailbox_id   TEXT,
    payload      JSONB NOT NULL,
    created_at   BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    deliveries   BIGINT NOT NULL DEFAULT 0,
    acked_at     BIGINT
);
CREATE INDEX events_pending ON events(seq) WHERE acked_at IS NULL;

CREATE TABLE tokens (
    mailbox_id        TEXT PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
    sealed            BYTEA NOT NULL,
    access_expires_at BIGINT,
    refreshed_at      BIGINT,
    generation        BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE oauth_states (
    state_hash  TEXT PRIMARY KEY,
    mailbox_id  TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    flow        TEXT NOT NULL,
    sealed      BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE TABLE folders (
    mailbox_id    TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    parent_id     TEXT,
    display_name  TEXT NOT NULL,
    well_known    TEXT,
    unread_count  BIGINT NOT NULL DEFAULT 0,
    total_count   BIGINT NOT NULL DEFAULT 0,
    child_count   BIGINT NOT NULL DEFAULT 0,
    hidden        BOOLEAN NOT NULL DEFAULT false,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, id)
);

CREATE TABLE messages (
    mailbox_id          TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    id                  TEXT NOT NULL,
    folder_id           TEXT NOT NULL,
    internet_message_id TEXT,
    conversation_id     TEXT,
    subject             TEXT,
    from_name           TEXT,
    from_address        TEXT,
    recipients_json     TEXT,
    received_at         BIGINT,
    sent_at             BIGINT,
    is_read             BOOLEAN NOT NULL DEFAULT false,
    is_draft            BOOLEAN NOT NULL DEFAULT false,
    has_attachments     BOOLEAN NOT NULL DEFAULT false,
    importance          TEXT,
    flag                TEXT,
    categories_json     TEXT,
    body_preview        TEXT,
    change_key          TEXT,
    body                TEXT,
    body_type           TEXT,
    attachments_json    TEXT,
    seen_gen            BIGINT NOT NULL DEFAULT 0,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, id)
);
CREATE INDEX messages_by_folder ON messages(mailbox_id, folder_id, received_at, id COLLATE "C");

CREATE TABLE sync_state (
    mailbox_id       TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    delta_link       TEXT,
    next_link        TEXT,
    round_gen        BIGINT NOT NULL DEFAULT 0,
    round_full       BOOLEAN NOT NULL DEFAULT false,
    round_items      BIGINT NOT NULL DEFAULT 0,
    last_success_at  BIGINT,
    last_error       TEXT,
    last_error_kind  TEXT,
    last_error_at    BIGINT,
    PRIMARY KEY (mailbox_id, scope)
);

CREATE TABLE move_jobs (
    mailbox_id   TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    from_id      TEXT NOT NULL,
    from_name    TEXT NOT NULL,
    to_id        TEXT NOT NULL,
    to_name      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    moved        BIGINT NOT NULL DEFAULT 0,
    total        BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, id)
);
CREATE UNIQUE INDEX move_jobs_running ON move_jobs(mailbox_id, from_id, to_id) WHERE state = 'running';

CREATE TABLE outbox (
    mailbox_id          TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    idempotency_key     TEXT NOT NULL,
    send_id             TEXT NOT NULL UNIQUE,
    state               TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    internet_message_id TEXT NOT NULL,
    request             JSONB NOT NULL,
    request_hash        TEXT NOT NULL,
    fingerprint         TEXT NOT NULL,
    recipients_hash     TEXT NOT NULL,
    draft_id            TEXT,
    draft_ready         BOOLEAN NOT NULL DEFAULT false,
    error               JSONB,
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT NOT NULL DEFAULT 0,
    notify              BOOLEAN NOT NULL DEFAULT false,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    sent_at             BIGINT,
    PRIMARY KEY (mailbox_id, idempotency_key)
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE state IN ('queued', 'sending');
CREATE INDEX outbox_serial ON outbox(mailbox_id, fingerprint, created_at);

CREATE TABLE send_slots (
    mailbox_id  TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX send_slots_by_mailbox ON send_slots(mailbox_id, at);

CREATE TABLE sent_log (
    mailbox_id          TEXT NOT NULL,
    internet_message_id TEXT NOT NULL,
    send_id             TEXT NOT NULL,
    sent_at             BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, internet_message_id)
);

CREATE TABLE links (
    id              TEXT PRIMARY KEY,
    mailbox_id      TEXT NOT NULL,
    send_id         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('download', 'agreement')),
    agreement_text  TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    purged_at       BIGINT
);
CREATE INDEX links_expiring ON links(expires_at) WHERE purged_at IS NULL;

CREATE TABLE link_files (
    link_id       TEXT NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    idx           BIGINT NOT NULL,
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    path          TEXT NOT NULL,
    PRIMARY KEY (link_id, idx)
);

CREATE TABLE link_access (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    link_id         TEXT NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    action          TEXT NOT NULL,
    at              BIGINT NOT NULL,
    client_address  TEXT,
    user_agent      TEXT,
    file_idx        BIGINT
);
CREATE INDEX link_access_by_link ON link_access(link_id, seq);

CREATE TABLE link_key (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    sealed  BYTEA NOT NULL
);
"#;

const V2_ACTIVITIES: &str = r#"
CREATE TABLE activities (
    mailbox_id          TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    internet_message_id TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    graph_id            TEXT,
    booked_at           BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, internet_message_id)
);
"#;

const V3_OWN_MAIL: &str = r#"
CREATE INDEX sent_log_by_message_id ON sent_log(internet_message_id);
CREATE INDEX outbox_by_message_id ON outbox(internet_message_id);
"#;

const V4_CACHE_VERSIONS: &str = r#"
CREATE TABLE cache_versions (
    mailbox_id TEXT PRIMARY KEY,
    version    BIGINT NOT NULL
);
"#;

const V5_OUTBOX_SUBMISSION_AND_SENT_FROM: &str = r#"
ALTER TABLE outbox ADD COLUMN submitted_at BIGINT;
ALTER TABLE outbox ADD COLUMN sent_from TEXT;
"#;

const V6_LINKS_SEALED_FILES: &str = r#"
ALTER TABLE links ADD COLUMN subject TEXT;
ALTER TABLE links ADD COLUMN file_key BYTEA;
ALTER TABLE link_files ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX link_files_unsealed ON link_files(link_id) WHERE NOT sealed;
"#;

/// Blobs: link files and spooled attachments kept in the database in sealed chunks, so no
/// host needs a local copy. `owner` groups a blob with what it belongs to (a link, an outbox
/// entry); the byte-wise "C" collation keeps its order the same on every server. Sealed
/// bytes do not compress: the chunks are stored out of line without trying.
const V7_BLOBS: &str = r#"
CREATE TABLE blobs (
    id          TEXT PRIMARY KEY,
    owner       TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    finished    BOOLEAN NOT NULL DEFAULT false,
    size        BIGINT,
    sha256      TEXT,
    chunks      BIGINT
);
CREATE INDEX blobs_by_owner ON blobs(owner);
CREATE INDEX blobs_unfinished ON blobs(created_at) WHERE NOT finished;

CREATE TABLE blob_chunks (
    blob_id  TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
    idx      BIGINT NOT NULL,
    data     BYTEA NOT NULL,
    PRIMARY KEY (blob_id, idx)
);
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
"#;

/// PostgreSQL only: the change counter of a mailbox is the sum of one counter per scope (a
/// folder, or '' for everything else), so pages of different folders written at the same
/// time do not update one row and fail each other's SERIALIZABLE transactions ("could not
/// serialize access due to concurrent update"). Each bump still adds exactly 1 to the sum.
/// The index on the generation lets a full round's start find the newest one with an index
/// read instead of a scan of the mailbox's messages (a scan's SERIALIZABLE read lock covers
/// the table and fails the page writes of other folders running at the same time).
/// (Version 7 belongs to another change of the same release.)
const V8_CACHE_VERSIONS_BY_SCOPE: &str = r#"
ALTER TABLE cache_versions ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE cache_versions DROP CONSTRAINT cache_versions_pkey;
ALTER TABLE cache_versions ADD PRIMARY KEY (mailbox_id, scope);
CREATE INDEX messages_by_gen ON messages(mailbox_id, seen_gen);
"#;
