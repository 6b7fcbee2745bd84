/* fork() while other threads are busy in the library: the child must be able to open, use
 * and close a database of its own, and must never hang. The parent's threads write, read and
 * start and end short-lived threads that use the library (a thread's exit is where an
 * allocator gives its memory back, the path a fork can catch half done). Each child gets
 * 10 seconds; one that runs out is killed and counted as a failure.
 *   test_fork [FORKS]   (default 60) */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { WRITERS = 3 };

static nestdb *shared;
static atomic_int stop;

static void *writer(void *arg) {
    int id = (int)(size_t)arg;
    char key[32], value[64];
    for (long i = 0; !stop; i++) {
        snprintf(key, sizeof key, "w%d:%ld", id, i % 5000);
        snprintf(value, sizeof value, "value-%ld-%d-xxxxxxxxxxxxxxxxxxxxxxxxxx", i, id);
        nestdb_reply_free(cmd(shared, "SET", key, value, NULL));
        nestdb_reply_free(cmd(shared, "GET", key, NULL));
        nestdb_reply_free(cmd(shared, "LPUSH", "list", value, NULL));
        nestdb_reply_free(cmd(shared, "LTRIM", "list", "0", "99", NULL));
    }
    return NULL;
}

static void *short_lived(void *arg) {
    (void)arg;
    char key[32];
    snprintf(key, sizeof key, "short:%lu", (unsigned long)pthread_self() % 1000);
    nestdb_reply_free(cmd(shared, "INCR", key, NULL));
    nestdb_reply_free(cmd(shared, "HSET", "h", key, "1", NULL));
    return NULL;
}

static void *spawner(void *arg) {
    (void)arg;
    while (!stop) {
        pthread_t t;
        if (pthread_create(&t, NULL, short_lived, NULL) == 0) pthread_join(t, NULL);
    }
    return NULL;
}

/* The child: a database of its own, a few commands, closed; exit status 0 when all went well. */
static int child_main(void) {
    nestdb *db = NULL;
    if (nestdb_open(NULL, NULL, &db) != NESTDB_OK) return 2;
    int ok = 1;
    nestdb_reply *r = cmd(db, "SET", "k", "v", NULL);
    ok &= r != NULL && r->type == NESTDB_REPLY_STATUS;
    nestdb_reply_free(r);
    r = cmd(db, "GET", "k", NULL);
    ok &= r != NULL && r->type == NESTDB_REPLY_STRING && r->len == 1 && r->str[0] == 'v';
    nestdb_reply_free(r);
    r = cmd(db, "RPUSH", "l", "a", "b", "c", NULL);
    ok &= r != NULL && r->type == NESTDB_REPLY_INTEGER && r->integer == 3;
    nestdb_reply_free(r);
    nestdb_close(db);
    return ok ? 0 : 3;
}

/* Wait up to `seconds` for `pid`; kill it if it is still running then. Its exit status, or -1. */
static int wait_bounded(pid_t pid, int seconds) {
    struct timespec nap = {0, 5 * 1000 * 1000};
    for (int waited = 0; waited < seconds * 200; waited++) {
        int status;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        nanosleep(&nap, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int main(int argc, char **argv) {
    int forks = argc > 1 ? atoi(argv[1]) : 60;
    CHECK(nestdb_open(NULL, NULL, &shared) == NESTDB_OK);
    pthread_t threads[WRITERS + 1];
    for (int i = 0; i < WRITERS; i++) pthread_create(&threads[i], NULL, writer, (void *)(size_t)i);
    pthread_create(&threads[WRITERS], NULL, spawner, NULL);

    int hung = 0, failed = 0;
    struct timespec gap = {0, 2 * 1000 * 1000};
    for (int i = 0; i < forks; i++) {
        nanosleep(&gap, NULL);
        pid_t pid = fork();
        if (pid == 0) _exit(child_main());
        if (pid < 0) {
            failed++;
            continue;
        }
        int status = wait_bounded(pid, 10);
        if (status == -1) {
            hung++;
            fprintf(stderr, "fork %d: the child hung (killed after 10 s)\n", i);
        } else if (status != 0) {
            failed++;
            fprintf(stderr, "fork %d: the child exited with %d\n", i, status);
        }
    }
    stop = 1;
    for (int i = 0; i <= WRITERS; i++) pthread_join(threads[i], NULL);
    CHECK(hung == 0);
    CHECK(failed == 0);
    /* The parent's database is intact and still serving. */
    nestdb_reply *r = cmd(shared, "LLEN", "list", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_INTEGER && r->integer == 100);
    nestdb_reply_free(r);
    nestdb_close(shared);
    return check_finish("test_fork");
}
