//! Versioned schema migrations, applied in order under `PRAGMA user_version`.
//!
//! Append new migrations; never edit one that has shipped.

pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, V1),
    (2, V2_ACTIVITIES),
    (3, V3_OWN_MAIL_AND_MESSAGE_KEYS),
    (4, V4_CACHE_VERSIONS),
    (5, V5_OUTBOX_SUBMISSION_AND_SENT_FROM),
    (6, V6_LINKS_SEALED_FILES),
    (7, V7_BLOBS),
    (8, V8_NO_SCANS_PER_ROUND),
];

/// Foundation schema: mailboxes, users, audit, leases, events, plus the tables the later
/// areas fill (tokens, sign-in states, folder/message cache, delta state, outbox, sent log).
const V1: &str = r#"
CREATE TABLE mailboxes (
    id          TEXT PRIMARY KEY,
    address     TEXT NOT NULL UNIQUE COLLATE NOCASE,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'alias', 'shared')),
    alias_of    TEXT,
    main_user   TEXT NOT NULL,
    auth_state  TEXT NOT NULL DEFAULT 'not_authenticated',
    settings    TEXT NOT NULL DEFAULT '{}',
    account     TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE mailbox_users (
    mailbox_id  TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, user_id)
);
CREATE INDEX mailbox_users_by_user ON mailbox_users(user_id);

CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
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
    expires_at  INTEGER NOT NULL
);

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    mailbox_id   TEXT,
    payload      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    deliveries   INTEGER NOT NULL DEFAULT 0,
    acked_at     INTEGER
);
CREATE INDEX events_pending ON events(seq) WHERE acked_at IS NULL;

-- Sealed (AES-256-GCM) token set per mailbox; never plain text.
CREATE TABLE tokens (
    mailbox_id        TEXT PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
    sealed            BLOB NOT NULL,
    access_expires_at INTEGER,
    refreshed_at      INTEGER,
    generation        INTEGER NOT NULL DEFAULT 0
);

-- Pending sign-ins: state (hashed), PKCE verifier (sealed), single use, 10 minutes.
CREATE TABLE oauth_states (
    state_hash  TEXT PRIMARY KEY,
    mailbox_id  TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    flow        TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE folders (
    mailbox_id    TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    parent_id     TEXT,
    display_name  TEXT NOT NULL,
    -- Role from Graph's well-known names (inbox, sentitems, ...), never from display names.
    well_known    TEXT,
    unread_count  INTEGER NOT NULL DEFAULT 0,
    total_count   INTEGER NOT NULL DEFAULT 0,
    child_count   INTEGER NOT NULL DEFAULT 0,
    hidden        INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, id)
);

-- Message metadata (and, once fetched, bodies). `id` is the Graph immutable id.
-- `seen_gen` is the full-resync round that last saw the row: a full round ends by sweeping
-- the folder's rows of older rounds (410 recovery without duplicates or leftovers).
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
    received_at         INTEGER,
    sent_at             INTEGER,
    is_read             INTEGER NOT NULL DEFAULT 0,
    is_draft            INTEGER NOT NULL DEFAULT 0,
    has_attachments     INTEGER NOT NULL DEFAULT 0,
    importance          TEXT,
    flag                TEXT,
    categories_json     TEXT,
    body_preview        TEXT,
    change_key          TEXT,
    body                TEXT,
    body_type           TEXT,
    attachments_json    TEXT,
    seen_gen            INTEGER NOT NULL DEFAULT 0,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, id)
);
CREATE INDEX messages_by_folder ON messages(mailbox_id, folder_id, received_at, id);

-- Delta state and health per scope ('folders' or a folder id). `next_link` is the cursor
-- inside a round (written with the page it follows), `delta_link` the end of the last round.
CREATE TABLE sync_state (
    mailbox_id       TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    delta_link       TEXT,
    next_link        TEXT,
    round_gen        INTEGER NOT NULL DEFAULT 0,
    round_full       INTEGER NOT NULL DEFAULT 0,
    round_items      INTEGER NOT NULL DEFAULT 0,
    last_success_at  INTEGER,
    last_error       TEXT,
    last_error_kind  TEXT,
    last_error_at    INTEGER,
    PRIMARY KEY (mailbox_id, scope)
);

-- Resumable "move every message of one folder to another" jobs (seed point 9).
CREATE TABLE move_jobs (
    mailbox_id   TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    from_id      TEXT NOT NULL,
    from_name    TEXT NOT NULL,
    to_id        TEXT NOT NULL,
    to_name      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    moved        INTEGER NOT NULL DEFAULT 0,
    total        INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, id)
);
CREATE UNIQUE INDEX move_jobs_running ON move_jobs(mailbox_id, from_id, to_id) WHERE state = 'running';

-- One row per (mailbox, idempotency key), written before any send request leaves.
-- state: queued -> sending (the send may have reached Microsoft: look for our Message-ID
-- before trying again) -> sent | failed. `request` is the prepared message (JSON).
CREATE TABLE outbox (
    mailbox_id          TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    idempotency_key     TEXT NOT NULL,
    send_id             TEXT NOT NULL UNIQUE,
    state               TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    internet_message_id TEXT NOT NULL,
    request             TEXT NOT NULL,
    request_hash        TEXT NOT NULL,
    fingerprint         TEXT NOT NULL,
    recipients_hash     TEXT NOT NULL,
    draft_id            TEXT,
    draft_ready         INTEGER NOT NULL DEFAULT 0,
    error               TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL DEFAULT 0,
    notify              INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    sent_at             INTEGER,
    PRIMARY KEY (mailbox_id, idempotency_key)
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE state IN ('queued', 'sending');
CREATE INDEX outbox_serial ON outbox(mailbox_id, fingerprint, created_at);

-- Send requests issued per mailbox (pacing under Exchange's 30 messages per minute,
-- shared by every process on the store).
CREATE TABLE send_slots (
    mailbox_id  TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX send_slots_by_mailbox ON send_slots(mailbox_id, at);

-- Every mail the library itself sent, by internet message id (the activity watcher's filter).
CREATE TABLE sent_log (
    mailbox_id          TEXT NOT NULL,
    internet_message_id TEXT NOT NULL,
    send_id             TEXT NOT NULL,
    sent_at             INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, internet_message_id)
);

-- Download / agreement links (one per mail using the macros), their files and accesses.
CREATE TABLE links (
    id              TEXT PRIMARY KEY,
    mailbox_id      TEXT NOT NULL,
    send_id         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('download', 'agreement')),
    agreement_text  TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    purged_at       INTEGER
);
CREATE INDEX links_expiring ON links(expires_at) WHERE purged_at IS NULL;

CREATE TABLE link_files (
    link_id       TEXT NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    path          TEXT NOT NULL,
    PRIMARY KEY (link_id, idx)
);

CREATE TABLE link_access (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    link_id         TEXT NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    action          TEXT NOT NULL,
    at              INTEGER NOT NULL,
    client_address  TEXT,
    user_agent      TEXT,
    file_idx        INTEGER
);
CREATE INDEX link_access_by_link ON link_access(link_id, seq);

-- The links' HMAC key, sealed with the store's encryption key (one row).
CREATE TABLE link_key (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    sealed  BLOB NOT NULL
);
"#;

/// Activities booked for mail sent outside the CRM: one row per (mailbox, internet message
/// id), kept through cache clears so nothing is booked twice.
const V2_ACTIVITIES: &str = r#"
CREATE TABLE activities (
    mailbox_id          TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    internet_message_id TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    graph_id            TEXT,
    booked_at           INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, internet_message_id)
);
"#;

/// 1. The activity pass asks whether any mailbox of the store sent a mail (an alias and its
///    mailbox share one Sent Items), so the own-mail tables are looked up by Message-ID alone.
/// 2. Cached messages are found by a compact 64-bit key instead of a primary-key index on
///    Graph's long random ids, which made storing a page five times slower (see
///    `cache::message_key`). SQLite cannot drop a primary key in place, and the table is a
///    cache, so it is rebuilt empty and every folder's next sync is a full round (the
///    activity decisions and everything else stay).
const V3_OWN_MAIL_AND_MESSAGE_KEYS: &str = r#"
CREATE INDEX sent_log_by_message_id ON sent_log(internet_message_id);
CREATE INDEX outbox_by_message_id ON outbox(internet_message_id);

DROP TABLE messages;
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
    received_at         INTEGER,
    sent_at             INTEGER,
    is_read             INTEGER NOT NULL DEFAULT 0,
    is_draft            INTEGER NOT NULL DEFAULT 0,
    has_attachments     INTEGER NOT NULL DEFAULT 0,
    importance          TEXT,
    flag                TEXT,
    categories_json     TEXT,
    body_preview        TEXT,
    change_key          TEXT,
    body                TEXT,
    body_type           TEXT,
    attachments_json    TEXT,
    seen_gen            INTEGER NOT NULL DEFAULT 0,
    updated_at          INTEGER NOT NULL,
    -- cache::message_key(mailbox_id, id); (mailbox_id, id) is unique by the only insert path.
    id_key              INTEGER NOT NULL
);
CREATE INDEX messages_by_key ON messages(id_key);
CREATE INDEX messages_by_folder ON messages(mailbox_id, folder_id, received_at, id);
UPDATE sync_state SET delta_link = NULL, next_link = NULL, round_full = 0, round_items = 0
    WHERE scope <> 'folders';
"#;

/// A change counter per mailbox, bumped in the same transaction as any change to that
/// mailbox's cache (folders, messages, delta state) or its record and users: every process
/// keeps already-serialized answers in memory and checks this one row to know they still hold.
/// No foreign key: a counter may be bumped for a mailbox being removed; the removal bumps it too.
const V4_CACHE_VERSIONS: &str = r#"
CREATE TABLE cache_versions (
    mailbox_id TEXT PRIMARY KEY,
    version    INTEGER NOT NULL
);
"#;

/// Asynchronous submission and alias rewrites (issue 14): when the last send request of an
/// entry left (`submitted_at`; Exchange may keep the message in Drafts for a while after the
/// 202, so the entry waits for the sent copy instead of sending again), and the address the
/// sent copy really shows (`sent_from`).
const V5_OUTBOX_SUBMISSION_AND_SENT_FROM: &str = r#"
ALTER TABLE outbox ADD COLUMN submitted_at INTEGER;
ALTER TABLE outbox ADD COLUMN sent_from TEXT;
"#;

/// Links: the files behind a link are sealed at rest with a random key per link (kept
/// sealed by the vault in `file_key`, destroyed at expiry: crypto-shredding), and the page
/// shows the mail's subject. Files kept before this version are plaintext (`sealed = 0`);
/// `links::seal_legacy` encrypts them on the next link call or maintenance run.
const V6_LINKS_SEALED_FILES: &str = r#"
ALTER TABLE links ADD COLUMN subject TEXT;
ALTER TABLE links ADD COLUMN file_key BLOB;
ALTER TABLE link_files ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
CREATE INDEX link_files_unsealed ON link_files(link_id) WHERE sealed = 0;
"#;

/// Blobs: large byte strings in sealed chunks (the PostgreSQL backend keeps link files and
/// spooled attachments there; SQLite keeps them as files beside the store and has the table
/// for the same contract). `owner` groups a blob with what it belongs to.
const V7_BLOBS: &str = r#"
CREATE TABLE blobs (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    finished    INTEGER NOT NULL DEFAULT 0,
    size        INTEGER,
    sha256      TEXT,
    chunks      INTEGER
);
CREATE INDEX blobs_by_owner ON blobs(owner);
CREATE INDEX blobs_unfinished ON blobs(created_at) WHERE finished = 0;

CREATE TABLE blob_chunks (
    blob_id  TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (blob_id, idx)
);
"#;

/// Two table scans per sync round go:
/// 1. A full round's generation is taken from the mailbox's change counter (always above
///    every generation handed out before, as each was a counter value or below one) instead
///    of `MAX(seen_gen)` over the mailbox's messages, a scan of the whole mailbox at the start
///    of every folder's full round. Once, the counters are lifted above the generations
///    stored so far.
/// 2. The activity pass after each round looks up the mailboxes sharing a Microsoft mailbox
///    by address or `alias_of`; without an index on `alias_of` that read every mailbox row,
///    once per mailbox and round (a round over n mailboxes cost n^2 row reads).
const V8_NO_SCANS_PER_ROUND: &str = r#"
INSERT OR IGNORE INTO cache_versions (mailbox_id, version)
    SELECT mailbox_id, 0 FROM messages GROUP BY mailbox_id;
UPDATE cache_versions SET version = MAX(version,
    (SELECT COALESCE(MAX(seen_gen), 0) + 1 FROM messages m
      WHERE m.mailbox_id = cache_versions.mailbox_id),
    (SELECT COALESCE(MAX(round_gen), 0) + 1 FROM sync_state s
      WHERE s.mailbox_id = cache_versions.mailbox_id));
CREATE INDEX mailboxes_by_alias_of ON mailboxes(alias_of COLLATE NOCASE);
"#;
