/* A game leaderboard on a sorted set: record scores, add points, show the top players with
 * their scores, a player's rank, and how many players passed a threshold.
 *
 *   cc leaderboard.c $(pkg-config --cflags --libs nestdb) -o leaderboard && ./leaderboard
 */
#include <nestdb.h>
#include <stdio.h>
#include <stdlib.h>

/* Run a command given as NUL-terminated strings; exit with the message if it cannot run or
 * the command fails. The caller frees the reply. */
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

static void add_points(nestdb *db, const char *player, const char *points) {
    const char *argv[] = {"ZINCRBY", "leaderboard", points, player};
    nestdb_reply *r = run(db, 4, argv);
    /* Scores are doubles: dval holds the number, str the text Redis would print. */
    printf("%-6s +%-4s -> %s\n", player, points, r->str);
    nestdb_reply_free(r);
}

int main(void) {
    nestdb *db;
    int rc = nestdb_open(NULL, NULL, &db);
    if (rc != NESTDB_OK) {
        fprintf(stderr, "open: %s: %s\n", nestdb_errstr(rc), nestdb_errmsg(NULL));
        return 1;
    }

    const char *seed[] = {"ZADD", "leaderboard", "120", "ada", "95", "grace", "130", "linus", "87", "ken", "101", "barbara"};
    nestdb_reply *r = run(db, 12, seed);
    printf("%lld players registered\n", r->integer);
    nestdb_reply_free(r);

    add_points(db, "grace", "40");
    add_points(db, "ken", "12.5");
    add_points(db, "ada", "3");

    /* Top three, best first. WITHSCORES gives [member, score] pairs. */
    const char *top[] = {"ZREVRANGE", "leaderboard", "0", "2", "WITHSCORES"};
    r = run(db, 5, top);
    printf("top %zu:\n", r->elements);
    for (size_t i = 0; i < r->elements; i++) {
        const nestdb_reply *pair = r->element[i];
        printf("  %zu. %-8s %8.1f\n", i + 1, pair->element[0]->str, pair->element[1]->dval);
    }
    nestdb_reply_free(r);

    const char *rank[] = {"ZREVRANK", "leaderboard", "ken"};
    r = run(db, 3, rank);
    printf("ken is number %lld\n", r->integer + 1);
    nestdb_reply_free(r);

    const char *count[] = {"ZCOUNT", "leaderboard", "(100", "+inf"};
    r = run(db, 4, count);
    printf("%lld players above 100 points\n", r->integer);
    nestdb_reply_free(r);

    const char *missing[] = {"ZSCORE", "leaderboard", "nobody"};
    r = run(db, 3, missing);
    printf("nobody's score: %s\n", r->type == NESTDB_REPLY_NIL ? "(nil)" : r->str);
    nestdb_reply_free(r);

    nestdb_close(db);
    return 0;
}
