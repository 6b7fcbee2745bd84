// The C++ wrapper (include/nestdb.hpp): RAII handle and reply, binary-safe arguments,
// exceptions for calls that cannot run, sessions, moves, database directories (sync, repair,
// the lock).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "nestdb.hpp"

static int passed, failed;

#define CHECK(cond)                                                               \
    do {                                                                          \
        if (cond) {                                                               \
            passed++;                                                             \
        } else {                                                                  \
            failed++;                                                             \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                         \
    } while (0)

template <class F>
static int throws_code(F f) {
    try {
        f();
    } catch (const nestdbpp::error &e) {
        return e.code();
    }
    return -1;
}

int main() {
    using namespace std::literals;

    nestdbpp::db db;
    CHECK(db.command({"SET", "greeting", "hello"}).str() == "OK");
    nestdbpp::reply r = db.command({"GET", "greeting"});
    CHECK(r.is_string() && r.str() == "hello");

    // Binary-safe arguments from std::string with NUL bytes.
    std::string key("k\0ey", 4), value("v\0\xff", 3);
    CHECK(db.command({"SET", key, value}).is_status());
    CHECK(db.command({"GET", key}).str() == value);
    CHECK(db.command({"GET", "k"}).is_nil());

    // Integers, errors, arrays, maps, doubles.
    CHECK(db.command({"INCR", "n"}).integer() == 1);
    nestdbpp::reply err = db.command({"INCR", "greeting"});
    CHECK(err.is_error() && err.str() == "ERR value is not an integer or out of range");
    CHECK(throws_code([&] { err.throw_if_error(); }) == NESTDB_ERROR);
    std::vector<std::string> args = {"RPUSH", "list", "a", "b", "c"};
    CHECK(db.command(args).integer() == 3);
    nestdbpp::reply list = db.command({"LRANGE", "list", "0", "-1"});
    CHECK(list.is_array() && list.size() == 3 && list[2].str() == "c");
    bool out_of_range = false;
    try {
        (void)list[3];
    } catch (const std::out_of_range &) {
        out_of_range = true;
    }
    CHECK(out_of_range);
    CHECK(db.command({"HSET", "h", "f", "v"}).integer() == 1);
    nestdbpp::reply map = db.command({"HGETALL", "h"});
    CHECK(map.is_map() && map.size() == 2 && map[0].str() == "f" && map[1].str() == "v");
    CHECK(db.command({"ZADD", "z", "1.5", "m"}).integer() == 1);
    nestdbpp::reply score = db.command({"ZSCORE", "z", "m"});
    CHECK(score.is_double() && score.dval() == 1.5 && score.str() == "1.5");

    // A call that cannot run throws with the library's message.
    try {
        db.command(std::initializer_list<std::string_view>{});
        CHECK(false);
    } catch (const nestdbpp::error &e) {
        CHECK(std::string(e.what()).find("argc must be at least 1") != std::string::npos);
    }
    CHECK(throws_code([] { nestdbpp::db bad(nullptr, "no-such-option 1"); }) == NESTDB_CONFIG);
    CHECK(throws_code([] { nestdbpp::db bad("/dev/null/nestdb-cpp-test"); }) == NESTDB_CANTOPEN);

    // Moves transfer ownership; the moved-from objects are empty and safe to destroy.
    nestdbpp::reply moved = std::move(r);
    CHECK(moved.str() == "hello");
    nestdbpp::db other = std::move(db);
    CHECK(other.command({"GET", "greeting"}).str() == "hello");

    // Sessions: separate MULTI state, same data, usable from another thread.
    nestdbpp::db session = other.session();
    CHECK(session.command({"MULTI"}).str() == "OK");
    CHECK(session.command({"INCR", "n"}).str() == "QUEUED");
    CHECK(other.command({"GET", "n"}).str() == "1");
    std::thread t([&] {
        nestdbpp::reply exec = session.command({"EXEC"});
        CHECK(exec.is_array() && exec.size() == 1 && exec[0].integer() == 2);
    });
    t.join();
    CHECK(other.command({"GET", "n"}).str() == "2");

    // A database directory: data survives the handle; repair needs it closed.
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("nestdb-cpp-" + std::to_string(std::random_device{}()));
    std::string path = (dir / "app.nest").string();
    {
        nestdbpp::db disk(path.c_str(), "appendfsync everysec");
        CHECK(disk.command({"SET", "durable", "yes"}).is_status());
        disk.sync();
        CHECK(throws_code([&] { nestdbpp::repair(path.c_str()); }) == NESTDB_LOCKED);
    }
    // The library's background thread may hold the engine a few milliseconds after its last
    // handle closed: retry while the directory is still locked.
    std::string report;
    for (int i = 0; i < 500 && report.empty(); i++) {
        try {
            report = nestdbpp::repair(path.c_str());
        } catch (const nestdbpp::error &e) {
            if (e.code() != NESTDB_LOCKED) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    CHECK(report.find("\"bytes_dropped\":0") != std::string::npos);
    {
        nestdbpp::db disk(path.c_str());
        CHECK(disk.command({"GET", "durable"}).str() == "yes");
    }
    CHECK(throws_code([&] { nestdbpp::repair((dir / "missing").string().c_str()); }) == NESTDB_CANTOPEN);
    fs::remove_all(dir);

    std::printf("test_cpp: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
