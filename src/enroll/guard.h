// guard.h -- the page's two defences that keep state: form tokens and rate limits.
//
// Forms (CSRF). A visitor's browser holds a random cookie (__Host-enroll: Secure,
// HttpOnly, SameSite=Strict, so another site can neither read nor send it). Each form the
// page shows carries a token: the time it was made, a random nonce, and an HMAC-SHA256 over
// both, the form's name and that cookie, under a key drawn when hub-enroll starts. A POST
// is accepted only with the cookie, a token whose HMAC matches it for this form, that is
// younger than form_lifetime_s, and whose nonce was not used before: a form works once (a
// replayed or double-submitted form is refused; the answer page carries a fresh one).
// Used nonces are remembered until their token expires, in a table of used_forms_max.
// Restarting hub-enroll draws a new key, so forms shown before it are refused (the visitor
// reloads the page).
//
// Rates. Each source address has two token buckets: every request, and forms (a POST
// makes hub-ca hash a password). The table holds rate_addresses_max addresses; full
// buckets are forgotten first, and when every remembered address is still being limited a
// new address is refused (503) rather than letting a busy one go free.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/result.h"

namespace hub::enroll {

enum class FormRefusal {
    no_cookie,  // The browser sent no session cookie (cookies off, or a cross-site post).
    invalid,    // Missing, malformed, for another form or another cookie: forged.
    expired,
    replayed,
    busy,  // The used-forms table is full of live tokens.
};

std::string_view form_refusal_text(FormRefusal refusal);

class FormGuard {
public:
    // key: 32 random bytes (HMAC-SHA256 key).
    explicit FormGuard(std::string key);

    // A new random cookie value (22 characters of base64url).
    [[nodiscard]] Result<std::string, std::string> new_cookie();
    // A token for form_name bound to cookie, made at now_s.
    [[nodiscard]] Result<std::string, std::string> token(std::string_view form_name,
                                                         std::string_view cookie,
                                                         std::int64_t now_s);
    // Checks a submitted token and, if good, marks it used.
    [[nodiscard]] Result<void, FormRefusal> redeem(std::string_view form_name,
                                                   std::string_view cookie, std::string_view token,
                                                   std::int64_t now_s);

    std::size_t used_count() const { return used_.size(); }

private:
    std::string mac(std::string_view form_name, std::string_view cookie,
                    std::string_view stamp_and_nonce) const;
    void forget_expired(std::int64_t now_s);

    std::string key_;
    std::unordered_map<std::string, std::int64_t> used_;  // Nonce -> when the token expires.
};

// Where a request stands with the rate limits.
enum class RateVerdict { allowed, limited, table_full };

class RateLimiter {
public:
    RateLimiter(std::uint32_t requests_per_minute, std::uint32_t posts_per_minute);

    // Takes one request (and, for a form, one post) from address's buckets at now_ms.
    RateVerdict take(std::string_view address, bool post, std::int64_t now_ms);
    // Seconds until a limited address may try again (at least 1).
    std::uint32_t retry_after_s(std::string_view address, bool post) const;

    std::size_t addresses() const { return buckets_.size(); }

private:
    struct Buckets {
        std::int64_t requests_milli = 0;  // Tokens times 1000.
        std::int64_t posts_milli = 0;
        std::int64_t refilled_ms = 0;
    };
    void refill(Buckets& buckets, std::int64_t now_ms) const;
    bool make_room(std::int64_t now_ms);

    std::int64_t requests_max_milli_;
    std::int64_t posts_max_milli_;
    std::map<std::string, Buckets, std::less<>> buckets_;
};

}  // namespace hub::enroll
