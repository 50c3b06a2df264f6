/* Support for C tests against the o365-sim binary: finding and starting the sim (demo seed),
 * running a command, and a person signing in on the sim's page (`o365-sim browse`).
 *
 *   sim_start()            starts O365_SIM (else o365-sim next to $LIB, else
 *                          target/debug/o365-sim); fills sim_url and sim_ca; 0 on failure
 *   sim_stop()             ends it
 *   sim_run(cmd)           the command's standard output, trailing newlines removed (malloc'd)
 *   sim_sign_in_page(authorize_url, login)
 *                          the redirect URL after `login` signed in and consented (malloc'd)
 */
#ifndef O365_TEST_SIM_SUPPORT_H
#define O365_TEST_SIM_SUPPORT_H

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static char sim_bin[1024];
static char sim_url[256];
static char sim_ca[1024];
static pid_t sim_pid = -1;

H_FN void sim_find_binary(void)
{
    const char *s = getenv("O365_SIM");
    const char *lib = getenv("LIB");
    if (s && *s)
        snprintf(sim_bin, sizeof sim_bin, "%s", s);
    else if (lib && strrchr(lib, '/'))
        snprintf(sim_bin, sizeof sim_bin, "%.*s/o365-sim", (int)(strrchr(lib, '/') - lib), lib);
    else
        snprintf(sim_bin, sizeof sim_bin, "target/debug/o365-sim");
}

H_FN int sim_start(void)
{
    int fds[2];
    sim_find_binary();
    if (access(sim_bin, X_OK) != 0 || pipe(fds) != 0)
        return 0;
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
    char c;
    while (n + 1 < sizeof line && read(fds[0], &c, 1) == 1 && c != '\n')
        line[n++] = c;
    line[n] = 0;
    close(fds[0]);
    char *url = json_str(line, "url"), *ca = json_str(line, "ca_file");
    int ok = url && ca;
    if (ok) {
        snprintf(sim_url, sizeof sim_url, "%s", url);
        snprintf(sim_ca, sizeof sim_ca, "%s", ca);
    }
    free(url);
    free(ca);
    return ok;
}

H_FN void sim_stop(void)
{
    if (sim_pid > 0) {
        kill(sim_pid, SIGTERM);
        waitpid(sim_pid, NULL, 0);
        sim_pid = -1;
    }
}

H_FN char *sim_run(const char *cmd)
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

H_FN char *sim_sign_in_page(const char *authorize_url, const char *login)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' browse sign-in --ca-file '%s' --url '%s' --user '%s' --password 'Passw0rd!'",
             sim_bin, sim_ca, authorize_url ? authorize_url : "", login);
    return sim_run(cmd);
}

#endif
