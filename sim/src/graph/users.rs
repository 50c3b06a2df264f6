//! `/me`, `/users/{id | userPrincipalName}` and `mailboxSettings`.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::json::{user_prop, USER_DEFAULT, USER_EXTRA};
use super::{json_response, select, Ctx, GErr, GResult, Perm};
use crate::state::is_german;

pub fn get_user(ctx: &Ctx) -> GResult {
    let has = |names: &[&str]| {
        names.iter().any(|n| {
            ctx.auth.scopes.iter().any(|s| s == n) || ctx.auth.roles.iter().any(|s| s == n)
        })
    };
    let ok = if ctx.own {
        has(&["User.Read", "User.ReadBasic.All", "User.Read.All"])
    } else {
        has(&["User.ReadBasic.All", "User.Read.All"])
    };
    if !ok {
        return Err(GErr::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    let sel = select(ctx);
    let w = ctx.sim.w();
    let u = w.user_by_id(&ctx.target).ok_or_else(GErr::not_found)?;
    let mut o = Map::new();
    let names: Vec<String> = match &sel {
        Some(s) => {
            for n in s {
                if n != "id"
                    && !USER_DEFAULT.contains(&n.as_str())
                    && !USER_EXTRA.contains(&n.as_str())
                {
                    return Err(GErr::bad(
                        "Request_BadRequest",
                        format!(
                            "Could not find a property named '{n}' on type 'microsoft.graph.user'."
                        ),
                    ));
                }
            }
            s.clone()
        }
        None => USER_DEFAULT
            .iter()
            .map(|s| s.to_string())
            .chain(["id".to_string()])
            .collect(),
    };
    o.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/$metadata#users{}/$entity",
            ctx.base(),
            sel.as_ref()
                .map(|s| format!("({})", s.join(",")))
                .unwrap_or_default()
        )),
    );
    for n in names {
        if let Some(v) = user_prop(u, &n) {
            o.insert(n, v);
        }
    }
    Ok(json_response(StatusCode::OK, &Value::Object(o)))
}

pub fn mailbox_settings(ctx: &Ctx) -> GResult {
    ctx.need(Perm::Settings)?;
    let w = ctx.sim.w();
    let u = w.user_by_id(&ctx.target).ok_or_else(GErr::not_found)?;
    let mb = &w.mailboxes[&ctx.target];
    let de = is_german(&u.locale);
    let tz = if de {
        "W. Europe Standard Time"
    } else {
        "Pacific Standard Time"
    };
    let lang_name = if de {
        "Deutsch (Deutschland)"
    } else {
        "English (United States)"
    };
    let v = json!({
        "@odata.context": format!("{}/$metadata#users('{}')/mailboxSettings", ctx.base(), u.id),
        "archiveFolder": mb.folders[mb.well_known("archive") as usize].id,
        "timeZone": tz,
        "dateFormat": if de { "dd.MM.yyyy" } else { "M/d/yyyy" },
        "timeFormat": if de { "HH:mm" } else { "h:mm tt" },
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
        "userPurpose": if u.kind == crate::state::UserKind::Shared { "shared" } else { "user" },
        "language": {"locale": u.locale, "displayName": lang_name},
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "internalReplyMessage": "",
            "externalReplyMessage": "",
            "scheduledStartDateTime": {"dateTime": "2026-01-01T00:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2026-01-02T00:00:00.0000000", "timeZone": "UTC"},
        },
    });
    Ok(json_response(StatusCode::OK, &v))
}
