use axum::Router;

use crate::server::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}

/// `90.00:00:00` style (days.hours:minutes:seconds).
pub fn duration_text(secs: i64) -> String {
    format!(
        "{}.{:02}:{:02}:{:02}",
        secs / 86400,
        (secs % 86400) / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}
