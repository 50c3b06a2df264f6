//! Store lane benchmark: the message cache's write path alone (no network, no JSON), the way
//! the page writer drives it during an initial sync: every folder starts a full round, then
//! pages of 1,000 messages are applied in transactions of several pages, in fetch order.
//! Rows are sized like Graph's (152-character ids, 255-character previews, recipients).
//!
//!   cargo run --release --example bench_store -- [--messages 50000] [--folders 12]
//!       [--pages-per-tx 4] [--store sqlite|postgres] [--pg-url URL]
//!
//! Prints wall and CPU time per 1,000 messages and a `BENCH {json}` line.

use o365::store::cache::{DeltaLink, MessagePage, MessageRow, PageWrite};
use o365::store::mailboxes::MailboxRecord;
use o365::store::postgres::PgStore;
use o365::store::sqlite::SqliteStore;
use o365::store::Store;
use std::time::Instant;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn cpu_ms() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 * 1000.0 + tv.tv_usec as f64 / 1000.0;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// A Graph-like id of `len` characters, unique for `n`.
fn graph_id(prefix: &str, n: u64, len: usize) -> String {
    let mut s = format!("{prefix}{n:016x}");
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(ALPHA[(x % 64) as usize] as char);
    }
    s
}

fn row(folder_id: &str, n: u64) -> MessageRow {
    MessageRow {
        id: graph_id("AAMkAG", n, 152),
        folder_id: folder_id.to_owned(),
        internet_message_id: Some(format!("<{}@mail.contoso.example>", graph_id("m", n, 40))),
        conversation_id: Some(graph_id("AAQkAG", n / 3, 140)),
        subject: Some(format!("Re: Angebot {n} für die Lieferung im nächsten Quartal")),
        from_name: Some("Anna Schmidt".to_owned()),
        from_address: Some("anna.schmidt@contoso.example".to_owned()),
        recipients_json: Some(
            r#"{"to":[{"name":"Ben Meyer","address":"ben.meyer@fabrikam.example"}],"cc":[],"bcc":[],"reply_to":[]}"#
                .to_owned(),
        ),
        received_at: Some(1_700_000_000_000 - (n as i64) * 60_000),
        sent_at: Some(1_700_000_000_000 - (n as i64) * 60_000 - 5_000),
        is_read: Some(n % 3 != 0),
        is_draft: Some(false),
        has_attachments: Some(n % 7 == 0),
        importance: Some("normal".to_owned()),
        flag: Some("notFlagged".to_owned()),
        categories_json: Some("[]".to_owned()),
        body_preview: Some(
            "Sehr geehrte Damen und Herren, vielen Dank für Ihre Anfrage. Anbei erhalten Sie \
             unser Angebot für die Lieferung im nächsten Quartal. Bei Rückfragen stehen wir \
             Ihnen gerne zur Verfügung. Mit freundlichen Grüßen, Anna Schmidt, Vertrieb"
                .chars()
                .take(255)
                .collect(),
        ),
        change_key: Some(graph_id("CQAAABYAAAC", n, 40)),
    }
}

fn main() {
    let messages: u64 = arg("--messages", "50000").parse().unwrap();
    let folders: u64 = arg("--folders", "12").parse().unwrap();
    let per_tx: usize = arg("--pages-per-tx", "4").parse().unwrap();
    let kind = arg("--store", "sqlite");
    let dir = tempfile::tempdir().unwrap();
    let store: Box<dyn Store> = match kind.as_str() {
        "sqlite" => Box::new(SqliteStore::open(&dir.path().join("bench.db")).unwrap()),
        "postgres" => {
            let url = arg(
                "--pg-url",
                &std::env::var("O365_TEST_PG_URL").unwrap_or_default(),
            );
            let pg = PgStore::open(&url).unwrap();
            Box::new(pg)
        }
        other => panic!("unknown store {other}"),
    };
    let mailbox = MailboxRecord {
        id: format!("bench-{}", std::process::id()),
        address: "bench@contoso.example".to_owned(),
        kind: "user".to_owned(),
        alias_of: None,
        users: vec!["u1".to_owned()],
        main_user: "u1".to_owned(),
        auth_state: "authenticated".to_owned(),
        settings: serde_json::json!({}),
        account: None,
        created_at: 0,
        updated_at: 0,
    };
    store.insert_mailbox(&mailbox).unwrap();
    let flen: usize = arg("--folder-id-len", "120").parse().unwrap();
    let folder_ids: Vec<String> = (0..folders).map(|f| graph_id("AQMkAD", f, flen)).collect();

    // Pages of 1,000, folders round-robin (as pipelined fetches of several folders arrive).
    let per_folder = messages / folders;
    let mut pages: Vec<(usize, MessagePage)> = Vec::new();
    for (fi, f) in folder_ids.iter().enumerate() {
        let mut n = 0;
        while n < per_folder {
            let end = (n + 1000).min(per_folder);
            let upserts = (n..end)
                .map(|i| row(f, fi as u64 * per_folder + i))
                .collect();
            pages.push((
                fi,
                MessagePage {
                    upserts,
                    removed: vec![],
                },
            ));
            n = end;
        }
    }
    let mut order: Vec<usize> = Vec::new();
    let mut cursors: Vec<std::collections::VecDeque<usize>> =
        vec![Default::default(); folder_ids.len()];
    for (i, (fi, _)) in pages.iter().enumerate() {
        cursors[*fi].push_back(i);
    }
    while cursors.iter().any(|c| !c.is_empty()) {
        for c in cursors.iter_mut() {
            if let Some(i) = c.pop_front() {
                order.push(i);
            }
        }
    }
    let mut links: Vec<Option<String>> = vec![None; folder_ids.len()];
    let mut remaining: Vec<usize> = vec![0; folder_ids.len()];
    for (fi, _) in &pages {
        remaining[*fi] += 1;
    }

    let (t0, c0) = (Instant::now(), cpu_ms());
    for f in &folder_ids {
        store.begin_full_round(&mailbox.id, f).unwrap();
    }
    let mut seq = 0u64;
    for chunk in order.chunks(per_tx) {
        let mut jobs = Vec::new();
        for &i in chunk {
            let (fi, _) = &pages[i];
            seq += 1;
            remaining[*fi] -= 1;
            let link = if remaining[*fi] == 0 {
                DeltaLink::Delta(format!("https://graph.example/delta?$deltatoken={seq}"))
            } else {
                DeltaLink::Next(format!("https://graph.example/delta?$skiptoken={seq}"))
            };
            jobs.push((i, links[*fi].clone(), link.clone()));
            links[*fi] = Some(match link {
                DeltaLink::Delta(u) | DeltaLink::Next(u) => u,
            });
        }
        let writes: Vec<PageWrite<'_>> = jobs
            .iter()
            .map(|(i, from, link)| PageWrite {
                mailbox_id: &mailbox.id,
                folder_id: &folder_ids[pages[*i].0],
                fetched_from: from.as_deref(),
                page: &pages[*i].1,
                link,
                now: 1,
            })
            .collect();
        for r in store.apply_message_pages(&writes).unwrap() {
            r.unwrap();
        }
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64() * 1000.0, cpu_ms() - c0);
    let stored = store.message_count(&mailbox.id, None).unwrap();
    assert_eq!(
        stored as u64,
        per_folder * folders,
        "every message stored once"
    );
    let per_k = |v: f64| (v / (stored as f64 / 1000.0) * 100.0).round() / 100.0;
    println!(
        "store {kind}: {stored} messages in {} pages, {per_tx} pages per transaction: wall {wall:.0} ms ({} ms per 1,000), CPU {cpu:.0} ms ({} ms per 1,000)",
        pages.len(),
        per_k(wall),
        per_k(cpu)
    );
    println!(
        "BENCH {}",
        serde_json::json!({
            "part": "store_pages", "store": kind, "messages": stored, "pages_per_tx": per_tx,
            "wall_ms": wall.round(), "cpu_ms": cpu.round(),
            "wall_ms_per_1000": per_k(wall), "cpu_ms_per_1000": per_k(cpu),
        })
    );
}
