/* The C API of libnestdb, single-threaded: opening and config, every reply type, binary
 * safety, command errors, every NULL / bad argument, 10,000-element replies, transactions per
 * handle, replies outliving their handle, and open/close loops (leaks are caught by
 * LeakSanitizer when built with -fsanitize=address). */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

static nestdb *open_memory(void) {
    nestdb *db = NULL;
    int rc = nestdb_open(NULL, NULL, &db);
    if (rc != NESTDB_OK || db == NULL) {
        fprintf(stderr, "nestdb_open failed: %s (%s)\n", nestdb_errstr(rc), nestdb_errmsg(NULL));
        exit(2);
    }
    return db;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_versions(void) {
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", NESTDB_VERSION_MAJOR, NESTDB_VERSION_MINOR, NESTDB_VERSION_PATCH);
    CHECK(strcmp(nestdb_libversion(), expect) == 0);
    CHECK(nestdb_libversion_number() == NESTDB_VERSION_NUMBER);
    CHECK(NESTDB_VERSION_NUMBER == NESTDB_VERSION_MAJOR * 1000000 + NESTDB_VERSION_MINOR * 1000 + NESTDB_VERSION_PATCH);
}

static void test_open_and_config(void) {
    nestdb *db = (nestdb *)&db; /* not NULL: a failed open must set it to NULL */
    CHECK(nestdb_open(":memory:", NULL, &db) == NESTDB_OK && db != NULL);
    EXPECT_STATUS(cmd(db, "PING", NULL), "PONG");
    nestdb_close(db);

    db = NULL;
    CHECK(nestdb_open(NULL, "# tuned\n\nhz 42\n", &db) == NESTDB_OK);
    nestdb_reply *r = cmd(db, "CONFIG", "GET", "hz", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_MAP && r->elements == 2);
    if (r != NULL && r->elements == 2) {
        CHECK(elem_is(r->element[0], NESTDB_REPLY_STRING, "hz"));
        CHECK(elem_is(r->element[1], NESTDB_REPLY_STRING, "42"));
    }
    nestdb_reply_free(r);
    nestdb_close(db);

    db = (nestdb *)&db;
    int rc = nestdb_open(NULL, "hz 10\nnot-a-parameter yes\n", &db);
    CHECK(rc == NESTDB_CONFIG && db == NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "config line 2") != NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "not-a-parameter") != NULL);

    db = (nestdb *)&db;
    CHECK(nestdb_open(NULL, "hz -1", &db) == NESTDB_CONFIG && db == NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "hz") != NULL);

    /* File-backed databases: tests/c/test_durability.c. A path that cannot be a directory: */
    db = (nestdb *)&db;
    CHECK(nestdb_open("/dev/null/nestdb-c-test", NULL, &db) == NESTDB_CANTOPEN && db == NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "/dev/null/nestdb-c-test") != NULL);

    CHECK(nestdb_open(NULL, NULL, NULL) == NESTDB_MISUSE);
    CHECK(strstr(nestdb_errmsg(NULL), "out_db is NULL") != NULL);

    /* Invalid UTF-8 in the config text. */
    db = (nestdb *)&db;
    CHECK(nestdb_open(NULL, "hz \xff\xfe", &db) == NESTDB_CONFIG && db == NULL);

    const int codes[] = {NESTDB_OK,      NESTDB_ERROR,  NESTDB_INTERNAL, NESTDB_MISUSE, NESTDB_CANTOPEN,
                         NESTDB_CONFIG, NESTDB_IO,     NESTDB_LOCKED,   NESTDB_CORRUPT};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK(nestdb_errstr(codes[i]) != NULL && strcmp(nestdb_errstr(codes[i]), "unknown error code") != 0);
    }
    CHECK(strcmp(nestdb_errstr(NESTDB_OK), "not an error") == 0);
    CHECK(strcmp(nestdb_errstr(-7), "unknown error code") == 0);
    CHECK(strcmp(nestdb_errstr(12345), "unknown error code") == 0);
}

static void test_reply_types(nestdb *db) {
    /* STATUS */
    EXPECT_STATUS(cmd(db, "SET", "greeting", "hello", NULL), "OK");
    EXPECT_STATUS(cmd(db, "ping", NULL), "PONG");
    /* STRING */
    EXPECT_STR(cmd(db, "GET", "greeting", NULL), "hello");
    EXPECT_STR(cmd(db, "ECHO", "", NULL), "");
    /* NIL */
    EXPECT_NIL(cmd(db, "GET", "missing", NULL));
    /* INTEGER */
    EXPECT_INT(cmd(db, "INCRBY", "n", "-9223372036854775807", NULL), -9223372036854775807LL);
    EXPECT_INT(cmd(db, "DECR", "n", NULL), -9223372036854775807LL - 1);
    EXPECT_INT(cmd(db, "EXISTS", "greeting", "missing", NULL), 1);
    /* ERROR, with Redis's texts */
    EXPECT_ERROR(cmd(db, "DECR", "n", NULL), "ERR increment or decrement would overflow");
    EXPECT_ERROR(cmd(db, "INCR", "greeting", NULL), "ERR value is not an integer or out of range");
    EXPECT_ERROR(cmd(db, "GET", NULL), "ERR wrong number of arguments for 'get' command");
    EXPECT_ERROR(cmd(db, "NOSUCHCOMMAND", "x", NULL), "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'x'");
    EXPECT_ERROR(cmd(db, "SET", "k", "v", "BADOPTION", NULL), "ERR syntax error");
    EXPECT_INT(cmd(db, "RPUSH", "list", "a", "b", "c", NULL), 3);
    EXPECT_ERROR(cmd(db, "GET", "list", NULL), "WRONGTYPE Operation against a key holding the wrong kind of value");

    /* ARRAY, with a NIL inside */
    nestdb_reply *r = cmd(db, "MGET", "greeting", "missing", "list", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == 3 && r->element != NULL);
    if (r != NULL && r->elements == 3) {
        CHECK(elem_is(r->element[0], NESTDB_REPLY_STRING, "hello"));
        CHECK(r->element[1]->type == NESTDB_REPLY_NIL && r->element[1]->str == NULL);
        CHECK(r->element[2]->type == NESTDB_REPLY_NIL);
    }
    nestdb_reply_free(r);
    r = cmd(db, "LRANGE", "list", "0", "-1", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == 3);
    if (r != NULL && r->elements == 3) {
        CHECK(elem_is(r->element[0], NESTDB_REPLY_STRING, "a") && elem_is(r->element[2], NESTDB_REPLY_STRING, "c"));
    }
    nestdb_reply_free(r);
    /* Empty ARRAY: element is NULL like hiredis. */
    r = cmd(db, "KEYS", "no-such-pattern*", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == 0 && r->element == NULL);
    nestdb_reply_free(r);

    /* MAP: HGETALL, elements = 2 * pairs, keys and values alternating. */
    EXPECT_INT(cmd(db, "HSET", "user:1", "name", "Ada", "lang", "C", NULL), 2);
    r = cmd(db, "HGETALL", "user:1", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_MAP && r->elements == 4);
    if (r != NULL && r->type == NESTDB_REPLY_MAP && r->elements == 4) {
        int name = -1;
        for (size_t i = 0; i < 4; i += 2) {
            if (elem_is(r->element[i], NESTDB_REPLY_STRING, "name")) name = (int)i;
        }
        CHECK(name >= 0 && elem_is(r->element[name + 1], NESTDB_REPLY_STRING, "Ada"));
    }
    nestdb_reply_free(r);

    /* DOUBLE: scores, with dval and the printed form in str. */
    EXPECT_INT(cmd(db, "ZADD", "board", "10", "alice", "2.5", "bob", "inf", "carol", NULL), 3);
    r = cmd(db, "ZSCORE", "board", "bob", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_DOUBLE && r->dval == 2.5 && r->len == 3 && strcmp(r->str, "2.5") == 0);
    nestdb_reply_free(r);
    r = cmd(db, "ZINCRBY", "board", "5", "alice", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_DOUBLE && r->dval == 15.0 && strcmp(r->str, "15") == 0);
    nestdb_reply_free(r);
    r = cmd(db, "ZSCORE", "board", "carol", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_DOUBLE && r->dval > 1e308 && strcmp(r->str, "inf") == 0);
    nestdb_reply_free(r);
    EXPECT_NIL(cmd(db, "ZSCORE", "board", "nobody", NULL));
    /* WITHSCORES: RESP3 shape, an array of [member, score] pairs. */
    r = cmd(db, "ZRANGE", "board", "0", "1", "WITHSCORES", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == 2);
    if (r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == 2) {
        const nestdb_reply *first = r->element[0];
        CHECK(first->type == NESTDB_REPLY_ARRAY && first->elements == 2);
        if (first->type == NESTDB_REPLY_ARRAY && first->elements == 2) {
            CHECK(elem_is(first->element[0], NESTDB_REPLY_STRING, "bob"));
            CHECK(elem_is(first->element[1], NESTDB_REPLY_DOUBLE, "2.5") && first->element[1]->dval == 2.5);
        }
    }
    nestdb_reply_free(r);
    EXPECT_ERROR(cmd(db, "ZADD", "board", "notanumber", "x", NULL), "ERR value is not a valid float");
}

static void test_binary_safety(nestdb *db) {
    const char key1[] = {'a', '\0', 'b'};
    const char key2[] = {'a', '\0', 'c'};
    const char value[] = {'\0', '\xff', 'x', '\0', '\r', '\n'};
    const char *set1[] = {"SET", key1, value};
    const size_t set1_len[] = {3, sizeof key1, sizeof value};
    EXPECT_STATUS(nestdb_command_argv(db, 3, set1, set1_len), "OK");
    const char *set2[] = {"SET", key2, "second"};
    const size_t set2_len[] = {3, sizeof key2, 6};
    EXPECT_STATUS(nestdb_command_argv(db, 3, set2, set2_len), "OK");

    const char *get1[] = {"GET", key1};
    const size_t get1_len[] = {3, sizeof key1};
    EXPECT_BYTES(nestdb_command_argv(db, 2, get1, get1_len), value, sizeof value);
    const char *get2[] = {"GET", key2};
    const size_t get2_len[] = {3, sizeof key2};
    EXPECT_STR(nestdb_command_argv(db, 2, get2, get2_len), "second");
    /* With argvlen NULL the key is cut at its NUL: "a" does not exist. */
    EXPECT_NIL(nestdb_command_argv(db, 2, get1, NULL));

    /* KEYS returns the binary names with their lengths. */
    nestdb_reply *r = cmd(db, "KEYS", "a?b", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == 1);
    if (r != NULL && r->elements == 1) {
        CHECK(r->element[0]->len == 3 && memcmp(r->element[0]->str, key1, 3) == 0);
    }
    nestdb_reply_free(r);

    /* The empty key, given as NULL with length 0. */
    const char *set_empty[] = {"SET", NULL, "empty-key"};
    const size_t set_empty_len[] = {3, 0, 9};
    EXPECT_STATUS(nestdb_command_argv(db, 3, set_empty, set_empty_len), "OK");
    EXPECT_STR(cmd(db, "GET", "", NULL), "empty-key");

    /* A command name with a NUL is an unknown command, not a truncated GET. */
    const char *bad[] = {"GET\0X", "k"};
    const size_t bad_len[] = {5, 1};
    nestdb_reply *unknown = nestdb_command_argv(db, 2, bad, bad_len);
    CHECK(unknown != NULL && unknown->type == NESTDB_REPLY_ERROR && strncmp(unknown->str, "ERR unknown command 'GET", 24) == 0);
    nestdb_reply_free(unknown);

    /* Binary hash fields and sorted-set members. */
    const char *hset[] = {"HSET", "bin", key1, value};
    const size_t hset_len[] = {4, 3, sizeof key1, sizeof value};
    EXPECT_INT(nestdb_command_argv(db, 4, hset, hset_len), 1);
    const char *hget[] = {"HGET", "bin", key1};
    const size_t hget_len[] = {4, 3, sizeof key1};
    EXPECT_BYTES(nestdb_command_argv(db, 3, hget, hget_len), value, sizeof value);
}

static void test_bad_arguments(nestdb *db) {
    const char *argv[] = {"GET", NULL, "x"};
    const size_t lens[] = {3, 5, 1};

    CHECK(nestdb_command_argv(NULL, 1, argv, NULL) == NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "db is NULL") != NULL);

    CHECK(nestdb_command_argv(db, 0, argv, NULL) == NULL);
    CHECK(strstr(nestdb_errmsg(db), "argc must be at least 1") != NULL);
    CHECK(nestdb_command_argv(db, -1, argv, NULL) == NULL);
    CHECK(strstr(nestdb_errmsg(db), "got -1") != NULL);
    CHECK(nestdb_command_argv(db, 0, NULL, NULL) == NULL);

    CHECK(nestdb_command_argv(db, 2, NULL, NULL) == NULL);
    CHECK(strstr(nestdb_errmsg(db), "argv is NULL") != NULL);

    CHECK(nestdb_command_argv(db, 2, argv, NULL) == NULL);
    CHECK(strstr(nestdb_errmsg(db), "argv[1] is NULL") != NULL);

    CHECK(nestdb_command_argv(db, 2, argv, lens) == NULL);
    CHECK(strstr(nestdb_errmsg(db), "argv[1] is NULL but its length is 5") != NULL);

    const char *argv0_null[] = {NULL};
    CHECK(nestdb_command_argv(db, 1, argv0_null, NULL) == NULL);
    CHECK(strstr(nestdb_errmsg(db), "argv[0] is NULL") != NULL);
    /* An empty command name (NULL, length 0) is a command error, not a failed call. */
    const size_t zero[] = {0};
    EXPECT_ERROR(nestdb_command_argv(db, 1, argv0_null, zero), "ERR unknown command ''");

    /* The handle is still fine, and errmsg(db) stays the last failure's message. */
    EXPECT_STATUS(cmd(db, "PING", NULL), "PONG");
    CHECK(strstr(nestdb_errmsg(db), "argv[0] is NULL") != NULL);

    nestdb *other = (nestdb *)&other;
    CHECK(nestdb_open_session(NULL, &other) == NESTDB_MISUSE && other == NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "db is NULL") != NULL);
    CHECK(nestdb_open_session(db, NULL) == NESTDB_MISUSE);
    CHECK(strstr(nestdb_errmsg(NULL), "out_db is NULL") != NULL);

    /* Every free function accepts NULL. */
    nestdb_reply_free(NULL);
    nestdb_free(NULL);
    nestdb_close(NULL);
    CHECK(nestdb_errmsg(NULL) != NULL);
}

/* Commands with 10,000+ arguments and replies with 10,000+ elements (20,000 for a map). */
static void test_big_replies(nestdb *db) {
    enum { N = 10000 };
    static char buf[N][16];
    static const char *argv[2 * N + 2];
    static size_t lens[2 * N + 2];

    /* MSET 10,000 keys, then KEYS and MGET give 10,000-element arrays. */
    argv[0] = "MSET";
    lens[0] = 4;
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf[i], sizeof buf[i], "big:%05d", i);
        argv[1 + 2 * i] = buf[i];
        lens[1 + 2 * i] = (size_t)n;
        argv[2 + 2 * i] = buf[i] + 4; /* the value is the number */
        lens[2 + 2 * i] = (size_t)n - 4;
    }
    EXPECT_STATUS(nestdb_command_argv(db, 2 * N + 1, argv, lens), "OK");

    nestdb_reply *r = cmd(db, "KEYS", "big:*", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == N);
    if (r != NULL && r->elements == N) {
        int ok = 1;
        for (size_t i = 0; i < N; i++) ok &= r->element[i]->type == NESTDB_REPLY_STRING && r->element[i]->len == 9;
        CHECK(ok);
    }
    nestdb_reply_free(r);

    argv[0] = "MGET";
    lens[0] = 4;
    for (int i = 0; i < N; i++) {
        argv[1 + i] = buf[i];
        lens[1 + i] = 9;
    }
    r = nestdb_command_argv(db, N + 1, argv, lens);
    CHECK(r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == N);
    if (r != NULL && r->elements == N) {
        int ok = 1;
        for (int i = 0; i < N; i++) ok &= elem_is(r->element[i], NESTDB_REPLY_STRING, buf[i] + 4);
        CHECK(ok);
    }
    nestdb_reply_free(r);

    /* RPUSH 10,000 items; LRANGE returns them in order. */
    argv[0] = "RPUSH";
    lens[0] = 5;
    argv[1] = "biglist";
    lens[1] = 7;
    for (int i = 0; i < N; i++) {
        argv[2 + i] = buf[i];
        lens[2 + i] = 9;
    }
    EXPECT_INT(nestdb_command_argv(db, N + 2, argv, lens), N);
    r = cmd(db, "LRANGE", "biglist", "0", "-1", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == N);
    if (r != NULL && r->elements == N) {
        int ok = 1;
        for (int i = 0; i < N; i++) ok &= elem_is(r->element[i], NESTDB_REPLY_STRING, buf[i]);
        CHECK(ok);
    }
    nestdb_reply_free(r);

    /* HSET 10,000 fields; HGETALL is a MAP with 20,000 elements. */
    argv[0] = "HSET";
    lens[0] = 4;
    argv[1] = "bighash";
    lens[1] = 7;
    for (int i = 0; i < N; i++) {
        argv[2 + 2 * i] = buf[i];
        lens[2 + 2 * i] = 9;
        argv[3 + 2 * i] = buf[i] + 4;
        lens[3 + 2 * i] = 5;
    }
    EXPECT_INT(nestdb_command_argv(db, 2 * N + 2, argv, lens), N);
    r = cmd(db, "HGETALL", "bighash", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_MAP && r->elements == 2 * N);
    if (r != NULL && r->type == NESTDB_REPLY_MAP && r->elements == 2 * N) {
        int ok = 1;
        for (size_t i = 0; i < 2 * N; i += 2) {
            const nestdb_reply *k = r->element[i], *v = r->element[i + 1];
            ok &= k->len == 9 && v->len == 5 && memcmp(k->str + 4, v->str, 5) == 0;
        }
        CHECK(ok);
    }
    nestdb_reply_free(r);
    EXPECT_INT(cmd(db, "DEL", "biglist", "bighash", NULL), 2);
}

static void test_transactions(nestdb *db) {
    EXPECT_STATUS(cmd(db, "MULTI", NULL), "OK");
    EXPECT_STATUS(cmd(db, "SET", "tx", "1", NULL), "QUEUED");
    EXPECT_STATUS(cmd(db, "INCR", "tx", NULL), "QUEUED");
    EXPECT_STATUS(cmd(db, "GET", "tx", NULL), "QUEUED");
    nestdb_reply *r = cmd(db, "EXEC", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == 3);
    if (r != NULL && r->elements == 3) {
        CHECK(elem_is(r->element[0], NESTDB_REPLY_STATUS, "OK"));
        CHECK(r->element[1]->type == NESTDB_REPLY_INTEGER && r->element[1]->integer == 2);
        CHECK(elem_is(r->element[2], NESTDB_REPLY_STRING, "2"));
    }
    nestdb_reply_free(r);

    EXPECT_ERROR(cmd(db, "EXEC", NULL), "ERR EXEC without MULTI");
    EXPECT_ERROR(cmd(db, "DISCARD", NULL), "ERR DISCARD without MULTI");
    EXPECT_STATUS(cmd(db, "MULTI", NULL), "OK");
    EXPECT_ERROR(cmd(db, "MULTI", NULL), "ERR MULTI calls can not be nested");
    EXPECT_STATUS(cmd(db, "INCR", "tx", NULL), "QUEUED");
    EXPECT_STATUS(cmd(db, "DISCARD", NULL), "OK");
    EXPECT_STR(cmd(db, "GET", "tx", NULL), "2");

    /* An error while queueing aborts EXEC. */
    EXPECT_STATUS(cmd(db, "MULTI", NULL), "OK");
    EXPECT_ERROR(cmd(db, "NOSUCH", NULL), "ERR unknown command");
    EXPECT_ERROR(cmd(db, "EXEC", NULL), "EXECABORT");

    /* WATCH: a second handle on the same database modifies the key; EXEC returns NIL. */
    nestdb *other = NULL;
    CHECK(nestdb_open_session(db, &other) == NESTDB_OK && other != NULL);
    EXPECT_STATUS(cmd(db, "WATCH", "tx", NULL), "OK");
    EXPECT_STATUS(cmd(other, "SET", "tx", "changed", NULL), "OK");
    EXPECT_STATUS(cmd(db, "MULTI", NULL), "OK");
    EXPECT_STATUS(cmd(db, "SET", "tx", "mine", NULL), "QUEUED");
    /* The other handle is not inside this transaction. */
    EXPECT_STR(cmd(other, "GET", "tx", NULL), "changed");
    EXPECT_NIL(cmd(db, "EXEC", NULL));
    EXPECT_STR(cmd(db, "GET", "tx", NULL), "changed");

    /* A transaction left open is discarded by close; the database stays with `db`. */
    EXPECT_STATUS(cmd(other, "MULTI", NULL), "OK");
    EXPECT_STATUS(cmd(other, "SET", "tx", "never", NULL), "QUEUED");
    nestdb_close(other);
    EXPECT_STR(cmd(db, "GET", "tx", NULL), "changed");
}

static void test_ttl(nestdb *db) {
    EXPECT_STATUS(cmd(db, "SET", "session", "x", "PX", "60", NULL), "OK");
    nestdb_reply *r = cmd(db, "PTTL", "session", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_INTEGER && r->integer > 0 && r->integer <= 60);
    nestdb_reply_free(r);
    sleep_ms(120);
    EXPECT_NIL(cmd(db, "GET", "session", NULL));
    EXPECT_INT(cmd(db, "TTL", "session", NULL), -2);
}

static void test_reply_outlives_handle(void) {
    nestdb *db = open_memory();
    EXPECT_STATUS(cmd(db, "SET", "k", "survives", NULL), "OK");
    nestdb_reply *r = cmd(db, "MGET", "k", "k", NULL);
    nestdb_close(db);
    CHECK(r != NULL && r->elements == 2 && elem_is(r->element[1], NESTDB_REPLY_STRING, "survives"));
    nestdb_reply_free(r);
}

static void test_open_close_loops(void) {
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        nestdb *db = NULL;
        ok &= nestdb_open(NULL, "hz 1", &db) == NESTDB_OK;
        nestdb_reply *r = cmd(db, "SET", "k", "v", NULL);
        ok &= r != NULL && r->type == NESTDB_REPLY_STATUS;
        nestdb_reply_free(r);
        /* A failed call leaves a message owned by the handle: freed by close. */
        ok &= nestdb_command_argv(db, 0, NULL, NULL) == NULL;
        nestdb *s1 = NULL, *s2 = NULL;
        ok &= nestdb_open_session(db, &s1) == NESTDB_OK && nestdb_open_session(s1, &s2) == NESTDB_OK;
        r = cmd(s2, "MULTI", NULL);
        nestdb_reply_free(r);
        /* Close in any order; the engine goes with the last handle. */
        nestdb_close(db);
        nestdb_close(s2);
        r = cmd(s1, "GET", "k", NULL);
        ok &= r != NULL && r->type == NESTDB_REPLY_STRING;
        nestdb_reply_free(r);
        nestdb_close(s1);
        /* Failed opens leak nothing either. */
        nestdb *bad = NULL;
        ok &= nestdb_open(NULL, "nope 1", &bad) == NESTDB_CONFIG && bad == NULL;
    }
    CHECK(ok);
}

int main(void) {
    test_versions();
    test_open_and_config();
    nestdb *db = open_memory();
    test_reply_types(db);
    test_binary_safety(db);
    test_bad_arguments(db);
    test_big_replies(db);
    test_transactions(db);
    test_ttl(db);
    nestdb_close(db);
    test_reply_outlives_handle();
    test_open_close_loops();
    return check_finish("test_api");
}
