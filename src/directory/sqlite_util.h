// sqlite_util.h -- small RAII helpers over SQLite's C API, for the directory's own files.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "directory/record.h"

namespace hub::directory::detail {

// One prepared statement, finalized on scope exit.
class Statement {
public:
    Statement(sqlite3* db, const char* sql) {
        ok_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) == SQLITE_OK;
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    bool ok() const { return ok_; }
    void bind(int index, std::string_view text) {
        sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                          SQLITE_TRANSIENT);
    }
    void bind_optional(int index, std::string_view text) {
        if (text.empty()) {
            sqlite3_bind_null(stmt_, index);
        } else {
            bind(index, text);
        }
    }
    void reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    void bind(int index, std::int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
    void bind_blob(int index, const void* data, std::size_t bytes) {
        sqlite3_bind_blob(stmt_, index, data, static_cast<int>(bytes), SQLITE_TRANSIENT);
    }
    // SQLITE_ROW, SQLITE_DONE or an error code.
    int step() { return sqlite3_step(stmt_); }
    std::string text(int column) {
        const unsigned char* value = sqlite3_column_text(stmt_, column);
        return value == nullptr
                   ? std::string()
                   : std::string(reinterpret_cast<const char*>(value),
                                 static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
    }
    std::int64_t integer(int column) { return sqlite3_column_int64(stmt_, column); }
    bool is_null(int column) { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
    template <typename Bytes>
    Bytes blob(int column) {
        const auto* value =
            static_cast<const typename Bytes::value_type*>(sqlite3_column_blob(stmt_, column));
        auto bytes = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
        return value == nullptr ? Bytes() : Bytes(value, value + bytes);
    }

private:
    sqlite3_stmt* stmt_ = nullptr;
    bool ok_ = false;
};

// Steps statement through its rows, appending read(statement) for each. Returns
// SQLITE_DONE when every row was read, else SQLite's error code (the caller words it, with
// the file's name: Directory::error_text).
template <typename Row, typename Read>
int read_rows(Statement& statement, std::vector<Row>& rows, Read&& read) {
    int status = SQLITE_ROW;
    while ((status = statement.step()) == SQLITE_ROW) {
        rows.push_back(read(statement));
    }
    return status;
}

// The CN a session's client certificate must carry: set, or the first domain.
inline std::string effective_client_cn(const PartnerRecord& record) {
    if (!record.client_cn.empty() || record.domains.empty()) {
        return record.client_cn;
    }
    return record.domains.front();
}

inline std::int64_t now_unix_s() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

// Rolls back unless committed: every early return of a write leaves the file unchanged.
class Transaction {
public:
    explicit Transaction(sqlite3* db) : db_(db) {
        began_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
    }
    ~Transaction() {
        if (began_ && !committed_) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    bool began() const { return began_; }
    bool commit() {
        committed_ = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
        return committed_;
    }

private:
    sqlite3* db_;
    bool began_ = false;
    bool committed_ = false;
};

}  // namespace hub::directory::detail
