// admins.cc -- administrator accounts: yescrypt hashing and the admins table.
//
// PURPOSE   Keep administrators' passwords as yescrypt hashes and change accounts one
//           audited transaction at a time.
// RUNS IN   hubctl (admin add|passwd|remove|list). Never in hubd.
// TRUST     Passwords are secrets: they are hashed at once, never logged, never audited.
// LIMITS    admin_password_bytes_min/max (admins.h), actor_bytes_max.
// SEE ALSO  directory/directory.h, docs/DIRECTORY.md ("Administrators").

#include "directory/admins.h"

#include <crypt.h>
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "config/syntax.h"
#include "directory/directory.h"
#include "directory/sqlite_util.h"

namespace hub::directory {

using detail::now_unix_s;
using detail::Statement;
using detail::Transaction;

std::string check_admin_name(std::string_view name) {
    if (std::string why = config::check_user_name(name); !why.empty()) {
        return fmt::format("administrator name \"{}\": {}", name, why);
    }
    return {};
}

std::string check_admin_password(std::string_view password) {
    bool clean = std::none_of(password.begin(), password.end(),
                              [](char c) { return c == '\0' || c == '\n' || c == '\r'; });
    if (password.size() < admin_password_bytes_min || password.size() > admin_password_bytes_max ||
        !clean) {
        return fmt::format("the password must be {}..{} characters on one line",
                           admin_password_bytes_min, admin_password_bytes_max);
    }
    return {};
}

Result<std::string, std::string> hash_password(std::string_view password) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    // count 0: libcrypt's default cost; no entropy given: libcrypt reads the OS's.
    if (crypt_gensalt_rn("$y$", 0, nullptr, 0, setting, sizeof(setting)) == nullptr) {
        return unexpected(std::string("libcrypt cannot make a yescrypt salt"));
    }
    auto data = std::make_unique<crypt_data>();
    std::string text(password);
    const char* hash = crypt_rn(text.c_str(), setting, data.get(), sizeof(crypt_data));
    if (hash == nullptr || hash[0] == '*') {
        return unexpected(std::string("libcrypt cannot hash with yescrypt"));
    }
    return std::string(hash);
}

bool password_matches(std::string_view password, const std::string& hash) {
    auto data = std::make_unique<crypt_data>();
    std::string text(password);
    const char* computed = crypt_rn(text.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
    if (computed == nullptr || computed[0] == '*' ||
        hash.size() != std::string_view(computed).size()) {
        return false;
    }
    unsigned char difference = 0;  // Constant time over the hash's length.
    for (std::size_t i = 0; i < hash.size(); i++) {
        difference |= static_cast<unsigned char>(hash[i] ^ computed[i]);
    }
    return difference == 0;
}

Result<std::vector<AdminAccount>, std::string> Directory::admins() {
    Statement statement(db_,
                        "SELECT name, created_unix_s, updated_unix_s FROM admins ORDER BY name");
    if (!statement.ok()) {
        return unexpected(error_text("reading administrators"));
    }
    std::vector<AdminAccount> accounts;
    int status = SQLITE_ROW;
    while ((status = statement.step()) == SQLITE_ROW) {
        accounts.push_back(
            AdminAccount{statement.text(0), statement.integer(1), statement.integer(2)});
    }
    if (status != SQLITE_DONE) {
        return unexpected(error_text("reading administrators"));
    }
    return accounts;
}

Result<bool, std::string> Directory::check_admin_login(std::string_view name,
                                                       std::string_view password) {
    Statement statement(db_, "SELECT password_hash FROM admins WHERE name = ?");
    if (!statement.ok()) {
        return unexpected(error_text("reading an administrator"));
    }
    statement.bind(1, name);
    if (statement.step() != SQLITE_ROW) {
        return false;
    }
    return password_matches(password, statement.text(0));
}

Result<void, std::string> Directory::change_admin(std::string_view name, AdminChange change,
                                                  std::string_view password,
                                                  std::string_view actor) {
    if (std::string why = check_actor(actor); !why.empty()) {
        return unexpected(why);
    }
    if (std::string why = check_admin_name(name); !why.empty()) {
        return unexpected(why);
    }
    std::string hash;
    if (change != AdminChange::remove) {
        if (std::string why = check_admin_password(password); !why.empty()) {
            return unexpected(why);
        }
        auto hashed = hash_password(password);
        if (!hashed) {
            return unexpected(hashed.error());
        }
        hash = std::move(*hashed);
    }
    Transaction transaction(db_);
    if (!transaction.began()) {
        return unexpected(error_text("starting a change"));
    }
    auto accounts = admins();
    if (!accounts) {
        return unexpected(accounts.error());
    }
    bool exists = std::any_of(accounts->begin(), accounts->end(),
                              [&](const AdminAccount& account) { return account.name == name; });
    std::int64_t now = now_unix_s();
    std::string before = exists ? fmt::format("{{\"name\":{}}}", json_string(name)) : "";
    std::string after;
    if (change == AdminChange::add) {
        if (exists) {
            return unexpected(
                fmt::format("administrator {} exists already; change the password "
                            "with hubctl admin passwd {}",
                            name, name));
        }
        Statement insert(db_,
                         "INSERT INTO admins (name, password_hash, created_unix_s, "
                         "updated_unix_s) VALUES (?1, ?2, ?3, ?3)");
        insert.bind(1, name);
        insert.bind(2, hash);
        insert.bind(3, now);
        if (!insert.ok() || insert.step() != SQLITE_DONE) {
            return unexpected(error_text("adding an administrator"));
        }
        after = fmt::format("{{\"name\":{},\"password\":\"set\"}}", json_string(name));
    } else if (!exists) {
        return unexpected(
            fmt::format("no administrator named {} (hubctl admin list shows them)", name));
    } else if (change == AdminChange::passwd) {
        Statement update(db_,
                         "UPDATE admins SET password_hash = ?2, updated_unix_s = ?3 "
                         "WHERE name = ?1");
        update.bind(1, name);
        update.bind(2, hash);
        update.bind(3, now);
        if (!update.ok() || update.step() != SQLITE_DONE) {
            return unexpected(error_text("changing a password"));
        }
        after = fmt::format("{{\"name\":{},\"password\":\"changed\"}}", json_string(name));
    } else {
        if (accounts->size() == 1) {
            return unexpected(
                fmt::format("{} is the last administrator; add another before "
                            "removing this one",
                            name));
        }
        Statement remove(db_, "DELETE FROM admins WHERE name = ?");
        remove.bind(1, name);
        if (!remove.ok() || remove.step() != SQLITE_DONE) {
            return unexpected(error_text("removing an administrator"));
        }
    }
    std::string action = change == AdminChange::add      ? "admin add"
                         : change == AdminChange::passwd ? "admin passwd"
                                                         : "admin remove";
    if (auto audited = audit_change(action, fmt::format("admin:{}", name), before, after, actor);
        !audited) {
        return unexpected(audited.error());
    }
    if (!transaction.commit()) {
        return unexpected(error_text("committing a change"));
    }
    return {};
}

}  // namespace hub::directory
