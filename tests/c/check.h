/* A tiny test harness for the C tests of libnestdb: CHECK counts passes and failures,
 * cmd() runs a command from NUL-terminated strings, and the expect_* helpers check one reply
 * and free it. Each test program ends with check_finish(), which prints the closing line
 * "NAME: N passed, N failed" and returns the exit status. */
#ifndef NESTDB_TEST_CHECK_H
#define NESTDB_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nestdb.h"

static int check_passed;
static int check_failed;

#define CHECK(cond) check_report((cond) ? 1 : 0, __FILE__, __LINE__, #cond)

static inline void check_report(int ok, const char *file, int line, const char *what) {
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
    }
}

static inline int check_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

#define CMD_MAX_ARGS 64

/* Run a command given as NUL-terminated strings, ending with NULL; argvlen is NULL. */
static inline nestdb_reply *cmd(nestdb *db, ...) {
    const char *argv[CMD_MAX_ARGS];
    int argc = 0;
    va_list ap;
    va_start(ap, db);
    for (const char *a = va_arg(ap, const char *); a != NULL && argc < CMD_MAX_ARGS; a = va_arg(ap, const char *)) {
        argv[argc++] = a;
    }
    va_end(ap);
    return nestdb_command_argv(db, argc, argv, NULL);
}

/* The expect_* helpers take ownership of the reply and free it. They return 1 on success. */

static inline int expect_type(nestdb_reply *r, int type, int line) {
    if (r == NULL) {
        fprintf(stderr, "line %d: reply is NULL\n", line);
        return 0;
    }
    if (r->type != type) {
        fprintf(stderr, "line %d: reply type %d, expected %d (str: %.200s)\n", line, r->type, type, r->str ? r->str : "(null)");
        return 0;
    }
    return 1;
}

static inline int expect_bytes_(nestdb_reply *r, int type, const char *s, size_t len, int line) {
    int ok = expect_type(r, type, line) && r->len == len && r->str != NULL && memcmp(r->str, s, len) == 0 && r->str[len] == '\0' &&
             r->elements == 0 && r->element == NULL;
    if (!ok && r != NULL && r->type == type) {
        fprintf(stderr, "line %d: got \"%.*s\" (len %zu), expected \"%.*s\"\n", line, (int)r->len, r->str ? r->str : "", r->len, (int)len, s);
    }
    nestdb_reply_free(r);
    return ok;
}

static inline int expect_int_(nestdb_reply *r, long long n, int line) {
    int ok = expect_type(r, NESTDB_REPLY_INTEGER, line) && r->integer == n && r->str == NULL;
    if (!ok && r != NULL && r->type == NESTDB_REPLY_INTEGER) {
        fprintf(stderr, "line %d: got %lld, expected %lld\n", line, r->integer, n);
    }
    nestdb_reply_free(r);
    return ok;
}

static inline int expect_nil_(nestdb_reply *r, int line) {
    int ok = expect_type(r, NESTDB_REPLY_NIL, line) && r->str == NULL && r->len == 0 && r->elements == 0 && r->element == NULL;
    nestdb_reply_free(r);
    return ok;
}

/* An error reply whose text starts with `prefix`. */
static inline int expect_error_(nestdb_reply *r, const char *prefix, int line) {
    int ok = expect_type(r, NESTDB_REPLY_ERROR, line) && strncmp(r->str, prefix, strlen(prefix)) == 0 && strlen(r->str) == r->len;
    if (!ok && r != NULL && r->type == NESTDB_REPLY_ERROR) {
        fprintf(stderr, "line %d: error \"%.200s\", expected a prefix \"%s\"\n", line, r->str, prefix);
    }
    nestdb_reply_free(r);
    return ok;
}

#define EXPECT_STATUS(r, s) CHECK(expect_bytes_((r), NESTDB_REPLY_STATUS, (s), strlen(s), __LINE__))
#define EXPECT_STR(r, s) CHECK(expect_bytes_((r), NESTDB_REPLY_STRING, (s), strlen(s), __LINE__))
#define EXPECT_BYTES(r, s, n) CHECK(expect_bytes_((r), NESTDB_REPLY_STRING, (s), (n), __LINE__))
#define EXPECT_INT(r, n) CHECK(expect_int_((r), (n), __LINE__))
#define EXPECT_NIL(r) CHECK(expect_nil_((r), __LINE__))
#define EXPECT_ERROR(r, prefix) CHECK(expect_error_((r), (prefix), __LINE__))

/* Whether an element of an aggregate reply is a string/double/... with this text. */
static inline int elem_is(const nestdb_reply *e, int type, const char *s) {
    return e != NULL && e->type == type && e->len == strlen(s) && memcmp(e->str, s, e->len) == 0 && e->str[e->len] == '\0';
}

/* The integer value of `field:` in an INFO reply, or -1. */
static inline long long info_field(nestdb *db, const char *section, const char *field) {
    nestdb_reply *r = cmd(db, "INFO", section, NULL);
    long long v = -1;
    if (r != NULL && r->type == NESTDB_REPLY_STRING) {
        char key[128];
        snprintf(key, sizeof key, "\r\n%s:", field);
        const char *p = strstr(r->str, key);
        if (p != NULL) v = strtoll(p + strlen(key), NULL, 10);
    }
    nestdb_reply_free(r);
    return v;
}

/* CONFIG GET name == value. */
static inline int config_is(nestdb *db, const char *name, const char *value) {
    nestdb_reply *r = cmd(db, "CONFIG", "GET", name, NULL);
    int ok = r != NULL && r->type == NESTDB_REPLY_MAP && r->elements == 2 && elem_is(r->element[0], NESTDB_REPLY_STRING, name) &&
             elem_is(r->element[1], NESTDB_REPLY_STRING, value);
    if (!ok && r != NULL && r->elements == 2) fprintf(stderr, "CONFIG GET %s = %s, expected %s\n", name, r->element[1]->str, value);
    nestdb_reply_free(r);
    return ok;
}

#endif
