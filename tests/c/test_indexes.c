/* Secondary indexes (issue 8) through the C ABI's nestdb_run_command (Extended JSON in and
 * out): createIndexes (numIndexesBefore/After), listIndexes names, dropIndexes, a unique
 * index refusing a duplicate insert and a duplicate update with code 11000 and the E11000
 * message (changing nothing), explain of an indexed equality (IXSCAN, indexName,
 * totalKeysExamined 1), a compound index serving equality + range + sort + limit with no SORT
 * stage, malformed index specifications refused with ok:0 and a code (changing nothing), and
 * index definitions surviving close and reopen of a directory-backed database (a fresh
 * directory under $TMPDIR, removed at the end). Replies are checked with strstr, as in
 * test_documents.c.
 *
 * Built and run under ASan/UBSan/LSan by tests/c/run.sh (it must be listed in C_PROGRAMS there,
 * with an EXPECT entry for "^test_indexes: [0-9]+ passed, 0 failed$"). By hand, after
 * `cargo build --release -p nestdb-ffi`:
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -fsanitize=address,undefined -Iinclude -Itests/c \
 *      tests/c/test_indexes.c -Ltarget/release -lnestdb -Wl,-rpath,target/release -o /tmp/test_indexes
 *   /tmp/test_indexes */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, nanosleep */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* Run a command; returns the reply text (to free) or NULL on a non-OK code. */
static char *run(nestdb *db, const char *json) {
    char *out = (char *)0x1; /* must be overwritten */
    int code = nestdb_run_command(db, json, &out);
    if (code != NESTDB_OK) {
        fprintf(stderr, "nestdb_run_command(%.200s) = %d: %s\n", json, code, nestdb_errmsg(db));
        CHECK(out == NULL);
        return NULL;
    }
    CHECK(out != NULL);
    return out;
}

/* 1 if the reply text contains `needle` (reported if not). Does not free. */
static int has(const char *reply, const char *needle) {
    int found = reply != NULL && strstr(reply, needle) != NULL;
    if (!found) fprintf(stderr, "reply %.2000s lacks %s\n", reply ? reply : "(null)", needle);
    return found;
}

/* 1 if the reply text does not contain `needle` (reported if it does). Does not free. */
static int lacks(const char *reply, const char *needle) {
    int absent = reply != NULL && strstr(reply, needle) == NULL;
    if (!absent) fprintf(stderr, "reply %.2000s has %s\n", reply ? reply : "(null)", needle);
    return absent;
}

/* 1 if the reply text contains `needle`. Frees the reply. */
static int reply_has(char *reply, const char *needle) {
    int found = has(reply, needle);
    nestdb_free(reply);
    return found;
}

/* The integer after the first `"key":` at or after `from` in `reply`, or -1. */
static long long int_field(const char *reply, const char *from, const char *key) {
    if (reply == NULL) return -1;
    const char *p = from ? strstr(reply, from) : reply;
    if (p == NULL) return -1;
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(p, pat);
    if (p == NULL) return -1;
    p += strlen(pat);
    if (strncmp(p, "{\"$numberLong\":\"", 16) == 0) p += 16;
    return strtoll(p, NULL, 10);
}

/* A copy (to free) of the JSON object that is the value of the first `"key":` in `reply`,
 * found by matching braces outside strings; NULL if there is none. */
static char *object_field(const char *reply, const char *key) {
    if (reply == NULL) return NULL;
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(reply, pat);
    if (p == NULL) return NULL;
    p += strlen(pat);
    if (*p != '{') return NULL;
    int depth = 0, in_str = 0;
    const char *q = p;
    for (; *q; q++) {
        if (in_str) {
            if (*q == '\\' && q[1]) q++;
            else if (*q == '"') in_str = 0;
        } else if (*q == '"') {
            in_str = 1;
        } else if (*q == '{' || *q == '[') {
            depth++;
        } else if (*q == '}' || *q == ']') {
            if (--depth == 0) break;
        }
    }
    if (*q == '\0') return NULL;
    size_t n = (size_t)(q - p) + 1;
    char *out = malloc(n + 1);
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

/* Number of (non-overlapping) occurrences of needle in s. */
static int count_of(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s ? strstr(s, needle) : NULL; p != NULL; p = strstr(p + strlen(needle), needle)) n++;
    return n;
}

/* The index names listIndexes returns for db.coll, as "name1,name2,..." into buf (empty on
 * an error reply). */
static const char *index_names(nestdb *db, const char *dbname, const char *coll, char *buf, size_t cap) {
    char c[256];
    snprintf(c, sizeof c, "{\"listIndexes\": \"%s\", \"$db\": \"%s\", \"cursor\": {}}", coll, dbname);
    char *r = run(db, c);
    buf[0] = '\0';
    size_t n = 0;
    if (r != NULL && strstr(r, "\"ok\":1") != NULL) {
        for (const char *p = strstr(r, "\"name\":\""); p != NULL; p = strstr(p, "\"name\":\"")) {
            p += 8;
            const char *e = strchr(p, '"');
            if (e == NULL) break;
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%.*s", n ? "," : "", (int)(e - p), p);
            if (n >= cap) break;
        }
    }
    nestdb_free(r);
    return buf;
}

static int names_are(nestdb *db, const char *dbname, const char *coll, const char *expected) {
    char buf[1024];
    index_names(db, dbname, coll, buf, sizeof buf);
    if (strcmp(buf, expected) != 0) {
        fprintf(stderr, "listIndexes %s.%s: [%s], expected [%s]\n", dbname, coll, buf, expected);
        return 0;
    }
    return 1;
}

static long long count_docs(nestdb *db, const char *dbname, const char *coll, const char *query) {
    char c[512];
    snprintf(c, sizeof c, "{\"count\": \"%s\", \"$db\": \"%s\", \"query\": %s}", coll, dbname, query);
    char *r = run(db, c);
    long long n = has(r, "\"ok\":1") ? int_field(r, NULL, "n") : -1;
    nestdb_free(r);
    return n;
}

/* --- definitions: createIndexes, listIndexes, dropIndexes ------------------------------ */

static void create_list_drop(nestdb *db) {
    CHECK(reply_has(run(db, "{\"insert\": \"people\", \"$db\": \"ix\", \"documents\": ["
                            "{\"_id\": 1, \"email\": \"ada@x\", \"age\": 36}, {\"_id\": 2, \"email\": \"bob@x\", \"age\": 25},"
                            "{\"_id\": 3, \"email\": \"cy@x\", \"age\": 41}]}"),
                    "\"n\":3"));
    /* Two indexes at once on an existing collection: 1 (the _id index) before, 3 after. */
    char *r = run(db, "{\"createIndexes\": \"people\", \"$db\": \"ix\", \"indexes\": ["
                      "{\"key\": {\"email\": 1}, \"name\": \"email_1\", \"unique\": true},"
                      "{\"key\": {\"age\": -1, \"email\": 1}, \"name\": \"age_-1_email_1\"}]}");
    CHECK(has(r, "\"ok\":1"));
    CHECK(int_field(r, NULL, "numIndexesBefore") == 1);
    CHECK(int_field(r, NULL, "numIndexesAfter") == 3);
    CHECK(has(r, "\"createdCollectionAutomatically\":false"));
    nestdb_free(r);
    /* The same again: nothing to do, the counts unchanged. */
    r = run(db, "{\"createIndexes\": \"people\", \"$db\": \"ix\", \"indexes\": [{\"key\": {\"email\": 1}, \"name\": \"email_1\", \"unique\": true}]}");
    CHECK(has(r, "\"ok\":1"));
    CHECK(int_field(r, NULL, "numIndexesBefore") == 3 && int_field(r, NULL, "numIndexesAfter") == 3);
    CHECK(has(r, "all indexes already exist"));
    nestdb_free(r);
    /* A name taken by another key, a key taken under another name: conflicts, nothing added. */
    CHECK(reply_has(run(db, "{\"createIndexes\": \"people\", \"$db\": \"ix\", \"indexes\": [{\"key\": {\"age\": 1}, \"name\": \"email_1\"}]}"), "\"code\":86"));
    CHECK(reply_has(run(db, "{\"createIndexes\": \"people\", \"$db\": \"ix\", \"indexes\": [{\"key\": {\"email\": 1}, \"name\": \"other\", \"unique\": true}]}"), "\"code\":85"));
    /* On a collection that does not exist yet: created with it, default name a_1. */
    r = run(db, "{\"createIndexes\": \"fresh\", \"$db\": \"ix\", \"indexes\": [{\"key\": {\"a\": 1}}]}");
    CHECK(has(r, "\"ok\":1"));
    CHECK(int_field(r, NULL, "numIndexesBefore") == 1 && int_field(r, NULL, "numIndexesAfter") == 2);
    CHECK(has(r, "\"createdCollectionAutomatically\":true"));
    nestdb_free(r);
    CHECK(names_are(db, "ix", "fresh", "_id_,a_1"));

    /* listIndexes: the _id index first, then in creation order, with their keys and options. */
    CHECK(names_are(db, "ix", "people", "_id_,email_1,age_-1_email_1"));
    r = run(db, "{\"listIndexes\": \"people\", \"$db\": \"ix\", \"cursor\": {}}");
    CHECK(has(r, "{\"v\":2,\"key\":{\"_id\":1},\"name\":\"_id_\"}"));
    CHECK(has(r, "\"key\":{\"email\":1},\"name\":\"email_1\",\"unique\":true"));
    CHECK(has(r, "\"key\":{\"age\":-1,\"email\":1}"));
    CHECK(has(r, "\"ns\":\"ix.people\""));
    nestdb_free(r);
    CHECK(reply_has(run(db, "{\"listIndexes\": \"missing\", \"$db\": \"ix\", \"cursor\": {}}"), "\"code\":26"));

    /* dropIndexes: by name, by key pattern; not the _id index, not an unknown one. */
    r = run(db, "{\"dropIndexes\": \"people\", \"$db\": \"ix\", \"index\": \"age_-1_email_1\"}");
    CHECK(has(r, "\"ok\":1") && int_field(r, NULL, "nIndexesWas") == 3);
    nestdb_free(r);
    CHECK(names_are(db, "ix", "people", "_id_,email_1"));
    CHECK(reply_has(run(db, "{\"dropIndexes\": \"people\", \"$db\": \"ix\", \"index\": \"_id_\"}"), "\"code\":72"));
    CHECK(reply_has(run(db, "{\"dropIndexes\": \"people\", \"$db\": \"ix\", \"index\": \"nope\"}"), "\"code\":27"));
    CHECK(names_are(db, "ix", "people", "_id_,email_1"));
    /* After the drop a query on age scans the collection. */
    r = run(db, "{\"explain\": {\"find\": \"people\", \"filter\": {\"age\": 25}}, \"$db\": \"ix\", \"verbosity\": \"executionStats\"}");
    char *plan = object_field(r, "winningPlan");
    CHECK(has(plan, "\"stage\":\"COLLSCAN\""));
    CHECK(lacks(plan, "IXSCAN"));
    CHECK(int_field(r, "\"executionStats\"", "totalDocsExamined") == 3);
    free(plan);
    nestdb_free(r);
    r = run(db, "{\"dropIndexes\": \"fresh\", \"$db\": \"ix\", \"index\": {\"a\": 1}}");
    CHECK(has(r, "\"ok\":1") && int_field(r, NULL, "nIndexesWas") == 2);
    nestdb_free(r);
    CHECK(names_are(db, "ix", "fresh", "_id_"));
    /* "*" drops every index but _id's. */
    CHECK(reply_has(run(db, "{\"createIndexes\": \"fresh\", \"$db\": \"ix\", \"indexes\": [{\"key\": {\"b\": 1}, \"name\": \"b_1\"}, {\"key\": {\"c\": 1}, \"name\": \"c_1\"}]}"),
                    "\"numIndexesAfter\":3"));
    CHECK(reply_has(run(db, "{\"dropIndexes\": \"fresh\", \"$db\": \"ix\", \"index\": \"*\"}"), "\"ok\":1"));
    CHECK(names_are(db, "ix", "fresh", "_id_"));
}

/* --- unique indexes ------------------------------------------------------------------- */

static void unique_index(nestdb *db) {
    /* email_1 (unique) on ix.people holds ada@x, bob@x, cy@x (create_list_drop). */
    char *r = run(db, "{\"insert\": \"people\", \"$db\": \"ix\", \"documents\": [{\"_id\": 4, \"email\": \"bob@x\", \"age\": 50}]}");
    CHECK(has(r, "\"n\":0"));
    CHECK(has(r, "\"writeErrors\""));
    CHECK(has(r, "\"code\":11000"));
    CHECK(has(r, "E11000 duplicate key error collection: ix.people index: email_1 dup key: { email: \\\"bob@x\\\" }"));
    CHECK(has(r, "\"keyPattern\":{\"email\":1}"));
    CHECK(has(r, "\"keyValue\":{\"email\":\"bob@x\"}"));
    nestdb_free(r);
    /* Nothing inserted. */
    CHECK(count_docs(db, "ix", "people", "{}") == 3);
    CHECK(count_docs(db, "ix", "people", "{\"_id\": 4}") == 0);
    CHECK(count_docs(db, "ix", "people", "{\"email\": \"bob@x\"}") == 1);

    /* An ordered batch stops at the duplicate: the documents before it are in, none after. */
    r = run(db, "{\"insert\": \"people\", \"$db\": \"ix\", \"documents\": ["
                "{\"_id\": 5, \"email\": \"dee@x\"}, {\"_id\": 6, \"email\": \"ada@x\"}, {\"_id\": 7, \"email\": \"eve@x\"}]}");
    CHECK(has(r, "\"n\":1"));
    CHECK(has(r, "\"index\":1"));
    CHECK(has(r, "\"code\":11000"));
    nestdb_free(r);
    CHECK(count_docs(db, "ix", "people", "{\"_id\": {\"$in\": [5, 6, 7]}}") == 1);
    CHECK(count_docs(db, "ix", "people", "{\"email\": \"eve@x\"}") == 0);
    /* Unordered: every other document goes in. */
    r = run(db, "{\"insert\": \"people\", \"$db\": \"ix\", \"ordered\": false, \"documents\": ["
                "{\"_id\": 8, \"email\": \"ada@x\"}, {\"_id\": 9, \"email\": \"fay@x\"}]}");
    CHECK(has(r, "\"n\":1") && has(r, "\"code\":11000"));
    nestdb_free(r);
    CHECK(count_docs(db, "ix", "people", "{}") == 5);

    /* An update to a taken value is refused and leaves the document as it was. */
    r = run(db, "{\"update\": \"people\", \"$db\": \"ix\", \"updates\": [{\"q\": {\"_id\": 2}, \"u\": {\"$set\": {\"email\": \"ada@x\", \"age\": 99}}}]}");
    CHECK(has(r, "\"code\":11000"));
    CHECK(has(r, "E11000 duplicate key error collection: ix.people index: email_1 dup key: { email: \\\"ada@x\\\" }"));
    CHECK(has(r, "\"nModified\":0"));
    nestdb_free(r);
    CHECK(reply_has(run(db, "{\"find\": \"people\", \"$db\": \"ix\", \"filter\": {\"_id\": 2}}"),
                    "\"firstBatch\":[{\"_id\":2,\"email\":\"bob@x\",\"age\":25}]"));
    /* A replacement and an upsert to a taken value: refused too. */
    CHECK(reply_has(run(db, "{\"update\": \"people\", \"$db\": \"ix\", \"updates\": [{\"q\": {\"_id\": 3}, \"u\": {\"email\": \"bob@x\"}}]}"),
                    "\"code\":11000"));
    CHECK(reply_has(run(db, "{\"update\": \"people\", \"$db\": \"ix\", \"updates\": [{\"q\": {\"_id\": 77}, \"u\": {\"$set\": {\"email\": \"cy@x\"}}, \"upsert\": true}]}"),
                    "\"code\":11000"));
    CHECK(count_docs(db, "ix", "people", "{\"_id\": {\"$in\": [3, 77]}, \"email\": {\"$in\": [\"bob@x\", \"cy@x\"]}}") == 1);
    CHECK(count_docs(db, "ix", "people", "{}") == 5);
    /* The index still finds each document by its old key. */
    CHECK(reply_has(run(db, "{\"find\": \"people\", \"$db\": \"ix\", \"filter\": {\"email\": \"bob@x\"}, \"projection\": {\"_id\": 1}}"),
                    "\"firstBatch\":[{\"_id\":2}]"));
    /* An update to a free value moves the key: the old one is free again. */
    CHECK(reply_has(run(db, "{\"update\": \"people\", \"$db\": \"ix\", \"updates\": [{\"q\": {\"_id\": 2}, \"u\": {\"$set\": {\"email\": \"bobby@x\"}}}]}"),
                    "\"nModified\":1"));
    CHECK(reply_has(run(db, "{\"insert\": \"people\", \"$db\": \"ix\", \"documents\": [{\"_id\": 10, \"email\": \"bob@x\"}]}"), "\"n\":1"));
    CHECK(count_docs(db, "ix", "people", "{\"email\": {\"$in\": [\"bob@x\", \"bobby@x\"]}}") == 2);

    /* A unique index cannot be built over duplicates, and none is left behind. */
    CHECK(reply_has(run(db, "{\"insert\": \"dups\", \"$db\": \"ix\", \"documents\": [{\"v\": 1}, {\"v\": 1}]}"), "\"n\":2"));
    CHECK(reply_has(run(db, "{\"createIndexes\": \"dups\", \"$db\": \"ix\", \"indexes\": [{\"key\": {\"v\": 1}, \"name\": \"v_1\", \"unique\": true}]}"),
                    "\"code\":11000"));
    CHECK(names_are(db, "ix", "dups", "_id_"));
}

/* --- the planner and explain ------------------------------------------------------------ */

#define N_EVENTS 1000
#define DAY_MS 86400000LL
#define T0_MS 1577836800000LL /* 2020-01-01T00:00:00Z */

static void explain_plans(nestdb *db) {
    /* 1000 events: _id i, user u<i>@x, city c<i % 5>, created_at T0 + i days. */
    size_t cap = N_EVENTS * 160 + 128;
    char *json = malloc(cap);
    size_t n = (size_t)snprintf(json, cap, "{\"insert\": \"events\", \"$db\": \"ix\", \"documents\": [");
    for (int i = 0; i < N_EVENTS; i++) {
        n += (size_t)snprintf(json + n, cap - n, "%s{\"_id\": %d, \"user\": \"u%d@x\", \"city\": \"c%d\", \"created_at\": {\"$date\": {\"$numberLong\": \"%lld\"}}}",
                              i ? "," : "", i, i, i % 5, T0_MS + i * DAY_MS);
    }
    snprintf(json + n, cap - n, "]}");
    CHECK(reply_has(run(db, json), "\"n\":1000"));
    free(json);
    char *r = run(db, "{\"createIndexes\": \"events\", \"$db\": \"ix\", \"indexes\": ["
                      "{\"key\": {\"user\": 1}, \"name\": \"user_1\", \"unique\": true},"
                      "{\"key\": {\"city\": 1, \"created_at\": -1}, \"name\": \"city_1_created_at_-1\"}]}");
    CHECK(has(r, "\"ok\":1") && int_field(r, NULL, "numIndexesAfter") == 3);
    nestdb_free(r);

    /* An indexed equality: FETCH over IXSCAN of user_1, one key, one document. */
    r = run(db, "{\"explain\": {\"find\": \"events\", \"filter\": {\"user\": \"u500@x\"}}, \"$db\": \"ix\", \"verbosity\": \"executionStats\"}");
    CHECK(has(r, "\"ok\":1"));
    char *plan = object_field(r, "winningPlan");
    CHECK(has(plan, "\"stage\":\"FETCH\""));
    CHECK(has(plan, "\"stage\":\"IXSCAN\""));
    CHECK(has(plan, "\"indexName\":\"user_1\""));
    CHECK(has(plan, "\"keyPattern\":{\"user\":1}"));
    CHECK(has(plan, "\"indexBounds\":{\"user\":[\"[\\\"u500@x\\\", \\\"u500@x\\\"]\"]}"));
    CHECK(lacks(plan, "COLLSCAN"));
    free(plan);
    CHECK(has(r, "\"rejectedPlans\":["));
    CHECK(int_field(r, "\"executionStats\"", "nReturned") == 1);
    CHECK(int_field(r, "\"executionStats\"", "totalKeysExamined") == 1);
    CHECK(int_field(r, "\"executionStats\"", "totalDocsExamined") == 1);
    CHECK(int_field(r, "\"executionStats\"", "executionTimeMillis") >= 0);
    nestdb_free(r);
    /* The default verbosity (allPlansExecution) runs the query too. */
    r = run(db, "{\"explain\": {\"find\": \"events\", \"filter\": {\"user\": \"u7@x\"}}, \"$db\": \"ix\"}");
    CHECK(has(r, "\"indexName\":\"user_1\""));
    CHECK(int_field(r, "\"executionStats\"", "totalKeysExamined") == 1);
    nestdb_free(r);
    /* queryPlanner verbosity: the plan, no executionStats. */
    r = run(db, "{\"explain\": {\"find\": \"events\", \"filter\": {\"user\": \"u7@x\"}}, \"$db\": \"ix\", \"verbosity\": \"queryPlanner\"}");
    CHECK(has(r, "\"indexName\":\"user_1\""));
    CHECK(lacks(r, "executionStats"));
    nestdb_free(r);
    /* A missing key: one key examined at most, nothing returned. */
    r = run(db, "{\"explain\": {\"find\": \"events\", \"filter\": {\"user\": \"nobody\"}}, \"$db\": \"ix\", \"verbosity\": \"executionStats\"}");
    CHECK(int_field(r, "\"executionStats\"", "nReturned") == 0);
    CHECK(int_field(r, "\"executionStats\"", "totalKeysExamined") <= 1);
    CHECK(int_field(r, "\"executionStats\"", "totalDocsExamined") == 0);
    nestdb_free(r);

    /* Equality + range + sort + limit served by the compound index: no SORT stage, keys
     * examined within one of the documents returned. city c3 with created_at >= day 100:
     * _ids 103, 108, ... 998; newest first, 20 of them: 998 down to 903. */
    const char *compound = "{\"find\": \"events\", \"filter\": {\"city\": \"c3\", \"created_at\": {\"$gte\": {\"$date\": {\"$numberLong\": \"1586476800000\"}}}},"
                           " \"sort\": {\"created_at\": -1}, \"limit\": 20}";
    char buf[1024];
    snprintf(buf, sizeof buf, "{\"explain\": %s, \"$db\": \"ix\", \"verbosity\": \"executionStats\"}", compound);
    r = run(db, buf);
    CHECK(has(r, "\"ok\":1"));
    plan = object_field(r, "winningPlan");
    CHECK(has(plan, "\"stage\":\"IXSCAN\""));
    CHECK(has(plan, "\"indexName\":\"city_1_created_at_-1\""));
    CHECK(lacks(plan, "\"stage\":\"SORT\""));
    CHECK(lacks(plan, "COLLSCAN"));
    CHECK(plan != NULL && (strstr(plan, "\"limitAmount\":20") != NULL || strstr(plan, "\"stage\":\"LIMIT\"") != NULL));
    free(plan);
    long long returned = int_field(r, "\"executionStats\"", "nReturned");
    long long keys = int_field(r, "\"executionStats\"", "totalKeysExamined");
    long long docs = int_field(r, "\"executionStats\"", "totalDocsExamined");
    CHECK(returned == 20);
    CHECK(keys >= 20 && keys <= 21);
    CHECK(docs >= 20 && docs <= 21);
    if (returned != 20 || keys > 21 || docs > 21) fprintf(stderr, "compound explain: %.3000s\n", r ? r : "(null)");
    nestdb_free(r);
    snprintf(buf, sizeof buf, "%.*s, \"$db\": \"ix\", \"projection\": {\"_id\": 1}}", (int)strlen(compound) - 1, compound);
    r = run(db, buf);
    CHECK(has(r, "\"firstBatch\":[{\"_id\":998},{\"_id\":993},{\"_id\":988}"));
    CHECK(has(r, "{\"_id\":908},{\"_id\":903}]"));
    CHECK(count_of(r, "\"_id\":") == 20);
    nestdb_free(r);
    /* The same answer without the index ($natural hint: a collection scan and a sort). */
    snprintf(buf, sizeof buf, "%.*s, \"$db\": \"ix\", \"projection\": {\"_id\": 1}, \"hint\": {\"$natural\": 1}}", (int)strlen(compound) - 1, compound);
    r = run(db, buf);
    CHECK(has(r, "\"firstBatch\":[{\"_id\":998},{\"_id\":993},{\"_id\":988}"));
    CHECK(has(r, "{\"_id\":908},{\"_id\":903}]"));
    nestdb_free(r);
    /* A sort no index gives (created_at then user): a SORT stage, and the same answer as a
     * collection scan. */
    r = run(db, "{\"explain\": {\"find\": \"events\", \"filter\": {\"city\": \"c3\"}, \"sort\": {\"created_at\": 1, \"user\": 1}, \"limit\": 5}, \"$db\": \"ix\", \"verbosity\": \"executionStats\"}");
    plan = object_field(r, "winningPlan");
    CHECK(has(plan, "\"stage\":\"SORT\""));
    free(plan);
    CHECK(int_field(r, "\"executionStats\"", "nReturned") == 5);
    nestdb_free(r);
    CHECK(reply_has(run(db, "{\"find\": \"events\", \"$db\": \"ix\", \"filter\": {\"city\": \"c3\"}, \"sort\": {\"created_at\": 1, \"user\": 1}, \"limit\": 3, \"projection\": {\"_id\": 1}}"),
                    "\"firstBatch\":[{\"_id\":3},{\"_id\":8},{\"_id\":13}]"));
    /* Descending index field, ascending sort: the index read backwards, no SORT. */
    r = run(db, "{\"explain\": {\"find\": \"events\", \"filter\": {\"city\": \"c1\"}, \"sort\": {\"created_at\": 1}, \"limit\": 5}, \"$db\": \"ix\", \"verbosity\": \"executionStats\"}");
    plan = object_field(r, "winningPlan");
    CHECK(has(plan, "\"indexName\":\"city_1_created_at_-1\""));
    CHECK(lacks(plan, "\"stage\":\"SORT\""));
    free(plan);
    CHECK(int_field(r, "\"executionStats\"", "totalKeysExamined") <= 6);
    nestdb_free(r);
}

/* --- malformed index specifications ----------------------------------------------------- */

static void bad_specs(nestdb *db) {
    CHECK(reply_has(run(db, "{\"insert\": \"specs\", \"$db\": \"ix\", \"documents\": [{\"_id\": 1, \"a\": 1}]}"), "\"n\":1"));
    CHECK(reply_has(run(db, "{\"createIndexes\": \"specs\", \"$db\": \"ix\", \"indexes\": [{\"key\": {\"a\": 1}, \"name\": \"a_1\"}]}"), "\"ok\":1"));
    struct {
        const char *indexes;
        const char *code;
    } bad[] = {
        {"[{\"key\": {}, \"name\": \"x\"}]", "\"code\":67"},                                   /* empty key */
        {"[{\"key\": {\"b\": 0}, \"name\": \"x\"}]", "\"code\":67"},                           /* key value 0 */
        {"[{\"key\": {\"b\": 1}, \"name\": \"x\", \"bogus\": 1}]", "\"code\":197"},            /* unknown option */
        {"[{\"key\": \"b\", \"name\": \"x\"}]", "\"code\":14"},                                /* key not an object */
        {"[{\"key\": [1], \"name\": \"x\"}]", "\"code\":14"},                                  /* key an array */
        {"[{\"name\": \"x\"}]", "\"code\":9"},                                                /* no key */
        {"[{\"key\": {\"b\": \"2dsphere\"}, \"name\": \"x\"}]", "\"code\":67"},                /* unsupported kind */
        {"[{\"key\": {\"b\": true}, \"name\": \"x\"}]", "\"code\":67"},                        /* a boolean direction */
        {"[{\"key\": {\"b\": 1, \"c\": 1}, \"name\": \"x\", \"expireAfterSeconds\": 5}]", "\"code\":67"}, /* compound TTL */
        {"[{\"key\": {\"b\": 1}, \"name\": \"\"}]", "\"code\":67"},                            /* empty name */
        {"[{\"key\": {\"b\": 1}, \"name\": \"x\", \"unique\": \"yes\"}]", "\"code\":14"},       /* unique not a boolean */
        /* A good spec before a bad one: the whole command is refused, x is not created. */
        {"[{\"key\": {\"b\": 1}, \"name\": \"x\"}, {\"key\": {}, \"name\": \"y\"}]", "\"code\":67"},
        {"[{\"key\": {\"b\": 1}, \"name\": \"x\"}, {\"key\": {\"c\": 1}, \"name\": \"y\", \"bogus\": true}]", "\"code\":197"},
    };
    char c[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(c, sizeof c, "{\"createIndexes\": \"specs\", \"$db\": \"ix\", \"indexes\": %s}", bad[i].indexes);
        char *r = run(db, c);
        int ok = has(r, "\"ok\":0") && has(r, bad[i].code) && has(r, "\"errmsg\":\"") && has(r, "\"codeName\":\"");
        if (!ok) fprintf(stderr, "  (spec %zu: %s)\n", i, bad[i].indexes);
        CHECK(ok);
        nestdb_free(r);
        /* Nothing changed: the same indexes, the same documents. */
        CHECK(names_are(db, "ix", "specs", "_id_,a_1"));
    }
    CHECK(count_docs(db, "ix", "specs", "{}") == 1);
    /* indexes itself malformed. */
    CHECK(reply_has(run(db, "{\"createIndexes\": \"specs\", \"$db\": \"ix\", \"indexes\": []}"), "\"ok\":0"));
    CHECK(reply_has(run(db, "{\"createIndexes\": \"specs\", \"$db\": \"ix\", \"indexes\": {\"key\": {\"b\": 1}}}"), "\"ok\":0"));
    CHECK(reply_has(run(db, "{\"createIndexes\": \"specs\", \"$db\": \"ix\"}"), "\"ok\":0"));
    /* A spec refused on a missing collection does not create the collection. */
    CHECK(reply_has(run(db, "{\"createIndexes\": \"ghost\", \"$db\": \"ix\", \"indexes\": [{\"key\": {\"b\": 0}, \"name\": \"x\"}]}"), "\"code\":67"));
    CHECK(reply_has(run(db, "{\"listIndexes\": \"ghost\", \"$db\": \"ix\", \"cursor\": {}}"), "\"code\":26"));
    CHECK(names_are(db, "ix", "specs", "_id_,a_1"));
}

/* --- persistence ------------------------------------------------------------------------- */

static char base[4096];

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

/* Wait until the database at `path` is closed for real (as in test_durability.c: repairing a
 * sound database changes nothing and succeeds only once nobody holds its lock), up to 5 s. */
static int wait_closed(const char *path) {
    for (int i = 0; i < 500; i++) {
        int rc = nestdb_repair(path, NULL);
        if (rc != NESTDB_LOCKED) return rc == NESTDB_OK;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static nestdb *open_dir(const char *path, const char *config) {
    nestdb *db = NULL;
    int rc = nestdb_open(path, config, &db);
    if (rc != NESTDB_OK) {
        fprintf(stderr, "nestdb_open(%s) failed: %s: %s\n", path, nestdb_errstr(rc), nestdb_errmsg(NULL));
        exit(2);
    }
    return db;
}

/* What a reopened database must still do with shop.users' indexes. */
static void check_reopened(nestdb *db, int round) {
    int names_ok = names_are(db, "shop", "users", "_id_,email_1,city_1_age_-1,seen_1");
    if (!names_ok) fprintf(stderr, "  (round %d)\n", round);
    CHECK(names_ok);
    char *r = run(db, "{\"listIndexes\": \"users\", \"$db\": \"shop\", \"cursor\": {}}");
    CHECK(has(r, "\"key\":{\"email\":1},\"name\":\"email_1\",\"unique\":true"));
    CHECK(has(r, "\"key\":{\"city\":1,\"age\":-1}"));
    CHECK(has(r, "\"expireAfterSeconds\":86400"));
    CHECK(lacks(r, "tmp_1"));
    nestdb_free(r);
    /* The unique index is enforced, and used. */
    r = run(db, "{\"insert\": \"users\", \"$db\": \"shop\", \"documents\": [{\"email\": \"u7@shop\"}]}");
    CHECK(has(r, "\"code\":11000") && has(r, "index: email_1"));
    nestdb_free(r);
    CHECK(count_docs(db, "shop", "users", "{}") == 100);
    r = run(db, "{\"explain\": {\"find\": \"users\", \"filter\": {\"email\": \"u42@shop\"}}, \"$db\": \"shop\", \"verbosity\": \"executionStats\"}");
    CHECK(has(r, "\"indexName\":\"email_1\""));
    CHECK(int_field(r, "\"executionStats\"", "totalKeysExamined") == 1);
    CHECK(int_field(r, "\"executionStats\"", "totalDocsExamined") == 1);
    nestdb_free(r);
    r = run(db, "{\"explain\": {\"find\": \"users\", \"filter\": {\"city\": \"c2\"}, \"sort\": {\"age\": -1}, \"limit\": 3}, \"$db\": \"shop\", \"verbosity\": \"executionStats\"}");
    char *plan = object_field(r, "winningPlan");
    CHECK(has(plan, "\"indexName\":\"city_1_age_-1\""));
    CHECK(lacks(plan, "\"stage\":\"SORT\""));
    free(plan);
    CHECK(int_field(r, "\"executionStats\"", "nReturned") == 3);
    nestdb_free(r);
    /* The index contents were rebuilt/recovered too: the answer is right. */
    CHECK(reply_has(run(db, "{\"find\": \"users\", \"$db\": \"shop\", \"filter\": {\"city\": \"c2\"}, \"sort\": {\"age\": -1}, \"limit\": 2, \"projection\": {\"_id\": 0, \"email\": 1}}"),
                    "\"firstBatch\":[{\"email\":\"u97@shop\"},{\"email\":\"u92@shop\"}]"));
}

static void persisted(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/nestdb-c-indexes.XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        CHECK(0);
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/db", base);
    nestdb *db = open_dir(path, "appendfsync always");
    char json[16384];
    size_t n = (size_t)snprintf(json, sizeof json, "{\"insert\": \"users\", \"$db\": \"shop\", \"documents\": [");
    for (int i = 0; i < 100; i++) {
        n += (size_t)snprintf(json + n, sizeof json - n, "%s{\"_id\": %d, \"email\": \"u%d@shop\", \"city\": \"c%d\", \"age\": %d}", i ? "," : "", i, i,
                              i % 5, 18 + i / 5);
    }
    snprintf(json + n, sizeof json - n, "]}");
    CHECK(reply_has(run(db, json), "\"n\":100"));
    char *r = run(db, "{\"createIndexes\": \"users\", \"$db\": \"shop\", \"indexes\": ["
                      "{\"key\": {\"email\": 1}, \"name\": \"email_1\", \"unique\": true},"
                      "{\"key\": {\"city\": 1, \"age\": -1}, \"name\": \"city_1_age_-1\"},"
                      "{\"key\": {\"tmp\": 1}, \"name\": \"tmp_1\"}]}");
    CHECK(has(r, "\"ok\":1") && int_field(r, NULL, "numIndexesAfter") == 4);
    nestdb_free(r);
    CHECK(reply_has(run(db, "{\"dropIndexes\": \"users\", \"$db\": \"shop\", \"index\": \"tmp_1\"}"), "\"ok\":1"));
    CHECK(reply_has(run(db, "{\"createIndexes\": \"users\", \"$db\": \"shop\", \"indexes\": [{\"key\": {\"seen\": 1}, \"name\": \"seen_1\", \"expireAfterSeconds\": 86400}]}"),
                    "\"numIndexesAfter\":4"));
    check_reopened(db, 0);
    nestdb_close(db);
    CHECK(wait_closed(path));

    /* Reopened from the log; then again after a snapshot (SAVE) replaced it. */
    for (int round = 1; round <= 2; round++) {
        db = open_dir(path, NULL);
        check_reopened(db, round);
        if (round == 1) EXPECT_STATUS(cmd(db, "SAVE", NULL), "OK");
        nestdb_close(db);
        CHECK(wait_closed(path));
    }
    remove_dir(base);
}

int main(void) {
    nestdb *db = NULL;
    CHECK(nestdb_open(NULL, NULL, &db) == NESTDB_OK);
    create_list_drop(db);
    unique_index(db);
    explain_plans(db);
    bad_specs(db);
    nestdb_close(db);
    persisted();
    return check_finish("test_indexes");
}
