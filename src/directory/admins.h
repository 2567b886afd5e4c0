// admins.h -- administrator accounts in the directory: names and yescrypt password hashes.
//
// The console and hubctl's future remote use log in against these; today hubctl manages
// them (admin add|passwd|remove|list). A password is hashed with yescrypt through libcrypt
// ("$y$..." in crypt(5) form) and never stored or audited in clear; the audit log records
// that an account was added, removed or had its password changed, not the hash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hub::directory {

inline constexpr std::size_t admin_password_bytes_min = 12;
inline constexpr std::size_t admin_password_bytes_max = 1024;

struct AdminAccount {
    std::string name;
    std::int64_t created_unix_s = 0;
    std::int64_t updated_unix_s = 0;
};

// "" if the name is a POSIX-portable user name, else what to fix.
std::string check_admin_name(std::string_view name);
// "" if the password is 12..1024 bytes without NUL or line breaks, else what to fix.
std::string check_admin_password(std::string_view password);
// A fresh yescrypt hash (random salt from libcrypt); the error says why libcrypt failed.
[[nodiscard]] Result<std::string, std::string> hash_password(std::string_view password);
// True if password matches the stored crypt(5) hash.
bool password_matches(std::string_view password, const std::string& hash);

}  // namespace hub::directory
