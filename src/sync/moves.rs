//! Moving every message of one folder to another (seed point 9: the CRM's old "Gesendete
//! Objekte" into the well-known Sent Items), resumable after a crash.
//!
//! The job row is durable; each step lists what is *still* in the source folder on the
//! server and moves that, so a restart (in this or another process) simply continues: a
//! message already moved is no longer listed and is never moved twice. Progress is written
//! after every `$batch` of up to 20 moves. One process works on a job at a time (a lease).

use super::api::{self, BatchItem, MailApi};
use super::engine::blocking;
use super::model::path_segment;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::graph::Priority;
use crate::store::cache::MoveJob;
use serde_json::{json, Value};
use std::time::Duration;

/// Messages listed per step (then moved in batches of [`BATCH`]).
const LIST_PAGE: usize = 100;
/// Graph's `$batch` limit.
const BATCH: usize = 20;
const LEASE_MS: i64 = 120_000;

/// Runs (or resumes) the job until the source folder is empty. Returns the job as stored,
/// or `None` in the second slot when another process holds the job's lease.
pub async fn run_job<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    job: MoveJob,
    priority: Priority,
) -> Result<(MoveJob, bool)> {
    let owner = crate::core::lease::owner(client, &uuid::Uuid::new_v4().simple().to_string());
    let lease = format!("move:{mailbox_id}:{}", job.id);
    if !crate::core::lease::acquire(client, &lease, &owner, LEASE_MS).await? {
        return Ok((job, false));
    }
    let result = work(client, api, mailbox_id, &job, priority, &lease, &owner).await;
    crate::core::lease::release(client, &lease, &owner).await;
    match result {
        Ok(j) => Ok((j, true)),
        Err(e) => {
            let (m, id, msg, now) = (
                mailbox_id.to_owned(),
                job.id.clone(),
                e.message().to_owned(),
                client.now_ms(),
            );
            // Stays `running`: the next call (or the scheduler) resumes it.
            let _ = blocking(client, move |c| {
                c.store()
                    .update_move_job(&m, &id, 0, None, None, Some(&msg), now)
            })
            .await;
            Err(e)
        }
    }
}

async fn work<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    job: &MoveJob,
    priority: Priority,
    lease: &str,
    owner: &str,
) -> Result<MoveJob> {
    let list_url = format!(
        "/mailFolders/{}/messages?$select=id&$top={LIST_PAGE}",
        path_segment(&job.from_id)
    );
    let mut current = job.clone();
    let mut stalled = 0;
    loop {
        let page = api::get_json(api, &list_url, priority, &[]).await?;
        let ids: Vec<String> = page
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        if ids.is_empty() {
            break;
        }
        let mut moved_this_step = 0;
        for chunk in ids.chunks(BATCH) {
            let moved = move_chunk(api, chunk, &job.to_id, priority).await?;
            moved_this_step += moved;
            let (m, id, now) = (mailbox_id.to_owned(), job.id.clone(), client.now_ms());
            let (l, o) = (lease.to_owned(), owner.to_owned());
            current = blocking(client, move |c| {
                c.store().try_lease(&l, &o, now, LEASE_MS)?;
                c.store()
                    .update_move_job(&m, &id, moved as i64, None, None, None, now)
            })
            .await?;
        }
        if moved_this_step == 0 {
            stalled += 1;
            if stalled >= 3 {
                return Err(Error::Remote(crate::error::Fault::new(
                    "move_stalled",
                    format!(
                        "messages in '{}' could not be moved to '{}'",
                        job.from_name, job.to_name
                    ),
                )));
            }
            tokio::time::sleep(Duration::from_millis(500 * stalled)).await;
        } else {
            stalled = 0;
        }
    }
    let (m, id, now) = (mailbox_id.to_owned(), job.id.clone(), client.now_ms());
    let done = blocking(client, move |c| {
        let j = c
            .store()
            .update_move_job(&m, &id, 0, None, Some("done"), None, now)?;
        // Seed point 9: the cache is cleared afterwards, so the next read resyncs.
        c.store().clear_cache(&m)?;
        Ok(j)
    })
    .await?;
    let _ = current;
    client.publish(
        "move_completed",
        Some(mailbox_id),
        Some(format!("move_completed:{mailbox_id}:{}", done.id)),
        json!({"mailbox": mailbox_id, "job": done}),
    )?;
    Ok(done)
}

/// Moves up to 20 messages in one `$batch` (or one by one when `$batch` is refused).
/// Returns how many moved now; throttled items are retried after a pause, items already
/// gone (404) are skipped.
async fn move_chunk<A: MailApi>(
    api: &A,
    ids: &[String],
    dest: &str,
    priority: Priority,
) -> Result<usize> {
    let mut todo: Vec<String> = ids.to_vec();
    let mut moved = 0;
    let body = move_body(dest)?;
    for attempt in 0..5u32 {
        if todo.is_empty() {
            break;
        }
        let items: Vec<BatchItem> = todo
            .iter()
            .enumerate()
            .map(|(i, id)| BatchItem {
                id: i.to_string(),
                method: "POST",
                url: format!("/messages/{}/move", path_segment(id)),
                body: Some(body.clone()),
            })
            .collect();
        let mut retry = Vec::new();
        match api::batch(api, &items, priority).await {
            Ok(answers) => {
                for (k, (status, body)) in answers {
                    let idx: usize = k.parse().unwrap_or(usize::MAX);
                    match status {
                        200..=299 => moved += 1,
                        404 => {}
                        429 | 503 | 504 => {
                            if let Some(id) = todo.get(idx) {
                                retry.push(id.clone())
                            }
                        }
                        _ => {
                            return Err(Error::Remote(crate::error::Fault::new(
                                "move_failed",
                                format!("moving a message failed with {status}: {body}"),
                            ))
                            .with_detail("http_status", status))
                        }
                    }
                }
            }
            Err(e) if api::is_transient(&e) => {
                retry = todo.clone();
            }
            Err(e) => {
                tracing::debug!("$batch refused ({e}); moving one by one");
                let body = &body;
                let calls = todo.iter().map(|id| async move {
                    api::send_json(
                        api,
                        reqwest::Method::POST,
                        &format!("/messages/{}/move", path_segment(id)),
                        Some(body.clone()),
                        priority,
                    )
                    .await
                });
                for r in futures_util::future::join_all(calls).await {
                    match r {
                        Ok(_) => moved += 1,
                        Err(e) if e.status() == crate::error::status::NOT_FOUND => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        todo = retry;
        if !todo.is_empty() {
            tokio::time::sleep(Duration::from_millis(250 * (1 << attempt))).await;
        }
    }
    Ok(moved)
}

/// The body of a move to `dest`.
fn move_body(dest: &str) -> Result<Value> {
    crate::graph::wire::to_body(&crate::graph::wire::MoveRequest {
        destination_id: dest.to_owned(),
    })
}
