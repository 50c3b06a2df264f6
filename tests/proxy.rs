//! The outbound proxy setting (`"proxy"` in the client config): sign-in and Graph traffic go
//! through a CONNECT proxy run by the test, `no_proxy` and `"none"` bypass it, and a proxy
//! that is down or refuses the tunnel is `O365_NETWORK` with a hint naming it.

mod common;

use common::*;
use o365::ffi::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the test proxy does with a CONNECT request.
#[derive(Clone, Copy)]
enum Mode {
    /// Opens the tunnel (HTTP/1.1 200) and relays bytes both ways.
    Tunnel,
    /// Answers 407 Proxy Authentication Required.
    Refuse,
}

/// A minimal HTTP CONNECT proxy on loopback that counts the tunnels it opened.
struct Proxy {
    url: String,
    tunnels: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
    _rt: tokio::runtime::Runtime,
}

impl Proxy {
    fn start(mode: Mode) -> Proxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("proxy binds");
        let port = listener.local_addr().unwrap().port();
        let tunnels = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let (t, g) = (tunnels.clone(), targets.clone());
        rt.spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, mode, t.clone(), g.clone()));
            }
        });
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            tunnels,
            targets,
            _rt: rt,
        }
    }

    fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut conn: TcpStream,
    mode: Mode,
    tunnels: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
) {
    // the request head: "CONNECT host:port HTTP/1.1\r\n...\r\n\r\n"
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method != "CONNECT" {
        let _ = conn
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    }
    if let Mode::Refuse = mode {
        let _ = conn
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n",
            )
            .await;
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        let _ = conn
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    tunnels.fetch_add(1, Ordering::SeqCst);
    targets.lock().unwrap().push(target.to_owned());
    if conn
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
}

/// host:port of the sim, as a CONNECT target.
fn sim_authority(sim: &o365_sim::RunningSim) -> String {
    let u = url::Url::parse(sim.url()).unwrap();
    format!("{}:{}", u.host_str().unwrap(), u.port().unwrap())
}

fn config_with_proxy(sim: &o365_sim::RunningSim, dir: &std::path::Path, proxy: Value) -> Value {
    let mut cfg = config(sim, dir);
    cfg["proxy"] = proxy;
    cfg["sync"] = json!({"scheduler": false});
    cfg
}

fn list_folders(lib: &Lib, id: &str) -> (o365_status, Value) {
    lib.call(
        o365_list_folders,
        json!({"mailbox": id, "user": "u1", "max_age_ms": 0}),
    )
}

#[test]
fn sign_in_and_graph_requests_go_through_the_proxy() {
    let proxy = Proxy::start(Mode::Tunnel);
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let through = json!({"url": proxy.url, "no_proxy": ["graph.example.invalid"]});

    // sign-in: tenant discovery and the code redemption
    let lib = Lib::open(config_with_proxy(&sim, dir.path(), through.clone()));
    let id = import(&lib, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &lib, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "sign-in through the proxy: {v}");
    let after_sign_in = proxy.tunnels();
    assert!(after_sign_in >= 1, "sign-in opened no tunnel");
    drop(lib);

    // Graph: a new client (its own connection pool) reads the folders through the proxy
    let lib = Lib::open(config_with_proxy(
        &sim,
        dir.path(),
        Value::String(proxy.url.clone()),
    ));
    let (st, v) = list_folders(&lib, &id);
    assert_eq!(st, O365_OK, "folders through the proxy: {v}");
    assert!(!v["folders"].as_array().unwrap().is_empty(), "{v}");
    let after_graph = proxy.tunnels();
    assert!(
        after_graph > after_sign_in,
        "Graph requests opened no tunnel"
    );
    drop(lib);
    let targets = proxy.targets.lock().unwrap().clone();
    assert!(
        targets.iter().all(|t| *t == sim_authority(&sim)),
        "every tunnel led to the sim: {targets:?}"
    );

    // no_proxy naming the host, and "none", connect directly
    for direct in [
        json!({"url": proxy.url, "no_proxy": "127.0.0.1"}),
        json!("none"),
    ] {
        let lib = Lib::open(config_with_proxy(&sim, dir.path(), direct.clone()));
        let (st, v) = list_folders(&lib, &id);
        assert_eq!(st, O365_OK, "{direct}: {v}");
        assert_eq!(
            proxy.tunnels(),
            after_graph,
            "{direct} still used the proxy"
        );
    }
}

/// A proxy URL on a port where nothing listens.
fn dead_proxy_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://ops:hunter2@127.0.0.1:{port}")
}

fn assert_names_the_proxy(what: &str, st: o365_status, v: &Value, proxy_url: &str) {
    assert_eq!(st, O365_NETWORK, "{what}: {v}");
    assert_eq!(v["error"], "network", "{what}: {v}");
    let shown = proxy_url.replace("ops:hunter2@", "");
    let hint = v["hint"].as_str().unwrap_or("");
    assert!(
        hint.contains(&format!("proxy {shown}")),
        "{what}: the hint names the proxy {shown}: {v}"
    );
    assert!(
        !v.to_string().contains("hunter2"),
        "{what}: the proxy password leaked: {v}"
    );
}

#[test]
fn a_proxy_that_is_down_or_refuses_the_tunnel_is_a_network_error_naming_it() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    // a mailbox signed in directly, so Graph calls have a token
    let direct = Lib::open(config_with_proxy(&sim, dir.path(), json!("none")));
    let id = import(&direct, ANNA, &["u1"], json!({}));
    let (st, v) = sign_in_as(&sim, &direct, &id, "u1", ANNA);
    assert_eq!(st, O365_OK, "{v}");
    let other = import(&direct, BEN, &["u1"], json!({}));
    drop(direct);

    let refusing = Proxy::start(Mode::Refuse);
    let refusing_url = refusing.url.replace("http://", "http://ops:hunter2@");
    for proxy_url in [dead_proxy_url(), refusing_url] {
        let lib = Lib::open(config_with_proxy(
            &sim,
            dir.path(),
            json!({ "url": proxy_url }),
        ));
        // sign-in: the start discovers the tenant of the address's domain
        let (st, v) = lib.call(o365_authenticate, json!({"mailbox": other, "user": "u1"}));
        assert_names_the_proxy("sign-in start", st, &v, &proxy_url);
        // Graph
        let (st, v) = list_folders(&lib, &id);
        assert_names_the_proxy("list_folders", st, &v, &proxy_url);
    }
    assert_eq!(refusing.tunnels(), 0);
}
