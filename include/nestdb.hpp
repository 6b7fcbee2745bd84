// nestdb.hpp -- a small header-only C++17 wrapper over nestdb.h: RAII for the handle and the
// reply, std::string_view arguments, exceptions for calls that cannot run.
//
//     nestdbpp::db db;                               // in-memory; throws nestdbpp::error on failure
//     nestdbpp::db disk("app.nest", "appendfsync always");  // a database directory
//     db.command({"SET", "greeting", "hello"});
//     nestdbpp::reply r = db.command({"GET", "greeting"});
//     if (r.is_string()) std::cout << r.str() << "\n";
//
// Conventions are those of nestdb.h: a command that runs and fails is a reply whose
// is_error() is true (call r.throw_if_error() to turn it into an exception); a call that
// cannot run (bad arguments, out of memory) throws nestdbpp::error with nestdb_errmsg()'s text.
// nestdbpp::db is movable, not copyable; db.session() opens another handle on the same
// database with its own MULTI/EXEC state. A reply owns its tree; reply_view is a borrowed
// element that lives as long as the reply it came from.
#ifndef NESTDB_HPP
#define NESTDB_HPP

#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nestdb.h"

namespace nestdbpp {

// A call that could not run: the result code and the library's message.
class error : public std::runtime_error {
  public:
    error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }

  private:
    int code_;
};

// A borrowed view of one reply node (the root of a reply or any element below it).
class reply_view {
  public:
    explicit reply_view(const nestdb_reply *r) noexcept : r_(r) {}

    int type() const noexcept { return r_->type; }
    bool is_string() const noexcept { return r_->type == NESTDB_REPLY_STRING; }
    bool is_status() const noexcept { return r_->type == NESTDB_REPLY_STATUS; }
    bool is_error() const noexcept { return r_->type == NESTDB_REPLY_ERROR; }
    bool is_integer() const noexcept { return r_->type == NESTDB_REPLY_INTEGER; }
    bool is_double() const noexcept { return r_->type == NESTDB_REPLY_DOUBLE; }
    bool is_nil() const noexcept { return r_->type == NESTDB_REPLY_NIL; }
    bool is_array() const noexcept { return r_->type == NESTDB_REPLY_ARRAY; }
    bool is_map() const noexcept { return r_->type == NESTDB_REPLY_MAP; }

    // The bytes of a string, status, error or double reply (empty for other types).
    std::string_view str() const noexcept { return r_->str ? std::string_view(r_->str, r_->len) : std::string_view(); }
    long long integer() const noexcept { return r_->integer; }
    double dval() const noexcept { return r_->dval; }

    // Elements of an array or map (a map alternates keys and values).
    std::size_t size() const noexcept { return r_->elements; }
    reply_view operator[](std::size_t i) const {
        if (i >= r_->elements) throw std::out_of_range("nestdb reply element index out of range");
        return reply_view(r_->element[i]);
    }

    // Throw nestdbpp::error(NESTDB_ERROR, text) if this is an error reply.
    const reply_view &throw_if_error() const {
        if (is_error()) throw error(NESTDB_ERROR, std::string(str()));
        return *this;
    }

    const nestdb_reply *get() const noexcept { return r_; }

  protected:
    const nestdb_reply *r_;
};

// An owned reply: frees its whole tree when destroyed. Move-only.
class reply : public reply_view {
  public:
    explicit reply(nestdb_reply *r) noexcept : reply_view(r) {}
    reply(reply &&other) noexcept : reply_view(other.r_) { other.r_ = nullptr; }
    reply &operator=(reply &&other) noexcept {
        if (this != &other) {
            nestdb_reply_free(const_cast<nestdb_reply *>(r_));
            r_ = other.r_;
            other.r_ = nullptr;
        }
        return *this;
    }
    reply(const reply &) = delete;
    reply &operator=(const reply &) = delete;
    ~reply() { nestdb_reply_free(const_cast<nestdb_reply *>(r_)); }
};

// An open database handle. Thread-safe like the C handle it wraps.
class db {
  public:
    // Open a database (path nullptr or ":memory:" for in-memory, otherwise a database
    // directory; config as in nestdb_open()). Throws nestdbpp::error with NESTDB_LOCKED,
    // NESTDB_CORRUPT (see repair()), NESTDB_CONFIG, NESTDB_CANTOPEN...
    explicit db(const char *path = nullptr, const char *config = nullptr) {
        int rc = nestdb_open(path, config, &h_);
        if (rc != NESTDB_OK) throw error(rc, nestdb_errmsg(nullptr));
    }
    db(db &&other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
    db &operator=(db &&other) noexcept {
        if (this != &other) {
            nestdb_close(h_);
            h_ = std::exchange(other.h_, nullptr);
        }
        return *this;
    }
    db(const db &) = delete;
    db &operator=(const db &) = delete;
    ~db() { nestdb_close(h_); }

    // Another handle on the same database, with its own transaction state.
    db session() const {
        nestdb *out = nullptr;
        int rc = nestdb_open_session(h_, &out);
        if (rc != NESTDB_OK) throw error(rc, nestdb_errmsg(nullptr));
        return db(adopt, out);
    }

    // Run a command; arguments are binary-safe views (std::string, literals, byte buffers).
    reply command(std::initializer_list<std::string_view> args) { return command(args.begin(), args.end()); }
    reply command(const std::vector<std::string> &args) { return command(args.begin(), args.end()); }

    template <class It>
    reply command(It first, It last) {
        std::vector<const char *> argv;
        std::vector<std::size_t> lens;
        for (; first != last; ++first) {
            std::string_view a(*first);
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        if (argv.size() > static_cast<std::size_t>(INT_MAX_ARGS)) throw error(NESTDB_MISUSE, "too many arguments");
        nestdb_reply *r = nestdb_command_argv(h_, static_cast<int>(argv.size()), argv.data(), lens.data());
        if (r == nullptr) throw error(NESTDB_ERROR, nestdb_errmsg(h_));
        return reply(r);
    }

    // Write and fsync everything logged so far (nestdb_sync()); throws on an I/O error.
    void sync() {
        int rc = nestdb_sync(h_);
        if (rc != NESTDB_OK) throw error(rc, nestdb_errmsg(h_));
    }

    nestdb *handle() const noexcept { return h_; }

  private:
    static constexpr long long INT_MAX_ARGS = 0x7fffffffLL;
    struct adopt_t {};
    static constexpr adopt_t adopt{};
    db(adopt_t, nestdb *h) noexcept : h_(h) {}
    nestdb *h_ = nullptr;
};

// Repair the damaged database directory `path` (nestdb_repair()); it must not be open.
// Returns the report, a one-line JSON object ("bytes_dropped", "truncated_file", ...).
inline std::string repair(const char *path) {
    char *report = nullptr;
    int rc = nestdb_repair(path, &report);
    if (rc != NESTDB_OK) throw error(rc, nestdb_errmsg(nullptr));
    std::string out(report);
    nestdb_free(report);
    return out;
}

}  // namespace nestdbpp

#endif  // NESTDB_HPP
