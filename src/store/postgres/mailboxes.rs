use super::text::{dec_json, enc, enc_json, enc_json_opt, enc_opt, opt_text, text};
use super::{address_key, PgStore};
use crate::error::{Error, Fault, Result};
use crate::store::{MailboxRecord, MailboxStore};
use postgres::{GenericClient, Row};
use serde_json::Value;

const COLUMNS: &str =
    "id, address, kind, alias_of, main_user, auth_state, settings, account, created_at, updated_at";

fn from_row(r: &Row) -> MailboxRecord {
    MailboxRecord {
        id: r.get(0),
        address: text(r, 1),
        kind: r.get(2),
        alias_of: opt_text(r, 3),
        main_user: text(r, 4),
        auth_state: r.get(5),
        settings: dec_json(r.get(6)),
        account: r.get::<_, Option<Value>>(7).map(dec_json),
        users: Vec::new(),
        created_at: r.get(8),
        updated_at: r.get(9),
    }
}

/// The records of `rows` with their users, in order.
fn with_users(c: &mut impl GenericClient, rows: Vec<Row>) -> Result<Vec<MailboxRecord>> {
    let mut out: Vec<MailboxRecord> = rows.iter().map(from_row).collect();
    for m in &mut out {
        m.users = c
            .query(
                "SELECT user_id FROM mailbox_users WHERE mailbox_id = $1 ORDER BY position",
                &[&m.id],
            )?
            .iter()
            .map(|r| text(r, 0))
            .collect();
    }
    Ok(out)
}

fn write_users(tx: &mut impl GenericClient, m: &MailboxRecord) -> Result<()> {
    tx.execute("DELETE FROM mailbox_users WHERE mailbox_id = $1", &[&m.id])?;
    let st = tx
        .prepare("INSERT INTO mailbox_users (mailbox_id, user_id, position) VALUES ($1, $2, $3)")?;
    for (i, u) in m.users.iter().enumerate() {
        tx.execute(&st, &[&m.id, &enc(u), &(i as i64)])?;
    }
    Ok(())
}

impl MailboxStore for PgStore {
    fn insert_mailbox(&self, m: &MailboxRecord) -> Result<()> {
        let key = enc(&address_key(&m.address)).into_owned();
        let alias_key = m
            .alias_of
            .as_deref()
            .map(|a| enc(&address_key(a)).into_owned());
        self.write(|tx| {
            if let Some(r) =
                tx.query_opt("SELECT id FROM mailboxes WHERE address_key = $1", &[&key])?
            {
                let id: String = r.get(0);
                return Err(Error::AlreadyExists(Fault::new(
                    "mailbox_exists",
                    format!("mailbox '{}' is already imported", m.address),
                ))
                .with_detail("mailbox", id));
            }
            tx.execute(
                "INSERT INTO mailboxes (id, address, address_key, kind, alias_of, alias_key, \
                 main_user, auth_state, settings, account, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &m.id,
                    &enc(&m.address),
                    &key,
                    &m.kind,
                    &enc_opt(&m.alias_of),
                    &alias_key,
                    &enc(&m.main_user),
                    &m.auth_state,
                    &*enc_json(&m.settings),
                    &enc_json_opt(&m.account).as_deref(),
                    &m.created_at,
                    &m.updated_at,
                ],
            )?;
            write_users(tx, m)
        })
    }

    fn find_mailbox(&self, key: &str) -> Result<Option<MailboxRecord>> {
        let lower = enc(&address_key(key)).into_owned();
        self.read(|c| {
            let rows = c.query(
                &format!(
                    "SELECT {COLUMNS} FROM mailboxes WHERE id = $1 OR address_key = $2 \
                     ORDER BY (id = $1) DESC LIMIT 1"
                ),
                &[&enc(key), &lower],
            )?;
            Ok(with_users(c, rows)?.pop())
        })
    }

    fn list_mailboxes(&self, user: Option<&str>) -> Result<Vec<MailboxRecord>> {
        self.read(|c| {
            let rows = match user {
                Some(u) => c.query(
                    &format!(
                        "SELECT {COLUMNS} FROM mailboxes WHERE id IN \
                         (SELECT mailbox_id FROM mailbox_users WHERE user_id = $1) \
                         ORDER BY address_key COLLATE \"C\""
                    ),
                    &[&enc(u)],
                )?,
                None => c.query(
                    &format!("SELECT {COLUMNS} FROM mailboxes ORDER BY address_key COLLATE \"C\""),
                    &[],
                )?,
            };
            with_users(c, rows)
        })
    }

    fn mailboxes_of_graph_mailbox(&self, address: &str) -> Result<Vec<MailboxRecord>> {
        let key = enc(&address_key(address)).into_owned();
        self.read(|c| {
            let rows = c.query(
                &format!(
                    "SELECT {COLUMNS} FROM mailboxes WHERE \
                     (address_key = $1 AND (kind <> 'alias' OR alias_of IS NULL)) \
                     OR (kind = 'alias' AND alias_key = $1) ORDER BY address_key COLLATE \"C\""
                ),
                &[&key],
            )?;
            with_users(c, rows)
        })
    }

    fn update_mailbox(&self, m: &MailboxRecord) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE mailboxes SET main_user = $2, auth_state = $3, settings = $4, account = $5, \
                 updated_at = $6 WHERE id = $1",
                &[
                    &m.id,
                    &enc(&m.main_user),
                    &m.auth_state,
                    &*enc_json(&m.settings),
                    &enc_json_opt(&m.account).as_deref(),
                    &m.updated_at,
                ],
            )?;
            if n == 0 {
                return Err(Error::not_found("mailbox", &m.id));
            }
            super::cache::bump_version(tx, &m.id)?;
            write_users(tx, m)
        })
    }

    fn delete_mailbox(&self, id: &str) -> Result<bool> {
        self.write(|tx| {
            // Cascades to users, tokens, sign-in states, cache, delta state and outbox.
            tx.execute("DELETE FROM sent_log WHERE mailbox_id = $1", &[&id])?;
            tx.execute("DELETE FROM cache_versions WHERE mailbox_id = $1", &[&id])?;
            Ok(tx.execute("DELETE FROM mailboxes WHERE id = $1", &[&id])? > 0)
        })
    }
}
