/* A web session store: each session is a hash (user, visits...) with a sliding TTL. Touching
 * a session counts a visit and pushes its expiry back; an idle session expires by itself.
 *
 *   cc sessions.c $(pkg-config --cflags --libs nestdb) -o sessions && ./sessions
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <nestdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Idle time after which a session disappears (short, so the example runs quickly). */
#define SESSION_TTL_MS "400"

static nestdb_reply *run(nestdb *db, int argc, const char **argv) {
    nestdb_reply *r = nestdb_command_argv(db, argc, argv, NULL);
    if (r == NULL) {
        fprintf(stderr, "%s: %s\n", argv[0], nestdb_errmsg(db));
        exit(1);
    }
    if (r->type == NESTDB_REPLY_ERROR) {
        fprintf(stderr, "%s: %s\n", argv[0], r->str);
        nestdb_reply_free(r);
        nestdb_close(db);
        exit(1);
    }
    return r;
}

static void run_and_free(nestdb *db, int argc, const char **argv) {
    nestdb_reply_free(run(db, argc, argv));
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void create_session(nestdb *db, const char *key, const char *user) {
    const char *hset[] = {"HSET", key, "user", user, "visits", "0", "theme", "dark"};
    run_and_free(db, 8, hset);
    const char *expire[] = {"PEXPIRE", key, SESSION_TTL_MS};
    run_and_free(db, 3, expire);
}

/* Count a visit and slide the expiry; returns 0 if the session has expired. */
static int touch_session(nestdb *db, const char *key) {
    const char *exists[] = {"EXISTS", key};
    nestdb_reply *r = run(db, 2, exists);
    int alive = r->integer == 1;
    nestdb_reply_free(r);
    if (!alive) return 0;
    const char *incr[] = {"HINCRBY", key, "visits", "1"};
    run_and_free(db, 4, incr);
    const char *expire[] = {"PEXPIRE", key, SESSION_TTL_MS};
    run_and_free(db, 3, expire);
    return 1;
}

static void show_session(nestdb *db, const char *key) {
    const char *getall[] = {"HGETALL", key};
    nestdb_reply *r = run(db, 2, getall);
    /* A map reply: elements alternate field and value. */
    printf("%s {", key);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        printf("%s %s: %s", i ? "," : "", r->element[i]->str, r->element[i + 1]->str);
    }
    nestdb_reply_free(r);
    const char *pttl[] = {"PTTL", key};
    r = run(db, 2, pttl);
    printf(" }  expires in <= %lld ms\n", r->integer);
    nestdb_reply_free(r);
}

int main(void) {
    nestdb *db;
    int rc = nestdb_open(NULL, "hz 50", &db);
    if (rc != NESTDB_OK) {
        fprintf(stderr, "open: %s: %s\n", nestdb_errstr(rc), nestdb_errmsg(NULL));
        return 1;
    }

    create_session(db, "session:a1", "ada");
    create_session(db, "session:b2", "grace");
    for (int i = 0; i < 5; i++) {
        sleep_ms(100);
        touch_session(db, "session:a1"); /* ada keeps clicking; grace went idle */
    }
    show_session(db, "session:a1");
    printf("session:b2 %s\n", touch_session(db, "session:b2") ? "still active" : "expired");

    sleep_ms(600);
    printf("session:a1 %s after idling\n", touch_session(db, "session:a1") ? "still active" : "expired");

    const char *dbsize[] = {"DBSIZE"};
    nestdb_reply *r = run(db, 1, dbsize);
    printf("%lld sessions left\n", r->integer);
    nestdb_reply_free(r);

    nestdb_close(db);
    return 0;
}
