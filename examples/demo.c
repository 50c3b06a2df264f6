/* o365 demo: the main job end to end through the C ABI, as a host CRM does it, against the
 * Microsoft 365 emulator o365-sim (started by this program; demo seed: a German tenant).
 *
 *   make demo
 *   build/examples/demo /tmp/x/o365.db [path/to/o365-sim]
 *
 *   make demo-postgres
 *   build/examples/demo --hosts 2 'postgres://user@host/db?schema=demo' [path/to/o365-sim]
 *
 * With --hosts 2 (a PostgreSQL store) the same steps run on two hosts of a CRM: "web1" is
 * this process, "web2" another process (forked, with a client of its own) that shares
 * nothing with web1 but the store URL. The sign-in starts on web1 and finishes on web2; web2
 * reads the mail, web1 sends, web2 serves the link; web2 syncs the Outlook mail and web1
 * receives the activity event.
 *
 * 0. check the setup before anyone signs in (o365_check_setup): config, store, endpoints and
 *    the app registration - the demo's app is registered like a CRM on a server registers it
 *    in Entra ID: "Web" platform, https redirect URI, client secret (docs/going-live.md);
 * 1. import two mailboxes (one an Outlook alias) and assign CRM users, list them;
 * 2. sign the mailbox in once with Microsoft (code flow + PKCE; the "user" on the sign-in
 *    page is played by `o365-sim browse`), print the account;
 * 3. show the folder tree with unread/total counts, sync, show the newest messages;
 * 4. send a mail with _downloadLink(Exposé): the attachment becomes a 14-day link; print the
 *    link page the CRM's web server would show; show the 10-recipient limit refusing 11;
 * 5. a person sends a mail from Outlook directly; after the next sync the CRM receives one
 *    activity "E-Mail – Ausgang" / "Externer E-Mail-Versand" with the main user responsible.
 *
 * Every call: status = o365_<verb>(client, request_json, &out_json). On O365_OK out_json is
 * the result, otherwise an error document. Every returned string is freed with
 * o365_string_free.
 */
#define _GNU_SOURCE
#include "o365.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ANNA "anna.schmidt@contoso.example"
/* The demo's vault key for a PostgreSQL store (required there, the same on every host); in
 * production it comes from the CRM's secret store. */
#define DEMO_KEY "ZGVtby1rZXktZm9yLW8zNjUtb24tcG9zdGdyZXNxbCE="

typedef o365_status (*verb_fn)(o365_client *, const char *, char **);

static char sim_bin[1024], sim_url[256], sim_ca[1024];
static pid_t sim_pid = -1;

/* ---- tiny JSON helpers (enough for the demo: top-level or first occurrence) ---------- */

/* The string value of the first "key": "..." in json (malloc'd, simple escapes kept). */
static char *str_of(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return NULL;
    p += strlen(pat);
    const char *e = p;
    while (*e && !(*e == '"' && e[-1] != '\\'))
        e++;
    return strndup(p, (size_t)(e - p));
}

static long num_of(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* Calls a verb; prints the error document and exits on failure unless it is `expect`. */
static char *call(const char *what, verb_fn fn, o365_client *c, const char *req, o365_status expect)
{
    char *out = NULL;
    o365_status st = fn(c, req, &out);
    if (st != expect) {
        fprintf(stderr, "demo: %s failed with status %d: %s\n", what, st, out ? out : "(null)");
        o365_string_free(out);
        exit(1);
    }
    return out;
}

static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, p);
    pclose(p);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return buf;
}

static void start_sim(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        exit(1);
    sim_pid = fork();
    if (sim_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(sim_bin, sim_bin, "serve", "--listen", "127.0.0.1:0", "--seed", "demo", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[4096];
    size_t n = 0;
    char ch;
    while (n + 1 < sizeof line && read(fds[0], &ch, 1) == 1 && ch != '\n')
        line[n++] = ch;
    line[n] = 0;
    close(fds[0]);
    char *u = str_of(line, "url"), *ca = str_of(line, "ca_file");
    if (!u || !ca) {
        fprintf(stderr, "demo: could not start %s (build it with: cargo build -p o365-sim)\n", sim_bin);
        exit(1);
    }
    snprintf(sim_url, sizeof sim_url, "%s", u);
    snprintf(sim_ca, sizeof sim_ca, "%s", ca);
    free(u);
    free(ca);
}

static void stop_sim(void)
{
    if (sim_pid > 0) {
        kill(sim_pid, SIGTERM);
        waitpid(sim_pid, NULL, 0);
    }
}

/* Prints the folders of a list_folders result as a tree (depth by parent). */
static void print_folders(const char *out)
{
    const char *p = out;
    printf("   %-24s %-14s %7s %7s\n", "folder", "role", "unread", "total");
    while ((p = strstr(p, "\"display_name\":\"")) != NULL) {
        /* each folder object: find its start to read sibling fields */
        const char *obj = p;
        while (obj > out && *obj != '{')
            obj--;
        const char *end = strchr(p, '}');
        size_t len = end ? (size_t)(end - obj + 1) : strlen(obj);
        char *f = strndup(obj, len);
        char *name = str_of(f, "display_name"), *role = str_of(f, "well_known");
        printf("   %-24s %-14s %7ld %7ld\n", name ? name : "", role ? role : "-", num_of(f, "unread_count"),
               num_of(f, "total_count"));
        free(name);
        free(role);
        free(f);
        p += 16;
    }
}

/* State the steps hand on (a forked host 2 sees what host 1 set before). */
static char g_cfg[4096];
static char *g_id, *g_redirect, *g_token;
static int g_hosts = 1;
static int g_activities;

typedef void (*step_fn)(o365_client *c);

/* Runs `step` on host `n`. With one host: on the one client. With two, host 1 is this
 * process; host 2 is a process of its own (fork) with its own client on the same store. */
static void on_host(int n, o365_client *c1, step_fn step)
{
    if (g_hosts == 1 || n == 1) {
        if (g_hosts > 1)
            printf("   [web1, pid %d]\n", (int)getpid());
        step(c1);
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("demo: fork");
        exit(1);
    }
    if (pid == 0) {
        printf("   [web2, pid %d]\n", (int)getpid());
        o365_client *c2 = NULL;
        char *out = NULL;
        if (o365_client_new(g_cfg, &c2, &out) != O365_OK) {
            fprintf(stderr, "demo: web2: o365_client_new: %s\n", out);
            _exit(1);
        }
        o365_string_free(out);
        step(c2);
        o365_client_free(c2);
        fflush(stdout);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "demo: web2 failed\n");
        stop_sim();
        exit(1);
    }
}

/* 0. check the setup */
static void check_setup(o365_client *c)
{
    char *out = call("check_setup", o365_check_setup, c, "{}", O365_OK);
    for (const char *p = strstr(out, "\"name\":\""); p; p = strstr(p + 1, "\"name\":\"")) {
        char *name = str_of(p, "name"), *verdict = str_of(p, "verdict");
        printf("   %-17s %s\n", name, verdict);
        free(name);
        free(verdict);
    }
    if (!strstr(out, "\"ok\":true")) {
        fprintf(stderr, "demo: the setup check failed: %s\n", out);
        exit(1);
    }
    o365_string_free(out);
}

/* 1. import */
static void import_mailboxes(o365_client *c)
{
    char *out = call("import", o365_import_mailbox, c,
                     "{\"address\": \"" ANNA "\", \"users\": [\"u1\", \"u2\"], \"main_user\": \"u1\"}", O365_OK);
    g_id = str_of(out, "id");
    o365_string_free(out);
    out = call("import alias", o365_import_mailbox, c,
               "{\"address\": \"info@contoso.example\", \"users\": [\"u1\"], \"kind\": \"alias\", "
               "\"alias_of\": \"" ANNA "\"}", O365_OK);
    o365_string_free(out);
    out = call("list", o365_list_mailboxes, c, "{}", O365_OK);
    for (const char *p = out; (p = strstr(p, "\"address\":\"")) != NULL; p += 11) {
        char *a = str_of(p, "address"), *k = str_of(p, "kind"), *s = str_of(p, "auth_state");
        printf("   %-32s kind %-6s %s\n", a, k ? k : "", s ? s : "");
        free(a);
        free(k);
        free(s);
    }
    o365_string_free(out);
}

/* 2. sign in: the start (the CRM sends the browser to Microsoft) */
static void start_sign_in(o365_client *c)
{
    char req[8192], cmd[8192];
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u1\"}", g_id);
    char *out = call("authenticate", o365_authenticate, c, req, O365_OK);
    char *authorize = str_of(out, "authorize_url");
    o365_string_free(out);
    printf("   the CRM sends the browser to: %.90s...\n", authorize);
    snprintf(cmd, sizeof cmd, "'%s' browse sign-in --ca-file '%s' --url '%s' --user " ANNA " --password 'Passw0rd!'",
             sim_bin, sim_ca, authorize);
    g_redirect = run(cmd);
    printf("   Anna signs in and approves; Microsoft redirects to: %.70s...\n", g_redirect);
    free(authorize);
}

/* 2. sign in: the callback (on whichever host the load balancer picks) */
static void finish_sign_in(o365_client *c)
{
    char req[8192];
    snprintf(req, sizeof req, "{\"callback_url\": \"%s\"}", g_redirect);
    char *out = call("authenticate (callback)", o365_authenticate, c, req, O365_OK);
    char *who = str_of(out, "address"), *name = str_of(out, "display_name"), *tid = str_of(out, "tenant_id");
    printf("   status authenticated: account %s (%s), tenant %s\n", who, name, tid);
    free(who);
    free(name);
    free(tid);
    o365_string_free(out);
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u2\"}", g_id);
    out = call("authenticate u2", o365_authenticate, c, req, O365_OK);
    char *st2 = str_of(out, "status");
    printf("   u2 (no Microsoft account of their own) uses the mailbox too: %s\n", st2);
    free(st2);
    o365_string_free(out);
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u9\"}", g_id);
    out = call("list_folders u9", o365_list_folders, c, req, O365_FORBIDDEN);
    char *msg = str_of(out, "message");
    printf("   u9 (not assigned) is refused: %s\n", msg);
    free(msg);
    o365_string_free(out);
}

/* 3. folders and mail */
static void read_mail(o365_client *c)
{
    char req[8192];
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u2\"}", g_id);
    char *out = call("list_folders", o365_list_folders, c, req, O365_OK);
    print_folders(out);
    o365_string_free(out);
    out = call("sync", o365_sync, c, req, O365_OK);
    o365_string_free(out);
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u2\", \"folder\": \"inbox\", \"limit\": 3}", g_id);
    out = call("list_messages", o365_list_messages, c, req, O365_OK);
    for (const char *p = out; (p = strstr(p, "\"subject\":\"")) != NULL; p += 11) {
        char *s = str_of(p, "subject");
        printf("   inbox: %s\n", s);
        free(s);
    }
    o365_string_free(out);
}

/* 4. send with a download link */
static void send_with_link(o365_client *c)
{
    char req[8192];
    snprintf(req, sizeof req,
             "{\"mailbox\": \"%s\", \"user\": \"u1\", \"message\": {\"to\": [\"kunde@kunden.example\"], "
             "\"subject\": \"Ihr Expos\\u00e9 Musterstra\\u00dfe 12\", "
             "\"body_html\": \"<p>Guten Tag,</p><p>hier das _downloadLink(Expos\\u00e9).</p>\", "
             "\"attachments\": [{\"name\": \"Expose-Musterstrasse-12.pdf\", \"content_type\": \"application/pdf\", "
             "\"base64\": \"JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8PC9Sb290IDEgMCBSPj4KJSVFT0YK\"}]}}",
             g_id);
    char *out = call("send", o365_send, c, req, O365_OK);
    char *state = str_of(out, "state"), *imid = str_of(out, "internet_message_id");
    char *url = str_of(out, "url"), *exp = str_of(out, "expires_at");
    g_token = str_of(out, "token");
    printf("   %s, Message-ID %s\n   link %s\n   expires %s\n", state, imid, url, exp);
    free(state);
    free(imid);
    free(url);
    free(exp);
    o365_string_free(out);
}

/* 4. the link page, and the recipient limit */
static void serve_link(o365_client *c)
{
    char req[8192];
    snprintf(req, sizeof req, "{\"token\": \"%s\"}", g_token ? g_token : "");
    char *out = call("link_open", o365_link_open, c, req, O365_OK);
    printf("   the link page (o365_link_open):\n");
    printf("     %s\n", out);
    o365_string_free(out);
    char to[2048] = "";
    for (int i = 0; i < 11; i++) {
        char one[64];
        snprintf(one, sizeof one, "%s\"k%d@kunden.example\"", i ? ", " : "", i);
        strcat(to, one);
    }
    snprintf(req, sizeof req,
             "{\"mailbox\": \"%s\", \"user\": \"u1\", \"message\": {\"to\": [%s], \"subject\": \"Rundschreiben\", "
             "\"body_text\": \"Hallo\"}}", g_id, to);
    out = call("send 11", o365_send, c, req, O365_POLICY_VIOLATION);
    char *kind = str_of(out, "error"), *hint = str_of(out, "hint");
    printf("   11 recipients: refused (%s)\n     hint: %s\n", kind, hint);
    free(kind);
    free(hint);
    o365_string_free(out);
}

/* 5. a mail sent from Outlook, and the sync of Sent Items that finds it */
static void outlook_mail_and_sync(o365_client *c)
{
    char req[8192], cmd[8192];
    snprintf(cmd, sizeof cmd,
             "curl -s --cacert '%s' -H 'Content-Type: application/json' -d "
             "'{\"subject\": \"Besichtigung morgen 10 Uhr\", \"body\": \"Bis morgen!\", "
             "\"to\": [\"familie.meier@kunden.example\"]}' '%s/_sim/mailboxes/" ANNA "/outlook-send'",
             sim_ca, sim_url);
    char *sent = run(cmd);
    free(sent);
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u1\", \"folders\": [\"sentitems\"]}", g_id);
    char *out = call("sync", o365_sync, c, req, O365_OK);
    o365_string_free(out);
}

/* 5. the activity event */
static void take_activities(o365_client *c)
{
    for (;;) {
        char *ev = NULL;
        if (o365_next_event(c, 500, &ev) != O365_OK) {
            o365_string_free(ev);
            break;
        }
        char *type = str_of(ev, "type"), *eid = str_of(ev, "id");
        if (type && strcmp(type, "activity") == 0) {
            g_activities++;
            printf("   activity event (o365_next_event):\n     %s\n", ev);
        }
        o365_ack_event(c, eid, NULL);
        free(type);
        free(eid);
        o365_string_free(ev);
    }
    printf("   %d activity booked and acked\n", g_activities);
}

int main(int argc, char **argv)
{
    int arg = 1;
    if (argc > 2 && strcmp(argv[1], "--hosts") == 0) {
        g_hosts = atoi(argv[2]);
        arg = 3;
    }
    if (argc <= arg || (g_hosts != 1 && g_hosts != 2)) {
        fprintf(stderr, "usage: %s [--hosts 1|2] STORE [o365-sim]\n", argv[0]);
        return 2;
    }
    const char *store = argv[arg];
    int postgres = strncmp(store, "postgres", 8) == 0;
    if (g_hosts == 2 && !postgres) {
        fprintf(stderr, "demo: two hosts need a store both can reach: a postgres:// URL\n");
        return 2;
    }
    snprintf(sim_bin, sizeof sim_bin, "%s", argc > arg + 1 ? argv[arg + 1] : "target/debug/o365-sim");
    setvbuf(stdout, NULL, _IOLBF, 0);
    start_sim();
    printf("o365 %s (ABI %u), Microsoft 365 emulator at %s\n\n", o365_version(), o365_abi_version(), sim_url);
    if (g_hosts == 2)
        printf("Two hosts on one PostgreSQL store: web1 (this process) and web2 (a process of its own);\n"
               "they share nothing but the store URL.\n\n");

    snprintf(g_cfg, sizeof g_cfg,
             "{\"store\": \"%s\", %s"
             /* o365-sim's demo "Web" app; in production the secret comes from the CRM's secret store */
             "\"app\": {\"client_id\": \"22222222-3333-4444-5555-666666666666\", "
             "\"client_secret\": \"Xq38Q~demo.web.secret-value_0123456789abc\", "
             "\"redirect_uri\": \"https://crm.example/o365/callback\"}, "
             "\"endpoints\": {\"login\": \"%s\", \"graph\": \"%s/v1.0\"}, \"ca_file\": \"%s\", "
             "\"links\": {\"base_url\": \"https://crm.example/o365/link?t={token}\"}}",
             store, postgres ? "\"encryption_key\": \"" DEMO_KEY "\", " : "", sim_url, sim_url, sim_ca);
    o365_client *c = NULL;
    char *out = NULL;
    if (o365_client_new(g_cfg, &c, &out) != O365_OK) {
        fprintf(stderr, "demo: o365_client_new: %s\n", out);
        stop_sim();
        return 1;
    }
    o365_string_free(out);

    printf("0. Check the setup before anyone signs in (o365_check_setup)\n");
    on_host(1, c, check_setup);
    printf("1. Import mailboxes and assign CRM users (u1 is the main user)\n");
    on_host(1, c, import_mailboxes);
    printf("\n2. Sign in once with Microsoft (OAuth 2.0 code flow with PKCE)\n");
    on_host(1, c, start_sign_in);
    on_host(2, c, finish_sign_in);
    printf("\n3. Folder tree with counts, sync, newest mail\n");
    on_host(2, c, read_mail);
    printf("\n4. Send with _downloadLink(Expos\xc3\xa9): the attachment becomes a link valid 14 days\n");
    on_host(1, c, send_with_link);
    on_host(2, c, serve_link);
    printf("\n5. Anna sends a mail from Outlook directly; the CRM books it as an activity\n");
    on_host(2, c, outlook_mail_and_sync);
    on_host(1, c, take_activities);

    free(g_id);
    free(g_redirect);
    free(g_token);
    o365_client_free(c);
    stop_sim();
    printf("\ndone.\n");
    return g_activities == 1 ? 0 : 1;
}
