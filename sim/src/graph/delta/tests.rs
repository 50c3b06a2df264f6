//! The `messages/delta` page, byte for byte against [`super::reference`] (the page as the sim
//! wrote it before it was made faster): every folder, first rounds and delta rounds (with
//! removals), `$select` variants, immutable ids, body content type preferences, `changeType`,
//! `$filter`, page sizes from 1 to 1000; and single messages as the list and item answers write
//! them (default properties, `$expand=attachments`).

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::reference;
use super::{decode, message_page, PageOpts, Token};
use crate::graph::json::MessageView;
use crate::state::{Addr, Attachment, Mailbox, Message};

const BASE: &str = "https://127.0.0.1:9443/v1.0";
const NOW: i64 = 1_764_460_800;

fn att(name: &str, inline: bool) -> Attachment {
    Attachment {
        id: format!("AAMkADatt{name}"),
        name: name.to_string(),
        content_type: "image/png".into(),
        is_inline: inline,
        content_id: inline.then(|| format!("{name}@cid")),
        data: vec![1, 2, 3, 4, 5],
        last_modified: NOW - 50,
    }
}

/// Hand-made messages covering what the serialisation treats differently.
fn special(me: &Addr) -> Vec<Message> {
    let mut v = vec![];
    let mut m = Message::blank(NOW - 1000);
    m.subject = "Ünïcødé \u{1F600} \"quoted\" back\\slash\ttab\u{1}ctl\u{7f} </script>".into();
    m.body_html = true;
    m.body = "<html><HEAD><style>p{}</style></HEAD><BODY class=x><p>Gr&uuml;&szlig;e &amp; &lt;tags&gt; &quot;q&quot; &#39;s&#39;&nbsp;nbsp</p><br/><div>Zeile\u{a0}zwei</div><ul><li>eins</li><li>zwei</li></ul><h1>T</h1><table><tr><td>a</td></tr></table>\u{1F600} Emoji</BODY></html>".into();
    m.from = Some(Addr::new("Zoë \"Z\" Ölmann", "zoe@example.org"));
    m.sender = Some(Addr::new("Assistant", "assist@example.org"));
    m.to = vec![me.clone(), Addr::new("", "noname@example.org")];
    m.cc = vec![Addr::new("Cc Person", "cc@example.org")];
    m.bcc = vec![Addr::new("Bcc Person", "bcc@example.org")];
    m.reply_to = vec![Addr::new("Reply", "reply@example.org")];
    m.categories = vec!["Red category".into(), "Kategorie Grün".into()];
    m.flag = "flagged".into();
    m.importance = "high".into();
    m.inference = "other".into();
    m.delivery_receipt = true;
    m.read_receipt = true;
    m.headers = vec![
        ("X-Mailer".into(), "Sim \"1.0\"".into()),
        ("Subject".into(), "=?utf-8?q?=C3=9C?=".into()),
    ];
    m.attachments = vec![att("report.pdf", false), att("logo.png", true)];
    v.push(m);

    // Only inline attachments, a long text body (preview cut at 255 characters, multi-byte).
    let mut m = Message::blank(NOW - 900);
    m.subject = String::new();
    m.body = format!(
        "  Anfang\r\n\r\n{}\n\tEnde  ",
        "Größenänderung ü € \u{1F4E7} ".repeat(30)
    );
    m.attachments = vec![att("inline.png", true)];
    m.sent = None;
    v.push(m);

    // A draft without from/sender/recipients, empty body.
    let mut m = Message::blank(NOW - 800);
    m.is_draft = true;
    m.is_read = true;
    m.body = String::new();
    v.push(m);

    // HTML without <body>, upper-case tags, a self-closing break, entities only.
    let mut m = Message::blank(NOW - 700);
    m.body_html = true;
    m.body = "<DIV>one</DIV><BR/>two &amp;amp; three<P>four".into();
    m.sent = Some(NOW - 701);
    v.push(m);

    // Dates at the edges of what the formatter sees.
    for (i, t) in [
        0i64,
        -86_400 * 365 * 3 - 1,
        951_782_400,
        4_102_444_799,
        253_402_300_799,
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = Message::blank(t);
        m.received = t;
        m.sent = Some(t - 59);
        m.subject = format!("date edge {i}");
        m.body = "x".into();
        v.push(m);
    }
    // A date chrono cannot represent: the page writes the epoch, as before.
    let mut m = Message::blank(i64::MAX);
    m.received = i64::MIN / 2;
    m.sent = Some(i64::MAX / 2);
    m.subject = "out of range".into();
    v.push(m);
    v
}

struct Fixture {
    mb: Mailbox,
    folders: Vec<(u32, String)>,
}

fn fixture() -> Fixture {
    let me = Addr::new("Anna Becker", "anna@contoso.example");
    let mut mb = Mailbox::new(&me.address, "en-US");
    let projects = mb
        .add_folder("Projekte Ä", mb.well_known("inbox"), false)
        .unwrap();
    let hidden = mb.add_folder("Hidden", crate::state::ROOT, true).unwrap();
    let mut folders: Vec<(u32, String)> = [
        "inbox",
        "sentitems",
        "drafts",
        "archive",
        "deleteditems",
        "junkemail",
    ]
    .iter()
    .map(|n| (mb.well_known(n), n.to_string()))
    .collect();
    folders.push((projects, mb.folders[projects as usize].id.clone()));
    folders.push((hidden, mb.folders[hidden as usize].id.clone()));
    let mut rng = StdRng::seed_from_u64(13);
    let keys: Vec<u32> = folders.iter().map(|f| f.0).collect();
    for (i, m) in special(&me).into_iter().enumerate() {
        mb.insert(m, keys[i % keys.len()]);
    }
    // Generated mail interleaved over the folders, as a seeded mailbox is.
    for i in 0..400i64 {
        let f = keys[(i as usize * 7 + i as usize / 3) % keys.len()];
        let m = crate::seed::generate(
            &mut rng,
            &me,
            f == keys[1],
            i % 3 == 0,
            NOW - 100_000 + i * 97,
            i % 5 == 0,
        );
        mb.insert(m, f);
    }
    Fixture { mb, folders }
}

/// Changes after the first round: updates (flags, read state, bodies), moves, copies,
/// deletions, and new mail.
fn change(fx: &mut Fixture) {
    let mb = &mut fx.mb;
    let mut keys: Vec<u64> = mb.messages.keys().copied().collect();
    keys.sort();
    let inbox = mb.well_known("inbox");
    let archive = mb.well_known("archive");
    for (i, k) in keys.iter().enumerate().step_by(3) {
        match i % 4 {
            0 => {
                mb.update(*k, NOW + 10, |m| {
                    m.is_read = !m.is_read;
                    m.flag = "complete".into();
                    m.categories.push("Blue".into());
                });
            }
            1 => {
                mb.update(*k, NOW + 11, |m| {
                    m.body_html = !m.body_html;
                    m.body = format!("<p>Neu {i} &amp; mehr</p>");
                    m.subject = format!("geändert {i}");
                });
            }
            2 => {
                let dest = if mb.messages[k].folder == inbox {
                    archive
                } else {
                    inbox
                };
                mb.move_to(*k, dest);
            }
            _ => {
                mb.delete(*k);
            }
        }
    }
    for k in keys.iter().skip(1).step_by(17) {
        if mb.messages.contains_key(k) {
            mb.copy_to(*k, archive, NOW + 12);
        }
    }
    let me = Addr::new("Anna Becker", "anna@contoso.example");
    let mut rng = StdRng::seed_from_u64(14);
    for i in 0..30 {
        let f = fx.folders[i % fx.folders.len()].0;
        mb.insert(
            crate::seed::generate(&mut rng, &me, false, true, NOW + 20 + i as i64, i % 2 == 0),
            f,
        );
    }
}

#[derive(Clone)]
struct Variant {
    sel: Option<Vec<String>>,
    ps: usize,
    ct: Option<&'static str>,
    flt: Option<String>,
    immutable: bool,
    body_as_text: Option<bool>,
}

fn sel(s: &str) -> Option<Vec<String>> {
    Some(s.split(',').map(|x| x.to_string()).collect())
}

fn variants() -> Vec<Variant> {
    let library = "id,parentFolderId,internetMessageId,conversationId,subject,from,toRecipients,\
ccRecipients,bccRecipients,replyTo,receivedDateTime,sentDateTime,isRead,isDraft,hasAttachments,\
importance,flag,categories,bodyPreview,changeKey";
    let all = "subject,body,uniqueBody,internetMessageHeaders,webLink,conversationIndex,\
createdDateTime,lastModifiedDateTime,sender,isDeliveryReceiptRequested,isReadReceiptRequested,\
inferenceClassification,id,bodyPreview,changeKey,categories";
    let plain = Variant {
        sel: None,
        ps: 1000,
        ct: None,
        flt: None,
        immutable: false,
        body_as_text: None,
    };
    let mut v = vec![plain.clone()];
    for immutable in [false, true] {
        v.push(Variant {
            sel: sel(library),
            immutable,
            ..plain.clone()
        });
        v.push(Variant {
            sel: sel(library),
            immutable,
            ps: 7,
            ..plain.clone()
        });
    }
    for body_as_text in [Some(true), Some(false)] {
        v.push(Variant {
            body_as_text,
            ..plain.clone()
        });
        v.push(Variant {
            sel: sel(all),
            body_as_text,
            immutable: true,
            ps: 13,
            ..plain.clone()
        });
    }
    v.push(Variant {
        sel: sel("id"),
        ps: 1,
        ..plain.clone()
    });
    v.push(Variant {
        sel: sel("bodyPreview,body,id,subject"),
        ps: 50,
        ..plain.clone()
    });
    for ct in ["created", "updated", "deleted"] {
        v.push(Variant {
            ct: Some(ct),
            ps: 11,
            sel: sel(library),
            ..plain.clone()
        });
    }
    v.push(Variant {
        flt: Some(format!(
            "receivedDateTime ge {}",
            crate::clock::iso(NOW - 60_000)
        )),
        ps: 20,
        ..plain.clone()
    });
    v
}

fn first_token(mb: &Mailbox, folder: u32, v: &Variant) -> Token {
    Token {
        f: folder,
        lo: 0,
        hi: mb.seq,
        after: 0,
        e: mb.sync_epoch,
        t: NOW,
        sel: v.sel.clone(),
        ps: None,
        ct: v.ct.map(|s| s.to_string()),
        flt: v.flt.clone(),
        hid: None,
    }
}

/// Pages one round from `t`, comparing each page with the reference; returns the delta
/// token that ends the round and what the pages held.
fn round(mb: &Mailbox, folder: u32, fref: &str, mut t: Token, v: &Variant) -> (Token, Stats) {
    let flt = v
        .flt
        .as_deref()
        .map(|f| crate::graph::filter::parse(f).unwrap());
    let o = PageOpts {
        base: BASE,
        mb_path: "me",
        folder_ref: fref,
        immutable: v.immutable,
        body_as_text: v.body_as_text,
    };
    let mut stats = Stats::default();
    for _ in 0..10_000 {
        let new = message_page(mb, folder, &t, flt.as_ref(), v.ps, &o);
        let old = reference::message_page(mb, folder, &t, flt.as_ref(), v.ps, &o);
        assert_eq!(
            String::from_utf8(new.clone()).unwrap(),
            String::from_utf8(old).unwrap(),
            "folder {fref}, token after {} lo {}",
            t.after,
            t.lo
        );
        let page: serde_json::Value = serde_json::from_slice(&new).unwrap();
        let items = page["value"].as_array().unwrap();
        assert!(items.len() <= v.ps);
        stats.pages += 1;
        stats.items += items.len();
        stats.removed += items.iter().filter(|i| i.get("@removed").is_some()).count();
        if let Some(next) = page["@odata.nextLink"].as_str() {
            t = decode(next.split("$skiptoken=").nth(1).unwrap()).unwrap();
        } else {
            let link = page["@odata.deltaLink"].as_str().unwrap();
            return (
                decode(link.split("$deltatoken=").nth(1).unwrap()).unwrap(),
                stats,
            );
        }
    }
    panic!("the round did not end");
}

#[derive(Default, Debug)]
struct Stats {
    pages: usize,
    items: usize,
    removed: usize,
}

#[test]
fn delta_pages_are_byte_identical_to_the_reference() {
    let mut fx = fixture();
    let vs = variants();
    let mut first = Stats::default();
    let mut ends = vec![];
    for v in &vs {
        for (f, fref) in &fx.folders {
            let (end, s) = round(&fx.mb, *f, fref, first_token(&fx.mb, *f, v), v);
            first.pages += s.pages;
            first.items += s.items;
            ends.push(end);
        }
    }
    assert!(first.items > 4000, "{first:?}");
    assert!(first.pages > 400, "{first:?}");
    change(&mut fx);
    let mut second = Stats::default();
    let mut ends = ends.into_iter();
    for v in &vs {
        for (f, fref) in &fx.folders {
            // What `state` does with a `$deltatoken`.
            let mut t = ends.next().unwrap();
            t.hi = fx.mb.seq;
            t.after = t.lo;
            let (_, s) = round(&fx.mb, *f, fref, t, v);
            second.pages += s.pages;
            second.items += s.items;
            second.removed += s.removed;
        }
    }
    assert!(second.items > 1000, "{second:?}");
    assert!(second.removed > 100, "{second:?}");
    // As after `--state`: the indexes and previews, not persisted, are rebuilt.
    let mut loaded: Mailbox =
        serde_json::from_str(&serde_json::to_string(&fx.mb).unwrap()).unwrap();
    loaded.reindex();
    assert_eq!(loaded.by_folder_seq, fx.mb.by_folder_seq);
    assert!(loaded
        .messages
        .values()
        .all(|m| m.preview_cache.get().is_none()));
    let mut third = Stats::default();
    for v in &vs {
        for (f, fref) in &fx.folders {
            let (_, s) = round(&loaded, *f, fref, first_token(&loaded, *f, v), v);
            third.items += s.items;
        }
    }
    assert!(third.items > 4000, "{third:?}");
}

#[test]
fn single_messages_are_byte_identical_to_the_reference() {
    let mut fx = fixture();
    change(&mut fx);
    let mb = &fx.mb;
    let mut n = 0;
    for m in mb.messages.values() {
        for (sel, expand, odata_type, imm, bat) in [
            (None, false, false, false, None),
            (None, true, false, true, None),
            (None, true, true, false, Some(true)),
            (sel("body,subject,id"), false, false, true, Some(false)),
        ] {
            let view = MessageView {
                mb,
                m,
                immutable: imm,
                sel: sel.as_deref(),
                expand_attachments: expand,
                odata_type,
                body_as_text: bat,
            };
            let mut new = vec![];
            view.write_json(&mut new);
            let old_view = reference::MessageView {
                mb,
                m,
                immutable: imm,
                sel: sel.as_deref(),
                expand_attachments: expand,
                odata_type,
                body_as_text: bat,
            };
            let old = serde_json::to_vec(&old_view).unwrap();
            assert_eq!(String::from_utf8(new), String::from_utf8(old));
            // Single-item answers go through a `Value`.
            assert_eq!(view.to_value(), serde_json::to_value(&old_view).unwrap());
            n += 1;
        }
    }
    assert!(n > 1000);
}

#[test]
fn previews_are_the_reference_previews() {
    use rand::Rng;
    // Pieces that the tag, entity and whitespace handling treat differently.
    const PIECES: &[&str] = &[
        "<",
        ">",
        "/",
        "&",
        ";",
        "amp;",
        "lt",
        "&nbsp;",
        "&amp;",
        "&lt;",
        "&gt;",
        "&quot;",
        "&#39;",
        "&amp;lt;",
        "&am",
        "p;",
        "<p>",
        "</P>",
        "<br/>",
        "<BR >",
        "<div class=\"x\">",
        "</div >",
        "<li>",
        "<tr>",
        "<h1>",
        "<h4>",
        "<td>",
        "<span>",
        "<body>",
        "<BODY id=1>",
        "<bod",
        "<head><title>t</title></head>",
        "<html>",
        "<!-- c -->",
        "<p/>",
        "</ p>",
        "<p\u{a0}x>",
        "<br\u{3000}>",
        " ",
        "  ",
        "\t",
        "\r\n",
        "\n",
        "\u{a0}",
        "\u{2003}",
        "\u{3000}",
        "\u{85}",
        "word",
        "Größe",
        "€",
        "\u{1F600}",
        "ab",
        "x",
        "\"",
        "'",
        "\u{1}",
    ];
    let mut rng = StdRng::seed_from_u64(99);
    let mut nonempty = 0;
    for i in 0..20_000 {
        let n = rng.gen_range(0..if i % 10 == 0 { 400 } else { 40 });
        let body: String = (0..n)
            .map(|_| PIECES[rng.gen_range(0..PIECES.len())])
            .collect();
        for html in [true, false] {
            let mut m = Message::blank(NOW);
            m.body_html = html;
            m.body = body.clone();
            let want = reference::preview(&m);
            assert_eq!(
                crate::graph::json::preview(&m),
                want,
                "{body:?} html {html}"
            );
            nonempty += usize::from(!want.is_empty());
        }
    }
    assert!(nonempty > 30_000);
}

#[test]
fn strings_are_escaped_as_serde_json_escapes_them() {
    use rand::Rng;
    let mut rng = StdRng::seed_from_u64(7);
    let alphabet: Vec<char> = (0u32..0x80)
        .filter_map(char::from_u32)
        .chain(['é', '€', '\u{1F600}', '\u{2028}', '\u{7f}', '\u{80}'])
        .collect();
    for _ in 0..20_000 {
        let n = rng.gen_range(0..40);
        let s: String = (0..n)
            .map(|_| {
                if rng.gen_bool(0.9) {
                    alphabet[rng.gen_range(32..95)]
                } else {
                    alphabet[rng.gen_range(0..alphabet.len())]
                }
            })
            .collect();
        let mut out = vec![];
        crate::graph::json::write_str(&mut out, &s);
        assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s:?}");
    }
}
