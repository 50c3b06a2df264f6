//! o365-sim: an offline Microsoft Entra ID (sign-in) and Microsoft Graph (mail) for tests,
//! demos and benchmarks. See sim/README.md.

pub mod admin;
pub mod batch;
pub mod browser;
pub mod clock;
pub mod counters;
pub mod faults;
pub mod graph;
pub mod identity;
pub mod jwt;
pub mod limits;
pub mod seed;
pub mod server;
pub mod state;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

pub use browser::Consent;
pub use limits::Limits;
pub use seed::Seed;
pub use server::Sim;

#[derive(Clone, Debug)]
pub struct SimOptions {
    pub listen: SocketAddr,
    pub seed: Seed,
    /// Keeps the CA, the signing key and (on shutdown) the world in this directory; a later
    /// start with the same directory continues from there.
    pub state_dir: Option<PathBuf>,
    /// Fixed latency added to every request (Graph: inside the concurrency slot).
    pub latency_ms: u64,
    pub limits: Limits,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            seed: Seed::Demo,
            state_dir: None,
            latency_ms: 0,
            limits: Limits::default(),
        }
    }
}

impl SimOptions {
    pub fn demo() -> Self {
        Self::default()
    }
    pub fn empty() -> Self {
        SimOptions {
            seed: Seed::Empty,
            ..Self::default()
        }
    }
}

pub struct RunningSim {
    url: String,
    ca_file: PathBuf,
    ca_pem: String,
    sim: Arc<Sim>,
    stop: Arc<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    temp_dir: Option<PathBuf>,
}

fn load_world(opts: &SimOptions) -> anyhow::Result<(state::World, i64)> {
    if let Some(d) = &opts.state_dir {
        let p = d.join("state.json");
        if p.exists() {
            let mut w: state::World = serde_json::from_slice(&std::fs::read(&p)?)?;
            w.reindex();
            let off = std::fs::read_to_string(d.join("clock.json"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            return Ok((w, off));
        }
    }
    Ok((seed::build(opts.seed), 0))
}

/// Starts a sim on the current Tokio runtime.
pub async fn start(opts: SimOptions) -> anyhow::Result<RunningSim> {
    if let Some(d) = &opts.state_dir {
        std::fs::create_dir_all(d)?;
    }
    let tls = tls::setup(opts.state_dir.as_deref())?;
    let keys = {
        let dir = opts.state_dir.clone();
        tokio::task::spawn_blocking(move || jwt::Keys::load_or_create(dir.as_deref())).await??
    };
    let (world, clock_offset) = load_world(&opts)?;
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let local = listener.local_addr()?;
    let host = match local.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let url = format!("https://{host}:{}", local.port());
    let sim = Arc::new(Sim {
        base_url: url.clone(),
        world: Mutex::new(world),
        clock: clock::Clock::new(clock_offset),
        keys,
        limits: RwLock::new(opts.limits.clone()),
        throttle: limits::Throttle::default(),
        faults: faults::Faults::default(),
        counters: counters::Counters::default(),
        latency_ms: AtomicU64::new(opts.latency_ms),
        router: OnceLock::new(),
        state_dir: opts.state_dir.clone(),
    });
    let router = server::router(sim.clone());
    let _ = sim.router.set(router.clone());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(server::serve(
        listener,
        tls.server_config.clone(),
        router,
        rx,
    ));
    browser::register_ca(&tls.ca_pem);
    Ok(RunningSim {
        url,
        ca_file: tls.ca_file,
        ca_pem: tls.ca_pem,
        sim,
        stop: Arc::new(tx),
        task: Some(task),
        thread: None,
        temp_dir: tls.temp_dir,
    })
}

impl RunningSim {
    /// Starts a sim on a runtime of its own (for plain `#[test]` functions).
    pub fn start_blocking(opts: SimOptions) -> anyhow::Result<RunningSim> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("o365-sim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(anyhow::anyhow!(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    match start(opts).await {
                        Ok(mut rs) => {
                            let mut stop_rx = rs.stop.subscribe();
                            let task = rs.task.take();
                            let _ = tx.send(Ok(rs));
                            let _ = stop_rx.wait_for(|v| *v).await;
                            if let Some(t) = task {
                                let _ = t.await;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let mut rs = rx.recv()??;
        rs.thread = Some(thread);
        Ok(rs)
    }

    /// `https://127.0.0.1:PORT` — the login authority host and, with `/v1.0`, Graph.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.url)
    }

    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The shared state, for in-process inspection.
    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }

    /// Calls the admin API: `method` `/_sim{path}` with an optional JSON body; returns the
    /// JSON answer, or an error for a non-2xx status. Async form of [`RunningSim::admin`].
    pub async fn admin_async(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        admin_call(self.url.clone(), self.ca_pem.clone(), method, path, body).await
    }

    /// Blocking admin API call (runs on a thread of its own). Do not call it on the only
    /// thread of the runtime that serves this sim (that would wait for itself): use
    /// [`RunningSim::admin_async`] there; sims from `start_blocking` have their own runtime.
    /// Example: `sim.admin("POST", "/mailboxes/anna.schmidt@contoso.example/deliver",
    /// Some(json!({"subject": "Hallo"})))`.
    pub fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let (url, ca, m, p) = (
            self.url.clone(),
            self.ca_pem.clone(),
            method.to_string(),
            path.to_string(),
        );
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(admin_call(url, ca, &m, &p, body))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("admin call panicked"))?
    }

    /// The ready line the binary prints.
    pub fn ready_line(&self) -> String {
        serde_json::json!({"url": self.url, "ca_file": self.ca_file}).to_string()
    }

    /// Stops serving (saving the world to the state directory, if any).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let _ = self.sim.save();
    }

    /// Stops a sim started with [`RunningSim::start_blocking`] (or any sim, from outside a
    /// runtime).
    pub fn shutdown_blocking(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.sim.save();
    }
}

async fn admin_call(
    url: String,
    ca_pem: String,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes())?)
        .tls_built_in_root_certs(false)
        .build()?;
    let m = reqwest::Method::from_bytes(method.as_bytes())?;
    let mut rb = client.request(m, format!("{url}/_sim{path}"));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        anyhow::bail!("{method} /_sim{path}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(d) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
