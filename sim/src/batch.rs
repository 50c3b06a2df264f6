//! JSON batching (`POST /v1.0/$batch`): at most 20 requests, `dependsOn` (sequential, 424 when
//! a dependency failed), otherwise up to 4 at a time. Every inner request goes through the full
//! stack again (authentication, throttling, faults, counters), as Graph counts each one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Request, StatusCode};
use base64::Engine;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use crate::graph::{json_response, GErr, GResult};
use crate::server::Sim;

/// Marks a request that is an item of a `$batch` (counted in `requests`, not in
/// `httpRequests`).
#[derive(Clone, Copy)]
pub struct BatchItem;

struct Item {
    id: String,
    method: String,
    url: String,
    headers: Map<String, Value>,
    body: Option<Value>,
    depends: Vec<String>,
}

fn parse(v: &Value, max: usize) -> Result<Vec<Item>, GErr> {
    let reqs = v.get("requests").and_then(Value::as_array).ok_or_else(|| {
        GErr::bad(
            "BadRequest",
            "Invalid batch payload format: 'requests' is required.",
        )
    })?;
    if reqs.is_empty() {
        return Err(GErr::bad(
            "BadRequest",
            "Invalid batch payload format: no requests.",
        ));
    }
    if reqs.len() > max {
        return Err(GErr::bad(
            "BadRequest",
            format!("Number of requests exceeds the limit of {max}."),
        ));
    }
    let mut out: Vec<Item> = vec![];
    for r in reqs {
        let s = |k: &str| r.get(k).and_then(Value::as_str).map(|s| s.to_string());
        let id = s("id").ok_or_else(|| {
            GErr::bad(
                "BadRequest",
                "Invalid batch payload format: each request needs an 'id'.",
            )
        })?;
        if out.iter().any(|i| i.id.eq_ignore_ascii_case(&id)) {
            return Err(GErr::bad(
                "BadRequest",
                format!("Invalid batch payload format: duplicate request id '{id}'."),
            ));
        }
        let method = s("method")
            .ok_or_else(|| GErr::bad("BadRequest", format!("Request '{id}' has no method.")))?
            .to_ascii_uppercase();
        let url = s("url")
            .ok_or_else(|| GErr::bad("BadRequest", format!("Request '{id}' has no url.")))?;
        let headers = r
            .get("headers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let body = r.get("body").cloned().filter(|b| !b.is_null());
        if body.is_some()
            && !headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            return Err(GErr::bad(
                "BadRequest",
                format!(
                    "Request '{id}': a Content-Type header is required when a body is present."
                ),
            ));
        }
        let depends: Vec<String> = r
            .get("dependsOn")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(|s| s.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for d in &depends {
            if !out.iter().any(|i| i.id.eq_ignore_ascii_case(d)) {
                return Err(GErr::bad("BadRequest", format!("Request '{id}' depends on '{d}', which is not an earlier request of this batch.")));
            }
        }
        out.push(Item {
            id,
            method,
            url,
            headers,
            body,
            depends,
        });
    }
    Ok(out)
}

async fn run_one(sim: Arc<Sim>, auth: Option<String>, it: &Item) -> Value {
    let mut url = it.url.clone();
    if let Some(p) = url.find("/v1.0/") {
        url = url[p + 5..].to_string();
    }
    if !url.starts_with('/') {
        url = format!("/{url}");
    }
    let mut b = Request::builder()
        .method(it.method.as_str())
        .uri(format!("/v1.0{url}"))
        .extension(BatchItem);
    if let Some(a) = &auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    for (k, v) in &it.headers {
        if let Some(s) = v.as_str() {
            b = b.header(k.as_str(), s);
        }
    }
    let body = match &it.body {
        None => Body::empty(),
        Some(Value::String(s))
            if !it.headers.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("content-type") && v.as_str().unwrap_or("").contains("json")
            }) =>
        {
            Body::from(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .unwrap_or_else(|_| s.clone().into_bytes()),
            )
        }
        Some(v) => Body::from(v.to_string()),
    };
    let req = match b.body(body) {
        Ok(r) => r,
        Err(e) => {
            return json!({"id": it.id, "status": 400, "body": {"error": {"code": "BadRequest", "message": e.to_string()}}})
        }
    };
    let router = sim.router.get().expect("router").clone();
    let resp = router.oneshot(req).await.unwrap_or_else(|e| match e {});
    let status = resp.status().as_u16();
    let mut headers = Map::new();
    for (k, v) in resp.headers() {
        if let Ok(s) = v.to_str() {
            headers.insert(k.as_str().to_string(), json!(s));
        }
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|c| c.contains("json"))
        .unwrap_or(false);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let mut out = json!({"id": it.id, "status": status, "headers": headers});
    if !bytes.is_empty() {
        out["body"] = if is_json {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        } else {
            json!(base64::engine::general_purpose::STANDARD.encode(&bytes))
        };
    }
    out
}

pub async fn handle(sim: Arc<Sim>, headers: &HeaderMap, body: Bytes) -> GResult {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| GErr::bad("BadRequest", format!("Invalid batch payload format: {e}")))?;
    let items = parse(&v, sim.limits().batch_max)?;
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.to_string());
    let sequential = items.iter().any(|i| !i.depends.is_empty());
    let mut results: Vec<Value> = vec![];
    if sequential {
        let mut status: HashMap<String, u64> = HashMap::new();
        for it in &items {
            let failed = it.depends.iter().any(|d| {
                status
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(d))
                    .map(|(_, s)| *s >= 400)
                    .unwrap_or(true)
            });
            let r = if failed {
                json!({"id": it.id, "status": 424, "body": {"error": {"code": "FailedDependency", "message": "The request could not be executed because a request it depends on failed."}}})
            } else {
                run_one(sim.clone(), auth.clone(), it).await
            };
            status.insert(it.id.clone(), r["status"].as_u64().unwrap_or(500));
            results.push(r);
        }
    } else {
        let outs: Vec<(usize, Value)> = stream::iter(items.into_iter().enumerate())
            .map(|(i, it)| {
                let sim = sim.clone();
                let auth = auth.clone();
                async move { (i, run_one(sim, auth, &it).await) }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let mut outs = outs;
        outs.sort_by_key(|x| x.0);
        results = outs.into_iter().map(|x| x.1).collect();
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"responses": results}),
    ))
}
