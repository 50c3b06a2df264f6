//! Optional log file. The library never writes to stdout or stderr: without `log.file` it
//! logs nothing. The subscriber is process-wide; the first client with a log file sets it.

use crate::config::LogConfig;
use crate::error::{Error, Result};
use std::sync::{Mutex, OnceLock};

static INSTALLED: OnceLock<()> = OnceLock::new();

pub fn init(cfg: &LogConfig) -> Result<()> {
    let Some(path) = &cfg.file else {
        return Ok(());
    };
    if cfg.level == "off" || INSTALLED.get().is_some() {
        return Ok(());
    }
    let file = crate::files::append(path).map_err(|e| {
        Error::invalid_field(
            "log.file",
            format!("cannot open log file '{}': {e}", path.display()),
        )
    })?;
    let filter = tracing_subscriber::EnvFilter::new(format!("o365={}", cfg.level));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
    let _ = INSTALLED.set(());
    Ok(())
}
