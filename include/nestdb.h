/*
 * nestdb.h -- the C interface of nestdb, an embedded database with Redis's data structures
 * (strings, hashes, lists, sets, sorted sets, TTLs, MULTI/EXEC) and Redis's replies and error
 * texts, linked into your program: no server.
 *
 *     #include <nestdb.h>
 *
 *     nestdb *db;
 *     if (nestdb_open(NULL, NULL, &db) != NESTDB_OK) {
 *         fprintf(stderr, "nestdb: %s\n", nestdb_errmsg(NULL));
 *         return 1;
 *     }
 *     const char *set[] = {"SET", "greeting", "hello"};
 *     nestdb_reply *r = nestdb_command_argv(db, 3, set, NULL);
 *     if (r == NULL)                            // the call could not run
 *         fprintf(stderr, "nestdb: %s\n", nestdb_errmsg(db));
 *     else if (r->type == NESTDB_REPLY_ERROR)   // the command ran and failed
 *         fprintf(stderr, "%s\n", r->str);
 *     nestdb_reply_free(r);
 *     nestdb_close(db);
 *
 * Build:  cc app.c $(pkg-config --cflags --libs nestdb)
 * Static: cc app.c $(pkg-config --cflags nestdb) $(pkg-config --variable=libdir nestdb)/libnestdb.a -lpthread -ldl -lm
 *
 * If you know hiredis you know this API: a handle (nestdb *, like redisContext), a reply tree
 * (nestdb_reply, like redisReply) and one call to free it. The conventions below hold for
 * every function; each declaration then documents its own parameters, results and errors.
 *
 * ERRORS
 *   A command that runs and fails (unknown command, wrong number of arguments, WRONGTYPE,
 *   syntax error, ...) is an ordinary reply of type NESTDB_REPLY_ERROR whose str is Redis's
 *   error text, prefix included ("ERR ...", "WRONGTYPE ..."), exactly as redis-server sends it.
 *   A call that cannot run at all (a NULL pointer where one is required, argc < 1, a database
 *   that cannot be opened or is locked by another process, a bad config line, out of memory)
 *   returns a result code other than NESTDB_OK -- or NULL, for a function that returns a
 *   pointer -- and records a message:
 *     nestdb_errstr(code)  the code's English name (static);
 *     nestdb_errmsg(db)    the detailed message of the calling thread's last failed call on db;
 *     nestdb_errmsg(NULL)  the same for calls made without a usable handle (nestdb_open(),
 *                          nestdb_repair(), or any call given a NULL db).
 *   Result codes are small integers and new ones may be added: treat any value other than
 *   NESTDB_OK as a failure. No function ever aborts the process or unwinds into your code: a
 *   bug inside the library is caught and reported as NESTDB_INTERNAL or as an error reply
 *   starting with "ERR internal error".
 *
 * OWNERSHIP
 *   What the library returns to you, you own until you give it back with the matching call,
 *   which also accepts NULL:
 *     nestdb *           nestdb_close()
 *     nestdb_reply *     nestdb_reply_free()  (the root only: it frees the whole tree)
 *     char * outputs     nestdb_free()        (memory the library allocates for you, such
 *                                             as the report of nestdb_repair())
 *   Strings returned as const char * (nestdb_errmsg(), nestdb_errstr(), nestdb_libversion())
 *   are lent by the library and never freed by you. The library never keeps a pointer you
 *   pass it: paths, config text and command arguments are read during the call only.
 *
 * LIFETIMES OF BORROWED POINTERS
 *   reply->str, reply->element and everything below them: until nestdb_reply_free(root).
 *   nestdb_errmsg(db): until the calling thread's next failed call on db, or nestdb_close(db).
 *   nestdb_errmsg(NULL): until the calling thread's next failed call without a handle.
 *   nestdb_errstr(), nestdb_libversion(): static, valid forever.
 *   A reply does not depend on its handle: it stays valid after nestdb_close().
 *
 * PARAMETERS AND OUTPUTS
 *   Inputs come before outputs. Every pointer parameter is checked: NULL where one is
 *   required gives NESTDB_MISUSE (or NULL) with a message, never a crash. A function with a
 *   result code writes its outputs only when it returns NESTDB_OK, except that a pointer
 *   output (nestdb **out_db) is set to NULL on failure, so it never holds a stale value.
 *   Pointers the library cannot check -- dangling pointers, argv shorter than argc, strings
 *   without their NUL -- are undefined behaviour, as everywhere in C.
 *
 * THREADS
 *   The library is thread-safe and one handle may be used from many threads at once with no
 *   locking on your side. Every command is atomic; commands on different keys, and reads of
 *   the same keys, run in parallel. Replies may be read and freed on any thread.
 *   Transaction state (MULTI ... EXEC/DISCARD, WATCH) belongs to the handle, as it belongs to
 *   a connection in hiredis: after MULTI, every command sent on that handle, from any thread,
 *   is queued until EXEC. Threads that run transactions concurrently should each use their
 *   own handle on the database: nestdb_open_session().
 *   Closing a handle while another thread uses it, or using it after nestdb_close(), is
 *   undefined behaviour. Closing distinct handles (also from different threads) and
 *   nestdb_close(NULL) are safe.
 *
 * DATABASE FILES
 *   nestdb_open(path, ...) with a path (not NULL/":memory:") opens or creates a database
 *   directory: an append-only log of every write command plus snapshots, like Redis's AOF and
 *   RDB. The config text sets when the log reaches the disk ("appendfsync always|everysec|no")
 *   and when snapshots are taken ("save", "auto-aof-rewrite-*"); SAVE, BGSAVE, BGREWRITEAOF,
 *   LASTSAVE, INFO persistence and CONFIG SET/GET work as in Redis through
 *   nestdb_command_argv(), and nestdb_sync() makes everything written so far durable.
 *   One process at a time may have a directory open (NESTDB_LOCKED names the holder's pid);
 *   in one process, every nestdb_open() of the same directory shares one database, which is
 *   closed (log written and fsynced, lock released) with its last handle. Damaged files make
 *   nestdb_open() fail with NESTDB_CORRUPT; nestdb_repair() truncates the log at the damage
 *   so the database opens again, and reports what it dropped.
 *
 * VERSIONS
 *   NESTDB_VERSION_NUMBER (this header) and nestdb_libversion_number() (the library loaded)
 *   let a program check that they match.
 *
 * CAVEATS
 *   After fork(), the child must not use handles opened by the parent (the library's locks
 *   and background thread do not survive fork); it may open new ones, but not on a database
 *   directory the parent still has open.
 *   Do not modify the fields of a reply.
 *
 * PLANNED
 *   int nestdb_run_command(nestdb *db, const char *command_json, char **out_reply_json);
 *   MongoDB database commands (insert, find, aggregate, ...) as Extended JSON. It will return
 *   NESTDB_OK with *out_reply_json a NUL-terminated JSON string to free with nestdb_free() --
 *   a command failure is a reply document with "ok": 0, the analogue of an error reply -- or
 *   a result code with *out_reply_json set to NULL and the reason in nestdb_errmsg(db).
 */

#ifndef NESTDB_H
#define NESTDB_H

/* Generated by cbindgen from ffi/src; do not edit (see ffi/cbindgen.toml). */

#include <stddef.h>

/**
 * Major version of this header. A program compiled against one header can check at run time
 * that the library it loaded matches: see nestdb_libversion_number().
 */
#define NESTDB_VERSION_MAJOR 0

/**
 * Minor version of this header.
 */
#define NESTDB_VERSION_MINOR 1

/**
 * Patch version of this header.
 */
#define NESTDB_VERSION_PATCH 0

/**
 * MAJOR * 1000000 + MINOR * 1000 + PATCH of this header (0.1.0 is 1000, 1.2.3 is 1002003).
 */
#define NESTDB_VERSION_NUMBER 1000

/**
 * Success.
 */
#define NESTDB_OK 0

/**
 * A failure with no more specific code; nestdb_errmsg() tells what happened.
 */
#define NESTDB_ERROR 1

/**
 * A bug inside nestdb was caught at the API boundary (please report it with the message).
 * The handle stays usable.
 */
#define NESTDB_INTERNAL 2

/**
 * The API was used wrongly: a NULL pointer where one is required, a negative count.
 */
#define NESTDB_MISUSE 3

/**
 * The database could not be opened: the path cannot be created or read, is not a database
 * directory, or its files are damaged in a way nestdb_repair() cannot fix.
 */
#define NESTDB_CANTOPEN 4

/**
 * The config text has an unknown parameter name or an invalid value.
 */
#define NESTDB_CONFIG 5

/**
 * An operating-system I/O error (for example a failed write or fsync in nestdb_sync()).
 */
#define NESTDB_IO 6

/**
 * The database directory is in use by another process (one process at a time may have it
 * open; handles within one process share it). nestdb_errmsg() names the holder's pid, as in
 * "<dir>: database is locked by process 1234 (one writer process at a time)".
 * nestdb_repair() also returns it for a database that is open, in this process too.
 */
#define NESTDB_LOCKED 7

/**
 * The database files are damaged: a record with a bad checksum in the middle of the log, a
 * missing or damaged MANIFEST, a hole in the log (nestdb_repair() fixes these, by truncating
 * the log at the first bad record; the message then ends with "run repair"), or a damaged
 * snapshot (repair cannot rebuild it). nestdb_errmsg() names the file, offset and sequence
 * number. A torn last record (a crash in the middle of a write) is not damage: it is cut off
 * at open and the open succeeds.
 */
#define NESTDB_CORRUPT 8

/**
 * Reply type: binary-safe bytes in str/len (GET, HGET, LPOP...).
 */
#define NESTDB_REPLY_STRING 1

/**
 * Reply type: element[0 .. elements-1] (LRANGE, SMEMBERS, EXEC...).
 */
#define NESTDB_REPLY_ARRAY 2

/**
 * Reply type: a 64-bit signed integer in `integer` (INCR, DEL, TTL...).
 */
#define NESTDB_REPLY_INTEGER 3

/**
 * Reply type: the null reply (a missing key, an aborted EXEC); no field is set.
 */
#define NESTDB_REPLY_NIL 4

/**
 * Reply type: a status line in str/len, such as "OK", "PONG" or "QUEUED".
 */
#define NESTDB_REPLY_STATUS 5

/**
 * Reply type: a command error; str/len hold Redis's error text with its prefix, e.g.
 * "WRONGTYPE Operation against a key holding the wrong kind of value".
 */
#define NESTDB_REPLY_ERROR 6

/**
 * Reply type: a floating point number (sorted-set scores) in `dval`, with str/len its printed
 * form as Redis prints it ("1.5", "inf", "-inf").
 */
#define NESTDB_REPLY_DOUBLE 7

/**
 * Reply type: key/value pairs (HGETALL, CONFIG GET): `elements` is twice the number of pairs,
 * element[2*i] is the i-th key and element[2*i+1] its value.
 */
#define NESTDB_REPLY_MAP 9

/**
 * An open database handle (opaque). Create it with nestdb_open() (or nestdb_open_session())
 * and release it with nestdb_close(). Thread-safe: see THREADS at the top of this file.
 */
typedef struct nestdb nestdb;

/**
 * One reply, shaped like hiredis's redisReply. Which fields are set depends on `type`
 * (fields not listed are 0 or NULL):
 *
 * | type                  | fields                                                     |
 * |-----------------------|------------------------------------------------------------|
 * | NESTDB_REPLY_STRING   | str, len (binary-safe: may contain NUL bytes)              |
 * | NESTDB_REPLY_STATUS   | str, len                                                   |
 * | NESTDB_REPLY_ERROR    | str, len                                                   |
 * | NESTDB_REPLY_DOUBLE   | dval; str, len (its printed form)                          |
 * | NESTDB_REPLY_INTEGER  | integer                                                    |
 * | NESTDB_REPLY_NIL      | (none)                                                     |
 * | NESTDB_REPLY_ARRAY    | elements, element (NULL when elements is 0)                |
 * | NESTDB_REPLY_MAP      | elements (2 x pairs), element: key, value, key, value...   |
 *
 * Whenever str is set it is also NUL-terminated (str[len] == '\0'), so text replies can be
 * used as C strings; binary data must be read with len.
 *
 * A reply and everything it points to (str, element, the elements' own fields) is one
 * allocation owned by the caller of nestdb_command_argv(): read it freely, from any thread,
 * until nestdb_reply_free() on the root reply. Do not modify it and never free an element.
 * New reply types may be added (with new NESTDB_REPLY_ values): treat an unknown type like
 * an error you cannot interpret.
 */
typedef struct nestdb_reply {
    /**
     * One of the NESTDB_REPLY_ constants.
     */
    int type;
    /**
     * The value of an NESTDB_REPLY_INTEGER reply.
     */
    long long integer;
    /**
     * The value of an NESTDB_REPLY_DOUBLE reply.
     */
    double dval;
    /**
     * The length of str in bytes, not counting the terminating NUL.
     */
    size_t len;
    /**
     * Bytes of a STRING, STATUS, ERROR or DOUBLE reply, NUL-terminated; NULL otherwise.
     */
    char *str;
    /**
     * The number of elements of an ARRAY or MAP reply.
     */
    size_t elements;
    /**
     * The elements of an ARRAY or MAP reply; NULL when there are none.
     */
    struct nestdb_reply **element;
} nestdb_reply;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The version of the library actually linked, as NESTDB_VERSION_NUMBER encodes it.
 *
 * Compare with the header's NESTDB_VERSION_NUMBER to detect a program running against a
 * different library than it was compiled with. Never fails.
 */
int nestdb_libversion_number(void);

/**
 * The version of the library actually linked, as a static NUL-terminated string such as
 * "0.1.0". Never fails; never free it.
 */
const char *nestdb_libversion(void);

/**
 * Free memory that the library allocated and handed to you through an output parameter
 * (`char **` outputs such as the report of nestdb_repair()).
 *
 * Do not use it for a nestdb_reply (use nestdb_reply_free()), a handle (use nestdb_close())
 * or the `const char *` strings the library lends (nestdb_errmsg(), nestdb_errstr(),
 * nestdb_libversion()), which are never freed.
 *
 * @param p  memory from the library, or NULL (a no-op). Passing anything else is undefined.
 */
void nestdb_free(void *p);

/**
 * Run one MongoDB database command on the document layer, Extended JSON in and out.
 *
 * Example: `nestdb_run_command(db, "{\"insert\": \"users\", \"documents\": [{\"name\": \"ada\"}], \"$db\": \"shop\"}", &reply)`
 * then `nestdb_run_command(db, "{\"find\": \"users\", \"filter\": {\"name\": \"ada\"}, \"$db\": \"shop\"}", &reply)`.
 * Commands: insert, find, getMore, killCursors, update, delete, findAndModify, count,
 * distinct, aggregate, create, drop, dropDatabase, listCollections, listDatabases,
 * renameCollection (with "$db": "admin"), dbStats, collStats, explain, ping — with MongoDB's
 * fields and reply shapes.
 *
 * @param db              an open handle.
 * @param command_json    NUL-terminated UTF-8 JSON object: the command document in canonical
 *                        or relaxed Extended JSON; its first field is the command name. The
 *                        database is its "$db" field ("test" when absent). Read during the
 *                        call only.
 * @param out_reply_json  receives MongoDB's reply document as relaxed Extended JSON,
 *                        NUL-terminated, to free with nestdb_free(). A command that ran and
 *                        failed (duplicate key, bad operator, ...) is still NESTDB_OK: its
 *                        reply has "ok": 0 with "errmsg", "code" and "codeName", or
 *                        "writeErrors" for write commands, as MongoDB answers.
 * @return                NESTDB_OK with *out_reply_json set. Otherwise *out_reply_json is set
 *                        to NULL (when out_reply_json is not NULL) and the code is
 *                        NESTDB_MISUSE (db, command_json or out_reply_json NULL; text not
 *                        UTF-8, not JSON, not an object, nested deeper than 128 levels, or not
 *                        valid Extended JSON), NESTDB_ERROR (out of memory for the reply) or
 *                        NESTDB_INTERNAL (a bug caught inside the library), with the message in
 *                        nestdb_errmsg(db) (nestdb_errmsg(NULL) when db is NULL).
 */
int nestdb_run_command(struct nestdb *db,
                       const char *command_json,
                       char **out_reply_json);

/**
 * The message of the calling thread's last failed call on `db`.
 *
 * Use it right after a call reported failure (a result code other than NESTDB_OK, or NULL
 * from nestdb_command_argv()): it describes the last call that failed, not the last call.
 * Messages are kept per thread, so threads sharing a handle each see their own.
 *
 * @param db  a handle, or NULL for the last failed call this thread made without a usable
 *            handle (nestdb_open(), nestdb_repair(), or any call given a NULL db).
 * @return    a NUL-terminated English message, "not an error" if there was no failure.
 *            Owned by the library: do not free it. It stays valid until this thread's next
 *            failed call on the same handle (or, for NULL, without a handle), or until
 *            nestdb_close(db).
 */
const char *nestdb_errmsg(struct nestdb *db);

/**
 * The English name of a result code, e.g. "unable to open database" for NESTDB_CANTOPEN.
 *
 * @param code  any int; codes this library does not know give "unknown error code".
 * @return      a static NUL-terminated string, valid forever; do not free it.
 */
const char *nestdb_errstr(int code);

/**
 * Open a database.
 *
 * @param path    NULL, "" or ":memory:" for a new in-memory database (no files). Any other
 *                path is a database directory, created (mode 0700, parents included) if
 *                missing: its last snapshot is loaded and its log replayed, and from then on
 *                every write command is logged (when it reaches the disk is the appendfsync
 *                config below). A torn last record, left by a crash in the middle of a write,
 *                is cut off and the open succeeds. One process at a time may have a directory
 *                open. Within a process, opening a path that is already open gives another
 *                handle on the same database (its config stays that of the first open; change
 *                it with CONFIG SET); the database closes -- everything logged written and
 *                fsynced, the directory unlocked -- when its last handle is closed. On Unix a
 *                path is bytes, as for open(2); elsewhere it must be UTF-8. Read during the
 *                call only.
 * @param config  NULL for the defaults, or redis.conf-style text: one "name value" per line,
 *                '#' starts a comment line, a value may be in double quotes; the names are
 *                those CONFIG SET accepts, with the same values:
 *                  hz 10                            background cycles per second (1..500)
 *                  appendfsync everysec             always | everysec | no: fsync the log
 *                                                   after every write command, once a second,
 *                                                   or never (left to the OS)
 *                  save "3600 1 300 100 60 10000"   snapshot after <seconds> if at least
 *                                                   <changes> writes; save "" turns it off
 *                  auto-aof-rewrite-percentage 100  rewrite (snapshot + fresh log) when the
 *                  auto-aof-rewrite-min-size 64mb   files grew by this % and are this big
 *                  maxmemory 0                      memory cap (bytes, or 100mb...); 0 = none
 *                  maxmemory-policy noeviction      noeviction | allkeys-lru | volatile-lru |
 *                                                   allkeys-lfu | volatile-lfu | allkeys-random
 *                                                   | volatile-random | volatile-ttl
 *                  maxmemory-samples 5              keys sampled per eviction round (1..64)
 *                  lfu-log-factor 10                LFU counter growth; lfu-decay-time 1 (min)
 *                  compression lz4                  lz4 | zlib | none, for values of at least
 *                  compression-min-size 512         this many bytes
 *                  hash-max-listpack-entries 512    compact-encoding limits, as Redis's
 *                  (and the other *-max-listpack-*, set-max-intset-entries,
 *                  list-max-listpack-size)
 *                Read during the call only.
 * @param out_db  where to store the new handle; must not be NULL.
 * @return        NESTDB_OK, and *out_db is a handle to release with nestdb_close().
 *                On failure *out_db is set to NULL and the code tells why:
 *                NESTDB_MISUSE (out_db is NULL), NESTDB_CONFIG (unknown name, bad value, text
 *                not UTF-8), NESTDB_LOCKED (another process has the directory open; the
 *                message names its pid), NESTDB_CORRUPT (damaged files; the message names
 *                the file and offset, and ends with "run repair" when nestdb_repair() fixes
 *                them), NESTDB_CANTOPEN (anything
 *                else that prevents opening), NESTDB_IO, NESTDB_INTERNAL.
 *                nestdb_errmsg(NULL), called next on the same thread, gives the detailed
 *                message.
 */
int nestdb_open(const char *path, const char *config, struct nestdb **out_db);

/**
 * Open another handle on the same database as `db`, with its own transaction state — what a
 * second connection to the same server is for hiredis. Use one per thread when threads run
 * MULTI/EXEC or WATCH concurrently. The database stays open until its last handle is closed;
 * close each handle with nestdb_close(), in any order.
 *
 * @param db      an open handle; must not be NULL.
 * @param out_db  where to store the new handle; must not be NULL.
 * @return        NESTDB_OK with *out_db set; otherwise NESTDB_MISUSE (a NULL argument) or
 *                NESTDB_INTERNAL, *out_db set to NULL (when out_db is not NULL), and the
 *                message in nestdb_errmsg(NULL).
 */
int nestdb_open_session(struct nestdb *db, struct nestdb **out_db);

/**
 * Close a handle and free everything it owns (messages from nestdb_errmsg(db) included).
 * Replies already returned stay valid: free them with nestdb_reply_free() as usual.
 * A transaction left open on the handle (MULTI without EXEC) is discarded and its WATCHes
 * are released. Closing the last handle of a database directory (in this process) closes
 * the database: everything logged is written and fsynced and the directory is unlocked. A
 * failure there cannot be reported: call nestdb_sync() first if you need to know.
 *
 * @param db  a handle from nestdb_open() / nestdb_open_session(), or NULL (a no-op). No other
 *            thread may be using the handle, and it must not be used again: using or closing
 *            a handle after nestdb_close() is undefined behaviour.
 */
void nestdb_close(struct nestdb *db);

/**
 * Write and fsync everything logged so far, whatever the appendfsync policy: when it returns
 * NESTDB_OK, every command that completed before the call survives a crash or a power loss.
 * With "appendfsync always" that holds after every command already; with "everysec" (the
 * default) a crash can lose about the last second of writes, with "no" whatever the OS had
 * not written yet. Closing the last handle of a database syncs too, but nestdb_close() cannot
 * report a failure: call nestdb_sync() first when you need to know. A snapshot (the SAVE
 * command) also makes everything before it durable.
 *
 * @param db  an open handle. For an in-memory database there is nothing to do: NESTDB_OK.
 * @return    NESTDB_OK; NESTDB_MISUSE (db is NULL, message in nestdb_errmsg(NULL));
 *            NESTDB_IO when the write or fsync failed (message in nestdb_errmsg(db)): the
 *            database keeps retrying in the background, and meanwhile write commands fail
 *            with "MISCONF Errors writing to the AOF file: ..." while reads work.
 */
int nestdb_sync(struct nestdb *db);

/**
 * Run one command: any command the database knows, binary-safe, like hiredis's
 * redisCommandArgv(). Example: `const char *argv[] = {"SET", "k", "v"};
 * nestdb_command_argv(db, 3, argv, NULL)`.
 *
 * Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH work per handle, as on a hiredis
 * connection: after MULTI every command sent on this handle (from any thread) is answered
 * "QUEUED" until EXEC runs them atomically. Use nestdb_open_session() to give each thread
 * its own transaction state.
 *
 * @param db       an open handle.
 * @param argc     number of arguments, at least 1 (argv[0] is the command name, any case).
 * @param argv     argc pointers to the arguments. Read during the call only.
 * @param argvlen  argc lengths in bytes, so arguments may contain NUL bytes; or NULL, and
 *                 then every argv[i] must be a NUL-terminated string. With argvlen, an
 *                 argv[i] may be NULL only if argvlen[i] is 0 (an empty argument).
 * @return         a reply to free with nestdb_reply_free(). A command that ran and failed
 *                 (unknown command, wrong number of arguments, WRONGTYPE, syntax error, ...)
 *                 returns a reply of type NESTDB_REPLY_ERROR with Redis's error text.
 *                 NULL only when the command could not be run: db NULL (message in
 *                 nestdb_errmsg(NULL)), argc < 1, argv NULL, a NULL argument with a nonzero
 *                 length or without argvlen, or out of memory (message in nestdb_errmsg(db)).
 *                 A bug caught inside the library gives an error reply starting with
 *                 "ERR internal error".
 */
struct nestdb_reply *nestdb_command_argv(struct nestdb *db,
                                         int argc,
                                         const char **argv,
                                         const size_t *argvlen);

/**
 * Repair a damaged database directory so that it opens again, like redis-check-aof --fix:
 * a missing or damaged MANIFEST is rebuilt from the newest valid snapshot, and the log is
 * truncated at its first bad record (the segments after it are deleted). Every command
 * logged before the damage is kept; the ones after it are lost, and the report says how
 * many bytes that was. A database that is not damaged is left as it is (a report of zeros).
 * Use it when nestdb_open() returns NESTDB_CORRUPT.
 *
 * @param path        the database directory; must not be open (in any process, this one
 *                    included). Read during the call only.
 * @param out_report  NULL if you do not want the report, or where to store it: a
 *                    NUL-terminated one-line JSON object to free with nestdb_free(), e.g.
 *                    {"truncated_file":"/data/app.nest/log-00000000000000000001.log",
 *                     "truncated_at":4096,"bytes_dropped":120,"segments_removed":0,
 *                     "manifest_rebuilt":false}
 *                    truncated_file is null when nothing was truncated (a path that is not
 *                    UTF-8 is shown with U+FFFD for its bad bytes); more fields may be added.
 * @return            NESTDB_OK with *out_report set (when out_report is not NULL). Otherwise
 *                    *out_report is set to NULL (when out_report is not NULL) and the code
 *                    is NESTDB_MISUSE (path NULL or ":memory:"), NESTDB_LOCKED (the database
 *                    is open; the message names the process), NESTDB_CANTOPEN (no database
 *                    directory at path, or it cannot be repaired), NESTDB_IO, NESTDB_ERROR
 *                    (out of memory for the report, after repairing) or NESTDB_INTERNAL, with
 *                    the message in nestdb_errmsg(NULL).
 */
int nestdb_repair(const char *path, char **out_report);

/**
 * Free a reply returned by nestdb_command_argv(), with all its elements and strings.
 *
 * @param r  the root reply exactly as nestdb_command_argv() returned it, or NULL (a no-op).
 *           Passing an element of a reply, or a reply already freed, is undefined.
 *           After this call no pointer obtained from the reply may be used.
 */
void nestdb_reply_free(struct nestdb_reply *r);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* NESTDB_H */
