//! Delta queries: `mailFolders/delta` and per-folder `messages/delta`.
//!
//! A round covers the changes with sequence numbers in `(lo, hi]` (`hi` fixed when the round
//! starts); pages continue after the last sequence number returned. Changes made while a
//! round is being paged fall into the next round. Tokens are opaque (base64url JSON) and carry
//! the query options, so the links must not be rebuilt by clients.

use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::json::{
    check_folder_select, check_message_select, collection_bytes, folder_json, JsonItem, MessageView,
};
use super::{json_response, select, Ctx, GErr, GResult};
use crate::state::{b64url, Mailbox, ROOT};

#[derive(Serialize, Deserialize, Clone)]
struct Token {
    /// Folder key, or u32::MAX for the folder hierarchy.
    f: u32,
    lo: u64,
    /// 0 in a delta token: the round ends at the mailbox's sequence when it starts.
    hi: u64,
    after: u64,
    e: u32,
    /// When the round (or the state) was created, for expiry.
    t: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sel: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ps: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ct: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hid: Option<bool>,
}

fn encode(t: &Token) -> String {
    b64url(serde_json::to_string(t).unwrap().as_bytes())
}

fn gone(generation: &str) -> GErr {
    GErr::new(
        StatusCode::GONE,
        "SyncStateNotFound",
        format!("The sync state generation is not found; generation={generation}"),
    )
}

fn decode(s: &str) -> Result<Token, GErr> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| gone("unknown"))
}

/// The token from `$skiptoken`/`$deltatoken`, checked against the mailbox, or a new round.
fn state(ctx: &Ctx, mb: &Mailbox, folder: u32) -> Result<(Token, bool), GErr> {
    let now = ctx.now();
    let life = ctx.sim.limits().delta_token_lifetime_secs;
    let tok = if let Some(s) = ctx.q("$skiptoken") {
        Some((decode(s)?, false))
    } else if let Some(d) = ctx.q("$deltatoken") {
        Some((decode(d)?, true))
    } else {
        None
    };
    match tok {
        Some((mut t, is_delta)) => {
            if t.f != folder || t.e != mb.sync_epoch || (life > 0 && t.t + life < now) {
                return Err(gone(&format!("{}.{}", t.e, t.lo)));
            }
            if is_delta {
                t.hi = mb.seq;
                t.after = t.lo;
                t.t = now;
            }
            Ok((t, is_delta))
        }
        None => {
            if folder != u32::MAX {
                super::filter::check_delta_query(
                    ctx.q("$filter"),
                    ctx.q("$orderby"),
                    ctx.q("$search").is_some(),
                )?;
            }
            let sel = select(ctx);
            let ps = ctx.q("$top").and_then(|t| t.parse().ok());
            let flt = ctx.q("$filter").map(|s| s.to_string());
            Ok((
                Token {
                    f: folder,
                    lo: 0,
                    hi: mb.seq,
                    after: 0,
                    e: mb.sync_epoch,
                    t: now,
                    sel,
                    ps,
                    ct: ctx.q("changeType").map(|s| s.to_ascii_lowercase()),
                    flt,
                    hid: ctx
                        .q("includeHiddenFolders")
                        .map(|v| v.eq_ignore_ascii_case("true")),
                },
                false,
            ))
        }
    }
}

fn page_size(ctx: &Ctx, t: &Token) -> usize {
    let l = ctx.sim.limits();
    ctx.max_page
        .or(t.ps)
        .unwrap_or(l.delta_page_size)
        .clamp(1, l.max_top)
}

enum Item {
    Msg(u64),
    Gone(usize),
}

pub fn messages(ctx: &Ctx, folder: u32, folder_ref: &str) -> GResult {
    let w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let (t, _) = state(ctx, mb, folder)?;
    check_message_select(&t.sel)?;
    let flt = t.flt.as_deref().map(super::filter::parse).transpose()?;
    let ps = page_size(ctx, &t);
    let base = ctx.base();
    let bytes = message_page(
        mb,
        folder,
        &t,
        flt.as_ref(),
        ps,
        &PageOpts {
            base: &base,
            mb_path: &ctx.mb_path,
            folder_ref,
            immutable: ctx.immutable,
            body_as_text: ctx.body_as_text,
        },
    );
    drop(w);
    Ok(super::bytes_response(StatusCode::OK, bytes))
}

/// What a `messages/delta` page depends on besides the mailbox and the token.
struct PageOpts<'a> {
    base: &'a str,
    mb_path: &'a str,
    folder_ref: &'a str,
    immutable: bool,
    body_as_text: Option<bool>,
}

/// One `messages/delta` page of `folder` for the round in `t`: the items, then the
/// `@odata.nextLink` (more to come) or the `@odata.deltaLink`.
fn message_page(
    mb: &Mailbox,
    folder: u32,
    t: &Token,
    flt: Option<&super::filter::Expr>,
    ps: usize,
    o: &PageOpts,
) -> Vec<u8> {
    let ct = t.ct.clone();
    let want = |kind: &str| ct.as_deref().map(|c| c == kind).unwrap_or(true);
    // Messages changed in (after, hi] that are in the folder now.
    let mut msgs = mb
        .by_folder_seq
        .range(if t.hi > t.after {
            (folder, t.after + 1)..=(folder, t.hi)
        } else {
            // BTreeMap::range panics when start > end.
            (u32::MAX, u64::MAX)..=(u32::MAX, u64::MAX)
        })
        .filter_map(|(&(_, seq), k)| {
            let m = &mb.messages[k];
            debug_assert_eq!(m.folder, folder);
            let created = m.arrived_seq > t.lo;
            if (created && !want("created")) || (!created && !want("updated")) {
                return None;
            }
            if let Some(f) = flt {
                if !super::filter::eval(mb, m, f).unwrap_or(false) {
                    return None;
                }
            }
            Some((seq, Item::Msg(*k)))
        });
    // Removals in (max(lo, after), hi] (none in the first round).
    let ts = &mb.tombstones;
    let start = ts.partition_point(|x| x.seq <= t.after.max(t.lo));
    let mut gones = ts[start..]
        .iter()
        .enumerate()
        .take_while(|(_, x)| x.seq <= t.hi)
        .filter(|(_, x)| t.lo > 0 && x.folder == folder && want("deleted"))
        .map(|(i, x)| (x.seq, Item::Gone(start + i)));
    let mut out: Vec<(u64, Item)> = vec![];
    let mut a = msgs.next();
    let mut b = gones.next();
    let mut more = false;
    loop {
        let pick_a = match (&a, &b) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(x), Some(y)) => x.0 < y.0,
        };
        if out.len() == ps {
            more = true;
            break;
        }
        if pick_a {
            out.push(a.take().unwrap());
            a = msgs.next();
        } else {
            out.push(b.take().unwrap());
            b = gones.next();
        }
    }
    let link_base = format!(
        "{}/{}/mailFolders('{}')/messages/delta",
        o.base,
        o.mb_path,
        folder_ref_for_link(mb, folder, o.folder_ref)
    );
    let link = if more {
        let mut nt = t.clone();
        nt.after = out.last().map(|x| x.0).unwrap_or(t.after);
        (
            "@odata.nextLink",
            json!(format!("{link_base}?$skiptoken={}", encode(&nt))),
        )
    } else {
        let mut nt = t.clone();
        nt.lo = t.hi;
        nt.hi = 0;
        nt.after = 0;
        (
            "@odata.deltaLink",
            json!(format!("{link_base}?$deltatoken={}", encode(&nt))),
        )
    };
    let items = out.iter().map(|(_, it)| match it {
        Item::Msg(k) => DeltaItem::Msg(MessageView {
            mb,
            m: &mb.messages[k],
            immutable: o.immutable,
            sel: t.sel.as_deref(),
            expand_attachments: false,
            odata_type: true,
            body_as_text: o.body_as_text,
        }),
        Item::Gone(i) => {
            let x = &ts[*i];
            DeltaItem::Gone(json!({
                "@odata.type": "#microsoft.graph.message",
                "id": if o.immutable { &x.immutable_id } else { &x.rest_id },
                "@removed": {"reason": "deleted"},
            }))
        }
    });
    collection_bytes(
        &format!("{}/$metadata#Collection(message)", o.base),
        items,
        &[link],
        out.len() * 1024,
    )
}

enum DeltaItem<'a> {
    Msg(MessageView<'a>),
    Gone(Value),
}

impl JsonItem for DeltaItem<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            DeltaItem::Msg(v) => v.write_json(out),
            DeltaItem::Gone(v) => serde_json::to_writer(out, v).expect("write"),
        }
    }
}

fn folder_ref_for_link(mb: &Mailbox, folder: u32, r: &str) -> String {
    if mb.folders[folder as usize].well_known.as_deref() == Some(&r.to_ascii_lowercase()) {
        r.to_string()
    } else {
        mb.folders[folder as usize].id.clone()
    }
}

pub fn folders(ctx: &Ctx) -> GResult {
    let w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let (t, _) = state(ctx, mb, u32::MAX)?;
    check_folder_select(&t.sel)?;
    let ps = page_size(ctx, &t);
    let hidden = t.hid.unwrap_or(false);
    let mut items: Vec<(u64, Value)> = mb
        .folders
        .iter()
        .filter(|f| f.key != ROOT && !f.deleted && (hidden || !f.hidden))
        .filter(|f| f.changed_seq > t.after.max(t.lo) && f.changed_seq <= t.hi)
        .map(|f| {
            let mut v = folder_json(mb, f, t.sel.as_deref());
            v["@odata.type"] = json!("#microsoft.graph.mailFolder");
            (f.changed_seq, v)
        })
        .collect();
    if t.lo > 0 {
        for (seq, id) in &mb.folder_tombstones {
            if *seq > t.after.max(t.lo) && *seq <= t.hi {
                items.push((*seq, json!({"@odata.type": "#microsoft.graph.mailFolder", "id": id, "@removed": {"reason": "deleted"}})));
            }
        }
    }
    items.sort_by_key(|x| x.0);
    let more = items.len() > ps;
    items.truncate(ps);
    let link_base = format!("{}/{}/mailFolders/delta", ctx.base(), ctx.mb_path);
    let last = items.last().map(|x| x.0);
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#Collection(mailFolder)", ctx.base()),
        "value": items.into_iter().map(|x| x.1).collect::<Vec<_>>(),
    });
    let mut nt = t.clone();
    if more {
        nt.after = last.unwrap_or(t.after);
        body["@odata.nextLink"] = json!(format!("{link_base}?$skiptoken={}", encode(&nt)));
    } else {
        nt.lo = t.hi;
        nt.hi = 0;
        nt.after = 0;
        body["@odata.deltaLink"] = json!(format!("{link_base}?$deltatoken={}", encode(&nt)));
    }
    // Serialise after releasing the world lock.
    drop(w);
    Ok(json_response(StatusCode::OK, &body))
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
