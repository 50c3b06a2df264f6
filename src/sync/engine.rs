//! The delta engine: folder tree rounds, message rounds per folder, progress events.

use super::api::{self, MailApi};
use super::model::{self, MESSAGE_SELECT, PAGE_SIZE, ROLES};
use crate::core::lease;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::graph::{Priority, Request};
use crate::store::cache::{DeltaLink, FolderPage, FolderRow, IdleRound, PageOutcome};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Folders synced at once per mailbox (the Graph client allows four requests in flight).
pub const PARALLEL_FOLDERS: usize = 4;
/// How long a folder's sync lease lasts without renewal.
const LEASE_MS: i64 = 120_000;
/// Renew the lease after this much time.
const LEASE_RENEW: Duration = Duration::from_secs(30);
/// Pages of one folder fetched ahead of storing: the next page is asked for as soon as a
/// page's link is known, and at most this many of the folder's pages wait to be stored.
const PAGES_AHEAD: usize = 3;

/// The first request of a folder-tree round (hidden folders included; reads filter them).
const FOLDER_DELTA: &str = "/mailFolders/delta?includeHiddenFolders=true";
/// How long an explicit sync waits for another process's sync of the same folder.
const LEASE_WAIT: Duration = Duration::from_secs(60);

fn max_page_header(client: &Core) -> String {
    let n = client.config().sync.page_size.clamp(1, PAGE_SIZE);
    format!("odata.maxpagesize={n}")
}

/// Runs a store operation off the async worker threads (see [`Core::blocking`]).
pub(crate) async fn blocking<T: Send + 'static>(
    client: &Core,
    f: impl FnOnce(&Core) -> Result<T> + Send + 'static,
) -> Result<T> {
    client.blocking(f).await
}

/// What to sync and how.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub priority: Priority,
    /// Folder ids; `None` = every visible folder.
    pub folders: Option<Vec<String>>,
    /// Wait for another task's lease on a folder (explicit syncs) instead of skipping it.
    pub wait_for_lease: bool,
    /// Publish `sync_completed` even when nothing changed.
    pub always_report: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            priority: Priority::Background,
            folders: None,
            wait_for_lease: true,
            always_report: true,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FolderReport {
    pub folder_id: String,
    pub display_name: String,
    pub well_known: Option<String>,
    /// `ok`, `busy` (another process was syncing it) or `failed`.
    pub status: String,
    pub upserted: usize,
    pub removed: usize,
    /// Left-overs removed at the end of a full round.
    pub swept: usize,
    pub pages: usize,
    /// True when the round started from scratch (first sync, cache clear, expired token).
    pub full: bool,
    /// True when an expired delta token (410) forced a full round.
    pub recovered_expired_token: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(skip)]
    pub cause: Option<Error>,
    /// The sync this folder round belongs to (`sync_id` of its events).
    #[serde(skip)]
    pub run: String,
}

impl FolderReport {
    /// A report of a round that has not done anything yet.
    fn new(folder: &FolderRow, run: &str) -> FolderReport {
        FolderReport {
            folder_id: folder.id.clone(),
            display_name: folder.display_name.clone(),
            well_known: folder.well_known.clone(),
            status: "ok".into(),
            upserted: 0,
            removed: 0,
            swept: 0,
            pages: 0,
            full: false,
            recovered_expired_token: false,
            error: None,
            cause: None,
            run: run.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub run: String,
    /// The same id as `run`: the `sync_id` of this sync's events.
    pub sync_id: String,
    /// `ok`, `partial` (some folders failed) or `failed`.
    pub status: String,
    pub folders: Vec<FolderReport>,
    pub upserted: usize,
    pub removed: usize,
    pub duration_ms: u64,
}

impl crate::telemetry::log::RoundSummary for SyncReport {
    fn status(&self) -> &str {
        &self.status
    }
    fn messages(&self) -> u64 {
        (self.upserted + self.removed) as u64
    }
    fn folders(&self) -> usize {
        self.folders.len()
    }
    fn sync_id(&self) -> &str {
        &self.sync_id
    }
}

// ---- folders ----------------------------------------------------------------------------

/// Brings the cached folder tree up to date with one `mailFolders/delta` round (a full round
/// when there is no delta link yet, or it expired), resolving roles on full rounds.
pub async fn refresh_folders<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    priority: Priority,
) -> Result<Vec<FolderRow>> {
    let (folders, unchanged) = refresh_folders_deferred(client, api, mailbox_id, priority).await?;
    if let Some(round) = unchanged {
        record_idle(client, mailbox_id, vec![round]).await;
    }
    Ok(folders)
}

/// [`refresh_folders`], except that a round that changed nothing is not stored but handed
/// back, for the caller to store with the folders' idle rounds in one transaction.
async fn refresh_folders_deferred<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    priority: Priority,
) -> Result<(Vec<FolderRow>, Option<IdleRound>)> {
    let owner = lease::owner(client, &uuid::Uuid::new_v4().simple().to_string());
    let lease = format!("sync:{mailbox_id}:folders");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if lease::acquire(client, &lease, &owner, LEASE_MS).await? {
            break;
        }
        if Instant::now() >= deadline {
            // Another process keeps refreshing; its result is in the store.
            let m = mailbox_id.to_owned();
            return Ok((
                blocking(client, move |c| c.store().cached_folders(&m)).await?,
                None,
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let result = folder_round(client, api, mailbox_id, priority).await;
    lease::release(client, &lease, &owner).await;
    if let Err(e) = &result {
        let (m, kind, msg, now) = (
            mailbox_id.to_owned(),
            e.kind().to_owned(),
            e.message().to_owned(),
            client.now_ms(),
        );
        let _ = blocking(client, move |c| {
            c.store()
                .record_sync_error(&m, FOLDERS_SCOPE, &kind, &msg, now)
        })
        .await;
    }
    result
}

/// One folder tree round. A round on a stored link that changed nothing writes nothing: it
/// returns the cached tree and the round to record (see [`refresh_folders_deferred`]).
async fn folder_round<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    priority: Priority,
) -> Result<(Vec<FolderRow>, Option<IdleRound>)> {
    let m = mailbox_id.to_owned();
    let (state, cached) = blocking(client, move |c| {
        Ok((
            c.store().sync_state(&m, FOLDERS_SCOPE)?,
            c.store().cached_folders(&m)?,
        ))
    })
    .await?;
    let start = state.and_then(|s| s.delta_link);
    let need_roles = start.is_none() || !cached.iter().any(|f| f.well_known.is_some());
    let tree = async {
        let mut full = start.is_none();
        let mut url = start.clone().unwrap_or_else(|| FOLDER_DELTA.to_owned());
        let mut acc = FolderPage::default();
        // The whole tree in one page where Graph allows (mailFolder delta takes
        // `Prefer: odata.maxpagesize`).
        let prefer = format!("odata.maxpagesize={PAGE_SIZE}");
        loop {
            let page = match api::get_json(api, &url, priority, &[("Prefer", &prefer)]).await {
                Ok(p) => p,
                Err(e) if api::is_expired_token(&e) && !full => {
                    full = true;
                    acc = FolderPage::default();
                    url = FOLDER_DELTA.to_owned();
                    continue;
                }
                Err(e) => return Err(e),
            };
            match model::folder_page(&page, &mut acc) {
                Some(DeltaLink::Next(n)) => url = n,
                Some(DeltaLink::Delta(d)) => return Ok((acc, d, full)),
                None => {
                    return Err(Error::Remote(crate::error::Fault::new(
                        "unexpected_response",
                        "mailFolders/delta answered without a next or delta link",
                    )))
                }
            }
        }
    };
    // Roles are looked up alongside the tree round (one more request in flight, not one
    // more round trip).
    let lookup = async {
        if need_roles {
            resolve_roles(api, priority).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (tree, roles) = tokio::join!(tree, lookup);
    let (acc, delta, full) = tree?;
    let roles = match roles? {
        Some(r) => Some(r),
        // The stored link had expired: a full round, so roles are looked up again.
        None if full => Some(resolve_roles(api, priority).await?),
        None => None,
    };
    if let (Some(probed), false, None) = (&start, full, &roles) {
        if acc.upserts.is_empty() && acc.removed.is_empty() {
            let round = IdleRound {
                folder_id: FOLDERS_SCOPE.to_owned(),
                probed: probed.clone(),
                delta_link: delta,
            };
            return Ok((cached, Some(round)));
        }
    }
    let m = mailbox_id.to_owned();
    let now = client.now_ms();
    blocking(client, move |c| {
        c.store().apply_folder_delta(&m, &acc, &delta, full, now)?;
        if let Some(mut roles) = roles {
            // Graph may name roles itself (wellKnownName); the lookups by name are the truth.
            for f in &acc.upserts {
                if let Some(wk) = &f.well_known {
                    if !roles.iter().any(|(id, _)| *id == f.id) {
                        roles.push((f.id.clone(), wk.clone()));
                    }
                }
            }
            c.store().set_folder_roles(&m, &roles)?;
        }
        Ok((c.store().cached_folders(&m)?, None))
    })
    .await
}

/// The delta state scope of the folder tree.
const FOLDERS_SCOPE: &str = "folders";

/// Stores rounds that changed nothing (their new delta links), in one transaction.
async fn record_idle(client: &Core, mailbox_id: &str, rounds: Vec<IdleRound>) {
    let (m, now) = (mailbox_id.to_owned(), client.now_ms());
    if let Err(e) = blocking(client, move |c| {
        c.store().record_idle_rounds(&m, &rounds, now)
    })
    .await
    {
        // Nothing was stored: the next round asks the same links again.
        tracing::warn!(mailbox = mailbox_id, "idle rounds not recorded: {e}");
    }
}

/// Folder id → role, by asking Graph for each well-known name (`/mailFolders/{name}`).
///
/// Plain requests, not one `$batch`: Outlook runs batch items four at a time against the
/// same per-mailbox concurrency limit, so a batch saves no time here, while the Graph
/// client's limiter can only keep single requests within four in flight.
pub async fn resolve_roles<A: MailApi>(
    api: &A,
    priority: Priority,
) -> Result<Vec<(String, String)>> {
    let lookups = ROLES.iter().map(|r| async move {
        let res = api::get_json(api, &format!("/mailFolders/{r}?$select=id"), priority, &[]).await;
        (*r, res)
    });
    let mut roles = Vec::new();
    for (role, res) in futures_util::future::join_all(lookups).await {
        match res {
            Ok(v) => {
                if let Some(id) = v.get("id").and_then(Value::as_str) {
                    roles.push((id.to_owned(), role.to_owned()));
                }
            }
            // This mailbox has no such folder (e.g. no archive).
            Err(e) if e.status() == crate::error::status::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    Ok(roles)
}

// ---- messages ---------------------------------------------------------------------------

/// Brings the given folders' messages up to date (see [`SyncOptions`]).
/// `tree`: an unchanged folder tree round still to be stored, taken by the idle folders'
/// transaction when there is one.
pub async fn sync_folders<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    folders: Vec<FolderRow>,
    opts: &SyncOptions,
    run: &str,
    tree: &mut Option<IdleRound>,
) -> Vec<FolderReport> {
    let mut folders = folders;
    // Largest first: the long chains of pages start early and overlap with the short ones.
    folders.sort_by_key(|f| std::cmp::Reverse(f.total_count));
    let (mut reports, rest) = probe_idle(client, api, mailbox_id, &folders, run, tree).await;
    let rounds: Vec<FolderReport> = stream::iter(rest)
        .map(|(f, first): (FolderRow, Option<Prefetched>)| async move {
            sync_folder_from(client, api, mailbox_id, &f, opts, run, first).await
        })
        .buffer_unordered(PARALLEL_FOLDERS)
        .collect()
        .await;
    reports.extend(rounds);
    // One more attempt for folders that failed on throttling or the network: the next try
    // resumes at the last stored page.
    for r in reports.iter_mut().filter(|r| r.status == "failed") {
        if !r.cause.as_ref().is_some_and(api::is_transient) {
            continue;
        }
        if let Some(f) = folders.iter().find(|f| f.id == r.folder_id) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let again = sync_folder(client, api, mailbox_id, f, opts, run).await;
            let (u, d) = (r.upserted, r.removed);
            *r = again;
            r.upserted += u;
            r.removed += d;
        }
    }
    reports
}

/// Most requests in one `$batch` (Graph's limit).
const BATCH_MAX: usize = 20;

#[derive(Serialize)]
struct BatchRequest<'a> {
    requests: Vec<BatchGet<'a>>,
}

#[derive(Serialize)]
struct BatchGet<'a> {
    id: String,
    method: &'static str,
    url: &'a str,
    headers: BatchHeaders<'a>,
}

#[derive(Serialize)]
struct BatchHeaders<'a> {
    #[serde(rename = "Prefer")]
    prefer: &'a str,
}

#[derive(serde::Deserialize)]
struct BatchResponse {
    #[serde(default)]
    responses: Vec<BatchAnswer>,
}

#[derive(serde::Deserialize)]
struct BatchAnswer {
    id: String,
    status: u16,
    #[serde(default)]
    body: Option<Value>,
}

/// Folders whose last round finished are asked for their changes all at once: their stored
/// delta links go out as `$batch` items (up to 20 per batch; Graph counts each item against
/// the mailbox's limits, the limiter holds one slot per item up to four). A folder that
/// answers "nothing changed" is done: its new delta link and success time are stored for all
/// such folders in one transaction. Folders with changes (their first page is kept and
/// applied under the folder's lease), expired tokens, throttled items and folders without a
/// finished round go on to a round of their own.
async fn probe_idle<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    folders: &[FolderRow],
    run: &str,
    tree: &mut Option<IdleRound>,
) -> (Vec<FolderReport>, Vec<(FolderRow, Option<Prefetched>)>) {
    let m = mailbox_id.to_owned();
    let states = blocking(client, move |c| c.store().sync_states(&m))
        .await
        .unwrap_or_default();
    let mut rest: Vec<(FolderRow, Option<Prefetched>)> = Vec::new();
    let mut probe: Vec<(FolderRow, String, String)> = Vec::new();
    for f in folders {
        let link = states
            .iter()
            .find(|s| s.scope == f.id && s.next_link.is_none() && !s.round_full)
            .and_then(|s| s.delta_link.clone());
        match link.and_then(|l| api.batch_path(&l).map(|p| (l, p))) {
            Some((link, path)) => probe.push((f.clone(), link, path)),
            None => rest.push((f.clone(), None)),
        }
    }
    if probe.len() < 2 {
        rest.extend(probe.into_iter().map(|(f, _, _)| (f, None)));
        return (Vec::new(), rest);
    }
    let prefer = format!("IdType=\"ImmutableId\", {}", max_page_header(client));
    let mut idle: Vec<(FolderRow, IdleRound)> = Vec::new();
    for chunk in probe.chunks(BATCH_MAX) {
        let body = BatchRequest {
            requests: chunk
                .iter()
                .enumerate()
                .map(|(i, (_, _, path))| BatchGet {
                    id: i.to_string(),
                    method: "GET",
                    url: path,
                    headers: BatchHeaders { prefer: &prefer },
                })
                .collect(),
        };
        let answers = match serde_json::to_value(&body) {
            Ok(v) => api
                .call(
                    Request::new(reqwest::Method::POST, "//$batch")
                        .json(v)
                        .priority(Priority::Background)
                        .batch_of(chunk.len()),
                )
                .await
                .and_then(|r| r.json::<BatchResponse>()),
            Err(e) => Err(Error::from(e)),
        };
        let mut answers = match answers {
            Ok(a) => a.responses,
            Err(e) => {
                tracing::debug!(
                    mailbox = mailbox_id,
                    "idle probe failed, folder by folder: {e}"
                );
                Vec::new()
            }
        };
        for (i, (folder, link, _)) in chunk.iter().enumerate() {
            let answer = answers
                .iter()
                .position(|a| a.id == i.to_string())
                .map(|k| answers.swap_remove(k));
            match answer {
                Some(BatchAnswer {
                    status: 200,
                    body: Some(body),
                    ..
                }) => {
                    let empty = body
                        .get("value")
                        .and_then(Value::as_array)
                        .is_some_and(|v| v.is_empty());
                    let delta = body.get("@odata.deltaLink").and_then(Value::as_str);
                    match delta {
                        Some(d) if empty => idle.push((
                            folder.clone(),
                            IdleRound {
                                folder_id: folder.id.clone(),
                                probed: link.clone(),
                                delta_link: d.to_owned(),
                            },
                        )),
                        _ => {
                            let first = serde_json::to_vec(&body).ok().map(|b| Prefetched {
                                fetched_from: link.clone(),
                                body: b.into(),
                            });
                            rest.push((folder.clone(), first));
                        }
                    }
                }
                _ => rest.push((folder.clone(), None)),
            }
        }
    }
    if idle.is_empty() {
        return (Vec::new(), rest);
    }
    let rounds: Vec<IdleRound> = tree
        .take()
        .into_iter()
        .chain(idle.iter().map(|(_, r)| r.clone()))
        .collect();
    record_idle(client, mailbox_id, rounds).await;
    let reports = idle
        .into_iter()
        .map(|(f, _)| FolderReport {
            pages: 1,
            ..FolderReport::new(&f, run)
        })
        .collect();
    (reports, rest)
}

fn initial_url(folder_id: &str) -> String {
    format!(
        "/mailFolders/{}/messages/delta?$select={MESSAGE_SELECT}",
        model::path_segment(folder_id)
    )
}

fn error_value(e: &Error) -> Value {
    let mut doc = e.to_document();
    doc["transient"] = Value::Bool(api::is_transient(e));
    doc
}

/// A folder's first delta page, already fetched (by the idle probe's `$batch`).
#[derive(Debug, Clone)]
pub struct Prefetched {
    /// The stored delta link the page answers.
    pub fetched_from: String,
    pub body: bytes::Bytes,
}

/// One folder's delta round, under the folder's lease.
pub async fn sync_folder<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    folder: &FolderRow,
    opts: &SyncOptions,
    run: &str,
) -> FolderReport {
    sync_folder_from(client, api, mailbox_id, folder, opts, run, None).await
}

/// [`sync_folder`] starting with a page fetched already.
async fn sync_folder_from<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    folder: &FolderRow,
    opts: &SyncOptions,
    run: &str,
    first: Option<Prefetched>,
) -> FolderReport {
    let mut report = FolderReport::new(folder, run);
    let owner = lease::owner(client, run);
    let lease = format!("sync:{mailbox_id}:{}", folder.id);
    let deadline = Instant::now() + LEASE_WAIT;
    loop {
        match lease::acquire(client, &lease, &owner, LEASE_MS).await {
            Ok(true) => break,
            Ok(false) if opts.wait_for_lease && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(false) => {
                report.status = "busy".into();
                return report;
            }
            Err(e) => {
                report.status = "failed".into();
                report.error = Some(error_value(&e));
                report.cause = Some(e);
                return report;
            }
        }
    }
    let result = folder_round_messages(
        client,
        api,
        mailbox_id,
        folder,
        opts,
        &owner,
        &mut report,
        first,
    )
    .await;
    lease::release(client, &lease, &owner).await;
    if let Err(e) = result {
        tracing::warn!(mailbox = mailbox_id, folder = %folder.display_name, "sync failed: {e}");
        let (m, f, kind, msg, now) = (
            mailbox_id.to_owned(),
            folder.id.clone(),
            e.kind().to_owned(),
            e.message().to_owned(),
            client.now_ms(),
        );
        let _ = blocking(client, move |c| {
            c.store().record_sync_error(&m, &f, &kind, &msg, now)
        })
        .await;
        report.status = "failed".into();
        report.error = Some(error_value(&e));
        report.cause = Some(e);
    }
    report
}

#[allow(clippy::too_many_arguments)]
async fn folder_round_messages<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    folder: &FolderRow,
    opts: &SyncOptions,
    owner: &str,
    report: &mut FolderReport,
    first: Option<Prefetched>,
) -> Result<()> {
    let (m, f) = (mailbox_id.to_owned(), folder.id.clone());
    let state = blocking(client, move |c| c.store().sync_state(&m, &f)).await?;
    // `from`: the stored link the next page is fetched from (`None`: a new full round).
    let (mut url, mut from) = match state.as_ref().and_then(|s| s.resume_link()) {
        Some(link) => {
            report.full = state.as_ref().is_some_and(|s| s.round_full);
            (link.to_owned(), Some(link.to_owned()))
        }
        None => {
            let (m, f) = (mailbox_id.to_owned(), folder.id.clone());
            blocking(client, move |c| c.store().begin_full_round(&m, &f)).await?;
            report.full = true;
            (initial_url(&folder.id), None)
        }
    };
    // A page the idle probe already fetched counts only if it answers the stored link.
    let mut prefetched = first.filter(|p| from.as_deref() == Some(p.fetched_from.as_str()));
    let prefer = max_page_header(client);
    let mut pending: VecDeque<(tokio::task::JoinHandle<Result<PageOutcome>>, bool)> =
        VecDeque::new();
    let mut renewed = Instant::now();
    loop {
        let asked = Instant::now();
        let fetched = match prefetched.take() {
            Some(p) => Ok(p.body),
            None => api
                .call(
                    Request::get(url.as_str())
                        .priority(opts.priority)
                        // The folder's messages not fetched yet (by its count): the longest
                        // chain of pages is the sync's critical path and goes first.
                        .rank(remaining(folder, report.pages))
                        .header("Prefer", prefer.as_str()),
                )
                .await
                .map(|r| r.body),
        };
        let body = match fetched {
            Ok(b) => b,
            Err(e) if api::is_expired_token(&e) && !report.recovered_expired_token => {
                // The delta (or skip) token expired: start this folder over. The full round
                // re-stores every message under the same id and sweeps the rest at its end.
                finish_all(client, mailbox_id, folder, report, &mut pending).await?;
                tracing::info!(mailbox = mailbox_id, folder = %folder.display_name, "delta token expired; full resync");
                let (m, f) = (mailbox_id.to_owned(), folder.id.clone());
                blocking(client, move |c| c.store().begin_full_round(&m, &f)).await?;
                report.recovered_expired_token = true;
                report.full = true;
                url = initial_url(&folder.id);
                from = None;
                continue;
            }
            Err(e) => {
                finish_all(client, mailbox_id, folder, report, &mut pending).await?;
                return Err(e);
            }
        };
        tracing::debug!(
            folder = %folder.display_name,
            bytes = body.len(),
            fetch_ms = asked.elapsed().as_millis() as u64,
            "sync: page fetched"
        );
        // Only the links are read here (a quick scan): the next page is asked for at once,
        // while this one is parsed and stored on a blocking thread.
        let Some(link) = model::quick_link(&body) else {
            finish_all(client, mailbox_id, folder, report, &mut pending).await?;
            return Err(Error::Remote(crate::error::Fault::new(
                "unexpected_response",
                "messages/delta answered without a next or delta link",
            )));
        };
        report.pages += 1;
        let next = match &link {
            DeltaLink::Next(n) => Some(n.clone()),
            DeltaLink::Delta(_) => None,
        };
        pending.push_back((
            store_page(client, mailbox_id, folder, from.take(), body, link),
            next.is_some(),
        ));
        // Bounded memory: at most PAGES_AHEAD pages of this folder wait to be stored.
        while pending.len() >= PAGES_AHEAD || pending.front().is_some_and(|p| p.0.is_finished()) {
            let (h, more) = pending.pop_front().expect("not empty");
            finish_page(client, mailbox_id, folder, report, h, more).await?;
        }
        if renewed.elapsed() > LEASE_RENEW {
            let (l, o, now) = (
                format!("sync:{mailbox_id}:{}", folder.id),
                owner.to_owned(),
                client.now_ms(),
            );
            blocking(client, move |c| c.store().try_lease(&l, &o, now, LEASE_MS)).await?;
            renewed = Instant::now();
        }
        match next {
            Some(n) => {
                from = Some(n.clone());
                url = n;
            }
            None => break,
        }
    }
    finish_all(client, mailbox_id, folder, report, &mut pending).await
}

/// A folder's messages still to fetch after `pages` pages of this round, by its count.
fn remaining(folder: &FolderRow, pages: usize) -> u64 {
    (folder.total_count.max(0) as u64).saturating_sub(pages as u64 * PAGE_SIZE as u64)
}

/// Parses a fetched page on a blocking thread and hands it to the client's page writer; the
/// task ends when the page is stored.
fn store_page(
    client: &Core,
    mailbox_id: &str,
    folder: &FolderRow,
    fetched_from: Option<String>,
    body: bytes::Bytes,
    link: DeltaLink,
) -> tokio::task::JoinHandle<Result<PageOutcome>> {
    let (m, f, now) = (mailbox_id.to_owned(), folder.id.clone(), client.now_ms());
    // The place in the writer's queue is taken now, in fetch order.
    let (place, stored) = crate::core::pages::PageWriter::reserve(client);
    tokio::spawn(async move {
        let parsed = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let page = model::message_page_bytes(&body, &f);
            drop(body);
            if let Ok(p) = &page {
                tracing::debug!(
                    items = p.upserts.len() + p.removed.len(),
                    parse_ms = t.elapsed().as_millis() as u64,
                    "sync: page parsed"
                );
            }
            place.fill(page.map(|page| crate::core::pages::PageJob {
                mailbox_id: m,
                folder_id: f,
                fetched_from,
                page,
                link,
                now,
            }));
        })
        .await;
        if let Err(e) = parsed {
            return Err(Error::internal(format!("store task failed: {e}")));
        }
        crate::core::pages::outcome(stored).await
    })
}

/// Waits for every page still being stored, in order.
async fn finish_all(
    client: &Core,
    mailbox_id: &str,
    folder: &FolderRow,
    report: &mut FolderReport,
    pending: &mut VecDeque<(tokio::task::JoinHandle<Result<PageOutcome>>, bool)>,
) -> Result<()> {
    let mut first_err = None;
    while let Some((h, more)) = pending.pop_front() {
        if let Err(e) = finish_page(client, mailbox_id, folder, report, h, more).await {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

async fn finish_page(
    client: &Core,
    mailbox_id: &str,
    folder: &FolderRow,
    report: &mut FolderReport,
    h: tokio::task::JoinHandle<Result<PageOutcome>>,
    more: bool,
) -> Result<()> {
    let out = h
        .await
        .map_err(|e| Error::internal(format!("store task failed: {e}")))??;
    report.upserted += out.upserted;
    report.removed += out.removed;
    report.swept += out.swept;
    if more {
        // A long round: tell the host how far it got. One event per stored page.
        let payload = json!({
            "mailbox": mailbox_id,
            "sync_id": report.run,
            "folder": folder.id,
            "folder_name": folder.display_name,
            "well_known": folder.well_known,
            "done": out.round_items,
            "total": folder.total_count,
        });
        let id = format!(
            "sync_progress:{mailbox_id}:{}:{}",
            folder.id, out.round_items
        );
        let (c, m) = (client.clone(), mailbox_id.to_owned());
        let _ = tokio::task::spawn_blocking(move || {
            c.publish("sync_progress", Some(&m), Some(id), payload)
        })
        .await;
    }
    Ok(())
}

/// A whole mailbox: folder tree, then messages of the chosen folders, then counts; publishes
/// `sync_completed` or `sync_failed`.
pub async fn sync_mailbox<A: MailApi>(
    client: &Core,
    api: &A,
    mailbox_id: &str,
    opts: SyncOptions,
) -> Result<SyncReport> {
    let started = Instant::now();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (folders, mut tree) =
        match refresh_folders_deferred(client, api, mailbox_id, opts.priority).await {
            Ok(f) => f,
            Err(e) => {
                publish_failed(client, mailbox_id, &run, &e, &opts);
                return Err(e);
            }
        };
    let targets: Vec<FolderRow> = match &opts.folders {
        Some(ids) => folders
            .iter()
            .filter(|f| ids.contains(&f.id))
            .cloned()
            .collect(),
        None => folders
            .iter()
            .filter(|f| !f.hidden && f.well_known.as_deref() != Some("msgfolderroot"))
            .cloned()
            .collect(),
    };
    let reports = sync_folders(client, api, mailbox_id, targets, &opts, &run, &mut tree).await;
    if let Some(round) = tree {
        record_idle(client, mailbox_id, vec![round]).await;
    }
    let upserted: usize = reports.iter().map(|r| r.upserted).sum();
    let removed: usize = reports.iter().map(|r| r.removed + r.swept).sum();
    let failed: Vec<&FolderReport> = reports.iter().filter(|r| r.status == "failed").collect();
    if upserted + removed > 0 {
        // Counts moved with the messages: one incremental folder round picks them up.
        if let Err(e) = refresh_folders(client, api, mailbox_id, opts.priority).await {
            tracing::warn!(mailbox = mailbox_id, "folder counts not refreshed: {e}");
        }
    }
    let status = if failed.is_empty() {
        "ok"
    } else if failed.len() == reports.len() {
        "failed"
    } else {
        "partial"
    };
    let report = SyncReport {
        run: run.clone(),
        sync_id: run.clone(),
        status: status.into(),
        upserted,
        removed,
        duration_ms: started.elapsed().as_millis() as u64,
        folders: reports.clone(),
    };
    if let Some(first) = failed.first() {
        let reason = first.error.clone().unwrap_or(Value::Null);
        let payload = json!({
            "mailbox": mailbox_id,
            "run": run,
            "sync_id": run,
            "reason": reason,
            "folders": failed.iter().map(|r| json!({"folder": r.folder_id, "folder_name": r.display_name, "error": r.error})).collect::<Vec<_>>(),
        });
        let kind = first
            .cause
            .as_ref()
            .map(|e| e.kind().to_owned())
            .unwrap_or_default();
        let _ = client.publish(
            "sync_failed",
            Some(mailbox_id),
            Some(failure_event_id(client, mailbox_id, &run, &kind, &opts)),
            payload,
        );
        if status == "failed" {
            let e = reason_error(first);
            return Err(e);
        }
    } else if opts.always_report || upserted + removed > 0 {
        let _ = client.publish(
            "sync_completed",
            Some(mailbox_id),
            Some(format!("sync_completed:{mailbox_id}:{run}")),
            json!({
                "mailbox": mailbox_id,
                "run": run,
                "sync_id": run,
                "folders": reports.len(),
                "upserted": upserted,
                "removed": removed,
                "duration_ms": report.duration_ms,
            }),
        );
    }
    Ok(report)
}

/// The id of a `sync_failed` event: one per explicit sync; for the scheduler's runs one per
/// mailbox, error kind and hour, so a mailbox that keeps failing does not flood the queue.
fn failure_event_id(
    client: &Core,
    mailbox_id: &str,
    run: &str,
    kind: &str,
    opts: &SyncOptions,
) -> String {
    if opts.always_report {
        format!("sync_failed:{mailbox_id}:{run}")
    } else {
        let hour = client.now_ms() / 3_600_000;
        format!("sync_failed:{mailbox_id}:{kind}:{hour}")
    }
}

fn publish_failed(client: &Core, mailbox_id: &str, run: &str, e: &Error, opts: &SyncOptions) {
    let _ = client.publish(
        "sync_failed",
        Some(mailbox_id),
        Some(failure_event_id(client, mailbox_id, run, e.kind(), opts)),
        json!({"mailbox": mailbox_id, "run": run, "sync_id": run, "folder": "folders", "reason": e.to_document()}),
    );
}

/// The error a failed folder report carries (all folders failed: the call fails with it).
fn reason_error(r: &FolderReport) -> Error {
    r.cause
        .clone()
        .unwrap_or_else(|| Error::internal("sync failed without a reason"))
        .with_detail("folder", r.folder_id.as_str())
}
