//! Where the sim is as strict as Exchange Online: query rules, the delta spellings,
//! asynchronous submission, alias sends per tenant, seeded attachments that are real files.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

/// Microsoft Graph "List messages", section "Using filter and orderby in the same query"
/// (api-reference/v1.0/api/user-list-messages.md): properties in `$orderby` must appear in
/// `$filter`, in the same order, before any other property; otherwise 400 `InefficientFilter`
/// "The restriction or sort order is too complex for this operation."
#[tokio::test]
async fn filter_with_orderby_follows_exchange_rules() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let base = "/v1.0/me/mailFolders/inbox/messages?$select=subject,receivedDateTime&$top=5";
    let refused = [
        // receivedDateTime is ordered but not filtered.
        "$orderby=receivedDateTime desc&$filter=isRead eq false",
        // Both filtered, but in another order than in $orderby.
        "$orderby=hasAttachments,receivedDateTime&$filter=receivedDateTime ge 2020-01-01T00:00:00Z and hasAttachments eq true",
        // The ordered property comes after one that is not ordered.
        "$orderby=receivedDateTime desc&$filter=isRead eq false and receivedDateTime ge 2020-01-01T00:00:00Z",
    ];
    for q in refused {
        let r = t.get(&format!("{base}&{q}"), &tok).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert_eq!(r.code(), "InefficientFilter", "{q}");
        assert_eq!(
            r.body["error"]["message"],
            "The restriction or sort order is too complex for this operation."
        );
    }
    let accepted = [
        "$orderby=receivedDateTime desc&$filter=receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false",
        "$orderby=hasAttachments,receivedDateTime&$filter=hasAttachments eq true and receivedDateTime ge 2020-01-01T00:00:00Z",
        "$orderby=receivedDateTime desc",
        "$filter=isRead eq false",
    ];
    for q in accepted {
        let r = t.get(&format!("{base}&{q}"), &tok).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
    }
    // The accepted combination really filters and orders.
    let r = t
        .get(&format!("{base}&$orderby=receivedDateTime desc&$filter=receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false"), &tok)
        .await;
    let dates: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["receivedDateTime"].as_str().unwrap())
        .collect();
    assert!(!dates.is_empty());
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
}

/// "Use query parameters" (concepts/query-parameters.md, `$search`): "You cannot use $filter
/// or $orderby in a search request". Codes and messages as Graph answers them (reported in
/// public issues: `SearchWithFilter`, `SearchWithOrderBy`).
#[tokio::test]
async fn search_is_not_combined_with_filter_or_orderby() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let r = t
        .get(
            "/v1.0/me/messages?$search=\"Grundriss\"&$filter=isRead eq false",
            &tok,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "SearchWithFilter");
    assert_eq!(
        r.body["error"]["message"],
        "The query parameter '$filter' is not supported with '$search'."
    );
    let r = t
        .get(
            "/v1.0/me/messages?$search=\"Grundriss\"&$orderby=receivedDateTime desc",
            &tok,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "SearchWithOrderBy");
    let r = t.get("/v1.0/me/messages?$search=\"Grundriss\"", &tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// "message: delta" (api-reference/v1.0/api/message-delta.md): "The only supported $filter
/// expressions are $filter=receivedDateTime+ge+{value} or $filter=receivedDateTime+gt+{value}",
/// "The only supported $orderby expression is $orderby=receivedDateTime+desc", "There is no
/// support for $search".
#[tokio::test]
async fn message_delta_accepts_only_the_documented_filter() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let d = "/v1.0/me/mailFolders/inbox/messages/delta";
    for q in [
        "$filter=receivedDateTime ge 2020-01-01T00:00:00Z",
        "$filter=receivedDateTime gt 2020-01-01T00:00:00Z",
        "$orderby=receivedDateTime desc",
    ] {
        let r = t.get(&format!("{d}?{q}"), &tok).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
    }
    for q in [
        "$filter=isRead eq false",
        "$filter=receivedDateTime lt 2020-01-01T00:00:00Z",
        "$filter=receivedDateTime ge 2020-01-01T00:00:00Z and isRead eq false",
        "$orderby=subject",
        "$orderby=receivedDateTime asc",
        "$search=\"Grundriss\"",
    ] {
        let r = t.get(&format!("{d}?{q}"), &tok).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
    }
    // The documented filter really filters.
    let all = t
        .all_pages(&format!("{d}?$select=receivedDateTime"), &tok, &[])
        .await
        .0;
    let mut dates: Vec<String> = all
        .iter()
        .map(|m| m["receivedDateTime"].as_str().unwrap().to_string())
        .collect();
    dates.sort();
    let cut = dates[dates.len() / 2].clone();
    let some = t
        .all_pages(
            &format!("{d}?$select=receivedDateTime&$filter=receivedDateTime ge {cut}"),
            &tok,
            &[],
        )
        .await
        .0;
    assert!(!some.is_empty() && some.len() < all.len());
    assert!(some
        .iter()
        .all(|m| m["receivedDateTime"].as_str().unwrap() >= cut.as_str()));
}

/// "Use delta query" (concepts/delta-query-overview.md) and the generated SDKs: `/delta` is
/// the short form of `/microsoft.graph.delta`; `delta()` is the function-call form.
#[tokio::test]
async fn delta_spellings_are_accepted() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let count = |v: &Value| v["value"].as_array().map(Vec::len).unwrap_or(0);
    let base = t
        .get("/v1.0/me/mailFolders/inbox/messages/delta?$top=5", &tok)
        .await;
    assert_eq!(base.status, 200);
    for spelling in [
        "delta()",
        "microsoft.graph.delta",
        "microsoft.graph.delta()",
        "Microsoft.Graph.Delta",
    ] {
        let r = t
            .get(
                &format!("/v1.0/me/mailFolders/inbox/messages/{spelling}?$top=5"),
                &tok,
            )
            .await;
        assert_eq!(r.status, 200, "messages/{spelling}: {}", r.text);
        assert_eq!(count(&r.body), count(&base.body));
        assert!(r.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("/delta?"));
        let r = t
            .get(&format!("/v1.0/me/mailFolders/{spelling}"), &tok)
            .await;
        assert_eq!(r.status, 200, "mailFolders/{spelling}: {}", r.text);
        assert!(count(&r.body) > 0);
    }
}

async fn folder_of(t: &T, user: &str, imid: &str) -> Vec<String> {
    let v = t
        .admin(
            Method::GET,
            &format!("/mailboxes/{user}/messages?limit=100000"),
            None,
        )
        .await;
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["internetMessageId"] == imid)
        .map(|m| m["folder"].as_str().unwrap().to_string())
        .collect()
}

async fn outbound_count(t: &T, imid: &str) -> usize {
    let v = t.admin(Method::GET, "/outbound", None).await;
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["internetMessageId"] == imid)
        .count()
}

/// "Send mail by using the Microsoft Graph API" (concepts/outlook-things-to-know-about-send-mail.md):
/// the message is created in Drafts and the 202 comes back; transport later moves it "from the
/// Drafts folder to the Sent Items folder". With a submission delay the sim does the same on
/// its clock.
#[tokio::test]
async fn asynchronous_submission_waits_in_drafts() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let d = t
        .admin(
            Method::PUT,
            &format!("/mailboxes/{ANNA}/submission-delay"),
            Some(json!({"ms": 30_000})),
        )
        .await;
    assert_eq!(d, json!({"minMs": 30000, "maxMs": 30000}));
    // sendMail: 202 at once, the message waits in Drafts.
    let imid = "<async-1@crm.example>";
    let mut m = simple_mail(BEN, "Asynchron");
    m["internetMessageId"] = json!(imid);
    let r = t
        .post("/v1.0/me/sendMail", &tok, json!({"message": m}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(folder_of(&t, ANNA, imid).await, vec!["Entwürfe"]);
    assert_eq!(outbound_count(&t, imid).await, 0);
    assert!(folder_of(&t, BEN, imid).await.is_empty());
    // Visible through Graph as a draft with our Message-ID.
    let f = format!("/v1.0/me/messages?$filter=internetMessageId eq '{imid}'&$select=isDraft");
    let r = t.get(&f, &tok).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    let st = t
        .admin(Method::GET, &format!("/mailboxes/{ANNA}"), None)
        .await;
    assert_eq!(st["pendingSubmissions"], 1);
    // Not yet after 29 s of sim time; sent after 30 s.
    t.admin(Method::POST, "/clock/advance", Some(json!({"seconds": 29})))
        .await;
    assert_eq!(outbound_count(&t, imid).await, 0);
    t.admin(Method::POST, "/clock/advance", Some(json!({"seconds": 2})))
        .await;
    assert_eq!(outbound_count(&t, imid).await, 1);
    assert_eq!(folder_of(&t, ANNA, imid).await, vec!["Gesendete Elemente"]);
    assert_eq!(folder_of(&t, BEN, imid).await, vec!["Posteingang"]);

    // A draft sent with /send, then deleted while it waits: the submission is cancelled.
    let imid2 = "<async-2@crm.example>";
    let mut m = simple_mail(BEN, "Abgebrochen");
    m["internetMessageId"] = json!(imid2);
    let id = t.post("/v1.0/me/messages", &tok, m).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .post(&format!("/v1.0/me/messages/{id}/send"), &tok, json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(folder_of(&t, ANNA, imid2).await, vec!["Entwürfe"]);
    let r = t.delete(&format!("/v1.0/me/messages/{id}"), &tok).await;
    assert_eq!(r.status, 204);
    t.admin(Method::POST, "/clock/advance", Some(json!({"seconds": 60})))
        .await;
    assert_eq!(outbound_count(&t, imid2).await, 0);
    assert!(folder_of(&t, BEN, imid2).await.is_empty());

    // Sending the waiting message a second time submits it a second time (the sim does not
    // forgive a client that sends twice).
    let imid3 = "<async-3@crm.example>";
    let mut m = simple_mail(BEN, "Zweimal");
    m["internetMessageId"] = json!(imid3);
    let id = t.post("/v1.0/me/messages", &tok, m).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..2 {
        let r = t
            .post(&format!("/v1.0/me/messages/{id}/send"), &tok, json!({}))
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
    }
    t.admin(Method::POST, "/clock/advance", Some(json!({"seconds": 31})))
        .await;
    assert_eq!(outbound_count(&t, imid3).await, 2);

    // Per mailbox: Ben's sends go out at once. A random range; bad input is refused.
    let btok = t.token(BEN).await;
    let imid4 = "<async-4@crm.example>";
    let mut m = simple_mail(ANNA, "Sofort");
    m["internetMessageId"] = json!(imid4);
    let r = t
        .post("/v1.0/me/sendMail", &btok, json!({"message": m}))
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(outbound_count(&t, imid4).await, 1);
    let r = t
        .req(
            Method::PUT,
            &format!("/_sim/mailboxes/{ANNA}/submission-delay"),
            None,
            Some(json!({"minMs": 5, "maxMs": 1})),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    let d = t
        .admin(
            Method::PUT,
            &format!("/mailboxes/{ANNA}/submission-delay"),
            Some(json!({"minMs": 0, "maxMs": 30_000})),
        )
        .await;
    assert_eq!(d, json!({"minMs": 0, "maxMs": 30000}));
    let d = t
        .admin(
            Method::GET,
            &format!("/mailboxes/{ANNA}/submission-delay"),
            None,
        )
        .await;
    assert_eq!(d["maxMs"], 30000);
}

/// `aliasSendMode` per tenant: `error` (403 ErrorSendAsDenied) or `rewrite` (the mail goes
/// out from the primary address). Public reports describe the rewrite; UNVERIFIED.
#[tokio::test]
async fn alias_send_modes() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let tenant = t.admin(Method::GET, "/tenants/contoso.example", None).await;
    assert_eq!(tenant["aliasSendMode"], "error");
    let send = |imid: &'static str| {
        let mut m = simple_mail(BEN, "Vom Alias");
        m["internetMessageId"] = json!(imid);
        m["from"] = json!({"emailAddress": {"address": "info@contoso.example"}});
        t.post("/v1.0/me/sendMail", &tok, json!({"message": m}))
    };
    let r = send("<alias-1@crm.example>").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "ErrorSendAsDenied");
    let v = t
        .admin(
            Method::PATCH,
            "/tenants/contoso.example",
            Some(json!({"aliasSendMode": "rewrite"})),
        )
        .await;
    assert_eq!(v["aliasSendMode"], "rewrite");
    let r = send("<alias-2@crm.example>").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let out = t.admin(Method::GET, "/outbound", None).await;
    let list = out["messages"].as_array().unwrap();
    let o = list
        .iter()
        .find(|m| m["internetMessageId"] == "<alias-2@crm.example>")
        .unwrap();
    assert_eq!(o["from"]["address"], ANNA);
    // The Sent Items copy shows the primary address too.
    let f = "/v1.0/me/mailFolders/sentitems/messages?$filter=internetMessageId eq '<alias-2@crm.example>'&$select=from";
    let r = t.get(f, &tok).await;
    assert_eq!(r.body["value"][0]["from"]["emailAddress"]["address"], ANNA);
    // With SendFromAliasEnabled the alias stays.
    t.admin(
        Method::PATCH,
        "/tenants/contoso.example",
        Some(json!({"sendFromAliasEnabled": true})),
    )
    .await;
    let r = send("<alias-3@crm.example>").await;
    assert_eq!(r.status, 202);
    let out = t.admin(Method::GET, "/outbound", None).await;
    let list = out["messages"].as_array().unwrap();
    let o = list
        .iter()
        .find(|m| m["internetMessageId"] == "<alias-3@crm.example>")
        .unwrap();
    assert_eq!(o["from"]["address"], "info@contoso.example");
    let r = t
        .req(
            Method::PATCH,
            "/_sim/tenants/contoso.example",
            None,
            Some(json!({"aliasSendMode": "silently"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
}

/// Seeded "PDF" attachments are valid PDF files: header, objects at the offsets the
/// cross-reference table gives, trailer, and the text "Exposé" (WinAnsi \351).
#[tokio::test]
async fn seeded_pdf_attachments_are_valid_pdfs() {
    let t = T::new().await;
    let tok = t.token(ANNA).await;
    let r = t
        .get(
            "/v1.0/me/mailFolders/inbox/messages?$filter=hasAttachments eq true&$top=3&$expand=attachments",
            &tok,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let msgs = r.body["value"].as_array().unwrap();
    assert!(!msgs.is_empty());
    for m in msgs {
        let a = &m["attachments"][0];
        assert_eq!(a["contentType"], "application/pdf");
        let data = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            a["contentBytes"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(a["size"].as_u64().unwrap() as usize, data.len());
        check_pdf(&data);
    }
}

fn find(data: &[u8], pat: &[u8]) -> Option<usize> {
    data.windows(pat.len()).position(|w| w == pat)
}

fn check_pdf(data: &[u8]) {
    assert!(data.starts_with(b"%PDF-1."));
    assert!(data.ends_with(b"%%EOF\n"));
    assert!(
        find(data, b"Expos\\351").is_some(),
        "the page shows Expos\u{e9}"
    );
    let sx = data.windows(10).rposition(|w| w == b"startxref\n").unwrap() + 10;
    let tail = std::str::from_utf8(&data[sx..]).unwrap();
    let xref: usize = tail.lines().next().unwrap().trim().parse().unwrap();
    let table = std::str::from_utf8(&data[xref..]).unwrap();
    let mut lines = table.lines();
    assert_eq!(lines.next(), Some("xref"));
    let n: usize = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(lines.next().unwrap().ends_with(" f "));
    for obj in 1..n {
        let line = lines.next().unwrap();
        assert_eq!(line.len(), 19, "xref lines are 20 bytes with the newline");
        let off: usize = line[..10].parse().unwrap();
        assert!(
            data[off..].starts_with(format!("{obj} 0 obj").as_bytes()),
            "object {obj} at {off}"
        );
    }
    let l = find(data, b"/Length ").unwrap() + 8;
    let len_text: String = data[l..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    let stream_len: usize = len_text.parse().unwrap();
    let s = find(data, b"stream\n").unwrap() + 7;
    assert_eq!(&data[s + stream_len..s + stream_len + 9], b"endstream");
}
