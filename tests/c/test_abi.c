/* C harness for the o365 C ABI (include/o365.h, libo365.so).
 *
 * Build:  make -C <repo> test-c      (or see the Makefile: -Wall -Wextra -Werror -pthread)
 * Run:    build/tests/c/test_abi [test-name ...]   (no names = all tests)
 *         O365_TEST_VERBOSE=1 prints every passing check too.
 *
 * Every test uses its own SQLite store under one temporary directory that is removed at the end.
 * The last line printed is "N passed, N failed"; the exit code is 0 only when nothing failed.
 */
#define _GNU_SOURCE
#include "o365.h"
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define O365_HAVE_VALGRIND_H 1
#endif
#endif

#define TEST_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static char g_dir[512];

/* ---- helpers ---------------------------------------------------------------- */

static const char *kind_for_status(int status)
{
    switch (status) {
    case O365_OK: return "ok";
    case O365_INVALID_ARGUMENT: return "invalid_argument";
    case O365_NOT_FOUND: return "not_found";
    case O365_ALREADY_EXISTS: return "already_exists";
    case O365_FORBIDDEN: return "forbidden";
    case O365_AUTH_REQUIRED: return "auth_required";
    case O365_CONSENT_REQUIRED: return "consent_required";
    case O365_POLICY_VIOLATION: return "policy_violation";
    case O365_THROTTLED: return "throttled";
    case O365_NETWORK: return "network";
    case O365_REMOTE: return "remote";
    case O365_STORE: return "store";
    case O365_TIMEOUT: return "timeout";
    case O365_FORKED: return "forked";
    case O365_INTERNAL: return "internal";
    case O365_WRONG_THREAD: return "wrong_thread";
    case O365_CONFLICT: return "conflict";
    default: return "?";
    }
}

static char *store_path(const char *name)
{
    char *p = malloc(strlen(g_dir) + strlen(name) + 8);
    sprintf(p, "%s/%s.db", g_dir, name);
    return p;
}

static char *config_for(const char *store, int hooks)
{
    char *c = malloc(strlen(store) + 256);
    sprintf(c,
            "{\"store\": \"%s\", \"encryption_key\": \"" TEST_KEY "\", "
            "\"debug\": {\"test_hooks\": %s}}",
            store, hooks ? "true" : "false");
    return c;
}

static o365_client *open_client(const char *store, int hooks)
{
    char *cfg = config_for(store, hooks);
    char *out = NULL;
    o365_client *c = NULL;
    o365_status st = o365_client_new(cfg, &c, &out);
    CHECK_STATUS(st, O365_OK, out);
    CHECK(c != NULL, "o365_client_new returned OK but no client (store %s)", store);
    o365_string_free(out);
    free(cfg);
    return c;
}

/* Checks status == want and that out is a well-formed error document for it. Frees out. */
static void expect_error(const char *what, o365_status st, char *out, int want)
{
    char *kind, *msg;
    CHECK(st == want, "%s: status %d (%s), expected %d (%s); out_json=%s", what, (int)st,
          kind_for_status(st), want, kind_for_status(want), out ? out : "(null)");
    CHECK(out != NULL, "%s: no error document", what);
    if (!out)
        return;
    CHECK(json_valid(out), "%s: error document is not valid JSON: %s", what, out);
    CHECK(json_int(out, "status", -1) == (long)st,
          "%s: error document \"status\" %ld != returned status %d: %s", what,
          json_int(out, "status", -1), (int)st, out);
    /* "error" is a snake_case kind; it may be finer than the status (e.g. invalid_field) */
    kind = json_str(out, "error");
    CHECK(kind && kind[0] && strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(kind),
          "%s: error document \"error\" is %s, expected a snake_case kind: %s", what,
          kind ? kind : "(missing)", out);
    msg = json_str(out, "message");
    CHECK(msg && msg[0], "%s: error document has no \"message\": %s", what, out);
    free(kind);
    free(msg);
    o365_string_free(out);
}

/* The list result is either an array or an object with a "mailboxes" array. */
static int list_count(const char *out)
{
    int n = json_array_len(out, NULL);
    return n >= 0 ? n : json_array_len(out, "mailboxes");
}

typedef o365_status (*verb_fn)(o365_client *, const char *, char **);

static char *call_ok(const char *what, verb_fn fn, o365_client *c, const char *req)
{
    char *out = NULL;
    o365_status st = fn(c, req, &out);
    CHECK(st == O365_OK, "%s: status %d (%s), expected OK; request=%.200s out_json=%s", what,
          (int)st, kind_for_status(st), req, out ? out : "(null)");
    CHECK(out == NULL || json_valid(out), "%s: result is not valid JSON: %s", what, out);
    if (st != O365_OK) {
        o365_string_free(out);
        return NULL;
    }
    return out;
}

static char *emit_event(o365_client *c, const char *type, const char *payload)
{
    char req[512];
    char *out, *id;
    snprintf(req, sizeof req, "{\"type\": \"%s\", \"payload\": %s}", type, payload);
    out = call_ok("debug_emit_event", o365_debug_emit_event, c, req);
    id = json_str(out, "id");
    CHECK(id && id[0], "debug_emit_event returned no id: %s", out ? out : "(null)");
    o365_string_free(out);
    return id;
}

/* Takes the next event (OK) and returns it, or NULL on timeout (checks the timeout document). */
static char *next_event(o365_client *c, uint32_t timeout_ms)
{
    char *out = NULL;
    o365_status st = o365_next_event(c, timeout_ms, &out);
    if (st == O365_TIMEOUT) {
        expect_error("next_event (timeout)", st, out, O365_TIMEOUT);
        return NULL;
    }
    CHECK(st == O365_OK, "next_event: status %d (%s); out_json=%s", (int)st, kind_for_status(st),
          out ? out : "(null)");
    if (st != O365_OK) {
        o365_string_free(out);
        return NULL;
    }
    return out;
}

static void ack(o365_client *c, const char *id)
{
    char *out = NULL;
    o365_status st = o365_ack_event(c, id, &out);
    CHECK(st == O365_OK, "ack_event(%s): status %d; out_json=%s", id, (int)st,
          out ? out : "(null)");
    o365_string_free(out);
}

/* Acks every pending event; returns how many there were. */
static int drain_events(o365_client *c, uint32_t timeout_ms)
{
    int n = 0;
    char *ev;
    while ((ev = next_event(c, timeout_ms)) != NULL) {
        char *id = json_str(ev, "id");
        if (id)
            ack(c, id);
        free(id);
        o365_string_free(ev);
        n++;
        if (n > 10000)
            break;
    }
    return n;
}

static char *import_box(o365_client *c, const char *address, const char *users_json,
                        const char *main_user, const char *kind)
{
    char req[1024];
    snprintf(req, sizeof req,
             "{\"address\": \"%s\", \"users\": %s, \"main_user\": \"%s\", \"kind\": \"%s\"}",
             address, users_json, main_user, kind);
    return call_ok("import_mailbox", o365_import_mailbox, c, req);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_version(void)
{
    const char *v = o365_version();
    CHECK(v != NULL && v[0] != '\0', "o365_version() is empty");
    CHECK(v && strchr(v, '.') != NULL, "o365_version() \"%s\" does not look like x.y.z", v);
    CHECK(o365_version() == v, "o365_version() must return the same static string");
    CHECK(o365_abi_version() == O365_ABI_VERSION, "o365_abi_version() %u != O365_ABI_VERSION %d",
          o365_abi_version(), O365_ABI_VERSION);
    CHECK(O365_ABI_VERSION == 1, "O365_ABI_VERSION is %d, expected 1", O365_ABI_VERSION);
    /* the fixed status numbers */
    CHECK(O365_OK == 0 && O365_INVALID_ARGUMENT == 1 && O365_NOT_FOUND == 2 &&
              O365_ALREADY_EXISTS == 3 && O365_FORBIDDEN == 4 && O365_AUTH_REQUIRED == 5 &&
              O365_CONSENT_REQUIRED == 6 && O365_POLICY_VIOLATION == 7 && O365_THROTTLED == 8 &&
              O365_NETWORK == 9 && O365_REMOTE == 10 && O365_STORE == 11 &&
              O365_TIMEOUT == 12 && O365_FORKED == 13 && O365_INTERNAL == 14 &&
              O365_WRONG_THREAD == 15 && O365_CONFLICT == 16,
          "status numbers in o365.h differ from the fixed table");
    /* NULL-safe frees */
    o365_client_free(NULL);
    o365_string_free(NULL);
    CHECK(1, "free(NULL)");
}

static void test_client_new(void)
{
    char *store = store_path("client_new");
    char *cfg = config_for(store, 0);
    char *out = NULL;
    o365_client *c = NULL;
    o365_status st;
    char buf[1024], cfgbuf[1024];
    size_t i;
    struct {
        const char *what;
        const char *json;
        const char *field; /* the message should name this field (NULL: don't check) */
    } bad[] = {
        {"empty string", "", NULL},
        {"malformed JSON", "{\"store\": ", NULL},
        {"not an object", "[1,2]", NULL},
        {"missing store", "{}", "store"},
        {"store of wrong type", "{\"store\": 42}", "store"},
        {"unknown field", "{\"store\": \"%s\", \"stroe\": 1}", "stroe"},
        {"unknown nested field", "{\"store\": \"%s\", \"timeouts\": {\"cal_ms\": 5}}",
         "cal_ms"},
        {"bad encryption key", "{\"store\": \"%s\", \"encryption_key\": \"c2hvcnQ=\"}",
         "encryption_key"},
        {"worker_threads wrong type",
         "{\"store\": \"%s\", \"runtime\": {\"worker_threads\": \"two\"}}",
         "worker_threads"},
        {"invalid UTF-8", "{\"store\": \"%s\xff\xfe\"}", NULL},
    };

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *msg;
        c = NULL;
        out = NULL;
        snprintf(cfgbuf, sizeof cfgbuf, bad[i].json, store);
        st = o365_client_new(cfgbuf, &c, &out);
        snprintf(buf, sizeof buf, "client_new(%s)", bad[i].what);
        CHECK(c == NULL, "%s: *out_client set on failure", buf);
        /* the field is named in the message or in details.field */
        msg = json_str(out, "message");
        if (bad[i].field) {
            size_t dlen = 0;
            const char *details = json_top(out, "details", &dlen);
            char *dcopy = details ? strndup(details, dlen) : NULL;
            char *field = dcopy ? json_str(dcopy, "field") : NULL;
            CHECK((msg && strstr(msg, bad[i].field)) || (field && strstr(field, bad[i].field)),
                  "%s: neither message nor details.field names \"%s\": %s", buf, bad[i].field,
                  out ? out : "(null)");
            free(field);
            free(dcopy);
        }
        free(msg);
        expect_error(buf, st, out, O365_INVALID_ARGUMENT);
        if (st == O365_OK)
            o365_client_free(c);
    }

    /* NULL config, NULL out_client, NULL out_json */
    c = NULL;
    out = NULL;
    st = o365_client_new(NULL, &c, &out);
    CHECK(c == NULL, "client_new(NULL config) set *out_client");
    expect_error("client_new(NULL config)", st, out, O365_INVALID_ARGUMENT);
    out = NULL;
    st = o365_client_new(cfg, NULL, &out);
    expect_error("client_new(out_client NULL)", st, out, O365_INVALID_ARGUMENT);
    st = o365_client_new("{", &c, NULL);
    CHECK_STATUS(st, O365_INVALID_ARGUMENT, NULL);

    /* valid config; out_json may be NULL */
    c = NULL;
    st = o365_client_new(cfg, &c, NULL);
    CHECK_STATUS(st, O365_OK, NULL);
    CHECK(c != NULL, "client_new OK without out_json but no client");
    o365_client_free(c);

    /* without encryption_key the library creates a key file beside the store */
    {
        char *store2 = store_path("client_new_keyfile");
        char cfg2[1024];
        snprintf(cfg2, sizeof cfg2, "{\"store\": \"sqlite://%s\"}", store2);
        c = NULL;
        out = NULL;
        if (getenv("O365_ENCRYPTION_KEY") == NULL) {
            st = o365_client_new(cfg2, &c, &out);
            CHECK_STATUS(st, O365_OK, out);
            o365_string_free(out);
            o365_client_free(c);
        }
        free(store2);
    }
    free(cfg);
    free(store);
}

static void test_mailboxes(void)
{
    char *store = store_path("mailboxes");
    o365_client *c = open_client(store, 0);
    char *out = NULL, *anna, *shared, *alias, *id, *s;
    o365_status st;
    char req[1024];

    if (!c)
        goto done;

    anna = import_box(c, "anna@contoso.example", "[\"u1\", \"u2\"]", "u1", "user");
    CHECK(anna != NULL, "import anna");
    if (anna) {
        id = json_str(anna, "id");
        CHECK(id && id[0], "import result has an id: %s", anna);
        s = json_str(anna, "address");
        CHECK(s && strcmp(s, "anna@contoso.example") == 0, "address: %s", anna);
        free(s);
        s = json_str(anna, "kind");
        CHECK(s && strcmp(s, "user") == 0, "kind: %s", anna);
        free(s);
        s = json_str(anna, "main_user");
        CHECK(s && strcmp(s, "u1") == 0, "main_user: %s", anna);
        free(s);
        s = json_str(anna, "auth_state");
        CHECK(s && strcmp(s, "not_authenticated") == 0, "auth_state: %s", anna);
        free(s);
        CHECK(json_array_len(anna, "users") == 2, "users has 2 entries: %s", anna);
        CHECK(json_top(anna, "settings", NULL) != NULL, "settings present: %s", anna);
        CHECK(json_top(anna, "created_at", NULL) != NULL, "created_at present: %s", anna);

        /* get by id */
        if (id) {
            snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u2\"}", id);
            out = call_ok("get_mailbox by id", o365_get_mailbox, c, req);
            s = json_str(out, "address");
            CHECK(s && strcmp(s, "anna@contoso.example") == 0, "get by id: %s", out);
            free(s);
            o365_string_free(out);
        }
        free(id);
        o365_string_free(anna);
    }

    shared = import_box(c, "team@contoso.example", "[\"u2\"]", "u2", "shared");
    CHECK(shared != NULL, "import shared mailbox");
    s = json_str(shared, "kind");
    CHECK(s && strcmp(s, "shared") == 0, "kind shared: %s", shared ? shared : "(null)");
    free(s);
    o365_string_free(shared);

    alias = call_ok("import alias", o365_import_mailbox, c,
                    "{\"address\": \"sales@contoso.example\", \"users\": [\"u1\"], "
                    "\"main_user\": \"u1\", \"kind\": \"alias\", "
                    "\"alias_of\": \"anna@contoso.example\"}");
    s = json_str(alias, "alias_of");
    CHECK(s != NULL, "alias result has alias_of: %s", alias ? alias : "(null)");
    free(s);
    o365_string_free(alias);

    /* list: all, per user */
    out = call_ok("list_mailboxes {}", o365_list_mailboxes, c, "{}");
    CHECK(list_count(out) == 3, "list {} has 3 mailboxes: %s", out ? out : "(null)");
    o365_string_free(out);
    out = call_ok("list_mailboxes u1", o365_list_mailboxes, c, "{\"user\": \"u1\"}");
    CHECK(list_count(out) == 2, "list u1 has 2 mailboxes: %s", out ? out : "(null)");
    CHECK(!contains(out, "team@contoso.example"), "list u1 must not show team@: %s", out);
    o365_string_free(out);
    out = call_ok("list_mailboxes u2", o365_list_mailboxes, c, "{\"user\": \"u2\"}");
    CHECK(list_count(out) == 2, "list u2 has 2 mailboxes: %s", out ? out : "(null)");
    o365_string_free(out);
    out = call_ok("list_mailboxes nobody", o365_list_mailboxes, c, "{\"user\": \"nobody\"}");
    CHECK(list_count(out) == 0, "list nobody has 0 mailboxes: %s", out ? out : "(null)");
    o365_string_free(out);

    /* get by address; access control; not found */
    out = call_ok("get_mailbox by address", o365_get_mailbox, c,
                  "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u1\"}");
    o365_string_free(out);
    out = NULL;
    st = o365_get_mailbox(c, "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u9\"}", &out);
    expect_error("get_mailbox by unassigned user", st, out, O365_FORBIDDEN);
    out = NULL;
    st = o365_get_mailbox(c, "{\"mailbox\": \"ghost@contoso.example\", \"user\": \"u1\"}", &out);
    expect_error("get_mailbox unknown", st, out, O365_NOT_FOUND);

    /* duplicate import, also with different case */
    out = NULL;
    st = o365_import_mailbox(c,
                             "{\"address\": \"anna@contoso.example\", \"users\": [\"u1\"], "
                             "\"main_user\": \"u1\", \"kind\": \"user\"}",
                             &out);
    expect_error("second import of anna@", st, out, O365_ALREADY_EXISTS);
    out = NULL;
    st = o365_import_mailbox(c,
                             "{\"address\": \"Anna@Contoso.EXAMPLE\", \"users\": [\"u1\"], "
                             "\"main_user\": \"u1\", \"kind\": \"user\"}",
                             &out);
    expect_error("second import of Anna@Contoso.EXAMPLE (case differs)", st, out,
                 O365_ALREADY_EXISTS);

    /* semantic validation */
    out = NULL;
    st = o365_import_mailbox(c,
                             "{\"address\": \"bob@contoso.example\", \"users\": [\"u1\"], "
                             "\"main_user\": \"u7\", \"kind\": \"user\"}",
                             &out);
    expect_error("import with main_user not among users", st, out, O365_INVALID_ARGUMENT);
    out = NULL;
    st = o365_import_mailbox(c,
                             "{\"address\": \"not-an-address\", \"users\": [\"u1\"], "
                             "\"main_user\": \"u1\", \"kind\": \"user\"}",
                             &out);
    expect_error("import with invalid address", st, out, O365_INVALID_ARGUMENT);
    out = NULL;
    st = o365_import_mailbox(c,
                             "{\"address\": \"bob@contoso.example\", \"users\": [\"u1\"], "
                             "\"main_user\": \"u1\", \"kind\": \"robot\"}",
                             &out);
    expect_error("import with unknown kind", st, out, O365_INVALID_ARGUMENT);
    out = NULL;
    st = o365_import_mailbox(c,
                             "{\"address\": \"bob@contoso.example\", \"users\": [\"u1\"], "
                             "\"main_user\": \"u1\", \"kind\": \"alias\"}",
                             &out);
    expect_error("import alias without alias_of", st, out, O365_INVALID_ARGUMENT);

    /* update users + main user */
    out = call_ok("update_mailbox", o365_update_mailbox, c,
                  "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u1\", "
                  "\"users\": [\"u1\", \"u3\"], \"main_user\": \"u3\", \"settings\": {}}");
    s = json_str(out, "main_user");
    CHECK(s && strcmp(s, "u3") == 0, "update main_user -> u3: %s", out ? out : "(null)");
    free(s);
    CHECK(contains(out, "\"u3\"") && !contains(out, "\"u2\""), "update users -> [u1,u3]: %s",
          out ? out : "(null)");
    o365_string_free(out);
    out = call_ok("get after update (u3)", o365_get_mailbox, c,
                  "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u3\"}");
    o365_string_free(out);
    out = NULL;
    st = o365_get_mailbox(c, "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u2\"}", &out);
    expect_error("get after update by removed user u2", st, out, O365_FORBIDDEN);
    out = NULL;
    st = o365_update_mailbox(c,
                             "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u1\", "
                             "\"main_user\": \"u8\"}",
                             &out);
    expect_error("update main_user not among users", st, out, O365_INVALID_ARGUMENT);
    out = NULL;
    st = o365_update_mailbox(c,
                             "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u9\", "
                             "\"main_user\": \"u1\"}",
                             &out);
    expect_error("update by unassigned user", st, out, O365_FORBIDDEN);

    /* remove */
    out = NULL;
    st = o365_remove_mailbox(c, "{\"mailbox\": \"team@contoso.example\", \"user\": \"u1\"}",
                             &out);
    expect_error("remove by unassigned user", st, out, O365_FORBIDDEN);
    out = call_ok("remove_mailbox", o365_remove_mailbox, c,
                  "{\"mailbox\": \"team@contoso.example\", \"user\": \"u2\"}");
    o365_string_free(out);
    out = NULL;
    st = o365_get_mailbox(c, "{\"mailbox\": \"team@contoso.example\", \"user\": \"u2\"}", &out);
    expect_error("get after remove", st, out, O365_NOT_FOUND);
    out = NULL;
    st = o365_remove_mailbox(c, "{\"mailbox\": \"team@contoso.example\", \"user\": \"u2\"}",
                             &out);
    expect_error("remove twice", st, out, O365_NOT_FOUND);
    out = call_ok("list after remove", o365_list_mailboxes, c, "{}");
    CHECK(list_count(out) == 2, "list after remove has 2: %s", out ? out : "(null)");
    o365_string_free(out);

    /* out_json == NULL discards the result */
    st = o365_list_mailboxes(c, "{}", NULL);
    CHECK_STATUS(st, O365_OK, NULL);
    st = o365_get_mailbox(c, "{\"mailbox\": \"ghost@contoso.example\", \"user\": \"u1\"}", NULL);
    CHECK_STATUS(st, O365_NOT_FOUND, NULL);

    /* the data is in the store: a second client sees it */
    {
        o365_client *c2 = open_client(store, 0);
        out = call_ok("list from second client", o365_list_mailboxes, c2, "{}");
        CHECK(list_count(out) == 2, "second client sees 2 mailboxes: %s", out ? out : "(null)");
        o365_string_free(out);
        o365_client_free(c2);
    }

    o365_client_free(c);
done:
    free(store);
}

struct verb_case {
    const char *name;
    verb_fn fn;
    const char *valid;     /* a well-formed request */
    const char *unknown;   /* valid + an unknown field */
    const char *bad_utf8;  /* invalid UTF-8 inside a string value */
    const char *wrong_type;
    const char *big_prefix; /* big request = prefix + 'a' * N + suffix */
    const char *big_suffix;
};

static const struct verb_case VERBS[] = {
    {"import_mailbox", o365_import_mailbox,
     "{\"address\": \"zed@contoso.example\", \"users\": [\"u1\"], \"main_user\": \"u1\", "
     "\"kind\": \"user\"}",
     "{\"address\": \"zed@contoso.example\", \"users\": [\"u1\"], \"main_user\": \"u1\", "
     "\"kind\": \"user\", \"colour\": \"red\"}",
     "{\"address\": \"z\xc3\x28@contoso.example\", \"users\": [\"u1\"], \"main_user\": \"u1\", "
     "\"kind\": \"user\"}",
     "{\"address\": \"zed@contoso.example\", \"users\": \"u1\", \"main_user\": \"u1\", "
     "\"kind\": \"user\"}",
     "{\"address\": \"zed@contoso.example\", \"users\": [\"u1\"], \"main_user\": \"u1\", "
     "\"kind\": \"user\", \"alias_of\": \"",
     "\"}"},
    {"list_mailboxes", o365_list_mailboxes, "{}", "{\"usr\": \"u1\"}", "{\"user\": \"\xff\xfe\"}",
     "{\"user\": 17}", "{\"user\": \"", "\"}"},
    {"get_mailbox", o365_get_mailbox, "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u1\"}",
     "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u1\", \"verbose\": true}",
     "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u\xed\xa0\x80\"}",
     "{\"mailbox\": [\"anna@contoso.example\"], \"user\": \"u1\"}",
     "{\"mailbox\": \"anna@contoso.example\", \"user\": \"", "\"}"},
    {"update_mailbox", o365_update_mailbox,
     "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u1\", \"main_user\": \"u1\"}",
     "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u1\", \"main_usr\": \"u1\"}",
     "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u1\", \"main_user\": \"\xc0\xaf\"}",
     "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u1\", \"users\": {\"u1\": true}}",
     "{\"mailbox\": \"anna@contoso.example\", \"user\": \"u1\", \"main_user\": \"", "\"}"},
    {"remove_mailbox", o365_remove_mailbox,
     "{\"mailbox\": \"nobody@contoso.example\", \"user\": \"u1\"}",
     "{\"mailbox\": \"nobody@contoso.example\", \"user\": \"u1\", \"force\": true}",
     "{\"mailbox\": \"nobody\xf8\x88\x80\x80\x80@contoso.example\", \"user\": \"u1\"}",
     "{\"mailbox\": 5, \"user\": \"u1\"}",
     "{\"mailbox\": \"nobody@contoso.example\", \"user\": \"", "\"}"},
    {"debug_emit_event", o365_debug_emit_event, "{\"type\": \"test.valid\", \"payload\": {}}",
     "{\"type\": \"test.valid\", \"payload\": {}, \"priority\": 1}",
     "{\"type\": \"test.\xff\", \"payload\": {}}", "{\"type\": 5, \"payload\": {}}",
     "{\"type\": \"test.big\", \"payload\": {\"blob\": \"", "\"}}"},
};

static char *big_request(const struct verb_case *v, size_t total)
{
    size_t pre = strlen(v->big_prefix), suf = strlen(v->big_suffix);
    char *s = malloc(total + 1);
    memcpy(s, v->big_prefix, pre);
    memset(s + pre, 'a', total - pre - suf);
    memcpy(s + total - suf, v->big_suffix, suf);
    s[total] = '\0';
    return s;
}

static void test_bad_input(void)
{
    char *store = store_path("bad_input");
    o365_client *c = open_client(store, 1);
    char what[256], *out, *big;
    size_t i, j;
    o365_status st;
    static const char *malformed[] = {
        "",           "{",        "{\"user\": }", "{\"user\": \"u1\",}", "{} trailing",
        "[]",         "null",     "42",           "\"string\"",          "{\"user\": \"\\ud800\"}",
        "{'user': 1}", "{\"user\" \"u1\"}",
    };

    if (!c)
        goto done;
    /* make sure anna@ exists so that "valid" requests of get/update are really valid */
    out = import_box(c, "anna@contoso.example", "[\"u1\"]", "u1", "user");
    o365_string_free(out);

    for (i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++) {
        const struct verb_case *v = &VERBS[i];

        out = NULL;
        st = v->fn(NULL, v->valid, &out);
        snprintf(what, sizeof what, "%s(NULL client)", v->name);
        expect_error(what, st, out, O365_INVALID_ARGUMENT);

        out = NULL;
        st = v->fn(c, NULL, &out);
        snprintf(what, sizeof what, "%s(NULL request)", v->name);
        expect_error(what, st, out, O365_INVALID_ARGUMENT);

        st = v->fn(c, NULL, NULL);
        snprintf(what, sizeof what, "%s(NULL request, NULL out_json)", v->name);
        CHECK(st == O365_INVALID_ARGUMENT, "%s: status %d", what, (int)st);
        st = v->fn(NULL, v->valid, NULL);
        snprintf(what, sizeof what, "%s(NULL client, NULL out_json)", v->name);
        CHECK(st == O365_INVALID_ARGUMENT, "%s: status %d", what, (int)st);

        out = NULL;
        st = v->fn(c, v->unknown, &out);
        snprintf(what, sizeof what, "%s(unknown field) %s", v->name, v->unknown);
        expect_error(what, st, out, O365_INVALID_ARGUMENT);

        out = NULL;
        st = v->fn(c, v->bad_utf8, &out);
        snprintf(what, sizeof what, "%s(invalid UTF-8)", v->name);
        expect_error(what, st, out, O365_INVALID_ARGUMENT);

        out = NULL;
        st = v->fn(c, v->wrong_type, &out);
        snprintf(what, sizeof what, "%s(wrong type) %s", v->name, v->wrong_type);
        expect_error(what, st, out, O365_INVALID_ARGUMENT);

        for (j = 0; j < sizeof malformed / sizeof malformed[0]; j++) {
            out = NULL;
            st = v->fn(c, malformed[j], &out);
            snprintf(what, sizeof what, "%s(malformed: %s)", v->name, malformed[j]);
            expect_error(what, st, out, O365_INVALID_ARGUMENT);
        }

        /* 10 MB request (limit: 8 MiB) */
        big = big_request(v, 10u * 1000u * 1000u);
        out = NULL;
        st = v->fn(c, big, &out);
        snprintf(what, sizeof what, "%s(10 MB request)", v->name);
        expect_error(what, st, out, O365_INVALID_ARGUMENT);
        free(big);
    }

    /* next_event / ack_event */
    out = NULL;
    st = o365_next_event(NULL, 0, &out);
    expect_error("next_event(NULL client)", st, out, O365_INVALID_ARGUMENT);
    st = o365_next_event(NULL, 0, NULL);
    CHECK_STATUS(st, O365_INVALID_ARGUMENT, NULL);
    out = NULL;
    st = o365_ack_event(NULL, "some-id", &out);
    expect_error("ack_event(NULL client)", st, out, O365_INVALID_ARGUMENT);
    out = NULL;
    st = o365_ack_event(c, NULL, &out);
    expect_error("ack_event(NULL id)", st, out, O365_INVALID_ARGUMENT);
    out = NULL;
    st = o365_ack_event(c, "id-\xff\xfe", &out);
    expect_error("ack_event(invalid UTF-8 id)", st, out, O365_INVALID_ARGUMENT);
    out = NULL;
    st = o365_ack_event(c, "no-such-event", &out);
    CHECK(st == O365_OK || st == O365_NOT_FOUND, "ack_event(unknown id): status %d; %s", (int)st,
          out ? out : "(null)");
    if (st != O365_OK)
        expect_error("ack_event(unknown id)", st, out, st);
    else
        o365_string_free(out);
    /* next_event with a NULL out pointer must not crash (queue is empty here) */
    drain_events(c, 0);
    st = o365_next_event(c, 0, NULL);
    CHECK(st == O365_TIMEOUT || st == O365_INVALID_ARGUMENT,
          "next_event(out_json NULL) on an empty queue: status %d", (int)st);

    /* debug hooks: NULL client */
    out = NULL;
    st = o365_debug_panic(NULL, "{}", &out);
    expect_error("debug_panic(NULL client)", st, out, O365_INVALID_ARGUMENT);

    /* the client still works after all that */
    out = call_ok("list after bad input", o365_list_mailboxes, c, "{}");
    CHECK(list_count(out) == 1, "exactly anna@ is stored after the bad inputs: %s",
          out ? out : "(null)");
    o365_string_free(out);
    o365_client_free(c);
done:
    free(store);
}

static void test_panic(void)
{
    char *store = store_path("panic");
    o365_client *c = open_client(store, 1);
    o365_client *plain;
    char *out;
    o365_status st;
    int i;

    if (!c)
        goto done;
    out = import_box(c, "anna@contoso.example", "[\"u1\"]", "u1", "user");
    o365_string_free(out);
    for (i = 0; i < 3; i++) {
        out = NULL;
        st = o365_debug_panic(c, "{}", &out);
        expect_error("debug_panic with test hooks", st, out, O365_INTERNAL);
        out = call_ok("list after panic", o365_list_mailboxes, c, "{}");
        CHECK(list_count(out) == 1, "list after panic: %s", out ? out : "(null)");
        o365_string_free(out);
    }
    st = o365_debug_panic(c, "{}", NULL);
    CHECK_STATUS(st, O365_INTERNAL, NULL);
    out = call_ok("import after panic", o365_import_mailbox, c,
                  "{\"address\": \"after@contoso.example\", \"users\": [\"u1\"], "
                  "\"main_user\": \"u1\", \"kind\": \"user\"}");
    o365_string_free(out);

    /* without test hooks the hook is refused */
    plain = open_client(store, 0);
    out = NULL;
    st = o365_debug_panic(plain, "{}", &out);
    expect_error("debug_panic without test hooks", st, out, O365_FORBIDDEN);
    out = NULL;
    st = o365_debug_emit_event(plain, "{\"type\": \"test.x\", \"payload\": {}}", &out);
    expect_error("debug_emit_event without test hooks", st, out, O365_FORBIDDEN);
    o365_client_free(plain);
    o365_client_free(c);
done:
    free(store);
}

static void test_events(void)
{
    char *store = store_path("events");
    o365_client *c = open_client(store, 1);
    char *id1, *id2, *ev, *s;
    struct timespec t0, t1;
    double ms;

    if (!c)
        goto done;
    drain_events(c, 0);

    /* empty queue: timeout, within a sane time */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ev = next_event(c, 200);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ev == NULL, "next_event on an empty queue returned %s", ev);
    CHECK(ms >= 150, "next_event(200 ms) returned after %.0f ms (too early)", ms);
    CHECK(ms < 5000, "next_event(200 ms) returned after %.0f ms (too late)", ms);
    o365_string_free(ev);

    id1 = emit_event(c, "test.ping", "{\"n\": 7, \"text\": \"h\\u00e9llo \\\"q\\\"\"}");
    id2 = emit_event(c, "test.pong", "{\"n\": 8}");
    CHECK(id1 && id2 && strcmp(id1, id2) != 0, "two events get distinct ids");

    ev = next_event(c, 1000);
    CHECK(ev != NULL, "first event delivered");
    if (ev) {
        s = json_str(ev, "id");
        CHECK(s && id1 && strcmp(s, id1) == 0, "events come in order: got %s, want id %s", ev,
              id1);
        free(s);
        s = json_str(ev, "type");
        CHECK(s && strcmp(s, "test.ping") == 0, "event type: %s", ev);
        free(s);
        CHECK(json_int(ev, "n", -1) == 7, "payload fields are top-level: %s", ev);
        CHECK(json_top(ev, "created_at", NULL) != NULL, "event has created_at: %s", ev);
        CHECK(contains(ev, "h\\u00e9llo") || contains(ev, "h\xc3\xa9llo"),
              "payload text survives: %s", ev);
        o365_string_free(ev);
    }
    if (id1)
        ack(c, id1);

    ev = next_event(c, 1000);
    CHECK(ev != NULL, "second event delivered");
    s = json_str(ev, "id");
    CHECK(s && id2 && strcmp(s, id2) == 0, "second event id: %s", ev ? ev : "(null)");
    free(s);
    o365_string_free(ev);
    if (id2)
        ack(c, id2);

    ev = next_event(c, 100);
    CHECK(ev == NULL, "queue empty after two acks, got %s", ev);
    o365_string_free(ev);

    /* bad emit requests */
    {
        char *out = NULL;
        o365_status st = o365_debug_emit_event(c, "{\"payload\": {}}", &out);
        expect_error("debug_emit_event without type", st, out, O365_INVALID_ARGUMENT);
    }

    free(id1);
    free(id2);
    o365_client_free(c);
done:
    free(store);
}

static void test_events_survive_reopen(void)
{
    char *store = store_path("events_reopen");
    o365_client *c = open_client(store, 1);
    char *id_a, *id_b, *ev, *s;
    int seen_a = 0, seen_b = 0, n = 0;

    if (!c)
        goto done;
    drain_events(c, 0);
    id_a = emit_event(c, "test.durable", "{\"which\": \"a\"}");
    id_b = emit_event(c, "test.durable", "{\"which\": \"b\"}");

    /* take A without acking, then close */
    ev = next_event(c, 1000);
    s = json_str(ev, "id");
    CHECK(s && id_a && strcmp(s, id_a) == 0, "first delivery is A: %s", ev ? ev : "(null)");
    free(s);
    o365_string_free(ev);
    o365_client_free(c);

    /* reopen: both A (handed out, not acked) and B (never handed out) come back */
    c = open_client(store, 1);
    while (c && (ev = next_event(c, 500)) != NULL && n < 10) {
        s = json_str(ev, "id");
        if (s && id_a && strcmp(s, id_a) == 0)
            seen_a++;
        else if (s && id_b && strcmp(s, id_b) == 0)
            seen_b++;
        free(s);
        o365_string_free(ev);
        n++;
        if (seen_a && seen_b)
            break;
    }
    CHECK(seen_a == 1, "unacked event A delivered again after reopen (seen %d times)", seen_a);
    CHECK(seen_b == 1, "never-delivered event B delivered after reopen (seen %d times)", seen_b);
    if (id_a)
        ack(c, id_a);
    o365_client_free(c);

    /* reopen again: only B (still not acked) remains */
    c = open_client(store, 1);
    ev = next_event(c, 500);
    s = json_str(ev, "id");
    CHECK(s && id_b && strcmp(s, id_b) == 0, "after acking A only B is pending: %s",
          ev ? ev : "(null)");
    free(s);
    o365_string_free(ev);
    if (id_b)
        ack(c, id_b);
    o365_client_free(c);

    /* and after acking B nothing is left */
    c = open_client(store, 1);
    ev = next_event(c, 100);
    CHECK(ev == NULL, "no events left after acking both, got %s", ev);
    o365_string_free(ev);
    o365_client_free(c);
    free(id_a);
    free(id_b);
done:
    free(store);
}

/* An event handed out and not acked is reserved for events.lease_ms, then handed out again. */
static void test_events_lease(void)
{
    char *store = store_path("events_lease");
    char cfg[1024], *out = NULL, *id, *ev, *s;
    o365_client *c = NULL;
    o365_status st;

    snprintf(cfg, sizeof cfg,
             "{\"store\": \"%s\", \"encryption_key\": \"" TEST_KEY "\", "
             "\"debug\": {\"test_hooks\": true}, \"events\": {\"lease_ms\": 300}}",
             store);
    st = o365_client_new(cfg, &c, &out);
    CHECK_STATUS(st, O365_OK, out);
    o365_string_free(out);
    if (!c)
        goto done;
    id = emit_event(c, "test.lease", "{}");
    ev = next_event(c, 1000);
    s = json_str(ev, "id");
    CHECK(s && id && strcmp(s, id) == 0, "first delivery: %s", ev ? ev : "(null)");
    CHECK(contains(ev, "\"redelivered\":false") || contains(ev, "\"redelivered\": false"),
          "first delivery is not marked redelivered: %s", ev ? ev : "(null)");
    free(s);
    o365_string_free(ev);

    ev = next_event(c, 0);
    CHECK(ev == NULL, "while leased the event is not handed out again: %s", ev);
    o365_string_free(ev);

    /* No sleeping (valgrind makes every call slow): a second client whose clock is 10 s
     * later (debug.clock_offset_ms) sees the 300 ms reservation as ended. */
    {
        o365_client *later = NULL;
        snprintf(cfg, sizeof cfg,
                 "{\"store\": \"%s\", \"encryption_key\": \"" TEST_KEY "\", "
                 "\"debug\": {\"test_hooks\": true, \"clock_offset_ms\": 10000}, "
                 "\"events\": {\"lease_ms\": 300}}",
                 store);
        st = o365_client_new(cfg, &later, &out);
        CHECK_STATUS(st, O365_OK, out);
        o365_string_free(out);
        if (later) {
            ev = next_event(later, 1000);
            s = json_str(ev, "id");
            CHECK(s && id && strcmp(s, id) == 0, "handed out again after the lease: %s",
                  ev ? ev : "(null)");
            CHECK(contains(ev, "\"redelivered\":true") || contains(ev, "\"redelivered\": true"),
                  "second delivery is marked redelivered: %s", ev ? ev : "(null)");
            free(s);
            o365_string_free(ev);
            if (id)
                ack(later, id);
            ev = next_event(later, 0);
            CHECK(ev == NULL, "acked: gone, got %s", ev);
            o365_string_free(ev);
            o365_client_free(later);
        }
    }
    free(id);
    o365_client_free(c);
done:
    free(store);
}

/* ---- 8 threads on one client -------------------------------------------------- */

#define N_THREADS 8
#define N_ROUNDS 8

struct thread_arg {
    o365_client *c;
    int index;
    int failures;
    char **ids;     /* shared: event ids taken in phase 2 */
    int *n_ids;
    pthread_mutex_t *lock;
};

static void *worker_phase1(void *p)
{
    struct thread_arg *a = p;
    char req[512], *out = NULL;
    int r;
    o365_status st;

    snprintf(req, sizeof req,
             "{\"address\": \"t%d@contoso.example\", \"users\": [\"u%d\", \"shared\"], "
             "\"main_user\": \"u%d\", \"kind\": \"user\"}",
             a->index, a->index, a->index);
    st = o365_import_mailbox(a->c, req, &out);
    if (st != O365_OK) {
        a->failures++;
        printf("  thread %d: import: %d %s\n", a->index, (int)st, out ? out : "");
    }
    o365_string_free(out);
    for (r = 0; r < N_ROUNDS; r++) {
        out = NULL;
        st = o365_list_mailboxes(a->c, "{\"user\": \"shared\"}", &out);
        if (st != O365_OK || !json_valid(out)) {
            a->failures++;
            printf("  thread %d: list: %d %s\n", a->index, (int)st, out ? out : "");
        }
        o365_string_free(out);
        snprintf(req, sizeof req, "{\"mailbox\": \"t%d@contoso.example\", \"user\": \"u%d\"}",
                 a->index, a->index);
        out = NULL;
        st = o365_get_mailbox(a->c, req, &out);
        if (st != O365_OK || !contains(out, "contoso.example")) {
            a->failures++;
            printf("  thread %d: get: %d %s\n", a->index, (int)st, out ? out : "");
        }
        o365_string_free(out);
        snprintf(req, sizeof req,
                 "{\"type\": \"test.thread\", \"payload\": {\"thread\": %d, \"round\": %d}}",
                 a->index, r);
        out = NULL;
        st = o365_debug_emit_event(a->c, req, &out);
        if (st != O365_OK) {
            a->failures++;
            printf("  thread %d: emit: %d %s\n", a->index, (int)st, out ? out : "");
        }
        o365_string_free(out);
        /* an error path too */
        out = NULL;
        st = o365_get_mailbox(a->c, "{\"mailbox\": 1}", &out);
        if (st != O365_INVALID_ARGUMENT || json_int(out, "status", -1) != 1) {
            a->failures++;
            printf("  thread %d: bad get: %d %s\n", a->index, (int)st, out ? out : "");
        }
        o365_string_free(out);
    }
    return NULL;
}

static void *worker_phase2(void *p)
{
    struct thread_arg *a = p;
    for (;;) {
        char *out = NULL, *id, *type;
        o365_status st = o365_next_event(a->c, 300, &out);
        if (st == O365_TIMEOUT) {
            o365_string_free(out);
            break;
        }
        if (st != O365_OK) {
            a->failures++;
            printf("  thread %d: next_event: %d %s\n", a->index, (int)st, out ? out : "");
            o365_string_free(out);
            break;
        }
        id = json_str(out, "id");
        type = json_str(out, "type");
        o365_string_free(out);
        if (!id) {
            a->failures++;
            free(type);
            continue;
        }
        pthread_mutex_lock(a->lock);
        if (type && strcmp(type, "test.thread") == 0 && *a->n_ids < N_THREADS * N_ROUNDS * 2)
            a->ids[(*a->n_ids)++] = strdup(id);
        pthread_mutex_unlock(a->lock);
        free(type);
        out = NULL;
        st = o365_ack_event(a->c, id, &out);
        if (st != O365_OK) {
            a->failures++;
            printf("  thread %d: ack %s: %d %s\n", a->index, id, (int)st, out ? out : "");
        }
        o365_string_free(out);
        free(id);
    }
    return NULL;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void test_threads(void)
{
    char *store = store_path("threads");
    o365_client *c = open_client(store, 1);
    pthread_t th[N_THREADS];
    struct thread_arg args[N_THREADS];
    char *ids[N_THREADS * N_ROUNDS * 2];
    int n_ids = 0, i, failures = 0, dups = 0;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    char *out;

    if (!c)
        goto done;
    drain_events(c, 0);
    for (i = 0; i < N_THREADS; i++) {
        args[i] = (struct thread_arg){c, i, 0, ids, &n_ids, &lock};
        CHECK(pthread_create(&th[i], NULL, worker_phase1, &args[i]) == 0, "pthread_create");
    }
    for (i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    CHECK(failures == 0, "phase 1 (import/list/get/emit from %d threads): %d failures",
          N_THREADS, failures);
    out = call_ok("list after threads", o365_list_mailboxes, c, "{\"user\": \"shared\"}");
    CHECK(list_count(out) == N_THREADS, "all %d thread mailboxes stored: %s", N_THREADS,
          out ? out : "(null)");
    o365_string_free(out);

    /* phase 2: 8 threads drain the queue concurrently; each event exactly once */
    failures = 0;
    for (i = 0; i < N_THREADS; i++) {
        args[i].failures = 0;
        CHECK(pthread_create(&th[i], NULL, worker_phase2, &args[i]) == 0, "pthread_create");
    }
    for (i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    CHECK(failures == 0, "phase 2 (next_event/ack from %d threads): %d failures", N_THREADS,
          failures);
    CHECK(n_ids == N_THREADS * N_ROUNDS, "%d events delivered, expected %d", n_ids,
          N_THREADS * N_ROUNDS);
    qsort(ids, (size_t)n_ids, sizeof ids[0], cmp_str);
    for (i = 1; i < n_ids; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            dups++;
    CHECK(dups == 0, "%d events were handed out twice to concurrent consumers", dups);
    for (i = 0; i < n_ids; i++)
        free(ids[i]);
    o365_client_free(c);
done:
    free(store);
}

/* ---- fork ------------------------------------------------------------------------ */

static int has_fork_word(const char *doc)
{
    char *m = json_str(doc, "message");
    int ok = m && (strstr(m, "fork") || strstr(m, "Fork"));
    free(m);
    return ok;
}

/* Ends the forked child.
 *
 * Under valgrind the child is traced (memory errors in the child are reported as they happen),
 * but its exit-time leak check would be meaningless: every block that the parent's runtime
 * threads owned (tokio workers, thread-locals) is "definitely lost" in a child, because
 * fork() copies only the calling thread. So the child reports its own memory errors through
 * the exit code (99, like --error-exitcode) and leaves by exec'ing /bin/sh, which valgrind
 * does not follow (no --trace-children), so no leak check runs for the child image. */
static void child_exit(int code)
{
#ifdef O365_HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND) {
        unsigned errors = VALGRIND_COUNT_ERRORS;
        char cmd[32];
        if (errors)
            printf("  child: valgrind found %u error(s) in the child\n", errors);
        snprintf(cmd, sizeof cmd, "exit %d", errors ? 99 : code);
        fflush(stdout);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    }
#endif
    fflush(stdout);
    _exit(code);
}

static void test_fork(void)
{
    char *store = store_path("fork");
    o365_client *c = open_client(store, 1);
    char *out;
    pid_t pid;
    int ws = 0;

    if (!c)
        goto done;
    out = import_box(c, "parent@contoso.example", "[\"u1\"]", "u1", "user");
    o365_string_free(out);
    out = call_ok("list before fork", o365_list_mailboxes, c, "{}");
    o365_string_free(out);

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* child: the inherited client refuses with FORKED; a new client works */
        int failed_before = atomic_load(&harness_failed);
        int passed_before = atomic_load(&harness_passed);
        o365_client *c2;
        o365_status st;
        char *ev, *id;

        alarm(120); /* a hang in the child becomes a failure, not a stuck harness */
        out = NULL;
        st = o365_list_mailboxes(c, "{}", &out);
        CHECK(has_fork_word(out), "child: FORKED message should mention fork(): %s",
              out ? out : "(null)");
        expect_error("child: inherited client list_mailboxes", st, out, O365_FORKED);
        out = NULL;
        st = o365_next_event(c, 0, &out);
        expect_error("child: inherited client next_event", st, out, O365_FORKED);
        out = NULL;
        st = o365_import_mailbox(c,
                                 "{\"address\": \"x@contoso.example\", \"users\": [\"u1\"], "
                                 "\"main_user\": \"u1\", \"kind\": \"user\"}",
                                 &out);
        expect_error("child: inherited client import", st, out, O365_FORKED);

        c2 = open_client(store, 1);
        if (c2) {
            out = call_ok("child: new client list", o365_list_mailboxes, c2, "{}");
            CHECK(contains(out, "parent@contoso.example"), "child sees parent's mailbox: %s",
                  out ? out : "(null)");
            o365_string_free(out);
            out = import_box(c2, "child@contoso.example", "[\"u1\"]", "u1", "user");
            o365_string_free(out);
            id = emit_event(c2, "test.child", "{}");
            ev = next_event(c2, 1000);
            CHECK(ev != NULL, "child: event round trip");
            o365_string_free(ev);
            if (id)
                ack(c2, id);
            free(id);
            o365_client_free(c2);
        }
        /* freeing the inherited client in the child (PHP runs destructors) must be safe */
        o365_client_free(c);
        printf("  child: %d checks passed, %d failed\n",
               atomic_load(&harness_passed) - passed_before,
               atomic_load(&harness_failed) - failed_before);
        free(store);
        child_exit(atomic_load(&harness_failed) == failed_before ? 0 : 1);
    }

    /* parent keeps working while the child runs */
    out = call_ok("parent: list while child runs", o365_list_mailboxes, c, "{}");
    o365_string_free(out);
    out = import_box(c, "parent2@contoso.example", "[\"u1\"]", "u1", "user");
    o365_string_free(out);
    if (pid > 0) {
        CHECK(waitpid(pid, &ws, 0) == pid, "waitpid: %s", strerror(errno));
        CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
              "child exited with %s %d (1 = a check failed, 99 = valgrind error, "
              "14 = SIGALRM hang)",
              WIFEXITED(ws) ? "status" : "signal",
              WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
    }
    out = call_ok("parent: get child's mailbox", o365_get_mailbox, c,
                  "{\"mailbox\": \"child@contoso.example\", \"user\": \"u1\"}");
    o365_string_free(out);
    out = call_ok("parent: list after child", o365_list_mailboxes, c, "{}");
    CHECK(list_count(out) == 3, "parent sees 3 mailboxes after the child: %s",
          out ? out : "(null)");
    o365_string_free(out);
    o365_client_free(c);
done:
    free(store);
}

/* ---- runner ---------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static const struct {
    const char *name;
    void (*fn)(void);
} TESTS[] = {
    {"version", test_version},
    {"client_new", test_client_new},
    {"mailboxes", test_mailboxes},
    {"bad_input", test_bad_input},
    {"panic", test_panic},
    {"events", test_events},
    {"events_survive_reopen", test_events_survive_reopen},
    {"events_lease", test_events_lease},
    {"threads", test_threads},
    {"fork", test_fork},
};

int main(int argc, char **argv)
{
    size_t i;
    int k, rc;
    const char *tmp = getenv("TMPDIR");

    setvbuf(stdout, NULL, _IOLBF, 0);
    harness_verbose = getenv("O365_TEST_VERBOSE") != NULL;
    snprintf(g_dir, sizeof g_dir, "%s/o365-ctest-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 2;
    }
    printf("o365 C harness: library %s, ABI %u, store dir %s\n", o365_version(),
           o365_abi_version(), g_dir);
    for (i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++) {
        int run = argc < 2;
        for (k = 1; k < argc; k++)
            if (strcmp(argv[k], TESTS[i].name) == 0)
                run = 1;
        if (!run)
            continue;
        {
            int f0 = atomic_load(&harness_failed), p0 = atomic_load(&harness_passed);
            printf("== %s\n", TESTS[i].name);
            TESTS[i].fn();
            printf("   %s: %d checks, %d failed\n", TESTS[i].name,
                   atomic_load(&harness_passed) - p0 + atomic_load(&harness_failed) - f0,
                   atomic_load(&harness_failed) - f0);
        }
    }
    if (getenv("O365_TEST_KEEP") == NULL)
        nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    rc = harness_summary();
    return rc;
}
