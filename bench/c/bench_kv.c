/* GET/SET throughput: nestdb through nestdb_command_argv (in-process) against hiredis talking
 * to a local redis-server with 16-deep pipelining (redisAppendCommandArgv x 16, then
 * redisGetReply x 16), in the same run, on the same keys and values.
 *
 *   bench_kv PORT [KEYS [ROUNDS]]   (bench/c/run.sh starts redis-server and passes its port;
 *                                    PORT 0 runs nestdb alone, for profiling; ROUNDS default 3)
 *
 * Keys "key:0000000".."key:N-1" and 16-byte values are prepared before timing; SET writes
 * every key once, GET reads every key once in a shuffled order. Every reply is checked, so a
 * wrong or failed reply fails the benchmark instead of flattering it. */
#define _POSIX_C_SOURCE 200809L
#include <hiredis/hiredis.h>
#include <nestdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { KEY_LEN = 11, VALUE_LEN = 16, PIPELINE = 16 };

static size_t n_keys = 1000000;
static char *keys;     /* n_keys * KEY_LEN */
static char *values;   /* n_keys * VALUE_LEN */
static size_t *order;  /* GET order: a permutation of 0..n_keys-1 */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void prepare(void) {
    keys = malloc(n_keys * KEY_LEN + 1);
    values = malloc(n_keys * VALUE_LEN + 1);
    order = malloc(n_keys * sizeof *order);
    if (!keys || !values || !order) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n_keys; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "key:%07zu", i);
        memcpy(keys + i * KEY_LEN, buf, KEY_LEN);
        snprintf(buf, sizeof buf, "value-%010zu", i * 7919);
        memcpy(values + i * VALUE_LEN, buf, VALUE_LEN);
        order[i] = i;
    }
    /* Fisher-Yates with a fixed xorshift seed: the same order for both sides. */
    unsigned long long x = 88172645463325252ULL;
    for (size_t i = n_keys - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t j = (size_t)(x % (i + 1));
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static void fail(const char *what, size_t i) {
    fprintf(stderr, "bench: unexpected reply for %s #%zu\n", what, i);
    exit(1);
}

/* Wall-clock throughput, and throughput per CPU-second actually used (the calling thread for
 * nestdb; client thread + redis-server process for hiredis), which stays meaningful when other
 * work on the machine takes CPU away from one side more than the other. */
struct result {
    double set_ops, get_ops;
    double set_cpu_ops, get_cpu_ops;
};

static struct result bench_nestdb(void) {
    nestdb *db;
    if (nestdb_open(NULL, NULL, &db) != NESTDB_OK) {
        fprintf(stderr, "nestdb_open: %s\n", nestdb_errmsg(NULL));
        exit(1);
    }
    struct result res;
    const char *argv[3];
    size_t lens[3];

    argv[0] = "SET";
    lens[0] = 3;
    lens[1] = KEY_LEN;
    lens[2] = VALUE_LEN;
    double t0 = now_s(), c0 = thread_cpu_s();
    for (size_t i = 0; i < n_keys; i++) {
        argv[1] = keys + i * KEY_LEN;
        argv[2] = values + i * VALUE_LEN;
        nestdb_reply *r = nestdb_command_argv(db, 3, argv, lens);
        if (r == NULL || r->type != NESTDB_REPLY_STATUS) fail("nestdb SET", i);
        nestdb_reply_free(r);
    }
    res.set_ops = (double)n_keys / (now_s() - t0);
    res.set_cpu_ops = (double)n_keys / (thread_cpu_s() - c0);

    argv[0] = "GET";
    t0 = now_s();
    c0 = thread_cpu_s();
    for (size_t n = 0; n < n_keys; n++) {
        size_t i = order[n];
        argv[1] = keys + i * KEY_LEN;
        nestdb_reply *r = nestdb_command_argv(db, 2, argv, lens);
        if (r == NULL || r->type != NESTDB_REPLY_STRING || r->len != VALUE_LEN || memcmp(r->str, values + i * VALUE_LEN, VALUE_LEN) != 0)
            fail("nestdb GET", n);
        nestdb_reply_free(r);
    }
    res.get_ops = (double)n_keys / (now_s() - t0);
    res.get_cpu_ops = (double)n_keys / (thread_cpu_s() - c0);
    nestdb_close(db);
    return res;
}

static void expect_hiredis(redisContext *c, int type, size_t i, const char *what, const char *value) {
    redisReply *r;
    if (redisGetReply(c, (void **)&r) != REDIS_OK) {
        fprintf(stderr, "hiredis: %s\n", c->errstr);
        exit(1);
    }
    if (r->type != type || (value && (r->len != VALUE_LEN || memcmp(r->str, value, VALUE_LEN) != 0))) fail(what, i);
    freeReplyObject(r);
}

/* CPU seconds redis-server has used so far (INFO cpu: used_cpu_sys + used_cpu_user). */
static double server_cpu_s(redisContext *c) {
    redisReply *r = redisCommand(c, "INFO cpu");
    double total = 0;
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "hiredis: INFO cpu failed\n");
        exit(1);
    }
    const char *fields[] = {"used_cpu_sys:", "used_cpu_user:"};
    for (int i = 0; i < 2; i++) {
        const char *p = strstr(r->str, fields[i]);
        if (p) total += strtod(p + strlen(fields[i]), NULL);
    }
    freeReplyObject(r);
    return total;
}

static struct result bench_hiredis(int port) {
    redisContext *c = redisConnect("127.0.0.1", port);
    if (c == NULL || c->err) {
        fprintf(stderr, "hiredis connect to port %d: %s\n", port, c ? c->errstr : "out of memory");
        exit(1);
    }
    redisReply *flush = redisCommand(c, "FLUSHALL");
    if (flush == NULL) exit(1);
    freeReplyObject(flush);

    struct result res;
    const char *argv[3];
    size_t lens[3];
    argv[0] = "SET";
    lens[0] = 3;
    lens[1] = KEY_LEN;
    lens[2] = VALUE_LEN;
    double s0 = server_cpu_s(c), c0 = thread_cpu_s(), t0 = now_s();
    for (size_t base = 0; base < n_keys; base += PIPELINE) {
        size_t end = base + PIPELINE < n_keys ? base + PIPELINE : n_keys;
        for (size_t i = base; i < end; i++) {
            argv[1] = keys + i * KEY_LEN;
            argv[2] = values + i * VALUE_LEN;
            redisAppendCommandArgv(c, 3, argv, lens);
        }
        for (size_t i = base; i < end; i++) expect_hiredis(c, REDIS_REPLY_STATUS, i, "hiredis SET", NULL);
    }
    res.set_ops = (double)n_keys / (now_s() - t0);
    res.set_cpu_ops = (double)n_keys / (thread_cpu_s() - c0 + server_cpu_s(c) - s0);

    argv[0] = "GET";
    s0 = server_cpu_s(c);
    c0 = thread_cpu_s();
    t0 = now_s();
    for (size_t base = 0; base < n_keys; base += PIPELINE) {
        size_t end = base + PIPELINE < n_keys ? base + PIPELINE : n_keys;
        for (size_t n = base; n < end; n++) {
            argv[1] = keys + order[n] * KEY_LEN;
            redisAppendCommandArgv(c, 2, argv, lens);
        }
        for (size_t n = base; n < end; n++) expect_hiredis(c, REDIS_REPLY_STRING, n, "hiredis GET", values + order[n] * VALUE_LEN);
    }
    res.get_ops = (double)n_keys / (now_s() - t0);
    res.get_cpu_ops = (double)n_keys / (thread_cpu_s() - c0 + server_cpu_s(c) - s0);
    redisFree(c);
    return res;
}

static double max_d(double a, double b) { return a > b ? a : b; }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s REDIS_PORT [KEYS [ROUNDS]]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    if (argc > 2) n_keys = (size_t)strtoull(argv[2], NULL, 10);
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (n_keys == 0 || rounds < 1) return 2;
    prepare();

    printf("keys: %zu, key %d bytes, value %d bytes, hiredis pipeline depth %d, best of %d rounds\n", n_keys, KEY_LEN, VALUE_LEN,
           PIPELINE, rounds);
    printf("nestdb %s (header %d), hiredis %d.%d.%d\n", nestdb_libversion(), NESTDB_VERSION_NUMBER, HIREDIS_MAJOR, HIREDIS_MINOR,
           HIREDIS_PATCH);
    /* Rounds alternate the two sides, so a burst of load elsewhere on the machine hits both;
     * each side's best round is reported. */
    struct result best_n = {0, 0, 0, 0}, best_h = {0, 0, 0, 0};
    for (int round = 1; round <= rounds; round++) {
        struct result n = bench_nestdb();
        best_n.set_ops = max_d(best_n.set_ops, n.set_ops);
        best_n.get_ops = max_d(best_n.get_ops, n.get_ops);
        best_n.set_cpu_ops = max_d(best_n.set_cpu_ops, n.set_cpu_ops);
        best_n.get_cpu_ops = max_d(best_n.get_cpu_ops, n.get_cpu_ops);
        if (port == 0) {
            printf("round %d: nestdb SET %.0f GET %.0f ops/s\n", round, n.set_ops, n.get_ops);
            continue;
        }
        struct result h = bench_hiredis(port);
        best_h.set_ops = max_d(best_h.set_ops, h.set_ops);
        best_h.get_ops = max_d(best_h.get_ops, h.get_ops);
        best_h.set_cpu_ops = max_d(best_h.set_cpu_ops, h.set_cpu_ops);
        best_h.get_cpu_ops = max_d(best_h.get_cpu_ops, h.get_cpu_ops);
        printf("round %d: nestdb SET %.0f GET %.0f ops/s (per cpu-s %.0f, %.0f); hiredis SET %.0f GET %.0f ops/s (per cpu-s %.0f, %.0f)\n",
               round, n.set_ops, n.get_ops, n.set_cpu_ops, n.get_cpu_ops, h.set_ops, h.get_ops, h.set_cpu_ops, h.get_cpu_ops);
        fflush(stdout);
    }
    if (port != 0) {
        printf("\nthroughput (wall clock, best round)\n");
        printf("%-4s %18s %22s %8s\n", "op", "nestdb ops/s", "hiredis+redis ops/s", "ratio");
        printf("%-4s %18.0f %22.0f %7.1fx\n", "SET", best_n.set_ops, best_h.set_ops, best_n.set_ops / best_h.set_ops);
        printf("%-4s %18.0f %22.0f %7.1fx\n", "GET", best_n.get_ops, best_h.get_ops, best_n.get_ops / best_h.get_ops);
        printf("\nefficiency (operations per CPU-second used; hiredis side = client + redis-server)\n");
        printf("%-4s %18s %22s %8s\n", "op", "nestdb ops/cpu-s", "hiredis+redis ops/cpu-s", "ratio");
        printf("%-4s %18.0f %22.0f %7.1fx\n", "SET", best_n.set_cpu_ops, best_h.set_cpu_ops, best_n.set_cpu_ops / best_h.set_cpu_ops);
        printf("%-4s %18.0f %22.0f %7.1fx\n", "GET", best_n.get_cpu_ops, best_h.get_cpu_ops, best_n.get_cpu_ops / best_h.get_cpu_ops);
    }
    free(keys);
    free(values);
    free(order);
    return 0;
}
