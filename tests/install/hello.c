/* Built by scripts/test_install.sh against an installed libo365, with nothing but
 * `pkg-config --cflags --libs o365`: checks the identity calls, opens a client on a fresh
 * store (argv[1]) and makes one call. Prints "ok" on success. */
#include <o365.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s STORE\n", argv[0]);
        return 2;
    }
    printf("version %s, abi %u\n", o365_version(), (unsigned)o365_abi_version());
    if (o365_abi_version() != O365_ABI_VERSION) {
        fprintf(stderr, "ABI mismatch: library %u, header %u\n", (unsigned)o365_abi_version(),
                (unsigned)O365_ABI_VERSION);
        return 1;
    }
    char config[4096];
    snprintf(config, sizeof config, "{\"store\": \"%s\", \"sync\": {\"scheduler\": false}}", argv[1]);
    o365_client *client = NULL;
    char *out = NULL;
    o365_status st = o365_client_new(config, &client, &out);
    if (st != O365_OK) {
        fprintf(stderr, "o365_client_new: %d %s\n", (int)st, out ? out : "");
        o365_string_free(out);
        return 1;
    }
    printf("client: %s\n", out);
    o365_string_free(out);
    out = NULL;
    st = o365_list_mailboxes(client, "{}", &out);
    int good = st == O365_OK && out != NULL && strstr(out, "\"mailboxes\"") != NULL;
    printf("list_mailboxes: %d %s\n", (int)st, out ? out : "");
    o365_string_free(out);
    o365_client_free(client);
    if (!good) {
        return 1;
    }
    puts("ok");
    return 0;
}
