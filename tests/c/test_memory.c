/* Memory through the C API (issue 6): the memory config text at nestdb_open() and CONFIG
 * SET/GET, maxmemory with eviction (INFO used_memory stays at or under the cap after every
 * write; evicted_keys counts; volatile policies never evict keys without a TTL), noeviction's
 * OOM error text with nothing changed, OBJECT ENCODING as containers grow, OBJECT
 * IDLETIME/FREQ, TOUCH, MEMORY USAGE/STATS, and transparent compression (binary-safe values
 * round-trip exactly, INFO counts them, used_memory is smaller than without compression). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define OOM_ERROR "OOM command not allowed when used memory > 'maxmemory'."

static nestdb *open_or_die(const char *config) {
    nestdb *db = NULL;
    int rc = nestdb_open(NULL, config, &db);
    if (rc != NESTDB_OK) {
        fprintf(stderr, "nestdb_open(config \"%s\") failed: %s: %s\n", config, nestdb_errstr(rc), nestdb_errmsg(NULL));
        exit(2);
    }
    return db;
}

/* The integer value of `field:` in an INFO section, or -1. */
static long long used_memory(nestdb *db) { return info_field(db, "memory", "used_memory"); }

/* Whether `field:value` is a line of an INFO section. */
static int info_has(nestdb *db, const char *section, const char *field, const char *value) {
    nestdb_reply *r = cmd(db, "INFO", section, NULL);
    char line[256];
    snprintf(line, sizeof line, "\r\n%s:%s\r\n", field, value);
    int ok = r != NULL && r->type == NESTDB_REPLY_STRING && strstr(r->str, line) != NULL;
    nestdb_reply_free(r);
    return ok;
}

static long long int_reply(nestdb_reply *r) {
    long long v = (r != NULL && r->type == NESTDB_REPLY_INTEGER) ? r->integer : -1;
    nestdb_reply_free(r);
    return v;
}

static long long dbsize(nestdb *db) { return int_reply(cmd(db, "DBSIZE", NULL)); }

/* Whether the reply is an OK status; frees it. */
static int is_ok(nestdb_reply *r) {
    int ok = r != NULL && r->type == NESTDB_REPLY_STATUS && strcmp(r->str, "OK") == 0;
    if (!ok && r != NULL && r->str != NULL) fprintf(stderr, "expected OK, got \"%.200s\"\n", r->str);
    nestdb_reply_free(r);
    return ok;
}

static int encoding_is(nestdb *db, const char *key, const char *enc) {
    nestdb_reply *r = cmd(db, "OBJECT", "ENCODING", key, NULL);
    int ok = elem_is(r, NESTDB_REPLY_STRING, enc);
    if (!ok) fprintf(stderr, "OBJECT ENCODING %s = %s, expected %s\n", key, r != NULL && r->str != NULL ? r->str : "(none)", enc);
    nestdb_reply_free(r);
    return ok;
}

/* SET key value with a binary-safe value of `len` bytes. */
static nestdb_reply *set_bytes(nestdb *db, const char *key, const char *value, size_t len) {
    const char *argv[] = {"SET", key, value};
    size_t argvlen[] = {3, strlen(key), len};
    return nestdb_command_argv(db, 3, argv, argvlen);
}

static void fill(char *buf, size_t len, char c) {
    memset(buf, c, len);
    buf[len] = '\0';
}

/* --- config text ------------------------------------------------------------------------ */

static void test_config_text(void) {
    nestdb *db = open_or_die("# a cache\n"
                             "maxmemory 1mb\n"
                             "maxmemory-policy allkeys-lru\n"
                             "maxmemory-samples 10\n"
                             "lfu-log-factor 5\n"
                             "lfu-decay-time 2\n"
                             "compression zlib\n"
                             "compression-min-size 64\n"
                             "hash-max-listpack-entries 16\n"
                             "set-max-intset-entries 64\n"
                             "zset-max-listpack-entries 16\n"
                             "list-max-listpack-size 8\n");
    CHECK(config_is(db, "maxmemory", "1048576"));
    CHECK(config_is(db, "maxmemory-policy", "allkeys-lru"));
    CHECK(config_is(db, "maxmemory-samples", "10"));
    CHECK(config_is(db, "lfu-log-factor", "5"));
    CHECK(config_is(db, "lfu-decay-time", "2"));
    CHECK(config_is(db, "compression", "zlib"));
    CHECK(config_is(db, "compression-min-size", "64"));
    CHECK(config_is(db, "hash-max-listpack-entries", "16"));
    CHECK(config_is(db, "set-max-intset-entries", "64"));
    CHECK(config_is(db, "zset-max-listpack-entries", "16"));
    CHECK(config_is(db, "list-max-listpack-size", "8"));
    CHECK(info_field(db, "memory", "maxmemory") == 1048576);
    CHECK(info_has(db, "memory", "maxmemory_policy", "allkeys-lru"));

    CHECK(is_ok(cmd(db, "CONFIG", "SET", "maxmemory", "2mb", "maxmemory-policy", "volatile-ttl", NULL)));
    CHECK(config_is(db, "maxmemory", "2097152"));
    CHECK(info_has(db, "memory", "maxmemory_policy", "volatile-ttl"));
    EXPECT_ERROR(cmd(db, "CONFIG", "SET", "maxmemory-policy", "most-recently-used", NULL), "ERR CONFIG SET failed");
    EXPECT_ERROR(cmd(db, "CONFIG", "SET", "compression", "brotli", NULL), "ERR CONFIG SET failed");
    CHECK(config_is(db, "maxmemory-policy", "volatile-ttl"));
    nestdb_close(db);

    /* Bad memory config text is NESTDB_CONFIG, with a message naming the parameter. */
    const char *bad_configs[] = {"maxmemory-policy most-recently-used", "maxmemory lots", "compression brotli", "maxmemory-samples x"};
    for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
        nestdb *bad = (nestdb *)&bad;
        CHECK(nestdb_open(NULL, bad_configs[i], &bad) == NESTDB_CONFIG && bad == NULL);
        char name[64];
        snprintf(name, sizeof name, "%s", bad_configs[i]);
        *strchr(name, ' ') = '\0';
        CHECK(strstr(nestdb_errmsg(NULL), name) != NULL);
    }
}

/* --- eviction ---------------------------------------------------------------------------- */

/* Random writes of every type; INFO used_memory <= cap after each. */
static void test_allkeys_eviction(const char *policy) {
    const long long cap = 256 * 1024;
    char config[256];
    snprintf(config, sizeof config, "maxmemory 256kb\nmaxmemory-policy %s\n", policy);
    nestdb *db = open_or_die(config);
    char key[64], member[64], value[512];
    int over = 0;
    long long worst = 0;
    srand(6);
    for (int i = 0; i < 5000; i++) {
        int n = rand() % 4000;
        fill(value, (size_t)(1 + rand() % 400), 'v');
        nestdb_reply *r = NULL;
        switch (i % 5) {
        case 0:
            snprintf(key, sizeof key, "s:%d", n);
            r = cmd(db, "SET", key, value, NULL);
            break;
        case 1:
            snprintf(key, sizeof key, "h:%d", n % 500);
            snprintf(member, sizeof member, "f%d", i % 60);
            value[rand() % 60 + 1] = '\0';
            r = cmd(db, "HSET", key, member, value, NULL);
            break;
        case 2:
            snprintf(key, sizeof key, "l:%d", n % 500);
            value[20] = '\0';
            r = cmd(db, "RPUSH", key, value, value, NULL);
            break;
        case 3:
            snprintf(key, sizeof key, "z:%d", n % 500);
            snprintf(member, sizeof member, "m%d", rand() % 1000);
            r = cmd(db, "ZADD", key, "1.5", member, NULL);
            break;
        default:
            snprintf(key, sizeof key, "t:%d", n % 500);
            snprintf(member, sizeof member, "%d", rand() % 1000);
            r = cmd(db, "SADD", key, member, NULL);
            break;
        }
        if (r == NULL || r->type == NESTDB_REPLY_ERROR) {
            fprintf(stderr, "%s: write %d failed: %s\n", policy, i, r != NULL ? r->str : nestdb_errmsg(db));
            over++;
        }
        nestdb_reply_free(r);
        long long u = used_memory(db);
        if (u > worst) worst = u;
        if (u > cap) over++;
    }
    if (over) fprintf(stderr, "%s: %d writes over the cap or failed (worst used_memory %lld)\n", policy, over, worst);
    CHECK(over == 0);
    CHECK(worst <= cap && worst > cap / 2);
    CHECK(info_field(db, "stats", "evicted_keys") > 0);
    CHECK(dbsize(db) > 100);
    nestdb_close(db);
}

static void test_evicted_keys_count(void) {
    nestdb *db = open_or_die("maxmemory 128kb\nmaxmemory-policy allkeys-lru\n");
    char key[32], value[101];
    fill(value, 100, 'v');
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "k:%d", i);
        CHECK(is_ok(cmd(db, "SET", key, value, NULL)));
    }
    long long n = dbsize(db), evicted = info_field(db, "stats", "evicted_keys");
    CHECK(n > 0 && n < 3000);
    CHECK(evicted == 3000 - n);
    CHECK(used_memory(db) <= 128 * 1024);
    /* The most recent keys are still there. */
    EXPECT_STR(cmd(db, "GET", "k:2999", NULL), value);
    nestdb_close(db);
}

static void test_volatile_never_evicts_persistent_keys(void) {
    nestdb *db = open_or_die("maxmemory 256kb\nmaxmemory-policy volatile-lru\n");
    char key[32], value[201];
    fill(value, 200, 'p');
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "keep:%d", i);
        CHECK(is_ok(cmd(db, "SET", key, value, NULL)));
    }
    int over = 0;
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "vol:%d", i);
        nestdb_reply *r = cmd(db, "SET", key, value, "EX", "1000", NULL);
        if (!is_ok(r)) over++;
        if (used_memory(db) > 256 * 1024) over++;
    }
    CHECK(over == 0);
    CHECK(info_field(db, "stats", "evicted_keys") > 0);
    int kept = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "keep:%d", i);
        kept += (int)int_reply(cmd(db, "EXISTS", key, NULL));
    }
    CHECK(kept == 100);
    nestdb_close(db);
}

static void test_lowering_maxmemory_at_run_time(void) {
    nestdb *db = open_or_die("maxmemory-policy allkeys-random\n");
    char key[32], value[101], cap[32];
    fill(value, 100, 'v');
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "k:%d", i);
        CHECK(is_ok(cmd(db, "SET", key, value, NULL)));
    }
    long long quarter = used_memory(db) / 4;
    snprintf(cap, sizeof cap, "%lld", quarter);
    CHECK(is_ok(cmd(db, "CONFIG", "SET", "maxmemory", cap, NULL)));
    CHECK(is_ok(cmd(db, "SET", "trigger", "x", NULL)));
    CHECK(used_memory(db) <= quarter);
    CHECK(dbsize(db) < 2000);
    nestdb_close(db);
}

/* --- noeviction ---------------------------------------------------------------------------- */

static void test_noeviction_oom(void) {
    nestdb *db = open_or_die("maxmemory 64kb\nmaxmemory-policy noeviction\n");
    char key[32], value[101];
    fill(value, 100, 'v');
    EXPECT_STATUS(cmd(db, "SET", "s", "old", NULL), "OK");
    EXPECT_INT(cmd(db, "HSET", "h", "f", "v", NULL), 1);
    EXPECT_INT(cmd(db, "RPUSH", "l", "a", NULL), 1);
    int n = 0;
    for (;; n++) {
        snprintf(key, sizeof key, "k:%d", n);
        nestdb_reply *r = cmd(db, "SET", key, value, NULL);
        int oom = r != NULL && r->type == NESTDB_REPLY_ERROR;
        if (oom) CHECK(strcmp(r->str, OOM_ERROR) == 0 && r->len == strlen(OOM_ERROR));
        nestdb_reply_free(r);
        if (oom || n > 100000) break;
    }
    CHECK(n > 0 && n < 100000);
    long long keys = dbsize(db), mem = used_memory(db);
    CHECK(keys == n + 3);
    CHECK(info_field(db, "stats", "evicted_keys") == 0);

    /* Every write that may grow memory is refused, and changes nothing. */
    EXPECT_ERROR(cmd(db, "SET", "s", "new", NULL), OOM_ERROR);
    EXPECT_ERROR(cmd(db, "APPEND", "s", "more", NULL), OOM_ERROR);
    EXPECT_ERROR(cmd(db, "HSET", "h", "g", "v", NULL), OOM_ERROR);
    EXPECT_ERROR(cmd(db, "RPUSH", "l", "b", NULL), OOM_ERROR);
    EXPECT_ERROR(cmd(db, "SADD", "st", "m", NULL), OOM_ERROR);
    EXPECT_ERROR(cmd(db, "ZADD", "z", "1", "m", NULL), OOM_ERROR);
    EXPECT_ERROR(cmd(db, "INCR", "counter", NULL), OOM_ERROR);
    EXPECT_ERROR(cmd(db, "MSET", "a", "1", "b", "2", NULL), OOM_ERROR);
    CHECK(dbsize(db) == keys);
    CHECK(used_memory(db) == mem);
    EXPECT_STR(cmd(db, "GET", "s", NULL), "old");
    EXPECT_INT(cmd(db, "HLEN", "h", NULL), 1);
    EXPECT_INT(cmd(db, "LLEN", "l", NULL), 1);

    /* In a transaction the write is refused too: Redis refuses it when it is queued (EXEC
     * then fails with EXECABORT); nestdb may instead queue it and reply OOM inside EXEC's
     * results. Either way nothing is written. */
    nestdb *session = NULL;
    CHECK(nestdb_open_session(db, &session) == NESTDB_OK);
    EXPECT_STATUS(cmd(session, "MULTI", NULL), "OK");
    nestdb_reply *queued = cmd(session, "SET", "t", "v", NULL);
    nestdb_reply *exec = cmd(session, "EXEC", NULL);
    int at_queue = queued != NULL && queued->type == NESTDB_REPLY_ERROR && strcmp(queued->str, OOM_ERROR) == 0 && exec != NULL &&
                   exec->type == NESTDB_REPLY_ERROR && strncmp(exec->str, "EXECABORT", 9) == 0;
    int in_exec = queued != NULL && queued->type == NESTDB_REPLY_STATUS && exec != NULL && exec->type == NESTDB_REPLY_ARRAY &&
                  exec->elements == 1 && elem_is(exec->element[0], NESTDB_REPLY_ERROR, OOM_ERROR);
    CHECK(at_queue || in_exec);
    nestdb_reply_free(queued);
    nestdb_reply_free(exec);
    EXPECT_NIL(cmd(db, "GET", "t", NULL));
    CHECK(dbsize(db) == keys);
    nestdb_close(session);

    /* Reads and deletes work; freeing memory lets writes in again. */
    EXPECT_STR(cmd(db, "GET", "k:0", NULL), value);
    EXPECT_INT(cmd(db, "DEL", "k:0", "k:1", "k:2", "k:3", "k:4", "k:5", "k:6", "k:7", "k:8", "k:9", NULL), 10);
    EXPECT_STATUS(cmd(db, "SET", "s", "new", NULL), "OK");
    EXPECT_STR(cmd(db, "GET", "s", NULL), "new");

    /* So does raising maxmemory. */
    CHECK(is_ok(cmd(db, "CONFIG", "SET", "maxmemory", "0", NULL)));
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "more:%d", i);
        CHECK(is_ok(cmd(db, "SET", key, value, NULL)));
    }
    nestdb_close(db);
}

/* --- OBJECT, TOUCH, MEMORY ------------------------------------------------------------------- */

static void test_object_encoding(void) {
    nestdb *db = open_or_die("hash-max-listpack-entries 4\nhash-max-listpack-value 16\nset-max-intset-entries 8\n"
                             "set-max-listpack-entries 4\nzset-max-listpack-entries 4\nlist-max-listpack-size 4\n");
    EXPECT_STATUS(cmd(db, "SET", "n", "-12345", NULL), "OK");
    EXPECT_STATUS(cmd(db, "SET", "e", "hello", NULL), "OK");
    char value[101];
    fill(value, 100, 'r');
    EXPECT_STATUS(cmd(db, "SET", "r", value, NULL), "OK");
    CHECK(encoding_is(db, "n", "int"));
    CHECK(encoding_is(db, "e", "embstr"));
    CHECK(encoding_is(db, "r", "raw"));
    EXPECT_NIL(cmd(db, "OBJECT", "ENCODING", "missing", NULL));

    EXPECT_INT(cmd(db, "HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4", NULL), 4);
    CHECK(encoding_is(db, "h", "listpack"));
    EXPECT_INT(cmd(db, "HSET", "h", "e", "5", NULL), 1);
    CHECK(encoding_is(db, "h", "hashtable"));
    EXPECT_INT(cmd(db, "HSET", "h2", "a", "0123456789abcdefX", NULL), 1);
    CHECK(encoding_is(db, "h2", "hashtable"));

    EXPECT_INT(cmd(db, "SADD", "s", "1", "2", "3", NULL), 3);
    CHECK(encoding_is(db, "s", "intset"));
    EXPECT_INT(cmd(db, "SADD", "s", "x", NULL), 1);
    CHECK(encoding_is(db, "s", "listpack"));
    EXPECT_INT(cmd(db, "SADD", "s", "y", "z", NULL), 2);
    CHECK(encoding_is(db, "s", "hashtable"));
    EXPECT_INT(cmd(db, "SCARD", "s", NULL), 6);

    EXPECT_INT(cmd(db, "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", NULL), 4);
    CHECK(encoding_is(db, "z", "listpack"));
    EXPECT_INT(cmd(db, "ZADD", "z", "5", "e", NULL), 1);
    CHECK(encoding_is(db, "z", "skiplist"));
    EXPECT_INT(cmd(db, "ZRANK", "z", "e", NULL), 4);

    EXPECT_INT(cmd(db, "RPUSH", "l", "1", "2", "3", NULL), 3);
    CHECK(encoding_is(db, "l", "listpack"));
    EXPECT_INT(cmd(db, "RPUSH", "l", "4", "5", "6", "7", "8", "9", NULL), 9);
    CHECK(encoding_is(db, "l", "quicklist"));
    EXPECT_STR(cmd(db, "LINDEX", "l", "-1", NULL), "9");
    nestdb_close(db);
}

static void test_object_idletime_freq_touch(void) {
    nestdb *db = open_or_die("maxmemory-policy allkeys-lru\n");
    EXPECT_STATUS(cmd(db, "SET", "a", "1", NULL), "OK");
    nestdb_reply *r = cmd(db, "OBJECT", "IDLETIME", "a", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_INTEGER && r->integer >= 0 && r->integer <= 2);
    nestdb_reply_free(r);
    EXPECT_NIL(cmd(db, "OBJECT", "IDLETIME", "missing", NULL));
    EXPECT_ERROR(cmd(db, "OBJECT", "FREQ", "a", NULL), "ERR An LFU maxmemory policy is not selected");
    EXPECT_INT(cmd(db, "TOUCH", "a", "missing", "a", NULL), 2);

    CHECK(is_ok(cmd(db, "CONFIG", "SET", "maxmemory-policy", "allkeys-lfu", NULL)));
    EXPECT_STATUS(cmd(db, "SET", "hot", "1", NULL), "OK");
    EXPECT_STATUS(cmd(db, "SET", "cold", "1", NULL), "OK");
    for (int i = 0; i < 200; i++) nestdb_reply_free(cmd(db, "GET", "hot", NULL));
    long long hot = int_reply(cmd(db, "OBJECT", "FREQ", "hot", NULL));
    long long cold = int_reply(cmd(db, "OBJECT", "FREQ", "cold", NULL));
    CHECK(hot > cold && cold >= 0);
    EXPECT_ERROR(cmd(db, "OBJECT", "IDLETIME", "hot", NULL), "ERR An LFU maxmemory policy is selected");
    nestdb_close(db);
}

static void test_memory_usage_and_stats(void) {
    nestdb *db = open_or_die("compression none\n");
    EXPECT_STATUS(cmd(db, "SET", "small", "v", NULL), "OK");
    char *big = malloc(10001);
    CHECK(big != NULL);
    if (big == NULL) return;
    fill(big, 10000, 'b');
    EXPECT_STATUS(cmd(db, "SET", "big", big, NULL), "OK");
    long long small_usage = int_reply(cmd(db, "MEMORY", "USAGE", "small", NULL));
    long long big_usage = int_reply(cmd(db, "MEMORY", "USAGE", "big", NULL));
    CHECK(small_usage > 0 && small_usage < 200);
    CHECK(big_usage >= 10000 && big_usage < 10400);
    EXPECT_NIL(cmd(db, "MEMORY", "USAGE", "missing", NULL));
    CHECK(int_reply(cmd(db, "MEMORY", "USAGE", "big", "SAMPLES", "0", NULL)) == big_usage);
    EXPECT_ERROR(cmd(db, "MEMORY", "USAGE", "big", "SAMPLES", NULL), "ERR");
    free(big);

    /* MEMORY STATS: a map with Redis's names; keys.count counts the keys. */
    nestdb_reply *r = cmd(db, "MEMORY", "STATS", NULL);
    int found_keys = 0, found_total = 0;
    CHECK(r != NULL && r->type == NESTDB_REPLY_MAP && r->elements >= 4 && r->elements % 2 == 0);
    for (size_t i = 0; r != NULL && r->type == NESTDB_REPLY_MAP && i + 1 < r->elements; i += 2) {
        if (elem_is(r->element[i], NESTDB_REPLY_STRING, "keys.count")) {
            found_keys = r->element[i + 1]->type == NESTDB_REPLY_INTEGER && r->element[i + 1]->integer == 2;
        }
        if (elem_is(r->element[i], NESTDB_REPLY_STRING, "total.allocated")) {
            found_total = r->element[i + 1]->type == NESTDB_REPLY_INTEGER && r->element[i + 1]->integer == used_memory(db);
        }
    }
    CHECK(found_keys && found_total);
    nestdb_reply_free(r);
    r = cmd(db, "MEMORY", "DOCTOR", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_STRING && r->len > 0);
    nestdb_reply_free(r);
    EXPECT_ERROR(cmd(db, "MEMORY", "NOPE", NULL), "ERR unknown subcommand");

    /* used_memory follows writes and deletes; the peak stays. */
    long long before = used_memory(db);
    EXPECT_INT(cmd(db, "DEL", "big", NULL), 1);
    CHECK(used_memory(db) <= before - 10000);
    CHECK(info_field(db, "memory", "used_memory_peak") >= before);
    nestdb_close(db);
}

/* --- compression ---------------------------------------------------------------------------- */

/* A JSON-like document of about 1 KiB, with a NUL byte inside (values are binary-safe). */
static size_t make_doc(char *buf, size_t cap, int i) {
    size_t n = (size_t)snprintf(buf, cap, "{\"session\":%d,\"user\":{\"id\":%d,\"name\":\"user %d\"},\"cart\":[", i, 1000 + i, i);
    for (int j = 0; j < 16 && n + 64 < cap; j++) {
        n += (size_t)snprintf(buf + n, cap - n, "{\"sku\":\"SKU-%05d\",\"qty\":%d,\"price\":%d.99},", j, j % 3 + 1, j + 9);
    }
    n += (size_t)snprintf(buf + n, cap - n, "{}],\"end\":true}");
    buf[10] = '\0';
    return n;
}

/* 600 compressible bytes (static). */
static const char *doc_filler(void) {
    static char filler[601];
    if (filler[0] == '\0') fill(filler, 600, 'a');
    return filler;
}

static long long load_docs(nestdb *db, int count) {
    char key[32], doc[2048];
    for (int i = 0; i < count; i++) {
        snprintf(key, sizeof key, "session:%d", i);
        size_t n = make_doc(doc, sizeof doc, i);
        CHECK(is_ok(set_bytes(db, key, doc, n)));
    }
    return used_memory(db);
}

static void test_compression(void) {
    const char *codecs[] = {"zlib", "lz4"};
    nestdb *plain = open_or_die("compression none\n");
    long long plain_mem = load_docs(plain, 300);
    CHECK(info_field(plain, "memory", "compressed_values") == 0);
    nestdb_close(plain);

    for (size_t c = 0; c < 2; c++) {
        char config[128];
        snprintf(config, sizeof config, "compression %s\ncompression-min-size 64\n", codecs[c]);
        nestdb *db = open_or_die(config);
        long long mem = load_docs(db, 300);
        CHECK(info_field(db, "memory", "compressed_values") == 300);
        CHECK(info_field(db, "memory", "compressed_stored_bytes") < info_field(db, "memory", "compressed_raw_bytes"));
        CHECK(info_has(db, "memory", "compression", codecs[c]));
        if (mem * 10 >= plain_mem * 8) fprintf(stderr, "%s: used_memory %lld vs %lld uncompressed\n", codecs[c], mem, plain_mem);
        CHECK(mem * 10 < plain_mem * 8);

        /* Every value reads back exactly, NUL byte included; commands see the plain value. */
        char key[32], doc[2048];
        int exact = 0;
        for (int i = 0; i < 300; i++) {
            snprintf(key, sizeof key, "session:%d", i);
            size_t n = make_doc(doc, sizeof doc, i);
            nestdb_reply *r = cmd(db, "GET", key, NULL);
            exact += r != NULL && r->type == NESTDB_REPLY_STRING && r->len == n && memcmp(r->str, doc, n) == 0;
            nestdb_reply_free(r);
        }
        CHECK(exact == 300);
        size_t n = make_doc(doc, sizeof doc, 7);
        EXPECT_INT(cmd(db, "STRLEN", "session:7", NULL), (long long)n);
        EXPECT_BYTES(cmd(db, "GETRANGE", "session:7", "5", "14", NULL), doc + 5, 10);
        EXPECT_INT(cmd(db, "APPEND", "session:7", "!", NULL), (long long)n + 1);
        nestdb_reply *r = cmd(db, "GET", "session:7", NULL);
        CHECK(r != NULL && r->len == n + 1 && memcmp(r->str, doc, n) == 0 && r->str[n] == '!');
        nestdb_reply_free(r);

        /* Hash values are compressed too. */
        size_t hn = make_doc(doc, sizeof doc, 1);
        const char *hset[] = {"HSET", "user:1", "profile", doc};
        size_t hlen[] = {4, 6, 7, hn};
        EXPECT_INT(nestdb_command_argv(db, 4, hset, hlen), 1);
        EXPECT_BYTES(cmd(db, "HGET", "user:1", "profile", NULL), doc, hn);
        EXPECT_INT(cmd(db, "HSTRLEN", "user:1", "profile", NULL), (long long)hn);
        nestdb_close(db);
    }

    /* Under the threshold, or incompressible: stored plain. CONFIG SET switches it on. */
    nestdb *db = open_or_die("compression none\n");
    char noise[2048];
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (char)(rand() & 0xff);
    CHECK(is_ok(cmd(db, "CONFIG", "SET", "compression", "zlib", "compression-min-size", "512", NULL)));
    CHECK(is_ok(set_bytes(db, "noise", noise, sizeof noise)));
    CHECK(is_ok(set_bytes(db, "short", doc_filler(), 511)));
    CHECK(info_field(db, "memory", "compressed_values") == 0);
    EXPECT_BYTES(cmd(db, "GET", "noise", NULL), noise, sizeof noise);
    CHECK(is_ok(set_bytes(db, "long", doc_filler(), 512)));
    CHECK(info_field(db, "memory", "compressed_values") == 1);
    EXPECT_BYTES(cmd(db, "GET", "long", NULL), doc_filler(), 512);
    nestdb_close(db);
}

/* Compression under a memory cap: more compressed values fit. */
static void test_compression_under_a_cap(void) {
    nestdb *plain = open_or_die("maxmemory 256kb\nmaxmemory-policy allkeys-lru\ncompression none\n");
    nestdb *packed = open_or_die("maxmemory 256kb\nmaxmemory-policy allkeys-lru\ncompression zlib\ncompression-min-size 64\n");
    load_docs(plain, 2000);
    load_docs(packed, 2000);
    CHECK(used_memory(plain) <= 256 * 1024 && used_memory(packed) <= 256 * 1024);
    CHECK(dbsize(packed) > 2 * dbsize(plain));
    nestdb_close(plain);
    nestdb_close(packed);
}

int main(void) {
    test_config_text();
    test_allkeys_eviction("allkeys-lru");
    test_allkeys_eviction("allkeys-lfu");
    test_allkeys_eviction("allkeys-random");
    test_evicted_keys_count();
    test_volatile_never_evicts_persistent_keys();
    test_lowering_maxmemory_at_run_time();
    test_noeviction_oom();
    test_object_encoding();
    test_object_idletime_freq_touch();
    test_memory_usage_and_stats();
    test_compression();
    test_compression_under_a_cap();
    return check_finish("test_memory");
}
