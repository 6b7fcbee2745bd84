/* File-backed databases through the C API: persistence across close/reopen with every
 * appendfsync policy, the durability config text and CONFIG SET/GET, SAVE/BGSAVE/LASTSAVE and
 * INFO persistence, nestdb_sync(), one engine per path within a process, the directory lock
 * between processes (NESTDB_LOCKED naming the holder's pid), a corrupted log
 * (NESTDB_CORRUPT, then nestdb_repair() and its JSON report), a torn tail cut off at open,
 * and bad paths. Every database lives in a fresh directory under $TMPDIR, removed at the end. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, fork, pipe, waitpid, nanosleep */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char base[4096];

/* base/name, in a static rotation of buffers (enough for the few live at once). */
static const char *dbpath(const char *name) {
    static char bufs[4][4200];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", base, name);
    return b;
}

static nestdb *open_or_die(const char *path, const char *config) {
    nestdb *db = NULL;
    int rc = nestdb_open(path, config, &db);
    if (rc != NESTDB_OK) {
        fprintf(stderr, "nestdb_open(%s) failed: %s: %s\n", path, nestdb_errstr(rc), nestdb_errmsg(NULL));
        exit(2);
    }
    return db;
}

/* Remove a database directory (its files are plain files), then the directory. */
static void remove_dir(const char *path) {
    DIR *d = opendir(path);
    if (d == NULL) return;
    struct dirent *e;
    char file[8400];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_dir(file);
        } else {
            unlink(file);
        }
    }
    closedir(d);
    rmdir(path);
}

/* The path of the (single) log-*.log file of a database directory, or 0 if none. */
static int find_log(const char *dir, char *out, size_t cap) {
    DIR *d = opendir(dir);
    if (d == NULL) return 0;
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "log-", 4) == 0 && n > 8 && strcmp(e->d_name + n - 4, ".log") == 0) {
            snprintf(out, cap, "%s/%s", dir, e->d_name);
            found++;
        }
    }
    closedir(d);
    return found == 1;
}

/* Wait until the database at `path` is closed for real (its directory unlocked), up to 5 s;
 * 1 if it is. nestdb_close() of its last handle closes it, but the library's background
 * thread may still hold the engine for a few milliseconds after that (an expiry cycle, a
 * snapshot in flight); a test that reopens the files, edits them or hands them to another
 * process waits here. Probe: repairing a sound database changes nothing, and it succeeds
 * only once nobody holds the lock. */
static int wait_closed(const char *path) {
    for (int i = 0; i < 500; i++) {
        int rc = nestdb_repair(path, NULL);
        if (rc != NESTDB_LOCKED) return rc == NESTDB_OK;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void test_round_trip(void) {
    const char *path = dbpath("round-trip");
    nestdb *db = open_or_die(path, "appendfsync always\n");
    EXPECT_STATUS(cmd(db, "SET", "greeting", "hello", NULL), "OK");
    EXPECT_INT(cmd(db, "HSET", "user:1", "name", "ada", "lang", "c", NULL), 2);
    EXPECT_INT(cmd(db, "RPUSH", "queue", "a", "b", "c", NULL), 3);
    EXPECT_INT(cmd(db, "ZADD", "board", "10", "x", "20", "y", NULL), 2);
    EXPECT_INT(cmd(db, "SADD", "tags", "t1", "t2", NULL), 2);
    EXPECT_INT(cmd(db, "INCRBY", "counter", "41", NULL), 41);
    EXPECT_INT(cmd(db, "INCR", "counter", NULL), 42);
    EXPECT_INT(cmd(db, "EXPIRE", "greeting", "3600", NULL), 1);
    EXPECT_INT(cmd(db, "DEL", "tags", NULL), 1);
    /* Binary keys and values survive the log. */
    const char *argv[] = {"SET", "bin\0key", "v\0\xff"};
    size_t lens[] = {3, 7, 3};
    nestdb_reply *r = nestdb_command_argv(db, 3, argv, lens);
    EXPECT_STATUS(r, "OK");
    CHECK(info_field(db, "persistence", "aof_enabled") == 1);
    CHECK(config_is(db, "appendfsync", "always"));
    nestdb_close(db);
    CHECK(wait_closed(path));

    db = open_or_die(path, NULL);
    EXPECT_STR(cmd(db, "GET", "greeting", NULL), "hello");
    r = cmd(db, "TTL", "greeting", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_INTEGER && r->integer > 3500 && r->integer <= 3600);
    nestdb_reply_free(r);
    EXPECT_STR(cmd(db, "HGET", "user:1", "lang", NULL), "c");
    EXPECT_STR(cmd(db, "LINDEX", "queue", "2", NULL), "c");
    r = cmd(db, "ZSCORE", "board", "y", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_DOUBLE && r->dval == 20.0);
    nestdb_reply_free(r);
    EXPECT_INT(cmd(db, "EXISTS", "tags", NULL), 0);
    EXPECT_STR(cmd(db, "GET", "counter", NULL), "42");
    const char *get[] = {"GET", "bin\0key"};
    size_t get_lens[] = {3, 7};
    EXPECT_BYTES(nestdb_command_argv(db, 2, get, get_lens), "v\0\xff", 3);
    EXPECT_INT(cmd(db, "DBSIZE", NULL), 6);
    /* Recovered from the files: a snapshot (the "save" points may have taken one) and the log. */
    CHECK(info_field(db, "persistence", "rdb_last_load_keys_loaded") + info_field(db, "persistence", "nestdb_recovery_records_replayed") >= 1);
    /* The config is not stored with the data: a reopen without it has the defaults. */
    CHECK(config_is(db, "appendfsync", "everysec"));
    nestdb_close(db);
}

/* Every policy keeps everything across a clean close, and nestdb_sync() succeeds. */
static void test_fsync_policies(void) {
    const char *policies[] = {"always", "everysec", "no"};
    for (int i = 0; i < 3; i++) {
        char name[64], config[64];
        snprintf(name, sizeof name, "policy-%s", policies[i]);
        snprintf(config, sizeof config, "appendfsync %s", policies[i]);
        const char *path = dbpath(name);
        nestdb *db = open_or_die(path, config);
        CHECK(config_is(db, "appendfsync", policies[i]));
        char key[32];
        for (int k = 0; k < 200; k++) {
            snprintf(key, sizeof key, "key:%d", k);
            nestdb_reply_free(cmd(db, "SET", key, policies[i], NULL));
        }
        CHECK(nestdb_sync(db) == NESTDB_OK);
        nestdb_close(db);
        CHECK(wait_closed(path));
        db = open_or_die(path, NULL);
        EXPECT_INT(cmd(db, "DBSIZE", NULL), 200);
        EXPECT_STR(cmd(db, "GET", "key:199", NULL), policies[i]);
        nestdb_close(db);
    }
}

static void test_config_text_and_config_set(void) {
    const char *path = dbpath("config");
    nestdb *db = open_or_die(path,
                             "# durability\n"
                             "appendfsync no\n"
                             "save \"60 5 10 100\"\n"
                             "auto-aof-rewrite-percentage 50\n"
                             "auto-aof-rewrite-min-size 1mb\n"
                             "hz 20\n");
    CHECK(config_is(db, "appendfsync", "no"));
    CHECK(config_is(db, "save", "60 5 10 100"));
    CHECK(config_is(db, "auto-aof-rewrite-percentage", "50"));
    CHECK(config_is(db, "auto-aof-rewrite-min-size", "1048576"));
    CHECK(config_is(db, "hz", "20"));
    /* appendfsync changes at run time. */
    EXPECT_STATUS(cmd(db, "CONFIG", "SET", "appendfsync", "always", NULL), "OK");
    CHECK(config_is(db, "appendfsync", "always"));
    EXPECT_STATUS(cmd(db, "CONFIG", "SET", "save", "", NULL), "OK");
    CHECK(config_is(db, "save", ""));
    EXPECT_ERROR(cmd(db, "CONFIG", "SET", "appendfsync", "sometimes", NULL), "ERR CONFIG SET failed");
    nestdb_close(db);
    CHECK(wait_closed(path));

    /* save "" (and an empty value) disable snapshots; bad values are NESTDB_CONFIG. */
    db = open_or_die(path, "save \"\"");
    CHECK(config_is(db, "save", ""));
    nestdb_close(db);
    nestdb *bad = (nestdb *)&bad;
    CHECK(nestdb_open(path, "appendfsync sometimes", &bad) == NESTDB_CONFIG && bad == NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "appendfsync") != NULL);
    bad = (nestdb *)&bad;
    CHECK(nestdb_open(path, "auto-aof-rewrite-min-size lots", &bad) == NESTDB_CONFIG && bad == NULL);
    bad = (nestdb *)&bad;
    CHECK(nestdb_open(path, "save 60", &bad) == NESTDB_CONFIG && bad == NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "save") != NULL);
}

static void test_save_commands(void) {
    const char *path = dbpath("save");
    nestdb *db = open_or_die(path, "save \"\"");
    EXPECT_STATUS(cmd(db, "SET", "k", "v", NULL), "OK");
    EXPECT_STATUS(cmd(db, "SAVE", NULL), "OK");
    nestdb_reply *r = cmd(db, "LASTSAVE", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_INTEGER && r->integer > 1600000000);
    nestdb_reply_free(r);
    CHECK(info_field(db, "persistence", "rdb_saves") >= 1);
    CHECK(info_field(db, "persistence", "rdb_changes_since_last_save") == 0);
    EXPECT_STATUS(cmd(db, "SET", "k2", "v2", NULL), "OK");
    CHECK(info_field(db, "persistence", "rdb_changes_since_last_save") == 1);
    r = cmd(db, "BGSAVE", "SCHEDULE", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_STATUS && strstr(r->str, "Background saving") == r->str);
    nestdb_reply_free(r);
    r = cmd(db, "BGREWRITEAOF", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_STATUS && strstr(r->str, "Background append only file rewriting") == r->str);
    nestdb_reply_free(r);
    /* SAVE waits for a background snapshot in progress, so this one ends after it. */
    EXPECT_STATUS(cmd(db, "SAVE", NULL), "OK");
    nestdb_close(db);
    CHECK(wait_closed(path));
    db = open_or_die(path, NULL);
    EXPECT_STR(cmd(db, "GET", "k2", NULL), "v2");
    CHECK(info_field(db, "persistence", "rdb_last_load_keys_loaded") == 2);
    nestdb_close(db);

    /* In memory there is nothing to save; nestdb_sync() has nothing to do. */
    nestdb *mem = open_or_die(NULL, NULL);
    EXPECT_ERROR(cmd(mem, "SAVE", NULL), "ERR this database is in memory");
    EXPECT_INT(cmd(mem, "LASTSAVE", NULL), 0);
    CHECK(info_field(mem, "persistence", "aof_enabled") == 0);
    CHECK(nestdb_sync(mem) == NESTDB_OK);
    nestdb_close(mem);
    CHECK(nestdb_sync(NULL) == NESTDB_MISUSE);
    CHECK(strcmp(nestdb_errmsg(NULL), "nestdb_sync: db is NULL") == 0);
}

/* Two opens of one path in a process share the engine (the second's config is ignored). */
static void test_same_path_shares_engine(void) {
    const char *path = dbpath("shared");
    nestdb *a = open_or_die(path, "appendfsync always");
    nestdb *b = open_or_die(path, "appendfsync no");
    char relative[4300];
    /* The same directory through another spelling of its path. */
    snprintf(relative, sizeof relative, "%s/../%s/./shared", base, strrchr(base, '/') + 1);
    nestdb *c = open_or_die(relative, NULL);
    EXPECT_STATUS(cmd(a, "SET", "who", "a", NULL), "OK");
    EXPECT_STR(cmd(b, "GET", "who", NULL), "a");
    EXPECT_STR(cmd(c, "GET", "who", NULL), "a");
    CHECK(config_is(b, "appendfsync", "always"));
    nestdb_close(a);
    /* Still open through b and c: the directory stays locked, repair refuses. */
    char *report = (char *)&report;
    CHECK(nestdb_repair(path, &report) == NESTDB_LOCKED && report == NULL);
    EXPECT_STATUS(cmd(b, "SET", "who", "b", NULL), "OK");
    nestdb_close(b);
    nestdb_close(c);
    /* The last close releases the lock. */
    CHECK(wait_closed(path));
    nestdb *d = open_or_die(path, NULL);
    EXPECT_STR(cmd(d, "GET", "who", NULL), "b");
    nestdb_close(d);
}

/* A child process holds the database; the parent gets NESTDB_LOCKED naming the child's pid,
 * then opens it once the child has closed it and sees the child's writes. */
static void test_locked_by_another_process(void) {
    const char *path = dbpath("locked");
    int ready[2], go[2];
    if (pipe(ready) != 0 || pipe(go) != 0) {
        CHECK(0);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child < 0) {
        CHECK(0);
        return;
    }
    if (child == 0) {
        /* The child opens nothing the parent had open: it starts with its own handles. */
        close(ready[0]);
        close(go[1]);
        nestdb *db = NULL;
        int ok = nestdb_open(path, "appendfsync always", &db) == NESTDB_OK;
        nestdb_reply *r = ok ? cmd(db, "SET", "written-by", "child", NULL) : NULL;
        ok = ok && r != NULL && r->type == NESTDB_REPLY_STATUS;
        nestdb_reply_free(r);
        char c = ok ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1) ok = 0;
        if (read(go[0], &c, 1) != 1) ok = 0;
        nestdb_close(db);
        _exit(ok ? 0 : 1);
    }
    close(ready[1]);
    close(go[0]);
    char c = 0;
    CHECK(read(ready[0], &c, 1) == 1 && c == 'y');

    nestdb *db = (nestdb *)&db;
    int rc = nestdb_open(path, NULL, &db);
    CHECK(rc == NESTDB_LOCKED && db == NULL);
    char expect[64];
    snprintf(expect, sizeof expect, "locked by process %ld", (long)child);
    CHECK(strstr(nestdb_errmsg(NULL), expect) != NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "locked") != NULL && strstr(nestdb_errmsg(NULL), "nestdb_open: ") == nestdb_errmsg(NULL));
    if (rc != NESTDB_LOCKED) fprintf(stderr, "open of a locked database: %s: %s\n", nestdb_errstr(rc), nestdb_errmsg(NULL));
    CHECK(strcmp(nestdb_errstr(NESTDB_LOCKED), "database is locked by another process") == 0);
    char *report = (char *)&report;
    CHECK(nestdb_repair(path, &report) == NESTDB_LOCKED && report == NULL);
    CHECK(strstr(nestdb_errmsg(NULL), expect) != NULL);

    c = 'g';
    CHECK(write(go[1], &c, 1) == 1);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]);
    close(go[1]);

    db = open_or_die(path, NULL);
    EXPECT_STR(cmd(db, "GET", "written-by", NULL), "child");
    nestdb_close(db);
}

/* Write `n` keys with appendfsync always into a fresh database and close it. */
static void fill(const char *path, int n) {
    nestdb *db = open_or_die(path, "appendfsync always\nsave \"\"");
    char key[32], value[64];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "key:%03d", i);
        snprintf(value, sizeof value, "value number %d", i);
        nestdb_reply_free(cmd(db, "SET", key, value, NULL));
    }
    nestdb_close(db);
    CHECK(wait_closed(path));
}

/* The number after "name": in a JSON text, or -1. */
static long long json_int(const char *json, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(json, key);
    return p == NULL ? -1 : strtoll(p + strlen(key), NULL, 10);
}

static void test_corrupt_log_and_repair(void) {
    const char *path = dbpath("corrupt");
    fill(path, 100);
    char log[8400];
    CHECK(find_log(path, log, sizeof log));
    long long size = file_size(log);
    CHECK(size > 1000);

    /* Flip one byte in the middle of the log: a CRC mismatch in a record that is not last. */
    int fd = open(log, O_RDWR);
    CHECK(fd >= 0);
    unsigned char b = 0;
    CHECK(pread(fd, &b, 1, size / 2) == 1);
    b ^= 0x5a;
    CHECK(pwrite(fd, &b, 1, size / 2) == 1);
    close(fd);

    nestdb *db = (nestdb *)&db;
    int rc = nestdb_open(path, NULL, &db);
    CHECK(rc == NESTDB_CORRUPT && db == NULL);
    const char *msg = nestdb_errmsg(NULL);
    CHECK(strstr(msg, "CRC mismatch") != NULL && strstr(msg, "log-") != NULL && strstr(msg, "offset") != NULL);
    if (rc != NESTDB_CORRUPT) fprintf(stderr, "open of a corrupt database: %s: %s\n", nestdb_errstr(rc), msg);
    CHECK(strcmp(nestdb_errstr(NESTDB_CORRUPT), "database files are damaged (see nestdb_repair)") == 0);

    char *report = NULL;
    CHECK(nestdb_repair(path, &report) == NESTDB_OK && report != NULL);
    if (report != NULL) {
        long long dropped = json_int(report, "bytes_dropped");
        long long at = json_int(report, "truncated_at");
        CHECK(dropped > 0 && dropped <= size - size / 2 + 200);
        CHECK(at > 0 && at <= size / 2 && at + dropped == size);
        CHECK(file_size(log) == at);
        CHECK(json_int(report, "segments_removed") == 0);
        CHECK(strstr(report, "\"manifest_rebuilt\":false") != NULL);
        CHECK(strstr(report, "\"truncated_file\":\"") != NULL && strstr(report, strrchr(log, '/') + 1) != NULL);
        CHECK(report[0] == '{' && report[strlen(report) - 1] == '}');
    }
    nestdb_free(report);

    /* It opens, with every key written before the damaged record. */
    db = open_or_die(path, NULL);
    nestdb_reply *r = cmd(db, "DBSIZE", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_INTEGER && r->integer > 10 && r->integer < 100);
    long long kept = r != NULL ? r->integer : 0;
    nestdb_reply_free(r);
    /* Keys were written in order: exactly the first `kept` of them survive. */
    char key[32], value[64];
    snprintf(key, sizeof key, "key:%03lld", kept - 1);
    snprintf(value, sizeof value, "value number %lld", kept - 1);
    EXPECT_STR(cmd(db, "GET", key, NULL), value);
    snprintf(key, sizeof key, "key:%03lld", kept);
    EXPECT_NIL(cmd(db, "GET", key, NULL));
    /* And it takes new writes after the cut. */
    EXPECT_STATUS(cmd(db, "SET", "after-repair", "yes", NULL), "OK");
    nestdb_close(db);
    CHECK(wait_closed(path));

    /* A second repair has nothing to do. */
    report = NULL;
    CHECK(nestdb_repair(path, &report) == NESTDB_OK && report != NULL);
    if (report != NULL) {
        CHECK(strstr(report, "\"truncated_file\":null") != NULL && json_int(report, "bytes_dropped") == 0);
    }
    nestdb_free(report);
    db = open_or_die(path, NULL);
    EXPECT_STR(cmd(db, "GET", "after-repair", NULL), "yes");
    nestdb_close(db);
}

/* A torn last record (a crash mid-write) is cut off at open and reported in INFO. */
static void test_torn_tail_is_cut_at_open(void) {
    const char *path = dbpath("torn");
    fill(path, 10);
    char log[8400];
    CHECK(find_log(path, log, sizeof log));
    long long size = file_size(log);
    /* The start of a record that never finished: a length field, then nothing. */
    FILE *f = fopen(log, "ab");
    CHECK(f != NULL);
    if (f != NULL) {
        const unsigned char partial[7] = {0x40, 0, 0, 0, 1, 2, 3};
        CHECK(fwrite(partial, 1, sizeof partial, f) == sizeof partial);
        fclose(f);
    }
    nestdb *db = open_or_die(path, "save \"\""); /* no snapshot: it would replace the log file */
    EXPECT_INT(cmd(db, "DBSIZE", NULL), 10);
    CHECK(info_field(db, "persistence", "nestdb_recovery_bytes_dropped") == 7);
    nestdb_close(db);
    CHECK(file_size(log) == size);
}

static void test_bad_paths(void) {
    nestdb *db = (nestdb *)&db;
    /* A path under a regular file cannot become a directory. */
    CHECK(nestdb_open("/dev/null/nestdb", NULL, &db) == NESTDB_CANTOPEN && db == NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "/dev/null/nestdb") != NULL);
    /* A regular file is not a database directory. */
    char file[4300];
    snprintf(file, sizeof file, "%s/plain-file", base);
    FILE *f = fopen(file, "w");
    if (f != NULL) fclose(f);
    db = (nestdb *)&db;
    CHECK(nestdb_open(file, NULL, &db) == NESTDB_CANTOPEN && db == NULL);
    CHECK(strstr(nestdb_errmsg(NULL), "not a database directory") != NULL);
    CHECK(nestdb_repair(file, NULL) == NESTDB_CANTOPEN);
    unlink(file);

    /* On Unix a path is bytes: one that is not UTF-8 names exactly that directory. */
    const char *odd = dbpath("bytes-\xff\xfe");
    db = open_or_die(odd, NULL);
    EXPECT_STATUS(cmd(db, "SET", "k", "v", NULL), "OK");
    nestdb_close(db);
    CHECK(wait_closed(odd));
    struct stat st;
    CHECK(stat(odd, &st) == 0 && S_ISDIR(st.st_mode));
    db = open_or_die(odd, NULL);
    EXPECT_STR(cmd(db, "GET", "k", NULL), "v");
    nestdb_close(db);
    CHECK(wait_closed(odd));

    /* Repair: NULL and ":memory:" are misuse; a missing directory is not created. */
    char *report = (char *)&report;
    CHECK(nestdb_repair(NULL, &report) == NESTDB_MISUSE && report == NULL);
    CHECK(strcmp(nestdb_errmsg(NULL), "nestdb_repair: path is NULL") == 0);
    CHECK(nestdb_repair(":memory:", NULL) == NESTDB_MISUSE);
    const char *missing = dbpath("never-created");
    report = (char *)&report;
    CHECK(nestdb_repair(missing, &report) == NESTDB_CANTOPEN && report == NULL);
    CHECK(stat(missing, &st) != 0);
    CHECK(strstr(nestdb_errmsg(NULL), "no database directory") != NULL);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/nestdb-c-durability.XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_round_trip();
    test_fsync_policies();
    test_config_text_and_config_set();
    test_save_commands();
    test_same_path_shares_engine();
    test_locked_by_another_process();
    test_corrupt_log_and_repair();
    test_torn_tail_is_cut_at_open();
    test_bad_paths();
    remove_dir(base);
    return check_finish("test_durability");
}
