use super::SqliteStore;
use crate::error::{Error, Fault, Result};
use crate::store::{MailboxRecord, MailboxStore};
use rusqlite::{params, Connection, OptionalExtension, Row};

const COLUMNS: &str =
    "id, address, kind, alias_of, main_user, auth_state, settings, account, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<MailboxRecord> {
    let settings: String = r.get(6)?;
    let account: Option<String> = r.get(7)?;
    Ok(MailboxRecord {
        id: r.get(0)?,
        address: r.get(1)?,
        kind: r.get(2)?,
        alias_of: r.get(3)?,
        main_user: r.get(4)?,
        auth_state: r.get(5)?,
        settings: serde_json::from_str(&settings).unwrap_or(serde_json::Value::Null),
        account: account.and_then(|a| serde_json::from_str(&a).ok()),
        users: Vec::new(),
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

fn load_users(c: &Connection, m: &mut MailboxRecord) -> Result<()> {
    let mut st = c.prepare_cached(
        "SELECT user_id FROM mailbox_users WHERE mailbox_id = ?1 ORDER BY position",
    )?;
    m.users = st
        .query_map([&m.id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(())
}

fn write_users(tx: &Connection, m: &MailboxRecord) -> Result<()> {
    tx.prepare_cached("DELETE FROM mailbox_users WHERE mailbox_id = ?1")?
        .execute([&m.id])?;
    let mut st = tx.prepare_cached(
        "INSERT INTO mailbox_users (mailbox_id, user_id, position) VALUES (?1, ?2, ?3)",
    )?;
    for (i, u) in m.users.iter().enumerate() {
        st.execute(params![m.id, u, i as i64])?;
    }
    Ok(())
}

/// `address` equals the parameter in any case. SQLite's NOCASE folds ASCII only, so a key
/// with other letters compares Unicode lower cases (`o365_lower`, registered on every
/// connection); ASCII keys keep using the column's NOCASE index.
fn address_is(param: &str, key: &str) -> String {
    text_is("address", param, key)
}

fn text_is(column: &str, param: &str, key: &str) -> String {
    if key.is_ascii() {
        format!("{column} = {param} COLLATE NOCASE")
    } else {
        format!("o365_lower({column}) = o365_lower({param})")
    }
}

/// The mailboxes sharing the Microsoft mailbox `address` (itself and its aliases); `?1` is
/// the address. Both arms are index lookups for ASCII addresses (migration 8).
fn graph_mailbox_sql(address: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM mailboxes WHERE \
         ({} AND (kind <> 'alias' OR alias_of IS NULL)) \
         OR (kind = 'alias' AND {}) ORDER BY address",
        address_is("?1", address),
        text_is("alias_of", "?1", address)
    )
}

impl MailboxStore for SqliteStore {
    fn insert_mailbox(&self, m: &MailboxRecord) -> Result<()> {
        self.write(|tx| {
            let taken: Option<String> = tx
                .query_row(
                    &format!("SELECT id FROM mailboxes WHERE {}", address_is("?1", &m.address)),
                    [&m.address],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = taken {
                return Err(Error::AlreadyExists(Fault::new(
                    "mailbox_exists",
                    format!("mailbox '{}' is already imported", m.address),
                ))
                .with_detail("mailbox", id));
            }
            tx.execute(
                &format!("INSERT INTO mailboxes ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    m.id,
                    m.address,
                    m.kind,
                    m.alias_of,
                    m.main_user,
                    m.auth_state,
                    m.settings.to_string(),
                    m.account.as_ref().map(|a| a.to_string()),
                    m.created_at,
                    m.updated_at
                ],
            )?;
            write_users(tx, m)
        })
    }

    fn find_mailbox(&self, key: &str) -> Result<Option<MailboxRecord>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM mailboxes WHERE id = ?1 OR {} LIMIT 1",
                address_is("?1", key)
            ))?;
            let found = st.query_row([key], from_row).optional()?;
            match found {
                Some(mut m) => {
                    load_users(c, &mut m)?;
                    Ok(Some(m))
                }
                None => Ok(None),
            }
        })
    }

    fn list_mailboxes(&self, user: Option<&str>) -> Result<Vec<MailboxRecord>> {
        self.read(|c| {
            let mut out = Vec::new();
            match user {
                Some(u) => {
                    let mut st = c.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM mailboxes WHERE id IN \
                         (SELECT mailbox_id FROM mailbox_users WHERE user_id = ?1) ORDER BY address"
                    ))?;
                    for m in st.query_map([u], from_row)? {
                        out.push(m?);
                    }
                }
                None => {
                    let mut st = c.prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM mailboxes ORDER BY address"
                    ))?;
                    for m in st.query_map([], from_row)? {
                        out.push(m?);
                    }
                }
            }
            for m in &mut out {
                load_users(c, m)?;
            }
            Ok(out)
        })
    }

    fn mailboxes_of_graph_mailbox(&self, address: &str) -> Result<Vec<MailboxRecord>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&graph_mailbox_sql(address))?;
            let mut out = Vec::new();
            for m in st.query_map([address], from_row)? {
                out.push(m?);
            }
            for m in &mut out {
                load_users(c, m)?;
            }
            Ok(out)
        })
    }

    fn update_mailbox(&self, m: &MailboxRecord) -> Result<()> {
        self.write(|tx| {
            let n = tx.prepare_cached("UPDATE mailboxes SET main_user = ?2, auth_state = ?3, settings = ?4, account = ?5, \
                 updated_at = ?6 WHERE id = ?1")?.execute(params![
                    m.id,
                    m.main_user,
                    m.auth_state,
                    m.settings.to_string(),
                    m.account.as_ref().map(|a| a.to_string()),
                    m.updated_at
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
            tx.prepare_cached("DELETE FROM sent_log WHERE mailbox_id = ?1")?
                .execute([id])?;
            tx.prepare_cached("DELETE FROM cache_versions WHERE mailbox_id = ?1")?
                .execute([id])?;
            Ok(tx
                .prepare_cached("DELETE FROM mailboxes WHERE id = ?1")?
                .execute([id])?
                > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run once per mailbox and sync round: a scan of every mailbox here made a round over
    /// n mailboxes cost n^2 row reads.
    #[test]
    fn mailboxes_sharing_a_graph_mailbox_are_found_by_index() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let plan: Vec<String> = s
            .read(|c| {
                let mut st = c.prepare_cached(&format!(
                    "EXPLAIN QUERY PLAN {}",
                    graph_mailbox_sql("a@b.example")
                ))?;
                let rows = st.query_map(["a@b.example"], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert!(
            plan.iter().all(|p| !p.starts_with("SCAN mailboxes")),
            "{plan:?}"
        );
        assert!(
            plan.iter().any(|p| p.contains("mailboxes_by_alias_of")),
            "{plan:?}"
        );
    }
}
