/* nestdb_run_command: MongoDB database commands as Extended JSON through the C ABI —
 * inserts, queries, updates, cursors, errors as replies, and bad input (malformed JSON, wrong
 * types, invalid UTF-8, NULL pointers, huge and deeply nested documents) refused with
 * NESTDB_MISUSE and changing nothing. Runs under ASan/UBSan/LSan (tests/c/run.sh). */
#include "check.h"

/* Run a command; returns the reply text (to free) or NULL on a non-OK code (stored in *rc). */
static char *run(nestdb *db, const char *json, int *rc) {
    char *out = (char *)0x1; /* must be overwritten */
    int code = nestdb_run_command(db, json, &out);
    if (rc) *rc = code;
    if (code != NESTDB_OK) {
        CHECK(out == NULL);
        return NULL;
    }
    CHECK(out != NULL);
    return out;
}

/* 1 if the reply text contains `needle`. Frees the reply. */
static int reply_has(char *reply, const char *needle) {
    int found = reply != NULL && strstr(reply, needle) != NULL;
    if (!found) fprintf(stderr, "reply %s lacks %s\n", reply ? reply : "(null)", needle);
    nestdb_free(reply);
    return found;
}

static void crud(nestdb *db) {
    CHECK(reply_has(run(db,
                        "{\"insert\": \"users\", \"$db\": \"shop\", \"documents\": ["
                        "{\"_id\": 1, \"name\": \"Ada\", \"age\": 36, \"skills\": [\"math\", \"poetry\"],"
                        " \"joined\": {\"$date\": \"2020-01-02T03:04:05.006Z\"}},"
                        "{\"_id\": 2, \"name\": \"Bob\", \"age\": 25, \"skills\": [\"rust\"], \"orders\": [{\"amount\": 5}, {\"amount\": 50}]},"
                        "{\"_id\": {\"$oid\": \"65f0a1b2c3d4e5f601234567\"}, \"name\": \"Cy\", \"age\": {\"$numberLong\": \"41\"}}]}",
                        NULL),
                    "\"n\":3"));
    CHECK(reply_has(run(db, "{\"find\": \"users\", \"$db\": \"shop\", \"filter\": {\"age\": {\"$gt\": 30}}, \"sort\": {\"age\": -1}, \"projection\": {\"name\": 1, \"_id\": 0}}", NULL),
                    "\"firstBatch\":[{\"name\":\"Cy\"},{\"name\":\"Ada\"}]"));
    CHECK(reply_has(run(db, "{\"find\": \"users\", \"$db\": \"shop\", \"filter\": {\"orders.amount\": {\"$gte\": 50}}}", NULL), "\"name\":\"Bob\""));
    CHECK(reply_has(run(db, "{\"find\": \"users\", \"$db\": \"shop\", \"filter\": {\"_id\": 1}}", NULL), "\"joined\":{\"$date\":\"2020-01-02T03:04:05.006Z\"}"));
    CHECK(reply_has(run(db, "{\"update\": \"users\", \"$db\": \"shop\", \"updates\": [{\"q\": {\"_id\": 1}, \"u\": {\"$inc\": {\"age\": 1}, \"$push\": {\"skills\": \"chess\"}}}]}", NULL),
                    "\"nModified\":1"));
    CHECK(reply_has(run(db, "{\"count\": \"users\", \"$db\": \"shop\", \"query\": {\"skills\": \"chess\", \"age\": 37}}", NULL), "\"n\":1"));
    CHECK(reply_has(run(db, "{\"distinct\": \"users\", \"$db\": \"shop\", \"key\": \"skills\", \"query\": {\"_id\": 1}}", NULL),
                    "\"values\":[\"math\",\"poetry\",\"chess\"]"));
    CHECK(reply_has(run(db, "{\"aggregate\": \"users\", \"$db\": \"shop\", \"pipeline\": [{\"$match\": {\"age\": {\"$lt\": 40}}}, {\"$count\": \"n\"}], \"cursor\": {}}", NULL),
                    "{\"n\":2}"));
    /* Command errors are replies with MongoDB's codes, not failures. */
    CHECK(reply_has(run(db, "{\"insert\": \"users\", \"$db\": \"shop\", \"documents\": [{\"_id\": 1}]}", NULL), "\"code\":11000"));
    CHECK(reply_has(run(db, "{\"update\": \"users\", \"$db\": \"shop\", \"updates\": [{\"q\": {\"_id\": 1}, \"u\": {\"$set\": {\"_id\": 5}}}]}", NULL), "\"code\":66"));
    CHECK(reply_has(run(db, "{\"find\": \"users\", \"$db\": \"shop\", \"filter\": {\"age\": {\"$bogus\": 1}}}", NULL), "\"ok\":0.0"));
    CHECK(reply_has(run(db, "{\"find\": \"users\", \"$db\": \"shop\", \"filter\": \"not a document\"}", NULL), "\"code\":14"));
    CHECK(reply_has(run(db, "{\"frobnicate\": 1}", NULL), "\"code\":59"));
    /* The collection is a key: TYPE sees it. */
    nestdb_reply *r = cmd(db, "TYPE", "shop.users", NULL);
    CHECK(r != NULL && r->type == NESTDB_REPLY_STATUS && strcmp(r->str, "collection") == 0);
    nestdb_reply_free(r);
}

static void cursors(nestdb *db) {
    /* 300 documents, read back in batches through getMore. */
    size_t cap = 300 * 32 + 128;
    char *json = malloc(cap);
    size_t n = (size_t)snprintf(json, cap, "{\"insert\": \"many\", \"documents\": [");
    for (int i = 0; i < 300; i++) n += (size_t)snprintf(json + n, cap - n, "%s{\"_id\": %d}", i ? "," : "", i);
    snprintf(json + n, cap - n, "]}");
    CHECK(reply_has(run(db, json, NULL), "\"n\":300"));
    free(json);
    char *first = run(db, "{\"find\": \"many\", \"batchSize\": 200}", NULL);
    CHECK(first != NULL);
    const char *id_at = first ? strstr(first, "\"id\":") : NULL;
    CHECK(id_at != NULL);
    long long id = id_at ? atoll(id_at + 5) : 0;
    CHECK(id != 0);
    nestdb_free(first);
    char more[128];
    snprintf(more, sizeof more, "{\"getMore\": {\"$numberLong\": \"%lld\"}, \"collection\": \"many\"}", id);
    CHECK(reply_has(run(db, more, NULL), "{\"_id\":299}],\"id\":0"));
    CHECK(reply_has(run(db, more, NULL), "\"code\":43"));
}

static void bad_input(nestdb *db) {
    int rc = 0;
    const char *bad[] = {"", "{", "not json", "[1,2]", "\"str\"", "null", "{\"find\": \"users\",}", "{\"a\": {\"$numberLong\": \"12x\"}}",
                         "{\"$db\": 5, \"ping\": 1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(run(db, bad[i], &rc) == NULL);
        CHECK(rc == NESTDB_MISUSE);
        CHECK(strstr(nestdb_errmsg(db), "nestdb_run_command") != NULL);
    }
    /* Invalid UTF-8 inside a string. */
    CHECK(run(db, "{\"insert\": \"users\", \"documents\": [{\"name\": \"\xff\xfe\"}]}", &rc) == NULL && rc == NESTDB_MISUSE);
    /* NULL pointers. */
    char *out = (char *)0x1;
    CHECK(nestdb_run_command(NULL, "{\"ping\": 1}", &out) == NESTDB_MISUSE && out == NULL);
    CHECK(nestdb_run_command(db, NULL, &out) == NESTDB_MISUSE && out == NULL);
    CHECK(nestdb_run_command(db, "{\"ping\": 1}", NULL) == NESTDB_MISUSE);
    /* Deeply nested JSON: refused by the parser, no stack overflow. */
    size_t depth = 100000;
    char *deep = malloc(depth * 6 + 64);
    size_t n = (size_t)sprintf(deep, "{\"insert\": \"deep\", \"documents\": [");
    for (size_t i = 0; i < depth; i++) n += (size_t)sprintf(deep + n, "{\"a\":");
    n += (size_t)sprintf(deep + n, "1");
    for (size_t i = 0; i < depth; i++) deep[n++] = '}';
    sprintf(deep + n, "]}");
    CHECK(run(db, deep, &rc) == NULL && rc == NESTDB_MISUSE);
    free(deep);
    /* 101 levels of documents: parsed, refused by the engine as a write error. */
    char nested[2048];
    n = (size_t)sprintf(nested, "{\"insert\": \"deep\", \"documents\": [");
    for (int i = 0; i < 101; i++) n += (size_t)sprintf(nested + n, "{\"a\":");
    n += (size_t)sprintf(nested + n, "1");
    for (int i = 0; i < 101; i++) nested[n++] = '}';
    sprintf(nested + n, "]}");
    CHECK(reply_has(run(db, nested, NULL), "writeErrors"));
    CHECK(reply_has(run(db, "{\"count\": \"deep\"}", NULL), "\"n\":0"));
    /* A 17 MiB document: over MongoDB's 16 MiB limit, refused, nothing stored. */
    size_t big = 17u << 20;
    char *huge = malloc(big + 128);
    n = (size_t)sprintf(huge, "{\"insert\": \"big\", \"documents\": [{\"s\": \"");
    memset(huge + n, 'x', big);
    n += big;
    sprintf(huge + n, "\"}]}");
    CHECK(reply_has(run(db, huge, NULL), "\"code\":10334"));
    free(huge);
    CHECK(reply_has(run(db, "{\"count\": \"big\"}", NULL), "\"n\":0"));
}

int main(void) {
    nestdb *db = NULL;
    CHECK(nestdb_open(NULL, NULL, &db) == NESTDB_OK);
    crud(db);
    cursors(db);
    bad_input(db);
    nestdb_close(db);
    return check_finish("test_documents");
}
