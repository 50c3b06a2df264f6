//! Versioned schema migrations, applied in order under `PRAGMA user_version`.
//!
//! Append new migrations; never edit one that has shipped.

pub const MIGRATIONS: &[(i64, &str)] = &[(1, V1)];

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
    well_known    TEXT,
    unread_count  INTEGER NOT NULL DEFAULT 0,
    total_count   INTEGER NOT NULL DEFAULT 0,
    child_count   INTEGER NOT NULL DEFAULT 0,
    hidden        INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, id)
);

CREATE TABLE messages (
    mailbox_id          TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    id                  TEXT NOT NULL,
    folder_id           TEXT NOT NULL,
    internet_message_id TEXT,
    subject             TEXT,
    from_json           TEXT,
    recipients_json     TEXT,
    received_at         INTEGER,
    sent_at             INTEGER,
    is_read             INTEGER NOT NULL DEFAULT 0,
    has_attachments     INTEGER NOT NULL DEFAULT 0,
    importance          TEXT,
    body_preview        TEXT,
    body                TEXT,
    body_type           TEXT,
    change_key          TEXT,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, id)
);
CREATE INDEX messages_by_folder ON messages(mailbox_id, folder_id, received_at);
CREATE INDEX messages_by_imid ON messages(mailbox_id, internet_message_id);

-- Delta links and health per scope ('folders' or a folder id).
CREATE TABLE sync_state (
    mailbox_id       TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    delta_link       TEXT,
    last_success_at  INTEGER,
    last_error       TEXT,
    last_error_at    INTEGER,
    PRIMARY KEY (mailbox_id, scope)
);

CREATE TABLE outbox (
    mailbox_id          TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    idempotency_key     TEXT NOT NULL,
    send_id             TEXT NOT NULL UNIQUE,
    state               TEXT NOT NULL,
    internet_message_id TEXT NOT NULL,
    request             BLOB NOT NULL,
    result              TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, idempotency_key)
);

-- Every mail the library itself sent, by internet message id (the activity watcher's filter).
CREATE TABLE sent_log (
    mailbox_id          TEXT NOT NULL,
    internet_message_id TEXT NOT NULL,
    send_id             TEXT NOT NULL,
    sent_at             INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, internet_message_id)
);
"#;
