//! mailFolders: list (with paging and hidden folders), get, create, rename, delete, move,
//! childFolders.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::json::{check_folder_select, folder_json};
use super::{empty_response, json_response, next_link, paging, select, Ctx, GErr, GResult, Perm};
use crate::state::{Mailbox, ROOT};

pub fn folder_key(mb: &Mailbox, r: &str) -> Result<u32, GErr> {
    mb.folder_ref(r).ok_or_else(|| GErr::unknown_id(r))
}

pub fn route(ctx: &Ctx, rest: &[String]) -> GResult {
    let m = &ctx.method;
    let l = |i: usize| rest.get(i).map(|s| s.to_ascii_lowercase());
    match rest.len() {
        0 => match *m {
            Method::GET => list(ctx, None, "mailFolders"),
            Method::POST => create(ctx, None),
            _ => Err(super::method_not_allowed()),
        },
        1 if l(0).as_deref() == Some("delta") => {
            ctx.need(Perm::Read)?;
            super::delta::folders(ctx)
        }
        1 => match *m {
            Method::GET => get(ctx, &rest[0]),
            Method::PATCH => update(ctx, &rest[0]),
            Method::DELETE => delete(ctx, &rest[0]),
            _ => Err(super::method_not_allowed()),
        },
        _ => match l(1).as_deref() {
            Some("childfolders") if rest.len() == 2 => match *m {
                Method::GET => list(
                    ctx,
                    Some(&rest[0]),
                    &format!("mailFolders/{}/childFolders", rest[0]),
                ),
                Method::POST => create(ctx, Some(&rest[0])),
                _ => Err(super::method_not_allowed()),
            },
            Some("childfolders") => route(ctx, &rest[2..]),
            Some("messages") => {
                let key = {
                    let w = ctx.sim.w();
                    folder_key(&w.mailboxes[&ctx.target], &rest[0])?
                };
                super::messages::route(ctx, &rest[2..], Some((key, rest[0].clone())))
            }
            Some("move") | Some("copy") if rest.len() == 2 && *m == Method::POST => {
                move_folder(ctx, &rest[0], l(1).as_deref() == Some("copy"))
            }
            _ => Err(GErr::bad(
                "BadRequest",
                format!("Resource not found for the segment '{}'.", rest[1]),
            )),
        },
    }
}

fn list(ctx: &Ctx, parent: Option<&str>, path: &str) -> GResult {
    ctx.need(Perm::Read)?;
    let sel = select(ctx);
    check_folder_select(&sel)?;
    let hidden = ctx
        .q("includeHiddenFolders")
        .map(|v| v.eq_ignore_ascii_case("true"))
        .unwrap_or(false);
    let (top, skip) = paging(ctx, 10)?;
    let w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let pk = match parent {
        Some(p) => folder_key(mb, p)?,
        None => ROOT,
    };
    // Folder filters: `displayName eq '...'` only (anything else is refused, not ignored).
    let name_filter = match ctx.q("$filter") {
        None => None,
        Some(f) => {
            let f = f.trim();
            let v = f
                .strip_prefix("displayName eq '")
                .and_then(|x| x.strip_suffix('\''))
                .ok_or_else(|| {
                    GErr::bad(
                        "ErrorInvalidUrlQueryFilter",
                        "o365-sim supports only displayName eq '...' as a folder filter.",
                    )
                })?;
            Some(v.replace("''", "'"))
        }
    };
    let all: Vec<u32> = mb
        .children(pk)
        .filter(|k| hidden || !mb.folders[*k as usize].hidden)
        .filter(|k| {
            name_filter
                .as_ref()
                .map(|n| mb.folders[*k as usize].display_name.eq_ignore_ascii_case(n))
                .unwrap_or(true)
        })
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(top)
        .map(|k| folder_json(mb, &mb.folders[*k as usize], sel.as_deref()))
        .collect();
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#users('{}')/{}", ctx.base(), ctx.target, if parent.is_some() { "mailFolders('…')/childFolders" } else { "mailFolders" }),
        "value": page,
    });
    if ctx.q("$count").map(|c| c == "true").unwrap_or(false) {
        body["@odata.count"] = json!(all.len());
    }
    if skip + top < all.len() {
        body["@odata.nextLink"] = json!(next_link(ctx, path, skip + top));
    }
    Ok(json_response(StatusCode::OK, &body))
}

fn get(ctx: &Ctx, r: &str) -> GResult {
    ctx.need(Perm::Read)?;
    let sel = select(ctx);
    check_folder_select(&sel)?;
    let w = ctx.sim.w();
    let mb = &w.mailboxes[&ctx.target];
    let k = folder_key(mb, r)?;
    let mut v = folder_json(mb, &mb.folders[k as usize], sel.as_deref());
    v["@odata.context"] = json!(format!(
        "{}/$metadata#users('{}')/mailFolders/$entity",
        ctx.base(),
        ctx.target
    ));
    Ok(json_response(StatusCode::OK, &v))
}

fn create(ctx: &Ctx, parent: Option<&str>) -> GResult {
    ctx.need(Perm::Write)?;
    let body = ctx.json_body()?;
    let name = body
        .get("displayName")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| GErr::bad("ErrorInvalidParameter", "The folder name can't be empty."))?
        .to_string();
    let hidden = body
        .get("isHidden")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut w = ctx.sim.w();
    let mb = w.mailboxes.get_mut(&ctx.target).unwrap();
    let pk = match parent {
        Some(p) => folder_key(mb, p)?,
        None => ROOT,
    };
    let k = mb
        .add_folder(&name, pk, hidden)
        .map_err(|m| GErr::new(StatusCode::CONFLICT, "ErrorFolderExists", m))?;
    let v = folder_json(mb, &mb.folders[k as usize], None);
    Ok(json_response(StatusCode::CREATED, &v))
}

fn update(ctx: &Ctx, r: &str) -> GResult {
    ctx.need(Perm::Write)?;
    let body = ctx.json_body()?;
    let mut w = ctx.sim.w();
    let mb = w.mailboxes.get_mut(&ctx.target).unwrap();
    let k = folder_key(mb, r)?;
    if let Some(n) = body.get("displayName").and_then(Value::as_str) {
        if mb.folders[k as usize].well_known.is_some() {
            return Err(GErr::bad(
                "ErrorCannotRenameDistinguishedFolder",
                "Distinguished folders cannot be renamed.",
            ));
        }
        let parent = mb.folders[k as usize].parent.unwrap_or(ROOT);
        if mb
            .children(parent)
            .any(|c| c != k && mb.folders[c as usize].display_name.eq_ignore_ascii_case(n))
        {
            return Err(GErr::new(
                StatusCode::CONFLICT,
                "ErrorFolderExists",
                "A folder with the specified name already exists.",
            ));
        }
        mb.folders[k as usize].display_name = n.to_string();
        mb.touch_folder(k);
    }
    let v = folder_json(mb, &mb.folders[k as usize], None);
    Ok(json_response(StatusCode::OK, &v))
}

fn delete(ctx: &Ctx, r: &str) -> GResult {
    ctx.need(Perm::Write)?;
    let mut w = ctx.sim.w();
    let mb = w.mailboxes.get_mut(&ctx.target).unwrap();
    let k = folder_key(mb, r)?;
    if mb.folders[k as usize].well_known.is_some() {
        return Err(GErr::bad(
            "ErrorDeleteDistinguishedFolder",
            "Distinguished folders cannot be deleted.",
        ));
    }
    mb.delete_folder(k);
    Ok(empty_response(StatusCode::NO_CONTENT))
}

fn move_folder(ctx: &Ctx, r: &str, copy: bool) -> GResult {
    ctx.need(Perm::Write)?;
    let body = ctx.json_body()?;
    let dest = body
        .get("destinationId")
        .or_else(|| body.get("DestinationId"))
        .and_then(Value::as_str)
        .ok_or_else(|| GErr::bad("ErrorInvalidParameter", "destinationId is required."))?
        .to_string();
    if copy {
        return Err(GErr::new(
            StatusCode::NOT_IMPLEMENTED,
            "ErrorInvalidRequest",
            "Folder copy is not supported by o365-sim.",
        ));
    }
    let mut w = ctx.sim.w();
    let mb = w.mailboxes.get_mut(&ctx.target).unwrap();
    let k = folder_key(mb, r)?;
    let d = folder_key(mb, &dest)?;
    if mb.folders[k as usize].well_known.is_some() {
        return Err(GErr::bad(
            "ErrorMoveDistinguishedFolder",
            "Distinguished folders cannot be moved.",
        ));
    }
    let old = mb.folders[k as usize].parent.unwrap_or(ROOT);
    mb.folders[k as usize].parent = Some(d);
    mb.touch_folder(k);
    mb.touch_folder(old);
    mb.touch_folder(d);
    let v = folder_json(mb, &mb.folders[k as usize], None);
    Ok(json_response(StatusCode::CREATED, &v))
}
