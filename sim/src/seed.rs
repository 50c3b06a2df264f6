//! Seeds: the `demo` world and bulk generation of messages.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::state::{
    new_message_id, Addr, AliasSendMode, App, Attachment, Grant, Message, Platform, Tenant, User,
    UserKind, World, CONSUMERS_TENANT_ID,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seed {
    Demo,
    Empty,
}

impl std::str::FromStr for Seed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "demo" => Ok(Seed::Demo),
            "empty" => Ok(Seed::Empty),
            _ => Err(format!("unknown seed '{s}' (demo|empty)")),
        }
    }
}

pub const CONTOSO_TENANT_ID: &str = "2f9b1a63-8d4e-4c7a-9b15-6e0d3c2a7f41";
pub const FABRIKAM_TENANT_ID: &str = "5a7e3d21-0c9f-4b6e-8a42-9f1d7c3e5b62";
pub const ANNA_ID: &str = "a1b2c3d4-0001-4a00-8000-00000000a001";
pub const BEN_ID: &str = "a1b2c3d4-0002-4a00-8000-00000000b002";
pub const VERTRIEB_ID: &str = "a1b2c3d4-0003-4a00-8000-00000000c003";
pub const FABRIKAM_ADMIN_ID: &str = "a1b2c3d4-0004-4a00-8000-00000000d004";
pub const EVE_ID: &str = "a1b2c3d4-0005-4a00-8000-00000000e005";
pub const MAX_ID: &str = "a1b2c3d4-0006-4a00-8000-00000000f006";
pub const DEMO_PASSWORD: &str = "Passw0rd!";

/// The seed's fixed reference time (2026-03-02T09:00:00Z); generated mail is older.
pub const DEMO_NOW: i64 = 1_772_442_000;

/// The consumers tenant (personal Microsoft accounts), present in every world.
pub fn consumers_tenant() -> Tenant {
    Tenant {
        id: CONSUMERS_TENANT_ID.into(),
        display_name: "Microsoft Accounts".into(),
        domains: vec!["outlook.example".into()],
        locale: "en-US".into(),
        send_from_alias_enabled: false,
        alias_send_mode: AliasSendMode::Error,
        admin_consent_required: false,
        consented_apps: BTreeSet::new(),
        consumers: true,
    }
}

pub fn tenant(id: &str, name: &str, domain: &str, locale: &str, admin_consent: bool) -> Tenant {
    Tenant {
        id: id.into(),
        display_name: name.into(),
        domains: vec![domain.into()],
        locale: locale.into(),
        send_from_alias_enabled: false,
        // Seed default: refuse (the tenant's choice is switchable with PATCH /_sim/tenants).
        alias_send_mode: AliasSendMode::Error,
        admin_consent_required: admin_consent,
        consented_apps: BTreeSet::new(),
        consumers: false,
    }
}

#[allow(clippy::too_many_arguments)]
pub fn user(
    id: &str,
    tenant_id: &str,
    upn: &str,
    display: &str,
    given: Option<&str>,
    surname: Option<&str>,
    password: Option<&str>,
    locale: &str,
) -> User {
    User {
        id: id.into(),
        tenant_id: tenant_id.into(),
        upn: upn.into(),
        display_name: display.into(),
        given_name: given.map(Into::into),
        surname: surname.map(Into::into),
        job_title: None,
        password: password.map(Into::into),
        mail: upn.into(),
        aliases: vec![],
        locale: locale.into(),
        kind: UserKind::Member,
        is_admin: false,
        grants: vec![],
        consents: BTreeMap::new(),
        revoked_before: 0,
        access_not_before: 0,
        rt_revoked_before: 0,
    }
}

/// The demo's public client ("Mobile and desktop applications" platform): what the tests use.
pub const DEMO_APP_ID: &str = "11111111-2222-3333-4444-555555555555";
/// Its display name and publisher domain (shown on the sign-in and consent pages).
pub const DEMO_APP_NAME: &str = "Immo CRM Mail";
pub const DEMO_PUBLISHER_DOMAIN: &str = "crm.example";
/// Loopback redirect URIs registered for [`DEMO_APP_ID`].
pub const DEMO_APP_REDIRECTS: &[&str] = &[
    "http://localhost:8080/o365/callback",
    "http://localhost:8400/callback",
    "http://127.0.0.1/o365/callback",
];
/// The demo's web app (confidential client, "Web" platform) with its secret: what `make demo`
/// and the README use, as a CRM on a server registers it.
pub const DEMO_WEB_APP_ID: &str = "22222222-3333-4444-5555-666666666666";
pub const DEMO_WEB_APP_SECRET: &str = "Xq38Q~demo.web.secret-value_0123456789abc";
pub const DEMO_WEB_APP_REDIRECT: &str = "https://crm.example/o365/callback";

/// The demo's app registrations.
pub fn demo_apps() -> Vec<App> {
    vec![
        App {
            client_id: DEMO_APP_ID.into(),
            display_name: DEMO_APP_NAME.into(),
            publisher_domain: Some(DEMO_PUBLISHER_DOMAIN.into()),
            platform: Platform::Public,
            redirect_uris: DEMO_APP_REDIRECTS.iter().map(|s| s.to_string()).collect(),
            client_secret: None,
        },
        App {
            client_id: DEMO_WEB_APP_ID.into(),
            display_name: DEMO_APP_NAME.into(),
            publisher_domain: Some(DEMO_PUBLISHER_DOMAIN.into()),
            platform: Platform::Web,
            redirect_uris: vec![DEMO_WEB_APP_REDIRECT.into()],
            client_secret: Some(DEMO_WEB_APP_SECRET.into()),
        },
    ]
}

pub fn build(seed: Seed) -> World {
    let mut w = World::default();
    w.tenants.push(consumers_tenant());
    if seed == Seed::Empty {
        return w;
    }
    for app in demo_apps() {
        w.apps.insert(app.client_id.clone(), app);
    }
    w.tenants.push(tenant(
        CONTOSO_TENANT_ID,
        "Contoso GmbH",
        "contoso.example",
        "de-DE",
        false,
    ));
    w.tenants.push(tenant(
        FABRIKAM_TENANT_ID,
        "Fabrikam Inc.",
        "fabrikam.example",
        "en-US",
        true,
    ));
    let pw = Some(DEMO_PASSWORD);
    let mut anna = user(
        ANNA_ID,
        CONTOSO_TENANT_ID,
        "anna.schmidt@contoso.example",
        "Anna Schmidt",
        Some("Anna"),
        Some("Schmidt"),
        pw,
        "de-DE",
    );
    anna.aliases = vec!["info@contoso.example".into()];
    anna.job_title = Some("Immobilienmaklerin".into());
    let ben = user(
        BEN_ID,
        CONTOSO_TENANT_ID,
        "ben.mueller@contoso.example",
        "Ben Müller",
        Some("Ben"),
        Some("Müller"),
        pw,
        "de-DE",
    );
    let mut vertrieb = user(
        VERTRIEB_ID,
        CONTOSO_TENANT_ID,
        "vertrieb@contoso.example",
        "Vertrieb",
        None,
        None,
        None,
        "de-DE",
    );
    vertrieb.kind = UserKind::Shared;
    vertrieb.grants.push(Grant {
        user_id: ANNA_ID.into(),
        full_access: true,
        send_as: true,
        send_on_behalf: false,
    });
    let mut admin = user(
        FABRIKAM_ADMIN_ID,
        FABRIKAM_TENANT_ID,
        "admin@fabrikam.example",
        "Fabrikam Admin",
        Some("Fabrikam"),
        Some("Admin"),
        pw,
        "en-US",
    );
    admin.is_admin = true;
    let eve = user(
        EVE_ID,
        FABRIKAM_TENANT_ID,
        "eve@fabrikam.example",
        "Eve Adams",
        Some("Eve"),
        Some("Adams"),
        pw,
        "en-US",
    );
    let max = user(
        MAX_ID,
        CONSUMERS_TENANT_ID,
        "max.muster@outlook.example",
        "Max Muster",
        Some("Max"),
        Some("Muster"),
        pw,
        "de-DE",
    );
    for u in [anna, ben, vertrieb, admin, eve, max] {
        w.add_user(u).expect("demo user");
    }

    let mut rng = StdRng::seed_from_u64(0x0365);
    // Anna: a few hundred messages across German folders, plus "Gesendete Objekte".
    {
        let mb = w.mailboxes.get_mut(ANNA_ID).unwrap();
        let me = Addr::new("Anna Schmidt", "anna.schmidt@contoso.example");
        let inbox = mb.well_known("inbox");
        let kunden = mb.add_folder("Kunden", inbox, false).unwrap();
        let objekte = mb
            .add_folder("Gesendete Objekte", crate::state::ROOT, false)
            .unwrap();
        let spec: [(&str, u32, usize, f64, bool); 7] = [
            ("inbox", inbox, 180, 0.25, false),
            ("kunden", kunden, 20, 0.2, false),
            ("sentitems", mb.well_known("sentitems"), 40, 0.0, true),
            (
                "deleteditems",
                mb.well_known("deleteditems"),
                12,
                0.1,
                false,
            ),
            ("junkemail", mb.well_known("junkemail"), 6, 0.5, false),
            ("archive", mb.well_known("archive"), 30, 0.0, false),
            ("objekte", objekte, 50, 0.0, true),
        ];
        for (name, folder, n, unread, sent) in spec {
            let age = if name == "objekte" { 400 * 86400 } else { 0 };
            for i in 0..n {
                let t = DEMO_NOW - age - (i as i64) * 3 * 3600 - rng.gen_range(0..3600);
                let u = rng_bool(&mut rng, unread);
                let m = generate(&mut rng, &me, sent, u, t, i % 9 == 0);
                mb.insert(m, folder);
            }
        }
        for i in 0..3 {
            let mut m = generate(&mut rng, &me, true, false, DEMO_NOW - i * 600, false);
            m.is_draft = true;
            m.is_read = true;
            m.sent = None;
            let drafts = mb.well_known("drafts");
            mb.insert(m, drafts);
        }
    }
    for (id, name, addr, n, unread) in [
        (BEN_ID, "Ben Müller", "ben.mueller@contoso.example", 20, 0.3),
        (VERTRIEB_ID, "Vertrieb", "vertrieb@contoso.example", 30, 0.4),
        (
            FABRIKAM_ADMIN_ID,
            "Fabrikam Admin",
            "admin@fabrikam.example",
            5,
            0.2,
        ),
        (EVE_ID, "Eve Adams", "eve@fabrikam.example", 25, 0.3),
        (MAX_ID, "Max Muster", "max.muster@outlook.example", 15, 0.3),
    ] {
        let mb = w.mailboxes.get_mut(id).unwrap();
        let me = Addr::new(name, addr);
        let inbox = mb.well_known("inbox");
        let sent = mb.well_known("sentitems");
        for i in 0..n {
            let t = DEMO_NOW - (i as i64) * 5 * 3600;
            let u = rng_bool(&mut rng, unread);
            let m = generate(&mut rng, &me, false, u, t, i % 7 == 0);
            mb.insert(m, inbox);
        }
        for i in 0..5 {
            let t = DEMO_NOW - (i as i64) * 7 * 3600;
            let m = generate(&mut rng, &me, true, false, t, false);
            mb.insert(m, sent);
        }
    }
    w
}

fn rng_bool(rng: &mut StdRng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

const FIRST: &[&str] = &[
    "Lena", "Jonas", "Sophie", "Lukas", "Marie", "Felix", "Emma", "Paul", "Mia", "Leon", "Hannah",
    "Tom", "Clara", "David", "Julia", "Eric",
];
const LAST: &[&str] = &[
    "Becker",
    "Wagner",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Braun",
    "Zimmermann",
    "Hartmann",
    "Lange",
    "Krause",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "beispiel.de",
    "kunde.example",
    "mail.example.org",
    "immo.example",
];
const SUBJECTS: &[&str] = &[
    "Besichtigungstermin Musterstraße 12",
    "Anfrage zu Objekt",
    "Exposé Wohnung Altstadt",
    "Rückfrage Kaufvertrag",
    "Terminbestätigung",
    "Unterlagen für die Finanzierung",
    "Re: Mietangebot",
    "Neue Preisvorstellung",
    "Energieausweis",
    "Grundriss anbei",
    "Viewing appointment",
    "Offer for the apartment",
    "Question about the listing",
    "Invoice",
    "Meeting notes",
];
const SENTENCES: &[&str] = &[
    "Vielen Dank für Ihre Nachricht.",
    "Anbei finden Sie die gewünschten Unterlagen.",
    "Können wir den Termin auf Donnerstag verschieben?",
    "Die Wohnung ist ab dem 1. des Monats verfügbar.",
    "Bitte melden Sie sich bei Fragen jederzeit.",
    "Thank you for your interest in the property.",
    "Please find the documents attached.",
    "Let me know if the time works for you.",
    "Mit freundlichen Grüßen",
    "Best regards",
];

pub fn random_person(rng: &mut impl Rng) -> Addr {
    let f = FIRST[rng.gen_range(0..FIRST.len())];
    let l = LAST[rng.gen_range(0..LAST.len())];
    let d = DOMAINS[rng.gen_range(0..DOMAINS.len())];
    Addr::new(
        &format!("{f} {l}"),
        &format!(
            "{}.{}@{d}",
            f.to_lowercase(),
            l.to_lowercase().replace('ö', "oe")
        ),
    )
}

/// A plausible message to (or, with `outgoing`, from) `me`.
pub fn generate(
    rng: &mut impl Rng,
    me: &Addr,
    outgoing: bool,
    unread: bool,
    t: i64,
    attach: bool,
) -> Message {
    let other = random_person(rng);
    let mut m = Message::blank(t);
    m.received = t;
    m.sent = Some(t - rng.gen_range(1..120));
    m.subject = SUBJECTS[rng.gen_range(0..SUBJECTS.len())].to_string();
    let n = rng.gen_range(2..5);
    let text: Vec<&str> = (0..n)
        .map(|_| SENTENCES[rng.gen_range(0..SENTENCES.len())])
        .collect();
    if rng.gen_bool(0.5) {
        m.body_html = true;
        m.body = format!(
            "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body><p>{}</p></body></html>",
            text.join("</p><p>")
        );
    } else {
        m.body = text.join("\r\n\r\n");
    }
    if outgoing {
        m.from = Some(me.clone());
        m.sender = Some(me.clone());
        m.to = vec![other];
        m.is_read = true;
    } else {
        m.from = Some(other.clone());
        m.sender = Some(other);
        m.to = vec![me.clone()];
        m.is_read = !unread;
    }
    m.internet_message_id = new_message_id();
    m.importance = if rng.gen_bool(0.05) { "high" } else { "normal" }.into();
    m.inference = if rng.gen_bool(0.8) {
        "focused"
    } else {
        "other"
    }
    .into();
    if attach {
        let number = rng.gen_range(100..999);
        let data = minimal_pdf(&format!("Expos\u{e9} Nr. {number}"));
        m.attachments.push(Attachment {
            id: crate::state::exchange_id("AAMkAD", 40),
            name: format!("Dokument-{number}.pdf"),
            content_type: "application/pdf".into(),
            is_inline: false,
            content_id: None,
            data,
            last_modified: t,
        });
    }
    m
}

/// A valid one-page PDF 1.4 that shows `text` (Helvetica, WinAnsiEncoding, so Latin-1
/// characters such as "é" print), with a correct cross-reference table.
pub fn minimal_pdf(text: &str) -> Vec<u8> {
    let mut shown = Vec::new();
    for ch in text.chars() {
        match ch {
            '(' | ')' | '\\' => {
                shown.push(b'\\');
                shown.push(ch as u8);
            }
            c if (c as u32) < 0x80 => shown.push(c as u8),
            c if (c as u32) <= 0xff => shown.extend(format!("\\{:03o}", c as u32).bytes()),
            _ => shown.push(b'?'),
        }
    }
    let mut stream = b"BT /F1 24 Tf 72 720 Td (".to_vec();
    stream.extend(&shown);
    stream.extend(b") Tj ET\n");
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ];
    let mut content = format!("<< /Length {} >>\nstream\n", stream.len()).into_bytes();
    content.extend(&stream);
    content.extend(b"endstream");
    objects.push(content);
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = vec![];
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).bytes());
        out.extend(o);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for off in offsets {
        out.extend(format!("{off:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    out
}

/// Adds `count` generated messages spread over `folders` (round robin), newest at `now`.
/// Returns the number created.
pub fn bulk(
    mb: &mut crate::state::Mailbox,
    me: &Addr,
    folders: &[u32],
    count: usize,
    unread_ratio: f64,
    now: i64,
    seed: u64,
) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let sent = mb.well_known("sentitems");
    mb.messages.reserve(count);
    mb.by_id.reserve(count * 2);
    for i in 0..count {
        let folder = folders[i % folders.len()];
        let t = now - (i as i64) * 37 - rng.gen_range(0..30);
        let unread = rng.gen::<f64>() < unread_ratio;
        let m = generate(&mut rng, me, folder == sent, unread, t, i % 50 == 0);
        mb.insert(m, folder);
    }
    count
}
