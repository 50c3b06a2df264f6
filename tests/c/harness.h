/* Tiny test framework and JSON helpers for the o365 C harness.
 *
 * CHECK(cond, fmt, ...)   records a pass or a failure (with file:line and a message)
 * CHECK_STATUS(got, want, out_json)
 *                         checks a status code; on a mismatch prints the returned document
 * json_top(doc, key, &len) finds the raw value of a *top-level* key in a JSON object
 *                         (skips nested objects/arrays/strings properly)
 * json_int / json_str     typed helpers on top of json_top (json_str returns malloc'd text,
 *                         decoded for simple escapes; free() it)
 * Results: harness_summary() prints "N passed, N failed" and returns the exit code.
 */
#ifndef O365_TEST_HARNESS_H
#define O365_TEST_HARNESS_H

#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H_FN static __attribute__((unused))

static atomic_int harness_passed;
static atomic_int harness_failed;
static int harness_verbose;

__attribute__((format(printf, 3, 4)))
H_FN void harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    atomic_fetch_add(&harness_failed, 1);
    fprintf(stdout, "  FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (cond) {                                                              \
            atomic_fetch_add(&harness_passed, 1);                                \
            if (harness_verbose)                                                 \
                fprintf(stdout, "  ok   %s\n", #cond);                           \
        } else {                                                                 \
            harness_fail(__FILE__, __LINE__, __VA_ARGS__);                       \
        }                                                                        \
    } while (0)

#define CHECK_STATUS(got, want, out)                                             \
    do {                                                                         \
        int got_ = (int)(got);                                                   \
        int want_ = (int)(want);                                                 \
        const char *out_ = (out);                                                \
        CHECK(got_ == want_, "%s: status %d, expected %d; out_json=%s", #got,    \
              got_, want_, out_ ? out_ : "(null)");                              \
    } while (0)

H_FN int harness_summary(void)
{
    int p = atomic_load(&harness_passed);
    int f = atomic_load(&harness_failed);
    fflush(stdout);
    printf("%d passed, %d failed\n", p, f);
    fflush(stdout);
    return f == 0 ? 0 : 1;
}

/* ---- minimal JSON scanning ------------------------------------------------ */

H_FN const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Returns a pointer just past the JSON value starting at p (after whitespace), or NULL. */
H_FN const char *json_skip(const char *p)
{
    p = json_ws(p);
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\') {
                if (!p[1])
                    return NULL;
                p += 2;
            } else {
                p++;
            }
        }
        return *p == '"' ? p + 1 : NULL;
    }
    if (*p == '{' || *p == '[') {
        char open = *p, close = (*p == '{') ? '}' : ']';
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (open == '{') {
                p = json_skip(p); /* key */
                if (!p)
                    return NULL;
                p = json_ws(p);
                if (*p != ':')
                    return NULL;
                p++;
            }
            p = json_skip(p);
            if (!p)
                return NULL;
            p = json_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    /* number, true, false, null */
    if (!*p)
        return NULL;
    while (*p && (isalnum((unsigned char)*p) || *p == '-' || *p == '+' || *p == '.'))
        p++;
    return p;
}

/* Finds the value of a top-level key; returns pointer to the value and its length. */
H_FN const char *json_top(const char *doc, const char *key, size_t *len)
{
    const char *p;
    size_t klen = strlen(key);
    if (!doc)
        return NULL;
    p = json_ws(doc);
    if (*p != '{')
        return NULL;
    p = json_ws(p + 1);
    if (*p == '}')
        return NULL;
    for (;;) {
        const char *kstart, *kend, *vstart, *vend;
        p = json_ws(p);
        if (*p != '"')
            return NULL;
        kstart = p + 1;
        kend = json_skip(p);
        if (!kend)
            return NULL;
        p = json_ws(kend);
        if (*p != ':')
            return NULL;
        vstart = json_ws(p + 1);
        vend = json_skip(vstart);
        if (!vend)
            return NULL;
        if ((size_t)(kend - 1 - kstart) == klen && memcmp(kstart, key, klen) == 0) {
            if (len)
                *len = (size_t)(vend - vstart);
            return vstart;
        }
        p = json_ws(vend);
        if (*p == ',') {
            p++;
            continue;
        }
        return NULL;
    }
}

/* Integer value of a top-level key, or `dflt` when absent / not a number. */
H_FN long json_int(const char *doc, const char *key, long dflt)
{
    size_t len;
    const char *v = json_top(doc, key, &len);
    char *end;
    long n;
    if (!v)
        return dflt;
    n = strtol(v, &end, 10);
    return end == v ? dflt : n;
}

/* String value of a top-level key (malloc'd, simple escapes decoded), or NULL. */
H_FN char *json_str(const char *doc, const char *key)
{
    size_t len, i, o = 0;
    const char *v = json_top(doc, key, &len);
    char *s;
    if (!v || *v != '"' || len < 2)
        return NULL;
    s = malloc(len);
    if (!s)
        return NULL;
    for (i = 1; i + 1 < len; i++) {
        char c = v[i];
        if (c == '\\' && i + 2 < len) {
            char e = v[++i];
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': c = '?'; i += 4; break; /* good enough for tests */
            default: c = e; break;
            }
        }
        s[o++] = c;
    }
    s[o] = '\0';
    return s;
}

/* Number of elements of a top-level array value (or of the document if it is an array);
 * -1 when absent or not an array. key == NULL means the document itself. */
H_FN int json_array_len(const char *doc, const char *key)
{
    size_t len;
    const char *p = key ? json_top(doc, key, &len) : json_ws(doc);
    int n = 0;
    if (!p || *p != '[')
        return -1;
    p = json_ws(p + 1);
    if (*p == ']')
        return 0;
    for (;;) {
        p = json_skip(p);
        if (!p)
            return -1;
        n++;
        p = json_ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        return *p == ']' ? n : -1;
    }
}

/* True when the document is a syntactically complete JSON value. */
H_FN int json_valid(const char *doc)
{
    const char *end;
    if (!doc)
        return 0;
    end = json_skip(doc);
    return end && *json_ws(end) == '\0';
}

/* True when `needle` occurs in doc (plain substring). */
H_FN int contains(const char *doc, const char *needle)
{
    return doc && needle && strstr(doc, needle) != NULL;
}

#endif
