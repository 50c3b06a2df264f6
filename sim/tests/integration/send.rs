//! Sending: sendMail, drafts, Send As, aliases, limits, attachments and upload sessions, the
//! outbound log, delivery inside the sim, and "sent from Outlook".

use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::*;

async fn outbound(t: &T) -> Vec<Value> {
    t.admin(Method::GET, "/outbound", None).await["messages"]
        .as_array()
        .unwrap()
        .clone()
}

async fn sent_items(t: &T, tok: &str, mailbox: &str) -> Vec<Value> {
    let (v, _) = t
        .all_pages(&format!("/v1.0/{mailbox}/mailFolders/sentitems/messages?$select=subject,internetMessageId,from,sender,isDraft,internetMessageHeaders&$top=100"), tok, &[])
        .await;
    v
}

#[tokio::test]
async fn send_mail_saves_logs_and_delivers() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let before = sent_items(&t, &tok, "me").await.len();
    let ben_inbox = t
        .admin(Method::GET, &format!("/mailboxes/{BEN}"), None)
        .await;
    let body = json!({"message": {
        "subject": "Angebot",
        "body": {"contentType": "HTML", "content": "<p>Hallo Ben</p>"},
        "toRecipients": [{"emailAddress": {"address": BEN, "name": "Ben"}}],
        "ccRecipients": [{"emailAddress": {"address": "kunde@example.com"}}],
        "bccRecipients": [{"emailAddress": {"address": "geheim@example.com"}}],
        "internetMessageHeaders": [{"name": "x-crm-id", "value": "4711"}],
        "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentType": "text/plain", "contentBytes": b64(b"Hello World!")}],
    }});
    let r = t.post("/v1.0/me/sendMail", &tok, body).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert!(r.text.is_empty(), "202 has no body");
    let sent = sent_items(&t, &tok, "me").await;
    assert_eq!(sent.len(), before + 1);
    let copy = sent.iter().find(|m| m["subject"] == "Angebot").unwrap();
    assert_eq!(copy["isDraft"], false);
    assert_eq!(copy["from"]["emailAddress"]["address"], ANNA);
    assert_eq!(
        copy["internetMessageHeaders"],
        json!([{"name": "x-crm-id", "value": "4711"}])
    );
    let out = outbound(&t).await;
    assert_eq!(out.len(), 1);
    let o = &out[0];
    assert_eq!(o["internetMessageId"], copy["internetMessageId"]);
    assert_eq!(o["from"]["address"], ANNA);
    assert_eq!(o["bcc"][0]["address"], "geheim@example.com");
    let headers: Vec<(String, String)> = serde_json::from_value(o["headers"].clone()).unwrap();
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|x| x.1.clone())
    };
    assert!(h("To").unwrap().contains(BEN));
    assert!(h("Cc").unwrap().contains("kunde@example.com"));
    assert!(h("Bcc").is_none(), "Bcc is envelope-only");
    assert_eq!(h("x-crm-id").unwrap(), "4711");
    assert_eq!(
        h("Message-ID").unwrap(),
        o["internetMessageId"].as_str().unwrap()
    );
    assert_eq!(
        o["attachments"][0]["sha256"],
        hex(&Sha256::digest(b"Hello World!"))
    );
    assert_eq!(o["attachments"][0]["size"], 12);
    // Ben received it, unread, with the same Message-ID and without the Bcc list.
    let ben_after = t
        .admin(Method::GET, &format!("/mailboxes/{BEN}"), None)
        .await;
    assert_eq!(
        ben_after["messageCount"].as_u64().unwrap(),
        ben_inbox["messageCount"].as_u64().unwrap() + 1
    );
    let bt = t.token(BEN).await;
    let imid = o["internetMessageId"].as_str().unwrap();
    let r = t
        .get(
            &format!(
                "/v1.0/me/mailFolders/inbox/messages?$filter=internetMessageId eq '{}'",
                enc(imid)
            ),
            &bt,
        )
        .await;
    let got = &r.body["value"][0];
    assert_eq!(got["isRead"], false);
    assert_eq!(got["bccRecipients"], json!([]));
    assert_eq!(got["hasAttachments"], true);
    // saveToSentItems false: no copy, still logged.
    let r = t.post("/v1.0/me/sendMail", &tok, json!({"message": simple_mail("x@example.com", "Ohne Kopie"), "saveToSentItems": false})).await;
    assert_eq!(r.status, 202);
    assert!(!sent_items(&t, &tok, "me")
        .await
        .iter()
        .any(|m| m["subject"] == "Ohne Kopie"));
    assert_eq!(outbound(&t).await.len(), 2);
    let c = t.admin(Method::GET, "/counters", None).await;
    assert_eq!(c["messagesSent"], 2);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn send_errors() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let r = t
        .post(
            "/v1.0/me/sendMail",
            &tok,
            json!({"message": {"subject": "x"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "ErrorInvalidRecipients");
    let r = t
        .post(
            "/v1.0/me/sendMail",
            &tok,
            json!({"message": simple_mail("not-an-address", "x")}),
        )
        .await;
    assert_eq!(r.code(), "ErrorInvalidRecipients");
    let mut m = simple_mail("a@example.com", "x");
    m["internetMessageHeaders"] = json!([{"name": "Message-ID", "value": "<x@y>"}]);
    let r = t
        .post("/v1.0/me/sendMail", &tok, json!({"message": m}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "InvalidInternetMessageHeader");
    let r = t
        .post("/v1.0/me/sendMail", &tok, json!({"nomessage": 1}))
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .req(Method::POST, "/v1.0/me/sendMail", Some(&tok), None, &[])
        .await;
    assert_eq!(r.status, 400);
    // Without Mail.Send.
    let nosend = t.token_scopes(ANNA, "openid Mail.ReadWrite").await;
    let r = t
        .post(
            "/v1.0/me/sendMail",
            &nosend,
            json!({"message": simple_mail("a@example.com", "x")}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(outbound(&t).await.is_empty());
}

#[tokio::test]
async fn aliases_send_as_and_shared_mailboxes() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let mut m = simple_mail("kunde@example.com", "Von info@");
    m["from"] = json!({"emailAddress": {"address": "info@contoso.example"}});
    let r = t
        .post("/v1.0/me/sendMail", &tok, json!({"message": m.clone()}))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "ErrorSendAsDenied");
    t.admin(
        Method::PATCH,
        "/tenants/contoso.example",
        Some(json!({"sendFromAliasEnabled": true})),
    )
    .await;
    let r = t
        .post("/v1.0/me/sendMail", &tok, json!({"message": m}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let o = outbound(&t).await;
    assert_eq!(o[0]["from"]["address"], "info@contoso.example");
    // An address that is not one of hers stays refused.
    let mut m = simple_mail("kunde@example.com", "Fremd");
    m["from"] = json!({"emailAddress": {"address": "chef@contoso.example"}});
    assert_eq!(
        t.post("/v1.0/me/sendMail", &tok, json!({"message": m}))
            .await
            .code(),
        "ErrorSendAsDenied"
    );
    let mut m = simple_mail("kunde@example.com", "Als Ben");
    m["from"] = json!({"emailAddress": {"address": BEN}});
    assert_eq!(
        t.post("/v1.0/me/sendMail", &tok, json!({"message": m}))
            .await
            .code(),
        "ErrorSendAsDenied"
    );
    // Send As the shared mailbox (granted) from her own mailbox.
    let mut m = simple_mail("kunde@example.com", "Vertrieb");
    m["from"] = json!({"emailAddress": {"address": VERTRIEB}});
    let r = t
        .post("/v1.0/me/sendMail", &tok, json!({"message": m}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let o = outbound(&t).await;
    let last = o.last().unwrap();
    assert_eq!(last["from"]["address"], VERTRIEB);
    assert_eq!(last["sender"]["address"], VERTRIEB);
    // Through /users/{shared}/sendMail: the copy lands in the shared mailbox's Sent Items.
    let r = t
        .post(
            &format!("/v1.0/users/{VERTRIEB}/sendMail"),
            &tok,
            json!({"message": simple_mail("kunde@example.com", "Shared-Pfad")}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let shared_sent = sent_items(&t, &tok, &format!("users/{VERTRIEB}")).await;
    assert!(
        shared_sent
            .iter()
            .any(|m| m["subject"] == "Shared-Pfad"
                && m["from"]["emailAddress"]["address"] == VERTRIEB)
    );
    // Send on behalf: sender is the delegate.
    t.admin(
        Method::POST,
        &format!("/users/{VERTRIEB}/grants"),
        Some(json!({"user": BEN, "fullAccess": false, "sendOnBehalf": true})),
    )
    .await;
    let bt = t.token(BEN).await;
    let mut m = simple_mail("kunde@example.com", "Im Auftrag");
    m["from"] = json!({"emailAddress": {"address": VERTRIEB}});
    assert_eq!(
        t.post("/v1.0/me/sendMail", &bt, json!({"message": m}))
            .await
            .status,
        202
    );
    let last = outbound(&t).await.last().unwrap().clone();
    assert_eq!(last["from"]["address"], VERTRIEB);
    assert_eq!(last["sender"]["address"], BEN);
    // Without FullAccess Ben cannot use the shared mailbox path.
    let r = t
        .post(
            &format!("/v1.0/users/{VERTRIEB}/sendMail"),
            &bt,
            json!({"message": simple_mail("k@example.com", "x")}),
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn drafts_keep_their_message_id() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let mut m = simple_mail("kunde@example.com", "Entwurf");
    m["internetMessageId"] = json!("<crm-4711@crm.example>");
    m["internetMessageHeaders"] = json!([{"name": "X-CRM-Ref", "value": "abc"}]);
    let r = t.post("/v1.0/me/messages", &tok, m).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["isDraft"], true);
    assert_eq!(r.body["internetMessageId"], "<crm-4711@crm.example>");
    let drafts = t.get("/v1.0/me/mailFolders/drafts", &tok).await.body;
    assert_eq!(r.body["parentFolderId"], drafts["id"]);
    let id = r.body["id"].as_str().unwrap().to_string();
    // Drafts can be edited.
    let r = t.patch(&format!("/v1.0/me/messages/{id}"), &tok, json!({"subject": "Entwurf v2", "ccRecipients": [{"emailAddress": {"address": "cc@example.com"}}]})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["subject"], "Entwurf v2");
    assert_eq!(
        t.patch(
            &format!("/v1.0/me/messages/{id}"),
            &tok,
            json!({"internetMessageId": "no-brackets"})
        )
        .await
        .status,
        400
    );
    // Attachment, inline add.
    let r = t.post(&format!("/v1.0/me/messages/{id}/attachments"), &tok, json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "b.bin", "contentBytes": b64(&[1, 2, 3])})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let aid = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["size"], 3);
    let r = t
        .get(&format!("/v1.0/me/messages/{id}/attachments"), &tok)
        .await;
    assert_eq!(r.body["value"][0]["contentBytes"], b64(&[1, 2, 3]));
    let r = t
        .get(
            &format!("/v1.0/me/messages/{id}/attachments/{aid}/$value"),
            &tok,
        )
        .await;
    assert_eq!(r.text.as_bytes(), &[1, 2, 3]);
    assert_eq!(
        t.post(
            &format!("/v1.0/me/messages/{id}/attachments"),
            &tok,
            json!({"@odata.type": "#microsoft.graph.itemAttachment", "name": "x"})
        )
        .await
        .status,
        400
    );
    // Send.
    let r = t
        .req(
            Method::POST,
            &format!("/v1.0/me/messages/{id}/send"),
            Some(&tok),
            None,
            &[("Content-Length", "0")],
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        t.get(&format!("/v1.0/me/messages/{id}"), &tok).await.status,
        404,
        "the draft is gone"
    );
    let sent = sent_items(&t, &tok, "me").await;
    let copy = sent
        .iter()
        .find(|m| m["internetMessageId"] == "<crm-4711@crm.example>")
        .expect("sent copy with the client's Message-ID");
    assert_eq!(copy["subject"], "Entwurf v2");
    let o = outbound(&t).await;
    assert_eq!(o[0]["internetMessageId"], "<crm-4711@crm.example>");
    assert_eq!(o[0]["via"], "send");
    assert_eq!(o[0]["attachments"][0]["size"], 3);
    // Sending a non-draft fails.
    let sid = copy["id"].as_str().unwrap();
    assert_eq!(
        t.post(&format!("/v1.0/me/messages/{sid}/send"), &tok, json!({}))
            .await
            .status,
        400
    );
    // Create directly in a folder.
    let r = t
        .post(
            "/v1.0/me/mailFolders/archive/messages",
            &tok,
            simple_mail("a@example.com", "Im Archiv"),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body["parentFolderId"],
        t.get("/v1.0/me/mailFolders/archive", &tok).await.body["id"]
    );
}

#[tokio::test]
async fn mime_send() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let mime = format!("From: Anna <{ANNA}>\r\nTo: Kunde <kunde@example.com>\r\nSubject: MIME Test\r\nMessage-ID: <mime-1@crm.example>\r\nX-Trace: 9\r\nContent-Type: text/plain\r\n\r\nHallo MIME");
    let r = t
        .http
        .post(t.url("/v1.0/me/sendMail"))
        .bearer_auth(&tok)
        .header("Content-Type", "text/plain")
        .body(b64(mime.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let o = outbound(&t).await;
    assert_eq!(o[0]["subject"], "MIME Test");
    assert_eq!(o[0]["internetMessageId"], "<mime-1@crm.example>");
    assert_eq!(o[0]["body"], "Hallo MIME");
    let r = t
        .http
        .post(t.url("/v1.0/me/sendMail"))
        .bearer_auth(&tok)
        .header("Content-Type", "text/plain")
        .body("%%% not base64")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "ErrorMimeContentInvalidBase64String");
}

#[tokio::test]
async fn send_limits() {
    let limits = o365_sim::Limits {
        max_recipients: 3,
        sends_per_minute: 2,
        max_body_bytes: 20_000,
        ..Default::default()
    };
    let t = T::with_limits(limits).await;
    let tok = t.token(ANNA).await;
    let mut m = simple_mail("a@example.com", "viele");
    m["toRecipients"] = json!((0..4)
        .map(|i| json!({"emailAddress": {"address": format!("r{i}@example.com")}}))
        .collect::<Vec<_>>());
    let r = t
        .post("/v1.0/me/sendMail", &tok, json!({"message": m.clone()}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "ErrorTooManyRecipients");
    assert_eq!(
        t.post("/v1.0/me/messages", &tok, m).await.status,
        400,
        "drafts too"
    );
    for i in 0..2 {
        assert_eq!(
            t.post(
                "/v1.0/me/sendMail",
                &tok,
                json!({"message": simple_mail("a@example.com", &format!("n{i}"))})
            )
            .await
            .status,
            202
        );
    }
    let r = t
        .post(
            "/v1.0/me/sendMail",
            &tok,
            json!({"message": simple_mail("a@example.com", "n3")}),
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(r.headers.contains_key("retry-after"));
    // Another mailbox is not affected; a minute later it works again.
    let bt = t.token(BEN).await;
    assert_eq!(
        t.post(
            "/v1.0/me/sendMail",
            &bt,
            json!({"message": simple_mail("a@example.com", "b")})
        )
        .await
        .status,
        202
    );
    t.admin(Method::POST, "/clock/advance", Some(json!({"seconds": 61})))
        .await;
    let tok = t.token(ANNA).await;
    assert_eq!(
        t.post(
            "/v1.0/me/sendMail",
            &tok,
            json!({"message": simple_mail("a@example.com", "n4")})
        )
        .await
        .status,
        202
    );
    // Body size.
    let mut m = simple_mail("a@example.com", "gross");
    m["body"]["content"] = json!("x".repeat(25_000));
    let r = t
        .post("/v1.0/me/sendMail", &tok, json!({"message": m}))
        .await;
    assert_eq!(r.status, 413);
}

#[tokio::test]
async fn upload_sessions() {
    let limits = o365_sim::Limits {
        inline_max_bytes: 1000,
        upload_min_bytes: 1000,
        upload_max_bytes: 100_000,
        upload_chunk_max: 4096,
        ..Default::default()
    };
    let t = T::with_limits(limits).await;
    let tok = t.token(ANNA).await;
    let id = t
        .post(
            "/v1.0/me/messages",
            &tok,
            simple_mail("kunde@example.com", "Groß"),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cus = format!("/v1.0/me/messages/{id}/attachments/createUploadSession");
    let r = t
        .post(
            &cus,
            &tok,
            json!({"AttachmentItem": {"attachmentType": "file", "name": "klein.pdf", "size": 999}}),
        )
        .await;
    assert_eq!(
        r.code(),
        "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
    );
    let r = t.post(&cus, &tok, json!({"AttachmentItem": {"attachmentType": "file", "name": "riesig.pdf", "size": 100_001}})).await;
    assert_eq!(r.status, 400);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let r = t.post(&cus, &tok, json!({"AttachmentItem": {"attachmentType": "file", "name": "plan.pdf", "size": data.len(), "contentType": "application/pdf"}})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["nextExpectedRanges"], json!(["0-"]));
    let upload = r.body["uploadUrl"].as_str().unwrap().to_string();
    assert!(upload.contains("authtoken="));
    let put = |start: usize, end: usize, with_auth: bool| {
        let t = &t;
        let upload = upload.clone();
        let chunk = data[start..=end].to_vec();
        let total = data.len();
        let tok = tok.clone();
        async move {
            let mut rb = t
                .http
                .put(&upload)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("bytes {start}-{end}/{total}"))
                .body(chunk);
            if with_auth {
                rb = rb.bearer_auth(tok);
            }
            let r = rb.send().await.unwrap();
            let s = r.status().as_u16();
            let loc = r
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string());
            let txt = r.text().await.unwrap();
            (s, loc, txt)
        }
    };
    // An Authorization header on the upload URL: Outlook's 401 InvalidAudience (body as
    // reported in microsoftgraph/msgraph-sdk-java-core#445).
    let (s, _, txt) = put(0, 3999, true).await;
    assert_eq!(s, 401, "no Authorization header on upload URLs");
    let v: Value = serde_json::from_str(&txt).unwrap();
    assert_eq!(v["error"]["code"], "InvalidAudience", "{txt}");
    assert_eq!(
        v["error"]["message"],
        "The audience claim value is invalid 'aud'."
    );
    assert!(v["error"]["innerError"]["requestId"].is_string());
    let (s, _, txt) = put(0, 3999, false).await;
    assert_eq!(s, 200, "{txt}");
    let v: Value = serde_json::from_str(&txt).unwrap();
    assert_eq!(v["nextExpectedRanges"], json!(["4000"]));
    assert_eq!(put(5000, 5999, false).await.0, 416, "out of order");
    assert_eq!(put(0, 999, false).await.0, 416, "overlap");
    assert_eq!(
        put(4000, 8999, false).await.0,
        413,
        "chunk larger than allowed"
    );
    assert_eq!(put(4000, 7999, false).await.0, 200);
    let (s, loc, _) = put(8000, 9999, false).await;
    assert_eq!(s, 201);
    let loc = loc.expect("Location of the new attachment");
    let aid = loc
        .rsplit("Attachments('")
        .next()
        .unwrap()
        .trim_end_matches("')")
        .to_string();
    let r = t
        .get(
            &format!("/v1.0/me/messages/{id}/attachments/{aid}/$value"),
            &tok,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = t
        .http
        .get(t.url(&format!("/v1.0/me/messages/{id}/attachments/{aid}/$value")))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), data);
    assert_eq!(put(0, 10, false).await.0, 404, "session finished");
    assert_eq!(
        t.post(&format!("/v1.0/me/messages/{id}/send"), &tok, json!({}))
            .await
            .status,
        202
    );
    let o = outbound(&t).await;
    assert_eq!(
        o[0]["attachments"][0]["sha256"],
        hex(&Sha256::digest(&data))
    );
    assert_eq!(o[0]["attachments"][0]["name"], "plan.pdf");
    // Inline adds above the upload threshold are refused.
    let id2 = t
        .post(
            "/v1.0/me/messages",
            &tok,
            simple_mail("k@example.com", "zwei"),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t.post(&format!("/v1.0/me/messages/{id2}/attachments"), &tok, json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "x", "contentBytes": b64(&data[..2000])})).await;
    assert_eq!(r.status, 413);
    let r = t
        .get(&format!("/v1.0/me/messages/{id2}/attachments"), &tok)
        .await;
    assert_eq!(r.body["value"], json!([]));
    // Sessions expire.
    let r = t
        .post(
            &format!("/v1.0/me/messages/{id2}/attachments/createUploadSession"),
            &tok,
            json!({"AttachmentItem": {"attachmentType": "file", "name": "p", "size": 2000}}),
        )
        .await;
    let up = r.body["uploadUrl"].as_str().unwrap().to_string();
    t.admin(
        Method::POST,
        "/clock/advance",
        Some(json!({"seconds": 901})),
    )
    .await;
    let r = t
        .http
        .put(&up)
        .header("Content-Range", "bytes 0-1999/2000")
        .body(vec![0u8; 2000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn outlook_side_send_and_deliver() {
    let t = T::new().await;
    let r = t
        .admin(
            Method::POST,
            &format!("/mailboxes/{ANNA}/outlook-send"),
            Some(json!({"to": ["kunde@example.com"], "subject": "Aus Outlook", "body": "direkt"})),
        )
        .await;
    let imid = r["internetMessageId"].as_str().unwrap().to_string();
    assert!(imid.starts_with('<') && imid.ends_with('>'));
    let tok = t.token(ANNA).await;
    let sent = sent_items(&t, &tok, "me").await;
    assert!(sent
        .iter()
        .any(|m| m["internetMessageId"] == imid.as_str() && m["subject"] == "Aus Outlook"));
    assert_eq!(outbound(&t).await[0]["via"], "outlook");
    let d = t.admin(Method::POST, &format!("/mailboxes/{ANNA}/deliver"), Some(json!({"folder": "Kunden", "subject": "In Kunden", "isRead": true, "attachments": [{"name": "gen.bin", "size": 5000}]}))).await;
    let r = t
        .get(
            &format!(
                "/v1.0/me/messages/{}?$expand=attachments",
                d["id"].as_str().unwrap()
            ),
            &tok,
        )
        .await;
    assert_eq!(r.body["attachments"][0]["size"], 5000);
    assert_eq!(r.body["isRead"], true);
    t.req(Method::DELETE, "/_sim/outbound", None, None, &[])
        .await;
    assert!(outbound(&t).await.is_empty());
}
