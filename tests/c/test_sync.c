/* Folders, messages, sync, cache clear, folder-contents move (issue 5) through the C ABI,
 * against an o365-sim process (O365_SIM, else target/debug/o365-sim).
 *
 * Build: cc -std=c11 -Wall -Wextra -Werror -pthread -Iinclude tests/c/test_sync.c
 *           -Ltarget/debug -Wl,-rpath,target/debug -l:libo365.so
 * Last line: "N passed, N failed"; exit status 0 when all passed.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "o365.h"
#include "sim_support.h"

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define ANNA "anna.schmidt@contoso.example"

/* True when the top-level string `key` of `doc` equals `want`. */
static int json_str_eq(const char *doc, const char *key, const char *want)
{
    char *v = json_str(doc, key);
    int eq = v && strcmp(v, want) == 0;
    free(v);
    return eq;
}

typedef o365_status (*verb_fn)(o365_client *, const char *, char **);

/* Calls a verb; returns the result (free with o365_string_free) and checks the status. */
static char *call(o365_client *c, verb_fn f, const char *req, o365_status want, int line)
{
    char *out = NULL;
    o365_status st = f(c, req, &out);
    if (st != want)
        harness_fail(__FILE__, line, "status %d, expected %d for %s: %s", st, want, req,
                     out ? out : "(null)");
    else
        atomic_fetch_add(&harness_passed, 1);
    return out;
}
#define CALL(c, f, req) call((c), (f), (req), O365_OK, __LINE__)
#define CALL_ERR(c, f, req, st) call((c), (f), (req), (st), __LINE__)

/* The value of the first `"key":"` string after `from` in `doc` (malloc'd), or NULL. */
static char *find_str(const char *doc, const char *from, const char *key)
{
    const char *p = from ? strstr(doc, from) : doc;
    if (!p)
        return NULL;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    p = strstr(p, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e)
        return NULL;
    char *s = malloc((size_t)(e - p) + 1);
    memcpy(s, p, (size_t)(e - p));
    s[e - p] = 0;
    return s;
}

/* The folder object (text between braces) whose display name is `name`. */
static int folder_has(const char *doc, const char *name, const char *needle)
{
    char pat[256];
    snprintf(pat, sizeof pat, "\"display_name\":\"%s\"", name);
    const char *p = strstr(doc, pat);
    if (!p)
        return 0;
    const char *start = p, *end = strchr(p, '}');
    while (start > doc && *start != '{')
        start--;
    if (!end)
        return 0;
    const char *hit = strstr(start, needle);
    return hit && hit < end;
}

static char *sign_in(o365_client *c, const char *mailbox_id)
{
    char req[512], *authorize = NULL, *redirect = NULL;
    snprintf(req, sizeof req, "{\"mailbox\":\"%s\",\"user\":\"u1\"}", mailbox_id);
    char *start = CALL(c, o365_authenticate, req);
    authorize = start ? json_str(start, "authorize_url") : NULL;
    o365_string_free(start);
    if (!authorize)
        return NULL;
    redirect = sim_sign_in_page(authorize, ANNA);
    free(authorize);
    if (!redirect)
        return NULL;
    char done[4608];
    snprintf(done, sizeof done, "{\"callback_url\":\"%s\"}", redirect);
    free(redirect);
    return CALL(c, o365_authenticate, done);
}

int main(void)
{
    int started = sim_start();
    CHECK(started, "o365-sim started (%s; cargo build -p o365-sim, or set O365_SIM)", sim_bin);
    if (!started)
        return harness_summary();

    char dir[] = "/tmp/o365-c-sync-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "{\"store\":\"%s/o365.db\",\"encryption_key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
             "\"app\":{\"client_id\":\"11111111-2222-3333-4444-555555555555\","
             "\"redirect_uri\":\"http://localhost:8080/o365/callback\"},"
             "\"endpoints\":{\"login\":\"%s\",\"graph\":\"%s/v1.0\"},\"ca_file\":\"%s\","
             "\"sync\":{\"scheduler\":false}}",
             dir, sim_url, sim_url, sim_ca);
    o365_client *c = NULL;
    char *out = NULL;
    CHECK_STATUS(o365_client_new(cfg, &c, &out), O365_OK, out);
    o365_string_free(out);

    char *mb = CALL(c, o365_import_mailbox, "{\"address\":\"" ANNA "\",\"users\":[\"u1\",\"u2\"]}");
    char *id = mb ? json_str(mb, "id") : NULL;
    o365_string_free(mb);
    char *auth = id ? sign_in(c, id) : NULL;
    CHECK(auth && strstr(auth, "\"authenticated\""), "signed in: %s", auth ? auth : "(null)");
    o365_string_free(auth);

    char req[1024];
    /* Roles from well-known names, display names as the German mailbox shows them. */
    snprintf(req, sizeof req, "{\"mailbox\":\"%s\",\"user\":\"u1\"}", id);
    char *folders = CALL(c, o365_list_folders, req);
    CHECK(folders && folder_has(folders, "Posteingang", "\"well_known\":\"inbox\""), "inbox role");
    CHECK(folders && folder_has(folders, "Gesendete Elemente", "\"well_known\":\"sentitems\""),
          "sentitems role");
    CHECK(folders && folder_has(folders, "Gesendete Objekte", "\"well_known\":null"),
          "no role for a look-alike name");
    o365_string_free(folders);
    /* Warm: answered from the cache. */
    folders = CALL(c, o365_list_folders, req);
    o365_string_free(folders);

    char *r = CALL(c, o365_sync, req);
    CHECK(r && json_str_eq(r, "status", "ok"), "sync ok: %s", r ? r : "(null)");
    o365_string_free(r);

    snprintf(req, sizeof req,
             "{\"mailbox\":\"%s\",\"user\":\"u1\",\"folder\":\"inbox\",\"limit\":3,\"unread_only\":true}", id);
    char *page = CALL(c, o365_list_messages, req);
    char *mid = page ? find_str(page, "\"messages\":[", "id") : NULL;
    char *mid2 = page ? find_str(page, "\"internet_message_id\"", "id") : NULL;
    CHECK(mid != NULL && mid2 != NULL, "message ids: %s", page ? page : "(null)");
    o365_string_free(page);

    if (mid && mid2) {
        snprintf(req, sizeof req, "{\"mailbox\":\"%s\",\"user\":\"u1\",\"id\":\"%s\"}", id, mid);
        char *m = CALL(c, o365_get_message, req);
        CHECK(m && strstr(m, "\"body\":{"), "body");
        o365_string_free(m);
        m = CALL(c, o365_mark_read, req);
        CHECK(m && strstr(m, mid), "marked read");
        o365_string_free(m);
        snprintf(req, sizeof req, "{\"mailbox\":\"%s\",\"user\":\"u1\",\"id\":\"%s\",\"to\":\"Kunden\"}", id, mid);
        m = CALL(c, o365_move_message, req);
        char *moved = m ? json_str(m, "id") : NULL;
        CHECK(moved && strcmp(moved, mid) == 0, "same id after the move");
        free(moved);
        o365_string_free(m);
        snprintf(req, sizeof req, "{\"mailbox\":\"%s\",\"user\":\"u1\",\"id\":\"%s\"}", id, mid2);
        m = CALL(c, o365_delete_message, req);
        o365_string_free(m);
        snprintf(req, sizeof req, "{\"mailbox\":\"%s\",\"user\":\"u1\",\"id\":\"%s\",\"refresh\":true}", id, mid2);
        m = CALL_ERR(c, o365_get_message, req, O365_NOT_FOUND);
        o365_string_free(m);
    }
    free(mid);
    free(mid2);

    snprintf(req, sizeof req,
             "{\"mailbox\":\"%s\",\"user\":\"u1\",\"from\":\"Gesendete Objekte\",\"to\":\"sentitems\"}", id);
    char *job = CALL(c, o365_move_folder_contents, req);
    CHECK(job && json_str_eq(job, "state", "done") && json_int(job, "moved", -1) == 50,
          "folder contents moved: %s", job ? job : "(null)");
    o365_string_free(job);

    snprintf(req, sizeof req, "{\"mailbox\":\"%s\",\"user\":\"u1\"}", id);
    char *cl = CALL(c, o365_cache_clear, req);
    o365_string_free(cl);
    folders = CALL(c, o365_list_folders, req);
    CHECK(folders && folder_has(folders, "Gesendete Objekte", "\"total_count\":0"),
          "fresh after the clear");
    o365_string_free(folders);

    snprintf(req, sizeof req, "{\"mailbox\":\"%s\",\"user\":\"intruder\"}", id);
    char *e = CALL_ERR(c, o365_sync, req, O365_FORBIDDEN);
    o365_string_free(e);

    free(id);
    o365_client_free(c);
    sim_stop();
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    CHECK(system(rm) == 0, "cleanup");
    return harness_summary();
}
