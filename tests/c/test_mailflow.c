/* The main job through the C ABI against the o365-sim binary: sign-in (code flow through
 * the sim's own page), folder tree with German names and well-known roles, sync, messages,
 * the send policy (10 recipients sent, 11 refused), a mail sent "from Outlook" booked as
 * exactly one activity, an unassigned user refused, and an alias send refused by the tenant
 * that goes out once when sent again under the same key after the admin allowed it.
 *
 * Needs the sim binary (O365_SIM, else next to $LIB, else target/debug/o365-sim) and curl.
 * Last line: "N passed, N failed".
 */
#define _GNU_SOURCE
#include "o365.h"
#include "harness.h"
#include "sim_support.h"

#include <ftw.h>
#include <sys/stat.h>

#define ANNA "anna.schmidt@contoso.example"
#define TEST_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

typedef o365_status (*verb_fn)(o365_client *, const char *, char **);

static char g_dir[256];

static char *call(verb_fn fn, o365_client *c, const char *req, o365_status want)
{
    char *out = NULL;
    o365_status st = fn(c, req, &out);
    CHECK_STATUS(st, want, out);
    return out;
}

static void test_mailflow(void)
{
    char cfg[4096], req[4096], cmd[8192];
    snprintf(cfg, sizeof cfg,
             "{\"store\": \"%s/o365.db\", \"encryption_key\": \"" TEST_KEY "\", "
             "\"app\": {\"client_id\": \"11111111-2222-3333-4444-555555555555\", "
             "\"redirect_uri\": \"http://localhost:8080/o365/callback\"}, "
             "\"endpoints\": {\"login\": \"%s\", \"graph\": \"%s/v1.0\"}, \"ca_file\": \"%s\", "
             "\"links\": {\"base_url\": \"https://crm.example/o365/link?t={token}\"}}",
             g_dir, sim_url, sim_url, sim_ca);
    o365_client *c = NULL;
    char *out = NULL;
    o365_status st = o365_client_new(cfg, &c, &out);
    CHECK_STATUS(st, O365_OK, out);
    o365_string_free(out);
    if (!c)
        return;

    out = call(o365_import_mailbox, c,
               "{\"address\": \"" ANNA "\", \"users\": [\"u1\", \"u2\"], \"main_user\": \"u1\"}", O365_OK);
    char *id = json_str(out, "id");
    o365_string_free(out);

    /* Sign-in: the authorize URL, a person on the sim's page, the callback. */
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u1\"}", id);
    out = call(o365_authenticate, c, req, O365_OK);
    char *authorize = json_str(out, "authorize_url");
    o365_string_free(out);
    CHECK(authorize && strstr(authorize, "code_challenge_method=S256"), "authorize URL with PKCE: %s", authorize);
    char *redirect = sim_sign_in_page(authorize, ANNA);
    snprintf(req, sizeof req, "{\"callback_url\": \"%s\"}", redirect ? redirect : "");
    out = call(o365_authenticate, c, req, O365_OK);
    CHECK(out && strstr(out, "\"authenticated\""), "signed in: %s", out);
    o365_string_free(out);
    free(authorize);
    free(redirect);

    /* Folder tree: German names, roles from well-known names. */
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u2\"}", id);
    out = call(o365_list_folders, c, req, O365_OK);
    CHECK(out && strstr(out, "\"Posteingang\"") && strstr(out, "\"inbox\""), "inbox as Posteingang: %.300s", out);
    CHECK(out && strstr(out, "\"Gesendete Elemente\"") && strstr(out, "\"sentitems\""), "sent items role");
    CHECK(out && strstr(out, "\"unread_count\"") && strstr(out, "\"total_count\""), "counts");
    o365_string_free(out);

    out = call(o365_sync, c, req, O365_OK);
    o365_string_free(out);
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u2\", \"folder\": \"inbox\", \"limit\": 5}", id);
    out = call(o365_list_messages, c, req, O365_OK);
    CHECK(out && json_array_len(out, "messages") == 5, "five inbox messages: %.300s", out);
    CHECK(out && strstr(out, "\"internet_message_id\""), "messages carry internetMessageId");
    o365_string_free(out);

    /* Send policy: 10 recipients go, 11 are refused with the macro hint. */
    char to[2048] = "";
    for (int i = 0; i < 11; i++) {
        char one[64];
        snprintf(one, sizeof one, "%s\"k%d@kunden.example\"", i ? ", " : "", i);
        strcat(to, one);
        if (i == 9) {
            snprintf(req, sizeof req,
                     "{\"mailbox\": \"%s\", \"user\": \"u1\", \"message\": {\"to\": [%s], "
                     "\"subject\": \"Zehn\", \"body_text\": \"Hallo\"}}", id, to);
            out = call(o365_send, c, req, O365_OK);
            CHECK(out && strstr(out, "\"sent\""), "10 recipients sent: %s", out);
            o365_string_free(out);
        }
    }
    snprintf(req, sizeof req,
             "{\"mailbox\": \"%s\", \"user\": \"u1\", \"message\": {\"to\": [%s], "
             "\"subject\": \"Elf\", \"body_text\": \"Hallo\"}}", id, to);
    out = call(o365_send, c, req, O365_POLICY_VIOLATION);
    CHECK(out && strstr(out, "too_many_recipients") && strstr(out, "_downloadLink"), "11 refused: %s", out);
    o365_string_free(out);

    /* _downloadLink(Exposé): the attachment becomes a 14-day link the host serves. */
    snprintf(req, sizeof req,
             "{\"mailbox\": \"%s\", \"user\": \"u1\", \"message\": {\"to\": [\"kunde@kunden.example\"], "
             "\"subject\": \"Ihr Expos\u00e9\", \"body_html\": \"<p>Anbei das _downloadLink(Expos\u00e9)</p>\", "
             "\"attachments\": [{\"name\": \"expose.txt\", \"content_type\": \"text/plain\", "
             "\"base64\": \"SGF1cyBhbSBTZWUK\"}]}}", id);
    out = call(o365_send, c, req, O365_OK);
    char *token = NULL;
    const char *t = out ? strstr(out, "\"token\":\"") : NULL;
    if (t) {
        t += strlen("\"token\":\"");
        token = strndup(t, strcspn(t, "\""));
    }
    CHECK(token != NULL && strstr(out, "https://crm.example/o365/link?t=") != NULL, "link issued: %s", out);
    o365_string_free(out);
    snprintf(req, sizeof req, "{\"token\": \"%s\"}", token ? token : "");
    out = call(o365_link_open, c, req, O365_OK);
    CHECK(out && strstr(out, "expose.txt"), "link page lists the file: %s", out);
    o365_string_free(out);
    snprintf(req, sizeof req, "{\"token\": \"%s\", \"file\": 0, \"path\": \"%s/download.txt\"}", token ? token : "", g_dir);
    out = call(o365_link_download, c, req, O365_OK);
    o365_string_free(out);
    snprintf(cmd, sizeof cmd, "cat '%s/download.txt'", g_dir);
    char *content = sim_run(cmd);
    CHECK(content && strcmp(content, "Haus am See") == 0, "downloaded bytes: %s", content);
    free(content);
    snprintf(req, sizeof req, "{\"token\": \"%sx\"}", token ? token : "");
    out = call(o365_link_open, c, req, O365_INVALID_ARGUMENT);
    CHECK(out != NULL, "tampered token refused");
    o365_string_free(out);

    /* The finished page (o365_link_page) and the file streamed in 4-byte pieces. */
    snprintf(req, sizeof req, "{\"method\": \"GET\", \"token\": \"%s\"}", token ? token : "");
    out = call(o365_link_page, c, req, O365_OK);
    CHECK(out && strstr(out, "\"status\":200") && strstr(out, "expose.txt") && strstr(out, "no-referrer"),
          "page: %s", out);
    o365_string_free(out);
    snprintf(req, sizeof req, "{\"method\": \"GET\", \"token\": \"%s\", \"query\": {\"f\": \"0\"}}",
             token ? token : "");
    out = call(o365_link_page, c, req, O365_OK);
    size_t slen = 0;
    const char *sv = out ? json_top(out, "stream", &slen) : NULL;
    char *stream = sv ? json_str(sv, "id") : NULL;
    CHECK(stream != NULL, "file answer with a stream: %s", out);
    o365_string_free(out);
    char got[64] = {0};
    size_t pos = 0, n = 0;
    uint8_t piece[4];
    char *err = NULL;
    while ((st = o365_link_read(c, stream, pos, piece, sizeof piece, &n, &err)) == O365_OK && n > 0
           && pos + n < sizeof got) {
        memcpy(got + pos, piece, n);
        pos += n;
    }
    CHECK(st == O365_OK && err == NULL && strcmp(got, "Haus am See\n") == 0, "streamed: '%s' (%d)", got, st);
    st = o365_link_read(c, stream, 0, piece, sizeof piece, NULL, &err);
    CHECK(st == O365_INVALID_ARGUMENT && err && strstr(err, "out_n"), "NULL out_n refused: %s", err);
    o365_string_free(err);
    err = NULL;
    st = o365_link_read(c, "forged.stream", 0, piece, sizeof piece, &n, &err);
    CHECK(st == O365_INVALID_ARGUMENT && err && strstr(err, "stream_invalid"), "forged stream: %s", err);
    o365_string_free(err);
    free(stream);
    free(token);

    /* A mail sent from Outlook: one activity with the main user after the next sync. */
    snprintf(cmd, sizeof cmd,
             "curl -s --cacert '%s' -H 'Content-Type: application/json' -d "
             "'{\"subject\": \"Aus Outlook\", \"body\": \"x\", \"to\": [\"kunde@kunden.example\"]}' "
             "'%s/_sim/mailboxes/" ANNA "/outlook-send'", sim_ca, sim_url);
    char *sent = sim_run(cmd);
    char *imid = sent ? json_str(sent, "internetMessageId") : NULL;
    CHECK(imid != NULL, "outlook send: %s", sent);
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u1\"}", id);
    out = call(o365_sync, c, req, O365_OK);
    o365_string_free(out);
    int activities = 0;
    for (;;) {
        char *ev = NULL;
        st = o365_next_event(c, 500, &ev);
        if (st != O365_OK) {
            o365_string_free(ev);
            break;
        }
        char *type = json_str(ev, "type");
        if (type && strcmp(type, "activity") == 0) {
            activities++;
            CHECK(strstr(ev, "E-Mail \\u2013 Ausgang") || strstr(ev, "E-Mail – Ausgang"), "type: %s", ev);
            CHECK(strstr(ev, "Externer E-Mail-Versand") != NULL, "marker");
            char *resp = json_str(ev, "responsible_user");
            CHECK(resp && strcmp(resp, "u1") == 0, "main user responsible: %s", resp);
            char *got = json_str(ev, "internet_message_id");
            CHECK(got && imid && strcmp(got, imid) == 0, "the Outlook mail: %s", got);
            free(resp);
            free(got);
        }
        char *eid = json_str(ev, "id");
        char *ack = NULL;
        CHECK_STATUS(o365_ack_event(c, eid, &ack), O365_OK, ack);
        o365_string_free(ack);
        free(eid);
        free(type);
        o365_string_free(ev);
    }
    CHECK(activities == 1, "exactly one activity, got %d", activities);
    free(sent);
    free(imid);

    /* Nobody else. */
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"stranger\"}", id);
    out = call(o365_list_folders, c, req, O365_FORBIDDEN);
    CHECK(out && strstr(out, "user_not_assigned"), "stranger refused: %s", out);
    o365_string_free(out);

    /* info@, an alias of Anna: refused while the tenant does not allow sending from aliases,
     * naming the setting; sent again under the same idempotency key after the admin allowed
     * it, the mail goes out once, under the first send id. */
    out = call(o365_import_mailbox, c,
               "{\"address\": \"info@contoso.example\", \"users\": [\"u1\"], \"kind\": \"alias\", "
               "\"alias_of\": \"" ANNA "\"}", O365_OK);
    char *alias = json_str(out, "id");
    o365_string_free(out);
    /* Anna's mailbox is signed in with the account that has info@: the alias uses that
     * sign-in (one token set), no sign-in of its own. */
    snprintf(req, sizeof req, "{\"mailbox\": \"%s\", \"user\": \"u1\"}", alias);
    out = call(o365_authenticate, c, req, O365_OK);
    CHECK(out && strstr(out, "\"authenticated\"") && strstr(out, "\"signed_in_via\""),
          "alias served by its owner's sign-in: %s", out);
    o365_string_free(out);
    const char *patch = "curl -s -X PATCH --cacert '%s' -H 'Content-Type: application/json' "
                        "-d '{\"sendFromAliasEnabled\": %s}' '%s/_sim/tenants/contoso.example'";
    snprintf(cmd, sizeof cmd, patch, sim_ca, "false", sim_url);
    free(sim_run(cmd));
    char mail[1024];
    snprintf(mail, sizeof mail,
             "{\"mailbox\": \"%s\", \"user\": \"u1\", \"idempotency_key\": \"c-alias-1\", "
             "\"message\": {\"to\": [\"kunde@kunden.example\"], \"subject\": \"Angebot vom Alias C\"}}",
             alias);
    out = call(o365_send, c, mail, O365_FORBIDDEN);
    CHECK(out && strstr(out, "alias_send_not_enabled") &&
              strstr(out, "Set-OrganizationConfig -SendFromAliasEnabled $true"),
          "alias refused, naming the setting: %s", out);
    const char *sid = out ? strstr(out, "\"send_id\":\"") : NULL;
    char *first_id = sid ? strndup(sid + 11, strcspn(sid + 11, "\"")) : NULL;
    o365_string_free(out);
    snprintf(cmd, sizeof cmd, patch, sim_ca, "true", sim_url);
    free(sim_run(cmd));
    out = call(o365_send, c, mail, O365_OK);
    char *sent_id = out ? json_str(out, "send_id") : NULL;
    CHECK(out && strstr(out, "\"sent\"") && first_id && sent_id && strcmp(first_id, sent_id) == 0,
          "sent under the first send id %s: %s", first_id, out);
    o365_string_free(out);
    free(first_id);
    free(sent_id);
    snprintf(cmd, sizeof cmd, "curl -s --cacert '%s' '%s/_sim/outbound'", sim_ca, sim_url);
    char *outbound = sim_run(cmd);
    int copies = 0;
    for (const char *p = outbound; p && (p = strstr(p, "\"subject\":\"Angebot vom Alias C\"")); p++)
        copies++;
    CHECK(copies == 1, "received exactly once, got %d", copies);
    free(outbound);

    /* A tenant where Exchange sends alias mail from the primary address instead (public
     * reports; the sim's aliasSendMode "rewrite"): the result says where it went out from. */
    snprintf(cmd, sizeof cmd,
             "curl -s -X PATCH --cacert '%s' -H 'Content-Type: application/json' "
             "-d '{\"sendFromAliasEnabled\": false, \"aliasSendMode\": \"rewrite\"}' "
             "'%s/_sim/tenants/contoso.example'",
             sim_ca, sim_url);
    free(sim_run(cmd));
    snprintf(mail, sizeof mail,
             "{\"mailbox\": \"%s\", \"user\": \"u1\", \"idempotency_key\": \"c-alias-2\", "
             "\"message\": {\"to\": [\"kunde@kunden.example\"], \"subject\": \"Umgeschrieben C\"}}",
             alias);
    out = call(o365_send, c, mail, O365_OK);
    CHECK(out && strstr(out, "\"sent_from\":\"" ANNA "\"") &&
              strstr(out, "\"sent_as_requested\":false") &&
              strstr(out, "Set-OrganizationConfig -SendFromAliasEnabled $true"),
          "rewritten alias send reports the primary address: %s", out);
    o365_string_free(out);
    free(alias);

    free(id);
    o365_client_free(c);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/o365-c-mailflow-XXXXXX");
    if (!mkdtemp(g_dir)) {
        printf("cannot create a temporary directory\n0 passed, 1 failed\n");
        return 1;
    }
    if (!sim_start()) {
        printf("cannot start %s (cargo build -p o365-sim, or set O365_SIM)\n0 passed, 1 failed\n", sim_bin);
        return 1;
    }
    test_mailflow();
    sim_stop();
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return harness_summary();
}
