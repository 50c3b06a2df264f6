//! Benchmark of o365-sim: seeding speed and requests per second on loopback.
//!
//! `cargo run --release -p o365-sim --example bench -- [--seconds 5] [--concurrency 16] [--messages 100000]`
//!
//! The load generator runs in the same process (reqwest, keep-alive connections), so the
//! figures are for client + server sharing the machine's cores.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use o365_sim::browser::Browser;
use o365_sim::state::Addr;
use o365_sim::{Consent, Limits, SimOptions};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn token(url: &str, ca: &str, http: &reqwest::Client, user: &str) -> String {
    let client = o365_sim::seed::DEMO_APP_ID;
    let redirect = o365_sim::seed::DEMO_APP_REDIRECTS[0];
    let verifier = o365_sim::state::random_token(32);
    let challenge = o365_sim::state::b64url(&Sha256::digest(verifier.as_bytes()));
    let auth = format!(
        "{url}/contoso.example/oauth2/v2.0/authorize?client_id={client}&response_type=code&redirect_uri={redirect}&scope=openid%20offline_access%20User.Read%20Mail.ReadWrite%20Mail.Send&code_challenge={challenge}&code_challenge_method=S256"
    );
    let back = Browser::new(Some(ca))
        .unwrap()
        .sign_in(&auth, user, "Passw0rd!", Consent::Accept)
        .await
        .unwrap();
    let code = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let r: Value = http
        .post(format!("{url}/contoso.example/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}

struct Load {
    name: &'static str,
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
}

async fn run_load(
    http: &reqwest::Client,
    url: &str,
    tok: &str,
    load: &Load,
    conc: usize,
    secs: u64,
) -> (f64, Duration, Duration, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    let start = Instant::now();
    for _ in 0..conc {
        let (http, stop, errors) = (http.clone(), stop.clone(), errors.clone());
        let (u, tok, m, body) = (
            format!("{url}{}", load.path),
            tok.to_string(),
            load.method.clone(),
            load.body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let mut rb = http.request(m.clone(), &u).bearer_auth(&tok);
                if let Some(b) = &body {
                    rb = rb.json(b);
                }
                match rb.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                lat.push(t0.elapsed());
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    (
        all.len() as f64 / elapsed,
        p(0.5),
        p(0.99),
        errors.load(Ordering::Relaxed),
    )
}

#[tokio::main]
async fn main() {
    let secs = arg("--seconds", 5);
    let conc = arg("--concurrency", 16) as usize;
    let n = arg("--messages", 100_000) as usize;

    // 1. Seeding, in-process.
    let mut world = o365_sim::seed::build(o365_sim::Seed::Demo);
    let mb = world.mailboxes.get_mut(o365_sim::seed::BEN_ID).unwrap();
    let folders = vec![
        mb.well_known("inbox"),
        mb.well_known("archive"),
        mb.well_known("sentitems"),
    ];
    let t0 = Instant::now();
    o365_sim::seed::bulk(
        mb,
        &Addr::new("Ben", "ben.mueller@contoso.example"),
        &folders,
        n,
        0.2,
        1_800_000_000,
        1,
    );
    let seed_in_process = t0.elapsed();
    println!(
        "seed (in-process): {n} messages in {:.2} s = {:.0} messages/s",
        seed_in_process.as_secs_f64(),
        n as f64 / seed_in_process.as_secs_f64()
    );
    drop(world);

    // 2. A sim with limits raised so the load is not throttled.
    let limits = Limits {
        concurrency_per_mailbox: 1024,
        requests_per_window: usize::MAX / 2,
        sends_per_minute: usize::MAX / 2,
        ..Limits::default()
    };
    let sim = o365_sim::start(SimOptions {
        limits,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let url = sim.url().to_string();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .pool_max_idle_per_host(conc)
        .build()
        .unwrap();
    let t0 = Instant::now();
    let r: Value = http
        .post(format!(
            "{url}/_sim/mailboxes/anna.schmidt@contoso.example/seed"
        ))
        .json(&json!({"count": n, "folders": ["inbox", "archive", "Gesendete Objekte"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!(
        "seed (admin API):  {n} messages in {:.2} s (server side {} ms), mailbox now {} messages",
        t0.elapsed().as_secs_f64(),
        r["millis"],
        r["totalMessages"]
    );

    let tok = token(&url, sim.ca_pem(), &http, "anna.schmidt@contoso.example").await;
    let loads = [
        Load { name: "GET /me", method: reqwest::Method::GET, path: "/v1.0/me".into(), body: None },
        Load { name: "GET inbox messages $top=10 $select", method: reqwest::Method::GET, path: "/v1.0/me/mailFolders/inbox/messages?$top=10&$select=subject,from,receivedDateTime,isRead".into(), body: None },
        Load { name: "GET inbox messages $top=100 (full bodies)", method: reqwest::Method::GET, path: "/v1.0/me/mailFolders/inbox/messages?$top=100".into(), body: None },
        Load { name: "PATCH message isRead", method: reqwest::Method::PATCH, path: String::new(), body: Some(json!({"isRead": true})) },
        Load { name: "POST sendMail", method: reqwest::Method::POST, path: "/v1.0/me/sendMail".into(), body: Some(json!({"message": {"subject": "bench", "body": {"contentType": "Text", "content": "x"}, "toRecipients": [{"emailAddress": {"address": "kunde@example.com"}}]}, "saveToSentItems": true})) },
    ];
    let first: Value = http
        .get(format!(
            "{url}/v1.0/me/mailFolders/inbox/messages?$top=1&$select=id"
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mid = first["value"][0]["id"].as_str().unwrap().to_string();
    println!(
        "load: {conc} concurrent connections, {secs} s each, mailbox of {} messages",
        r["totalMessages"]
    );
    for mut l in loads {
        if l.path.is_empty() {
            l.path = format!("/v1.0/me/messages/{mid}");
        }
        let (rps, p50, p99, errs) = run_load(&http, &url, &tok, &l, conc, secs).await;
        println!(
            "  {:<42} {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   errors {errs}",
            l.name,
            rps,
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
    }
    // Full delta sync of the inbox with pages of 1000.
    let t0 = Instant::now();
    let mut next = Some(format!(
        "{url}/v1.0/me/mailFolders/inbox/messages/delta?$select=subject,isRead"
    ));
    let mut count = 0;
    while let Some(u) = next {
        let v: Value = http
            .get(&u)
            .bearer_auth(&tok)
            .header("Prefer", "odata.maxpagesize=1000")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        count += v["value"].as_array().unwrap().len();
        next = v["@odata.nextLink"].as_str().map(|s| s.to_string());
    }
    println!(
        "delta: initial sync of {count} inbox messages in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    sim.shutdown().await;
}
