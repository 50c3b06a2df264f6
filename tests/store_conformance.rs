//! The store conformance suite: the same behaviour tests against every store backend.
//!
//! Each test takes `&dyn Store` and checks one part of the contract the trait doc comments
//! in `src/store/*.rs` spell out, with the edge cases that keep data from being lost or
//! doubled (design.md). A backend is one line at the bottom of this file
//! (`conformance_suite!(name, opener)`): it expands to one `#[test]` per behaviour under
//! `name::<area>::<behaviour>`, each on a fresh, empty store opened through the one
//! factory, `o365::store::open(&Config)`.
//!
//! No test sleeps or reads the clock: every trait method takes `now`, so time is a number
//! the test passes.

#[path = "store_conformance/activity.rs"]
mod activity;
#[path = "store_conformance/audit.rs"]
mod audit;
#[path = "store_conformance/blobs.rs"]
mod blobs;
#[path = "store_conformance/cache.rs"]
mod cache;
#[path = "store_conformance/events.rs"]
mod events;
#[path = "store_conformance/fixtures.rs"]
mod fixtures;
#[path = "store_conformance/leases.rs"]
mod leases;
#[path = "store_conformance/links.rs"]
mod links;
#[path = "store_conformance/mailboxes.rs"]
mod mailboxes;
#[path = "store_conformance/metrics.rs"]
mod metrics;
#[path = "store_conformance/nul.rs"]
mod nul;
#[path = "store_conformance/outbox.rs"]
mod outbox;
#[path = "store_conformance/races.rs"]
mod races;
#[path = "store_conformance/sqlite_only.rs"]
mod sqlite_only;
#[path = "store_conformance/tokens.rs"]
mod tokens;

use o365::store::Store;
use std::sync::Arc;

/// An open, empty store of one backend, and whatever keeps it alive (a temp dir, a
/// database schema to drop ...).
pub struct Backend {
    pub store: Arc<dyn Store>,
    /// The config it was opened with (SQLite-only tests open a raw connection to its file).
    pub config: o365::Config,
    _keep: Box<dyn std::any::Any>,
}

/// A 32-byte key (base64): the config carries it, so nothing writes a key file.
pub const TEST_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A fresh SQLite store in a temp dir, opened through the factory from a config.
pub fn open_sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let config = o365::Config::from_json(
        &serde_json::json!({
            "store": format!("sqlite://{}", path.display()),
            "encryption_key": TEST_KEY,
        })
        .to_string(),
    )
    .expect("config");
    let store = o365::store::open(&config).expect("open store");
    Backend {
        store,
        config,
        _keep: Box::new(dir),
    }
}

/// The PostgreSQL server the `postgres` tests use (`scripts/pg_cluster.sh start DIR` prints
/// one; `make test` starts one and sets this).
pub const PG_URL_VAR: &str = "O365_TEST_PG_URL";
/// Set to `1` to skip the PostgreSQL tests on purpose (each says so on stderr).
pub const PG_SKIP_VAR: &str = "O365_TEST_PG_SKIP";

/// A fresh schema on the test server, dropped with the `Backend`: tests run in parallel on
/// one database without seeing each other. `None` only when skipped on purpose.
pub fn open_postgres() -> Option<Backend> {
    let Ok(url) = std::env::var(PG_URL_VAR) else {
        if std::env::var(PG_SKIP_VAR).as_deref() == Ok("1") {
            eprintln!("skipped: {PG_SKIP_VAR}=1 (the PostgreSQL store is not tested)");
            return None;
        }
        panic!(
            "{PG_URL_VAR} is not set: start a throwaway server with \
             `scripts/pg_cluster.sh start /tmp/o365-pg` and export {PG_URL_VAR}=<the URL it prints> \
             (`make test` does both), or set {PG_SKIP_VAR}=1 to skip the PostgreSQL tests"
        );
    };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let schema = format!(
        "conf_{}_{}_{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        rand::random::<u32>()
    );
    let sep = if url.contains('?') { '&' } else { '?' };
    let config = o365::Config::from_json(
        &serde_json::json!({
            "store": format!("{url}{sep}schema={schema}"),
            "encryption_key": TEST_KEY,
        })
        .to_string(),
    )
    .expect("config");
    let drop_schema = DropSchema { url, schema };
    let store = o365::store::open(&config).expect("open store");
    Some(Backend {
        store,
        config,
        _keep: Box::new(drop_schema),
    })
}

/// Drops a test's schema when its `Backend` goes (also when the test failed).
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let url = self.url.replacen("postgres://", "postgresql://", 1);
        match ::postgres::Client::connect(&url, ::postgres::NoTls) {
            Ok(mut c) => {
                if let Err(e) =
                    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
                {
                    eprintln!("cannot drop test schema {}: {e}", self.schema);
                }
            }
            Err(e) => eprintln!("cannot drop test schema {}: {e}", self.schema),
        }
    }
}

/// Expands to one module per backend with one `#[test]` per behaviour, grouped by area.
/// Every behaviour function is listed here once; one left out is dead code (a warning
/// clippy turns into an error), so none is silently skipped.
macro_rules! conformance_suite {
    ($backend:ident, $open:expr) => {
        conformance_suite!(@areas $backend, $open;
            mailboxes: [
                insert_and_find_by_id_or_address_case_insensitively,
                duplicate_address_is_already_exists,
                list_by_user,
                graph_mailbox_lists_the_record_and_its_aliases,
                update_replaces_users_settings_and_state,
                update_of_unknown_mailbox_is_not_found,
                delete_removes_everything_that_hangs_on_it,
                non_ascii_addresses_are_case_insensitive_too,
            ],
            events: [
                push_is_idempotent_per_id_even_after_ack,
                claim_hands_out_oldest_first_and_counts_deliveries,
                a_reserved_event_waits_for_its_lease,
                claim_respects_the_filter,
                ack_is_idempotent_and_unknown_is_false,
                release_frees_only_the_owners_reservations,
                purge_forgets_only_acked_before,
            ],
            leases: [
                free_lease_is_taken_and_renewed_by_its_holder,
                held_lease_is_refused_until_it_expires,
                only_the_holder_releases,
                take_over_is_compare_and_set,
                holder_alive_judges_only_owners_it_can_tell,
                schema_is_current,
            ],
            audit: [newest_first_with_limit_per_mailbox],
            tokens: [
                put_and_get_with_generation_compare_and_set,
                force_overwrites_whatever_generation,
                delete_and_expiry,
                idle_tokens_are_those_refreshed_before,
                auth_state_is_taken_once,
                expired_and_unknown_auth_states,
                pending_device_flow_is_the_newest_open_one,
                close_auth_states_ends_one_flow,
            ],
            outbox: [
                one_row_per_idempotency_key,
                serial_rule_refuses_mass_mailing,
                update_changes_only_named_fields,
                mark_sent_records_the_sent_log_once,
                due_outbox_orders_by_due_time_and_skips_finished,
                retry_puts_back_only_failed_rows,
                send_slots_pace_per_mailbox,
            ],
            links: [
                insert_get_delete,
                access_log_in_order,
                expired_links_and_purge_shreds_the_key,
                sealing_is_once,
                signing_key_first_candidate_wins,
            ],
            cache: [
                folder_delta_applies_and_replaces,
                folder_roles_and_counts,
                message_pages_are_idempotent_and_removals_name_the_folder,
                partial_updates_keep_stored_values,
                full_round_sweeps_what_it_did_not_see,
                pages_apply_only_from_the_stored_resume_link,
                list_cached_messages_pages_filters_and_orders,
                message_read_remove_and_body,
                clear_cache_keeps_move_jobs,
                cache_version_bumps_on_changes,
                sync_success_and_error,
                idle_rounds_only_move_unchanged_links,
                move_jobs_resume_and_count,
            ],
            blobs: [
                written_in_batches_finished_and_read_back,
                an_empty_blob_has_one_chunk_and_rewrites_replace,
                deleted_one_by_one_or_by_owner,
                owners_page_in_order_and_unfinished_are_swept,
            ],
            activity: [
                candidates_exclude_own_sends_and_decided,
                record_activity_once,
            ],
            metrics: [outbox_by_state_and_last_sync_success],
            nul: [
                messages_and_folders_with_nul_round_trip,
                a_page_naming_a_message_twice_ends_as_row_by_row,
                events_outbox_and_audit_with_nul_round_trip,
                mailboxes_tokens_and_links_with_nul_round_trip,
            ],
            races: [
                racing_consumers_never_get_one_event_twice,
                racing_inserts_of_one_key_store_one_row,
                racing_token_refreshes_have_one_winner,
                racing_takes_of_one_state_have_one_winner,
                racing_lease_takers_have_one_holder,
                racing_senders_share_the_slots,
            ],
        );
    };
    (@areas $backend:ident, $open:expr; $($area:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        mod $backend {
            $(
                mod $area {
                    $(
                        #[test]
                        fn $name() {
                            let backend: Option<$crate::Backend> = ($open)();
                            let Some(backend) = backend else { return };
                            $crate::$area::$name(&*backend.store);
                        }
                    )*
                }
            )*
        }
    };
}

conformance_suite!(sqlite, || Some(crate::open_sqlite()));
// Against the server named by O365_TEST_PG_URL, a fresh schema per test.
conformance_suite!(postgres, crate::open_postgres);
