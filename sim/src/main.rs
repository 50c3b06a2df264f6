//! `o365-sim` command line: serve, or drive the sign-in pages like a person would.

use std::collections::HashMap;
use std::io::Write;

use o365_sim::{browser, Consent, RunningSim, Seed, SimOptions};

const USAGE: &str = "usage:
  o365-sim [serve] --listen 127.0.0.1:0 --seed demo|empty [--state DIR] [--latency-ms N]
  o365-sim browse sign-in       --ca-file F --url AUTHORIZE_URL --user U --password P [--decline]
  o365-sim browse device        --ca-file F --url SIM_URL --code USER_CODE --user U --password P [--decline]
  o365-sim browse admin-consent --ca-file F --url ADMINCONSENT_URL --user U --password P [--decline]";

fn parse(args: &[String]) -> Result<(HashMap<String, String>, bool), String> {
    let mut m = HashMap::new();
    let mut decline = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--decline" {
            decline = true;
            i += 1;
            continue;
        }
        let Some(k) = a.strip_prefix("--") else {
            return Err(format!("unexpected argument '{a}'"));
        };
        let (k, v) = match k.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => {
                let v = args
                    .get(i + 1)
                    .ok_or_else(|| format!("--{k} needs a value"))?
                    .clone();
                i += 1;
                (k.to_string(), v)
            }
        };
        m.insert(k, v);
        i += 1;
    }
    Ok((m, decline))
}

fn need<'a>(m: &'a HashMap<String, String>, k: &str) -> Result<&'a str, String> {
    m.get(k)
        .map(|s| s.as_str())
        .ok_or_else(|| format!("missing --{k}"))
}

fn browse(args: &[String]) -> Result<String, String> {
    let (what, rest) = args.split_first().ok_or("browse needs a subcommand")?;
    let (m, decline) = parse(rest)?;
    let consent = if decline {
        Consent::Decline
    } else {
        Consent::Accept
    };
    let ca =
        std::fs::read_to_string(need(&m, "ca-file")?).map_err(|e| format!("--ca-file: {e}"))?;
    let url = need(&m, "url")?;
    let user = need(&m, "user")?;
    let pw = need(&m, "password")?;
    match what.as_str() {
        "sign-in" => {
            browser::sign_in_with_ca(Some(&ca), url, user, pw, consent).map_err(|e| e.to_string())
        }
        "admin-consent" => browser::admin_consent_with_ca(Some(&ca), url, user, pw, consent)
            .map_err(|e| e.to_string()),
        "device" => {
            browser::device_sign_in_with_ca(Some(&ca), url, need(&m, "code")?, user, pw, consent)
                .map(|ok| {
                    if ok {
                        "approved".to_string()
                    } else {
                        "declined".to_string()
                    }
                })
                .map_err(|e| e.to_string())
        }
        other => Err(format!("unknown browse subcommand '{other}'")),
    }
}

fn serve(args: &[String]) -> Result<(), String> {
    let (m, _) = parse(args)?;
    let mut opts = SimOptions::default();
    if let Some(l) = m.get("listen") {
        opts.listen = l.parse().map_err(|e| format!("--listen: {e}"))?;
    }
    if let Some(s) = m.get("seed") {
        opts.seed = s.parse::<Seed>()?;
    }
    if let Some(d) = m.get("state") {
        opts.state_dir = Some(d.into());
    }
    if let Some(l) = m.get("latency-ms") {
        opts.latency_ms = l.parse().map_err(|e| format!("--latency-ms: {e}"))?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let sim: RunningSim = o365_sim::start(opts).await.map_err(|e| format!("{e:#}"))?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", sim.ready_line()).map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
        }
        wait_for_signal().await;
        sim.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(|s| s.as_str()) {
        Some("browse") => browse(&args[1..]).map(|s| println!("{s}")),
        Some("serve") => serve(&args[1..]),
        Some("-h") | Some("--help") | Some("help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => serve(&args),
    };
    if let Err(e) = r {
        eprintln!("o365-sim: {e}");
        if e.starts_with("missing") || e.starts_with("unexpected") || e.starts_with("unknown") {
            eprintln!("{USAGE}");
        }
        std::process::exit(1);
    }
}
