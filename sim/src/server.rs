//! The HTTPS server: shared state, the router, the per-request middleware (counters, fault
//! injection, latency) and the accept loop that can drop a connection after a request was
//! carried out.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use axum::routing::{any, get, post};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::ServiceExt;

use crate::clock::Clock;
use crate::counters::{inc, Counters};
use crate::faults::Faults;
use crate::jwt::Keys;
use crate::limits::{Limits, Throttle};
use crate::state::World;

pub struct Sim {
    pub base_url: String,
    pub world: Mutex<World>,
    pub clock: Clock,
    pub keys: Keys,
    pub limits: RwLock<Limits>,
    pub throttle: Throttle,
    pub faults: Faults,
    pub counters: Counters,
    pub latency_ms: AtomicU64,
    pub router: OnceLock<Router>,
    pub state_dir: Option<PathBuf>,
}

pub type AppState = Arc<Sim>;

impl Sim {
    /// Locks the world (recovering from a poisoned lock: a panicking request must not take
    /// the whole sim down).
    pub fn w(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn limits(&self) -> Limits {
        self.limits.read().unwrap().clone()
    }

    pub fn latency(&self) -> u64 {
        self.latency_ms.load(Ordering::Relaxed)
    }

    /// Saves the world to `state_dir/state.json` (when a state directory is set).
    pub fn save(&self) -> anyhow::Result<()> {
        if let Some(d) = &self.state_dir {
            let json = {
                let w = self.w();
                serde_json::to_vec(&*w)?
            };
            let tmp = d.join("state.json.tmp");
            std::fs::write(&tmp, json)?;
            std::fs::write(d.join("clock.json"), self.clock.offset_ms().to_string())?;
            std::fs::rename(tmp, d.join("state.json"))?;
        }
        Ok(())
    }
}

/// Response extension: close the connection instead of sending this response.
#[derive(Clone, Copy)]
pub struct DropConnection;

/// Response extension: the route label used for counters.
#[derive(Clone)]
pub struct RouteLabel(pub String);

#[derive(Debug)]
struct Dropped;
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}
impl std::error::Error for Dropped {}

pub fn router(sim: AppState) -> Router {
    use crate::identity;
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(identity::discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(identity::jwks))
        .route("/{tenant}/discovery/keys", get(identity::jwks))
        .route(
            "/common/discovery/instance",
            get(identity::instance_discovery),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(identity::authorize::authorize),
        )
        .route("/{tenant}/oauth2/v2.0/token", post(identity::token::token))
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(identity::token::devicecode),
        )
        .route("/{tenant}/oauth2/v2.0/logout", get(identity::logout))
        .route(
            "/{tenant}/v2.0/adminconsent",
            get(identity::admin_consent::adminconsent),
        )
        .route(
            "/{tenant}/adminconsent",
            get(identity::admin_consent::adminconsent),
        )
        .route("/{tenant}/login", post(identity::forms::login_post))
        .route("/{tenant}/consent", post(identity::forms::consent_post))
        .route("/{tenant}/pick", post(identity::forms::pick_post))
        .route(
            "/devicelogin",
            get(identity::device::device_page).post(identity::device::device_post),
        )
        .route("/v1.0/{*rest}", any(crate::graph::dispatch))
        .route(
            "/api/v2.0/{*rest}",
            any(crate::graph::attachments::upload_chunk),
        )
        .nest("/_sim", crate::admin::router())
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            middleware,
        ))
        .with_state(sim)
}

fn is_identity_path(path: &str) -> bool {
    if path.starts_with("/v1.0/") || path.starts_with("/api/") {
        return false;
    }
    path.contains("/oauth2/")
        || path.contains("/discovery/")
        || path.contains("/.well-known/")
        || path.ends_with("/adminconsent")
        || path.ends_with("/login")
        || path.ends_with("/consent")
        || path.ends_with("/pick")
        || path == "/devicelogin"
}

async fn middleware(State(sim): State<AppState>, req: Request, next: Next) -> Response<Body> {
    // Submissions whose delay has passed on the sim clock go out before anything is served.
    crate::graph::send::flush_due(&sim);
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let admin = path.starts_with("/_sim/");
    let batch_item = req.extensions().get::<crate::batch::BatchItem>().is_some();
    let fault = if admin {
        None
    } else {
        sim.faults.check(&method, &path)
    };
    let mut drop_after = false;
    let resp = match fault {
        Some(f) => {
            inc(&sim.counters.faults_injected);
            if let Some(ms) = f.latency_ms {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            drop_after = f.drop_connection;
            match f.status {
                Some(status) => fault_response(&sim, &path, &f, status),
                None => run(&sim, &path, admin, req, next).await,
            }
        }
        None => run(&sim, &path, admin, req, next).await,
    };
    let label = resp
        .extensions()
        .get::<RouteLabel>()
        .map(|l| l.0.clone())
        .or(matched)
        .unwrap_or_else(|| path.clone());
    if !admin {
        sim.counters.route(&format!("{method} {label}"));
        if !batch_item {
            inc(&sim.counters.http_requests);
        }
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            inc(&sim.counters.throttled);
        }
    }
    let mut resp = resp;
    if drop_after {
        inc(&sim.counters.connections_dropped);
        resp.extensions_mut().insert(DropConnection);
    }
    resp
}

async fn run(sim: &Sim, path: &str, admin: bool, req: Request, next: Next) -> Response<Body> {
    // Graph applies the configured latency inside its concurrency slot (graph::dispatch).
    let lat = sim.latency();
    if lat > 0 && !admin && !path.starts_with("/v1.0/") {
        tokio::time::sleep(Duration::from_millis(lat)).await;
    }
    next.run(req).await
}

fn fault_response(
    sim: &Sim,
    path: &str,
    f: &crate::faults::FaultAction,
    status: u16,
) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = if is_identity_path(path) {
        let code = f.aadsts.unwrap_or(match status.as_u16() {
            429 => 50196,
            503 => 90033,
            _ => 90100,
        });
        let error = f.code.clone().unwrap_or_else(|| {
            match status.as_u16() {
                400 => "invalid_grant",
                429 | 503 => "temporarily_unavailable",
                _ => "server_error",
            }
            .to_string()
        });
        let msg = f
            .message
            .clone()
            .unwrap_or_else(|| "Injected fault.".to_string());
        crate::identity::errors::aad_error(sim, status, &error, code, &msg, None)
    } else {
        let code = f.code.clone().unwrap_or_else(|| {
            match status.as_u16() {
                429 => "ApplicationThrottled",
                503 => "ServiceUnavailable",
                504 => "UnknownError",
                410 => "SyncStateNotFound",
                401 => "InvalidAuthenticationToken",
                403 => "ErrorAccessDenied",
                404 => "ErrorItemNotFound",
                _ => "ErrorInternalServerError",
            }
            .to_string()
        });
        let msg = f
            .message
            .clone()
            .unwrap_or_else(|| "Injected fault.".to_string());
        crate::graph::errors::graph_error(sim, status, &code, &msg, None)
    };
    if let Some(ra) = f.retry_after {
        resp.headers_mut()
            .insert("Retry-After", HeaderValue::from(ra));
    }
    resp
}

/// Serves `router` over TLS on `listener` until `shutdown` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = shutdown.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(_) => return,
            };
            let svc = hyper::service::service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    async move {
                        use futures_util::FutureExt;
                        let fut = std::panic::AssertUnwindSafe(router.oneshot(req.map(Body::new)));
                        let resp = match fut.catch_unwind().await {
                            Ok(r) => r.unwrap_or_else(|e| match e {}),
                            Err(_) => Response::builder()
                                .status(StatusCode::INTERNAL_SERVER_ERROR)
                                .header("content-type", "application/json")
                                .body(Body::from(
                                    "{\"error\":{\"code\":\"InternalServerError\",\"message\":\"o365-sim: internal error (a bug in the sim)\"}}",
                                ))
                                .unwrap(),
                        };
                        if resp.extensions().get::<DropConnection>().is_some() {
                            Err(Dropped)
                        } else {
                            Ok(resp)
                        }
                    }
                },
            );
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}
