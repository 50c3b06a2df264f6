/* The PostgreSQL store through the C ABI, as two hosts of a CRM use it: two clients on one
 * store URL share the event queue (events published through one are consumed exactly once
 * across both, pulled by a thread per client at the same time), and a server nobody listens
 * for is O365_STORE with a hint, the URL's password masked.
 *
 * Needs a PostgreSQL server in O365_TEST_PG_URL: `make test-c` runs this test inside
 * scripts/pg_cluster.sh run (a throwaway cluster); O365_TEST_PG_SKIP=1 skips it.
 * The last line printed is "N passed, N failed"; the exit code is 0 only when nothing failed.
 */
#define _GNU_SOURCE
#include "o365.h"
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TEST_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define EVENTS 40

static o365_client *open_client(const char *store)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"store\": \"%s\", \"encryption_key\": \"" TEST_KEY "\", "
             "\"sync\": {\"scheduler\": false}, \"events\": {\"lease_ms\": 60000}, "
             "\"debug\": {\"test_hooks\": true}}",
             store);
    o365_client *c = NULL;
    char *out = NULL;
    o365_status st = o365_client_new(cfg, &c, &out);
    CHECK_STATUS(st, O365_OK, out);
    o365_string_free(out);
    return st == O365_OK ? c : NULL;
}

/* ---- one event queue, two hosts ------------------------------------------------- */

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int seen[EVENTS];
static int strays;

struct consumer {
    o365_client *client;
    int taken;
};

/* Pulls and acks events until none comes within a second. */
static void *consume(void *arg)
{
    struct consumer *me = arg;
    for (;;) {
        char *ev = NULL;
        o365_status st = o365_next_event(me->client, 1000, &ev);
        if (st == O365_TIMEOUT) {
            o365_string_free(ev);
            return NULL;
        }
        CHECK_STATUS(st, O365_OK, ev);
        if (st != O365_OK) {
            o365_string_free(ev);
            return NULL;
        }
        char *id = json_str(ev, "id");
        int n = -1;
        if (id && sscanf(id, "c-pg-event-%d", &n) == 1 && n >= 0 && n < EVENTS) {
            pthread_mutex_lock(&seen_lock);
            seen[n]++;
            pthread_mutex_unlock(&seen_lock);
        } else {
            pthread_mutex_lock(&seen_lock);
            strays++;
            pthread_mutex_unlock(&seen_lock);
        }
        char *ack = NULL;
        st = o365_ack_event(me->client, id, &ack);
        CHECK_STATUS(st, O365_OK, ack);
        o365_string_free(ack);
        free(id);
        o365_string_free(ev);
        me->taken++;
    }
}

static void test_two_hosts_share_one_event_queue(const char *store)
{
    o365_client *web1 = open_client(store), *web2 = open_client(store);
    if (!web1 || !web2) {
        o365_client_free(web1);
        o365_client_free(web2);
        return;
    }
    for (int i = 0; i < EVENTS; i++) {
        char req[256], *out = NULL;
        snprintf(req, sizeof req,
                 "{\"type\": \"crm_test\", \"id\": \"c-pg-event-%d\", \"payload\": {\"n\": %d}}", i, i);
        o365_status st = o365_debug_emit_event(web1, req, &out);
        CHECK_STATUS(st, O365_OK, out);
        o365_string_free(out);
    }
    struct consumer a = {web1, 0}, b = {web2, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, consume, &a);
    pthread_create(&tb, NULL, consume, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    int once = 0;
    for (int i = 0; i < EVENTS; i++) {
        CHECK(seen[i] == 1, "event %d consumed %d times", i, seen[i]);
        once += seen[i] == 1;
    }
    CHECK(once == EVENTS, "%d of %d events consumed exactly once", once, EVENTS);
    CHECK(strays == 0, "%d events nobody published", strays);
    CHECK(a.taken + b.taken == EVENTS, "taken %d + %d", a.taken, b.taken);
    printf("  %d events: %d consumed on web1, %d on web2\n", EVENTS, a.taken, b.taken);
    /* Acked on either host: gone for both. */
    char *out = NULL;
    CHECK_STATUS(o365_next_event(web1, 0, &out), O365_TIMEOUT, out);
    o365_string_free(out);
    out = NULL;
    CHECK_STATUS(o365_next_event(web2, 0, &out), O365_TIMEOUT, out);
    o365_string_free(out);
    o365_client_free(web1);
    o365_client_free(web2);
}

/* ---- an unreachable server ------------------------------------------------------- */

/* A loopback port nobody listens on (bound, then released). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        if (s >= 0)
            close(s);
        return 1;
    }
    close(s);
    return ntohs(a.sin_port);
}

static void test_unreachable_server_is_a_store_error_with_a_hint(void)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"store\": \"postgres://crm:hunter2@127.0.0.1:%d/crm?sslmode=disable&connect_timeout=5\", "
             "\"encryption_key\": \"" TEST_KEY "\", \"sync\": {\"scheduler\": false}}",
             free_port());
    o365_client *c = NULL;
    char *out = NULL;
    o365_status st = o365_client_new(cfg, &c, &out);
    CHECK_STATUS(st, O365_STORE, out);
    CHECK(c == NULL, "no client for a store that cannot be opened");
    char *kind = json_str(out, "error"), *hint = json_str(out, "hint"), *msg = json_str(out, "message");
    CHECK(kind && strcmp(kind, "store_unreachable") == 0, "kind: %s", out);
    CHECK(hint && strstr(hint, "PostgreSQL") && strstr(hint, "running"), "hint: %s", out);
    CHECK(msg && strstr(msg, "crm:***@127.0.0.1"), "the URL is shown masked: %s", out);
    CHECK(out && !strstr(out, "hunter2"), "the password is never shown: %s", out);
    printf("  unreachable: %s\n", out ? out : "(null)");
    free(kind);
    free(hint);
    free(msg);
    o365_string_free(out);
    o365_client_free(c);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *url = getenv("O365_TEST_PG_URL");
    if (!url || !*url) {
        const char *skip = getenv("O365_TEST_PG_SKIP");
        if (skip && strcmp(skip, "1") == 0) {
            printf("skipped: O365_TEST_PG_SKIP=1 (no PostgreSQL server for this run)\n");
            return 0;
        }
        printf("O365_TEST_PG_URL is not set: run under scripts/pg_cluster.sh run (make test-c "
               "does), or set O365_TEST_PG_SKIP=1\n");
        return 1;
    }
    /* A schema of this run's own: the server may be shared with other tests. */
    char store[1024];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    snprintf(store, sizeof store, "%s%sschema=c_pg_%d_%d", url, strchr(url, '?') ? "&" : "?", (int)getpid(),
             rand() % 100000);
    printf("test_two_hosts_share_one_event_queue\n");
    test_two_hosts_share_one_event_queue(store);
    printf("test_unreachable_server_is_a_store_error_with_a_hint\n");
    test_unreachable_server_is_a_store_error_with_a_hint();
    return harness_summary();
}
