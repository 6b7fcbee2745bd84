/* One handle shared by 8 threads: every command atomic (a shared INCR counter ends exact),
 * private keys intact, error messages kept per thread, and concurrent transactions on
 * per-thread sessions (nestdb_open_session) atomic. Then a job queue: consumer threads
 * waiting in BLPOP get every job a producer pushes, each exactly once. */
#define _POSIX_C_SOURCE 200809L /* pthread_barrier_t */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

enum { THREADS = 8, ROUNDS = 5000 };

static nestdb *shared;
static pthread_barrier_t barrier;

struct result {
    int commands_ok;
    int values_ok;
    int message_ok;
    int tx_ok;
};

static struct result results[THREADS];

static int is_int(nestdb_reply *r, long long *out) {
    int ok = r != NULL && r->type == NESTDB_REPLY_INTEGER;
    if (ok && out) *out = r->integer;
    nestdb_reply_free(r);
    return ok;
}

static void *worker(void *arg) {
    int id = (int)(size_t)arg;
    struct result *res = &results[id];
    char key[32], value[32];
    res->commands_ok = 1;
    res->values_ok = 1;

    for (int i = 0; i < ROUNDS; i++) {
        /* Shared counter: atomic INCR from every thread. */
        res->commands_ok &= is_int(cmd(shared, "INCR", "counter", NULL), NULL);
        /* Private keys with binary-safe lengths. */
        int kn = snprintf(key, sizeof key, "t%d:k%d", id, i % 100);
        int vn = snprintf(value, sizeof value, "%d-%d", id, i);
        const char *set[] = {"SET", key, value};
        const size_t set_len[] = {3, (size_t)kn, (size_t)vn};
        nestdb_reply *r = nestdb_command_argv(shared, 3, set, set_len);
        res->commands_ok &= r != NULL && r->type == NESTDB_REPLY_STATUS;
        nestdb_reply_free(r);
        const char *get[] = {"GET", key};
        const size_t get_len[] = {3, (size_t)kn};
        r = nestdb_command_argv(shared, 2, get, get_len);
        res->values_ok &= r != NULL && r->type == NESTDB_REPLY_STRING && r->len == (size_t)vn && memcmp(r->str, value, (size_t)vn) == 0;
        nestdb_reply_free(r);
        /* A list per thread, and a shared set. */
        res->commands_ok &= is_int(cmd(shared, "RPUSH", key, value, NULL), NULL) == 0; /* WRONGTYPE: key is a string */
        res->commands_ok &= is_int(cmd(shared, "SADD", "members", key, NULL), NULL);
    }

    /* Per-thread error messages on the shared handle: each thread fails differently, then
     * all threads read their own message after everyone has failed. */
    const char *argv[THREADS + 2];
    for (int i = 0; i < THREADS + 2; i++) argv[i] = "PING";
    argv[id + 1] = NULL;
    res->message_ok = nestdb_command_argv(shared, id + 2, argv, NULL) == NULL;
    const char *msg = nestdb_errmsg(shared);
    pthread_barrier_wait(&barrier);
    char expect[64];
    snprintf(expect, sizeof expect, "argv[%d] is NULL", id + 1);
    res->message_ok &= strstr(msg, expect) != NULL && strstr(nestdb_errmsg(shared), expect) != NULL;

    /* Transactions: each thread on its own session; x and y always move together. */
    nestdb *session = NULL;
    res->tx_ok = nestdb_open_session(shared, &session) == NESTDB_OK;
    for (int i = 0; i < 500 && res->tx_ok; i++) {
        nestdb_reply *r = cmd(session, "MULTI", NULL);
        res->tx_ok &= r != NULL && r->type == NESTDB_REPLY_STATUS;
        nestdb_reply_free(r);
        nestdb_reply_free(cmd(session, "INCR", "x", NULL));
        nestdb_reply_free(cmd(session, "INCR", "y", NULL));
        r = cmd(session, "EXEC", NULL);
        res->tx_ok &= r != NULL && r->type == NESTDB_REPLY_ARRAY && r->elements == 2 &&
                      r->element[0]->integer == r->element[1]->integer;
        nestdb_reply_free(r);
        r = cmd(shared, "MGET", "x", "y", NULL);
        res->tx_ok &= r != NULL && r->elements == 2 && r->element[0]->len == r->element[1]->len &&
                      memcmp(r->element[0]->str, r->element[1]->str, r->element[0]->len) == 0;
        nestdb_reply_free(r);
    }
    nestdb_close(session);
    return NULL;
}

enum { CONSUMERS = 3, JOBS = 3000 };
static int taken[JOBS];
static pthread_mutex_t taken_lock = PTHREAD_MUTEX_INITIALIZER;

/* BLPOP until the queue stays empty for half a second. */
static void *consumer(void *arg) {
    (void)arg;
    for (;;) {
        nestdb_reply *r = cmd(shared, "BLPOP", "jobs", "0.5", NULL);
        if (r == NULL || r->type == NESTDB_REPLY_NIL) {
            nestdb_reply_free(r);
            return NULL;
        }
        if (r->type == NESTDB_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == NESTDB_REPLY_STRING) {
            int job = atoi(r->element[1]->str);
            pthread_mutex_lock(&taken_lock);
            if (job >= 0 && job < JOBS) taken[job]++;
            pthread_mutex_unlock(&taken_lock);
        }
        nestdb_reply_free(r);
    }
}

static void test_blocking_queue(void) {
    pthread_t threads[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) pthread_create(&threads[i], NULL, consumer, NULL);
    char job[16];
    for (int i = 0; i < JOBS; i++) {
        snprintf(job, sizeof job, "%d", i);
        nestdb_reply_free(cmd(shared, "RPUSH", "jobs", job, NULL));
    }
    for (int i = 0; i < CONSUMERS; i++) pthread_join(threads[i], NULL);
    int once = 1;
    for (int i = 0; i < JOBS; i++) once &= taken[i] == 1;
    CHECK(once);
    /* Nothing to take: a timeout is a nil reply, an error is an error reply. */
    nestdb_reply *r = cmd(shared, "BRPOP", "jobs", "0.01", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_NIL);
    nestdb_reply_free(r);
    r = cmd(shared, "BLPOP", "jobs", "-1", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_ERROR && strcmp(r->str, "ERR timeout is negative") == 0);
    nestdb_reply_free(r);
}

int main(void) {
    CHECK(nestdb_open(NULL, NULL, &shared) == NESTDB_OK);
    pthread_barrier_init(&barrier, NULL, THREADS);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, worker, (void *)(size_t)i);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);

    for (int i = 0; i < THREADS; i++) {
        CHECK(results[i].commands_ok);
        CHECK(results[i].values_ok);
        CHECK(results[i].message_ok);
        CHECK(results[i].tx_ok);
    }
    long long n = 0;
    nestdb_reply *r = cmd(shared, "GET", "counter", NULL);
    if (r != NULL && r->type == NESTDB_REPLY_STRING) n = atoll(r->str);
    nestdb_reply_free(r);
    CHECK(n == (long long)THREADS * ROUNDS);
    CHECK(is_int(cmd(shared, "SCARD", "members", NULL), &n) && n == THREADS * 100);
    r = cmd(shared, "MGET", "x", "y", NULL);
    CHECK(r != NULL && r->elements == 2 && elem_is(r->element[0], NESTDB_REPLY_STRING, "4000") &&
          elem_is(r->element[1], NESTDB_REPLY_STRING, "4000"));
    nestdb_reply_free(r);
    test_blocking_queue();
    nestdb_close(shared);
    return check_finish("test_threads");
}
