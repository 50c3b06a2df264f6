/* o365 demo: the C ABI end to end, as a host CRM would use it.
 *
 *   make demo                      (builds this file and runs it on a temporary store)
 *   build/examples/demo /path/to/o365.db
 *
 * Creates a client on a SQLite store, imports two mailboxes, lists them, and reads one back.
 * Every call has the shape  status = o365_<verb>(client, request_json, &out_json);  on
 * O365_OK out_json is the result, otherwise an error document. Every returned string is
 * released with o365_string_free.
 */
#define _POSIX_C_SOURCE 200809L
#include "o365.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints JSON text indented (no validation: the library only returns valid JSON). */
static void print_json(const char *json, const char *indent0)
{
    int depth = 0, in_string = 0, i;
    const char *p;
    fputs(indent0, stdout);
    for (p = json; *p; p++) {
        char c = *p;
        if (in_string) {
            putchar(c);
            if (c == '\\' && p[1]) {
                putchar(*++p);
            } else if (c == '"') {
                in_string = 0;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = 1;
            putchar(c);
            break;
        case '{':
        case '[':
            putchar(c);
            if (p[1] == '}' || p[1] == ']') {
                putchar(*++p);
                break;
            }
            depth++;
            printf("\n%s", indent0);
            for (i = 0; i < depth; i++)
                fputs("  ", stdout);
            break;
        case '}':
        case ']':
            depth--;
            printf("\n%s", indent0);
            for (i = 0; i < depth; i++)
                fputs("  ", stdout);
            putchar(c);
            break;
        case ',':
            printf(",\n%s", indent0);
            for (i = 0; i < depth; i++)
                fputs("  ", stdout);
            break;
        case ':':
            fputs(": ", stdout);
            break;
        case ' ':
        case '\n':
        case '\t':
        case '\r':
            break;
        default:
            putchar(c);
        }
    }
    putchar('\n');
}

/* Reports a failed call with its error document and exits. */
static void check(const char *what, o365_status status, char *out_json)
{
    if (status == O365_OK)
        return;
    fprintf(stderr, "demo: %s failed with status %d: %s\n", what, (int)status,
            out_json ? out_json : "(no error document)");
    o365_string_free(out_json);
    exit(1);
}

int main(int argc, char **argv)
{
    char store[4096], config[8192];
    o365_client *client = NULL;
    char *out = NULL;
    o365_status st;

    if (argc > 1) {
        snprintf(store, sizeof store, "%s", argv[1]);
    } else {
        char dir[] = "/tmp/o365-demo-XXXXXX";
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(store, sizeof store, "%s/o365.db", dir);
    }

    printf("libo365 %s (C ABI %u; this program was built against ABI %d)\n", o365_version(),
           o365_abi_version(), O365_ABI_VERSION);
    if (o365_abi_version() != O365_ABI_VERSION) {
        fprintf(stderr, "demo: library ABI mismatch\n");
        return 1;
    }

    /* 1. a client on a SQLite store (no encryption_key: the library creates a 0600 key file
     *    beside the store, or takes O365_ENCRYPTION_KEY from the environment) */
    snprintf(config, sizeof config,
             "{\"store\": \"%s\", "
             "\"app\": {\"client_id\": \"00000000-0000-0000-0000-000000000000\", "
             "\"redirect_uri\": \"http://localhost:8080/o365/callback\", \"tenant\": \"common\"}}",
             store);
    printf("\n[o365_client_new] store %s\n", store);
    st = o365_client_new(config, &client, &out);
    check("o365_client_new", st, out);
    if (out)
        print_json(out, "  ");
    o365_string_free(out);

    /* 2. import two mailboxes: a personal one shared by two CRM users, and a shared mailbox */
    printf("\n[o365_import_mailbox] anna@contoso.example (CRM users u1, u2; main user u1)\n");
    out = NULL;
    st = o365_import_mailbox(client,
                             "{\"address\": \"anna@contoso.example\", \"users\": [\"u1\", \"u2\"], "
                             "\"main_user\": \"u1\", \"kind\": \"user\"}",
                             &out);
    check("o365_import_mailbox(anna@)", st, out);
    print_json(out, "  ");
    o365_string_free(out);

    printf("\n[o365_import_mailbox] support@contoso.example (shared mailbox, CRM users u2, u3)\n");
    out = NULL;
    st = o365_import_mailbox(client,
                             "{\"address\": \"support@contoso.example\", \"users\": [\"u2\", \"u3\"], "
                             "\"main_user\": \"u2\", \"kind\": \"shared\"}",
                             &out);
    check("o365_import_mailbox(support@)", st, out);
    print_json(out, "  ");
    o365_string_free(out);

    /* 3. list them: all, and those CRM user u1 may use */
    printf("\n[o365_list_mailboxes] {}\n");
    out = NULL;
    st = o365_list_mailboxes(client, "{}", &out);
    check("o365_list_mailboxes", st, out);
    print_json(out, "  ");
    o365_string_free(out);

    printf("\n[o365_list_mailboxes] {\"user\": \"u1\"}\n");
    out = NULL;
    st = o365_list_mailboxes(client, "{\"user\": \"u1\"}", &out);
    check("o365_list_mailboxes(u1)", st, out);
    print_json(out, "  ");
    o365_string_free(out);

    /* 4. errors are documents too: a second import of the same address */
    printf("\n[o365_import_mailbox] anna@contoso.example again -> expect O365_ALREADY_EXISTS\n");
    out = NULL;
    st = o365_import_mailbox(client,
                             "{\"address\": \"anna@contoso.example\", \"users\": [\"u1\"], "
                             "\"main_user\": \"u1\"}",
                             &out);
    printf("  status %d%s\n", (int)st, st == O365_ALREADY_EXISTS ? " (O365_ALREADY_EXISTS)" : "");
    if (out)
        print_json(out, "  ");
    o365_string_free(out);
    if (st != O365_ALREADY_EXISTS) {
        fprintf(stderr, "demo: expected O365_ALREADY_EXISTS\n");
        o365_client_free(client);
        return 1;
    }

    o365_client_free(client);
    printf("\ndemo: ok\n");
    return 0;
}
