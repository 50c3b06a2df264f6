//! Every mail JSON the sim returns is checked against Microsoft's CSDL
//! (/work/shared/graph-schema/mail-v1.0.csdl.xml, or O365_CSDL): no invented property names,
//! the right JSON type for every value, enum members only, non-nullable properties not null.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

#[derive(Debug, Clone)]
struct Prop {
    ty: String,
    nullable: bool,
}

/// (base type, properties, navigation properties)
type TypeDef = (
    Option<String>,
    HashMap<String, Prop>,
    HashMap<String, String>,
);

#[derive(Debug, Default)]
struct Schema {
    types: HashMap<String, TypeDef>,
    enums: HashMap<String, Vec<String>>,
}

fn strip(t: &str) -> String {
    t.trim_start_matches("graph.")
        .trim_start_matches("microsoft.graph.")
        .to_string()
}

fn csdl_path() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("O365_CSDL") {
        return p.into();
    }
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for p in [
        // A copy of Microsoft's schema of the mail types (msgraph-metadata, v1.0), so a clone
        // of the repository tests on its own.
        manifest.join("tests/data/mail-v1.0.csdl.xml"),
        manifest.join("../../shared/graph-schema/mail-v1.0.csdl.xml"),
        "/work/shared/graph-schema/mail-v1.0.csdl.xml".into(),
    ] {
        if p.exists() {
            return p;
        }
    }
    panic!("CSDL not found: set O365_CSDL to mail-v1.0.csdl.xml");
}

fn load() -> Schema {
    let text = std::fs::read_to_string(csdl_path()).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let mut s = Schema::default();
    for n in doc.descendants() {
        match n.tag_name().name() {
            "EntityType" | "ComplexType" => {
                let name = n.attribute("Name").unwrap().to_string();
                let base = n.attribute("BaseType").map(strip);
                let mut props = HashMap::new();
                let mut navs = HashMap::new();
                for c in n.children() {
                    match c.tag_name().name() {
                        "Property" => {
                            props.insert(
                                c.attribute("Name").unwrap().to_string(),
                                Prop {
                                    ty: strip(c.attribute("Type").unwrap())
                                        .replace("Collection(graph.", "Collection("),
                                    nullable: c.attribute("Nullable") != Some("false"),
                                },
                            );
                        }
                        "NavigationProperty" => {
                            navs.insert(
                                c.attribute("Name").unwrap().to_string(),
                                c.attribute("Type").unwrap().replace("graph.", ""),
                            );
                        }
                        _ => {}
                    }
                }
                s.types.insert(name, (base, props, navs));
            }
            "EnumType" => {
                let members = n
                    .children()
                    .filter(|c| c.tag_name().name() == "Member")
                    .map(|c| c.attribute("Name").unwrap().to_string())
                    .collect();
                s.enums
                    .insert(n.attribute("Name").unwrap().to_string(), members);
            }
            _ => {}
        }
    }
    s
}

impl Schema {
    fn lookup(&self, ty: &str, name: &str) -> Option<(Option<Prop>, Option<String>)> {
        let mut cur = Some(ty.to_string());
        while let Some(t) = cur {
            let (base, props, navs) = self.types.get(&t)?;
            if let Some(p) = props.get(name) {
                return Some((Some(p.clone()), None));
            }
            if let Some(n) = navs.get(name) {
                return Some((None, Some(n.clone())));
            }
            cur = base.clone();
        }
        None
    }

    fn derives_from(&self, ty: &str, base: &str) -> bool {
        let mut cur = Some(ty.to_string());
        while let Some(t) = cur {
            if t == base {
                return true;
            }
            cur = self.types.get(&t).and_then(|x| x.0.clone());
        }
        false
    }

    fn check_value(&self, v: &Value, ty: &str, nullable: bool, path: &str, errs: &mut Vec<String>) {
        if v.is_null() {
            if !nullable {
                errs.push(format!("{path}: null for non-nullable {ty}"));
            }
            return;
        }
        if let Some(inner) = ty
            .strip_prefix("Collection(")
            .and_then(|x| x.strip_suffix(')'))
        {
            match v.as_array() {
                Some(a) => {
                    for (i, x) in a.iter().enumerate() {
                        self.check_value(x, inner, false, &format!("{path}[{i}]"), errs);
                    }
                }
                None => errs.push(format!("{path}: expected array of {inner}, got {v}")),
            }
            return;
        }
        let ok = match ty {
            "Edm.String" | "Edm.TimeOfDay" => v.is_string(),
            "Edm.Boolean" => v.is_boolean(),
            "Edm.Int32" | "Edm.Int64" => v.is_i64() || v.is_u64(),
            "Edm.Double" => v.is_number(),
            "Edm.DateTimeOffset" => v
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            "Edm.Binary" => v.as_str().is_some_and(|s| {
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s).is_ok()
            }),
            t if self.enums.contains_key(t) => {
                if !v
                    .as_str()
                    .is_some_and(|s| self.enums[t].iter().any(|m| m == s))
                {
                    errs.push(format!("{path}: {v} is not a member of enum {t}"));
                }
                true
            }
            t if self.types.contains_key(t) => {
                self.check_object(v, t, path, errs);
                true
            }
            t => {
                errs.push(format!("{path}: unknown type {t}"));
                true
            }
        };
        if !ok {
            errs.push(format!("{path}: {v} is not a {ty}"));
        }
    }

    fn check_object(&self, v: &Value, ty: &str, path: &str, errs: &mut Vec<String>) {
        let Some(o) = v.as_object() else {
            errs.push(format!("{path}: expected object of {ty}"));
            return;
        };
        let mut ty = ty.to_string();
        if let Some(t) = o.get("@odata.type").and_then(Value::as_str) {
            let t = t
                .trim_start_matches('#')
                .trim_start_matches("microsoft.graph.")
                .to_string();
            if !self.derives_from(&t, &ty) {
                errs.push(format!("{path}: @odata.type {t} does not derive from {ty}"));
            }
            ty = t;
        }
        for (k, val) in o {
            if k.starts_with('@') || k.contains("@odata.") {
                continue;
            }
            match self.lookup(&ty, k) {
                Some((Some(p), _)) => {
                    self.check_value(val, &p.ty, p.nullable, &format!("{path}.{k}"), errs)
                }
                Some((None, Some(nav))) => {
                    self.check_value(val, &nav, true, &format!("{path}.{k}"), errs)
                }
                _ => errs.push(format!("{path}: property '{k}' is not defined on {ty}")),
            }
        }
    }
}

/// The Graph `user` entity is not part of the mail CSDL excerpt. These are the v1.0 `user`
/// properties the sim returns, with the Edm types and nullability of Microsoft's v1.0 CSDL
/// (`EntityType Name="user"`; `businessPhones`, `otherMails` and `proxyAddresses` are
/// `Nullable="false"`).
const USER_PROPS: &[(&str, &str, bool)] = &[
    ("id", "Edm.String", false),
    ("businessPhones", "Collection(Edm.String)", false),
    ("displayName", "Edm.String", true),
    ("givenName", "Edm.String", true),
    ("jobTitle", "Edm.String", true),
    ("mail", "Edm.String", true),
    ("mobilePhone", "Edm.String", true),
    ("officeLocation", "Edm.String", true),
    ("preferredLanguage", "Edm.String", true),
    ("surname", "Edm.String", true),
    ("userPrincipalName", "Edm.String", true),
    ("proxyAddresses", "Collection(Edm.String)", false),
    ("accountEnabled", "Edm.Boolean", true),
    ("userType", "Edm.String", true),
    ("otherMails", "Collection(Edm.String)", false),
    ("mailNickname", "Edm.String", true),
    ("usageLocation", "Edm.String", true),
];

#[tokio::test]
async fn every_mail_json_matches_the_csdl() {
    let s = load();
    assert!(
        s.types.contains_key("message")
            && s.types.contains_key("mailFolder")
            && s.enums.contains_key("importance")
    );
    // Sanity: the checker rejects invented names and wrong types.
    let mut e = vec![];
    s.check_object(
        &json!({"id": "x", "isRead": "true", "shoeSize": 1}),
        "message",
        "probe",
        &mut e,
    );
    assert_eq!(e.len(), 2, "{e:?}");

    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let mut errs: Vec<String> = vec![];
    let mut n_msgs = 0;
    let mut n_att = 0;
    // Folders, recursively, hidden included.
    let (top, _) = t
        .all_pages("/v1.0/me/mailFolders?includeHiddenFolders=true", &tok, &[])
        .await;
    let mut stack = top;
    let mut folders = vec![];
    while let Some(f) = stack.pop() {
        s.check_object(&f, "mailFolder", "mailFolder", &mut errs);
        let id = f["id"].as_str().unwrap().to_string();
        let (kids, _) = t
            .all_pages(
                &format!("/v1.0/me/mailFolders/{id}/childFolders?includeHiddenFolders=true"),
                &tok,
                &[],
            )
            .await;
        stack.extend(kids);
        folders.push(id);
    }
    assert!(folders.len() >= 11);
    for fid in &folders {
        let (msgs, _) = t
            .all_pages(
                &format!("/v1.0/me/mailFolders/{fid}/messages?$top=200&$expand=attachments"),
                &tok,
                &[],
            )
            .await;
        for m in &msgs {
            s.check_object(m, "message", "message", &mut errs);
            n_msgs += 1;
            if m["hasAttachments"] == true {
                let id = m["id"].as_str().unwrap();
                let a = t
                    .get(&format!("/v1.0/me/messages/{id}/attachments"), &tok)
                    .await;
                for x in a.body["value"].as_array().unwrap() {
                    s.check_object(x, "attachment", "attachment", &mut errs);
                    n_att += 1;
                }
            }
        }
    }
    let state = t
        .admin(Method::GET, &format!("/mailboxes/{ANNA}"), None)
        .await;
    assert_eq!(
        n_msgs as u64,
        state["messageCount"].as_u64().unwrap(),
        "the whole mailbox was checked"
    );
    assert!(n_att > 10);
    // $select of the extra properties, single GETs, delta items, drafts, upload sessions.
    let one = t.get("/v1.0/me/mailFolders/inbox/messages?$top=3&$select=internetMessageHeaders,uniqueBody,subject", &tok).await;
    for m in one.body["value"].as_array().unwrap() {
        s.check_object(m, "message", "message($select)", &mut errs);
    }
    let id = one.body["value"][0]["id"].as_str().unwrap().to_string();
    s.check_object(
        &t.get(&format!("/v1.0/me/messages/{id}"), &tok).await.body,
        "message",
        "GET message",
        &mut errs,
    );
    let (d, link) = t
        .all_pages("/v1.0/me/mailFolders/inbox/messages/delta", &tok, &[])
        .await;
    t.delete(&format!("/v1.0/me/messages/{id}"), &tok).await;
    let (d2, _) = t.all_pages(&link.unwrap(), &tok, &[]).await;
    assert_eq!(d2.len(), 1);
    for m in d.iter().chain(&d2) {
        s.check_object(m, "message", "delta", &mut errs);
    }
    let (fd, _) = t.all_pages("/v1.0/me/mailFolders/delta", &tok, &[]).await;
    for f in &fd {
        s.check_object(f, "mailFolder", "folder delta", &mut errs);
    }
    let mut draft = simple_mail("a@example.com", "d");
    draft["flag"] = json!({"flagStatus": "flagged"});
    draft["importance"] = json!("high");
    let r = t.post("/v1.0/me/messages", &tok, draft).await;
    s.check_object(&r.body, "message", "draft", &mut errs);
    let did = r.body["id"].as_str().unwrap().to_string();
    let r = t.post(&format!("/v1.0/me/messages/{did}/attachments/createUploadSession"), &tok, json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": 4_000_000}})).await;
    assert_eq!(r.status, 201);
    s.check_object(&r.body, "uploadSession", "uploadSession", &mut errs);
    // Answers of writes.
    let r = t
        .patch(
            &format!("/v1.0/me/messages/{did}"),
            &tok,
            json!({"categories": ["A"], "isRead": false}),
        )
        .await;
    s.check_object(&r.body, "message", "PATCH message", &mut errs);
    let r = t.post(&format!("/v1.0/me/messages/{did}/attachments"), &tok, json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "n.txt", "contentBytes": b64(b"n")})).await;
    s.check_object(&r.body, "attachment", "POST attachment", &mut errs);
    let r = t
        .post(
            &format!("/v1.0/me/messages/{did}/copy"),
            &tok,
            json!({"destinationId": "archive"}),
        )
        .await;
    s.check_object(&r.body, "message", "copy", &mut errs);
    let r = t
        .post(
            &format!("/v1.0/me/messages/{did}/move"),
            &tok,
            json!({"destinationId": "inbox"}),
        )
        .await;
    s.check_object(&r.body, "message", "move", &mut errs);
    let r = t
        .post("/v1.0/me/mailFolders", &tok, json!({"displayName": "CSDL"}))
        .await;
    s.check_object(&r.body, "mailFolder", "POST mailFolder", &mut errs);
    let fid = r.body["id"].as_str().unwrap().to_string();
    let r = t
        .patch(
            &format!("/v1.0/me/mailFolders/{fid}"),
            &tok,
            json!({"displayName": "CSDL2"}),
        )
        .await;
    s.check_object(&r.body, "mailFolder", "PATCH mailFolder", &mut errs);
    let r = t.post("/v1.0/$batch", &tok, json!({"requests": [{"id": "1", "method": "GET", "url": "/me/mailFolders/inbox/messages?$top=2"}, {"id": "2", "method": "GET", "url": "/me/mailFolders/inbox"}]})).await;
    for x in r.body["responses"].as_array().unwrap() {
        match x["id"].as_str().unwrap() {
            "1" => {
                for m in x["body"]["value"].as_array().unwrap() {
                    s.check_object(m, "message", "batch message", &mut errs);
                }
            }
            _ => s.check_object(&x["body"], "mailFolder", "batch folder", &mut errs),
        }
    }
    let r = t.get("/v1.0/me/mailboxSettings", &tok).await;
    s.check_object(&r.body, "mailboxSettings", "mailboxSettings", &mut errs);
    // Users.
    let user_types: HashMap<&str, (&str, bool)> = USER_PROPS
        .iter()
        .map(|(n, t, null)| (*n, (*t, *null)))
        .collect();
    let all: Vec<&str> = USER_PROPS.iter().map(|x| x.0).collect();
    for path in [
        "/v1.0/me".to_string(),
        format!("/v1.0/me?$select={}", all.join(",")),
        format!("/v1.0/users/{VERTRIEB}?$select={}", all.join(",")),
    ] {
        let u = t.get(&path, &tok).await.body;
        for (k, v) in u.as_object().unwrap() {
            if k.starts_with('@') {
                continue;
            }
            match user_types.get(k.as_str()) {
                Some((ty, nullable)) => {
                    s.check_value(v, ty, *nullable, &format!("user.{k}"), &mut errs)
                }
                None => errs.push(format!(
                    "user: property '{k}' is not a documented user property"
                )),
            }
        }
    }
    assert!(
        errs.is_empty(),
        "{} problems:\n{}",
        errs.len(),
        errs.join("\n")
    );
}
