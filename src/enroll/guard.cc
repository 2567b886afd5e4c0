// guard.cc -- form tokens and per-address rate limits (guard.h).
//
// PURPOSE   Make a form usable once, by the browser it was shown to, for an hour; and bound
//           how often one address may ask anything, and send forms in particular.
// RUNS IN   hub-enroll's one thread; the clock is passed in.
// TRUST     Tokens and cookies come from the internet: decoded with bounds, compared in
//           constant time. The HMAC key never leaves the process.
// LIMITS    enroll/limits.h: form_lifetime_s, used_forms_max, rate_addresses_max.
// SEE ALSO  docs/ENROLLMENT.md ("Forms and CSRF", "Rate limits").

#include "enroll/guard.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>

#include <algorithm>
#include <array>

#include "base/assert.h"
#include "enroll/limits.h"

namespace hub::enroll {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t stamp_bytes = 8;
constexpr std::size_t nonce_bytes = 16;
constexpr std::size_t mac_bytes = 18;  // Of HMAC-SHA256's 32: 144 bits, a multiple of 3.
constexpr std::size_t cookie_bytes = 18;
constexpr std::size_t token_raw_bytes = stamp_bytes + nonce_bytes + mac_bytes;
static_assert(token_raw_bytes % 3 == 0 && cookie_bytes % 3 == 0, "base64 without padding");
// A token a little from the future is clock skew between two of our own calls: none.
constexpr std::int64_t future_slack_s = 5;

std::string base64url(std::string_view raw) {
    HUB_ASSERT(raw.size() % 3 == 0);
    std::string out;
    for (std::size_t i = 0; i < raw.size(); i += 3) {
        std::uint32_t chunk =
            (static_cast<std::uint32_t>(static_cast<std::uint8_t>(raw[i])) << 16) |
            (static_cast<std::uint32_t>(static_cast<std::uint8_t>(raw[i + 1])) << 8) |
            static_cast<std::uint8_t>(raw[i + 2]);
        for (int shift = 18; shift >= 0; shift -= 6) {
            out.push_back(alphabet[(chunk >> shift) & 63]);
        }
    }
    return out;
}

bool unbase64url(std::string_view text, std::string& raw) {
    if (text.size() % 4 != 0) {
        return false;
    }
    raw.clear();
    for (std::size_t i = 0; i < text.size(); i += 4) {
        std::uint32_t chunk = 0;
        for (std::size_t j = 0; j < 4; j++) {
            const char* found = std::find(alphabet, alphabet + 64, text[i + j]);
            if (found == alphabet + 64) {
                return false;
            }
            chunk = (chunk << 6) | static_cast<std::uint32_t>(found - alphabet);
        }
        raw.push_back(static_cast<char>((chunk >> 16) & 0xff));
        raw.push_back(static_cast<char>((chunk >> 8) & 0xff));
        raw.push_back(static_cast<char>(chunk & 0xff));
    }
    return true;
}

Result<std::string, std::string> random_bytes(std::size_t count) {
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0) {
        return unexpected(std::string("cannot start the random number generator"));
    }
    std::string out(count, '\0');
    int status =
        wc_RNG_GenerateBlock(&rng, reinterpret_cast<byte*>(out.data()), static_cast<word32>(count));
    wc_FreeRng(&rng);
    if (status != 0) {
        return unexpected(std::string("cannot draw random bytes"));
    }
    return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char difference = 0;
    for (std::size_t i = 0; i < a.size(); i++) {
        difference |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return difference == 0;
}

}  // namespace

std::string_view form_refusal_text(FormRefusal refusal) {
    switch (refusal) {
        case FormRefusal::no_cookie:
            return "your browser did not send this page's cookie with the form; allow cookies "
                   "for this site and send the form below";
        case FormRefusal::invalid:
            return "this form was not made by this page for your browser; use the form below";
        case FormRefusal::expired:
            return "this form is more than an hour old; send the fresh one below";
        case FormRefusal::replayed:
            return "this form was already sent once, so it was refused; nothing was changed. "
                   "Use the fresh form below if you meant to send it again";
        case FormRefusal::busy:
            return "the page is busy; try again in a few minutes";
    }
    return "refused";
}

FormGuard::FormGuard(std::string key) : key_(std::move(key)) {
    HUB_ASSERT(key_.size() >= 32);
}

Result<std::string, std::string> FormGuard::new_cookie() {
    auto raw = random_bytes(cookie_bytes);
    if (!raw) {
        return unexpected(raw.error());
    }
    return base64url(*raw);
}

std::string FormGuard::mac(std::string_view form_name, std::string_view cookie,
                           std::string_view stamp_and_nonce) const {
    // Length-prefixed parts, so no two (form, cookie) pairs hash the same bytes.
    std::string message;
    for (std::string_view part : {form_name, cookie, stamp_and_nonce}) {
        message.push_back(static_cast<char>(part.size() & 0xff));
        message.push_back(static_cast<char>((part.size() >> 8) & 0xff));
        message += part;
    }
    Hmac hmac;
    std::array<byte, WC_SHA256_DIGEST_SIZE> digest{};
    bool ok = wc_HmacInit(&hmac, nullptr, INVALID_DEVID) == 0 &&
              wc_HmacSetKey(&hmac, WC_SHA256, reinterpret_cast<const byte*>(key_.data()),
                            static_cast<word32>(key_.size())) == 0 &&
              wc_HmacUpdate(&hmac, reinterpret_cast<const byte*>(message.data()),
                            static_cast<word32>(message.size())) == 0 &&
              wc_HmacFinal(&hmac, digest.data()) == 0;
    wc_HmacFree(&hmac);
    HUB_ASSERT(ok);  // Only fails on bad arguments, which are ours.
    return std::string(reinterpret_cast<const char*>(digest.data()), mac_bytes);
}

Result<std::string, std::string> FormGuard::token(std::string_view form_name,
                                                  std::string_view cookie, std::int64_t now_s) {
    auto nonce = random_bytes(nonce_bytes);
    if (!nonce) {
        return unexpected(nonce.error());
    }
    std::string raw;
    for (int shift = 56; shift >= 0; shift -= 8) {
        raw.push_back(static_cast<char>((static_cast<std::uint64_t>(now_s) >> shift) & 0xff));
    }
    raw += *nonce;
    raw += mac(form_name, cookie, raw);
    return base64url(raw);
}

void FormGuard::forget_expired(std::int64_t now_s) {
    std::erase_if(used_, [&](const auto& entry) { return entry.second < now_s; });
}

Result<void, FormRefusal> FormGuard::redeem(std::string_view form_name, std::string_view cookie,
                                            std::string_view token, std::int64_t now_s) {
    if (cookie.empty()) {
        return unexpected(FormRefusal::no_cookie);
    }
    std::string raw;
    if (token.size() != token_raw_bytes / 3 * 4 || !unbase64url(token, raw)) {
        return unexpected(FormRefusal::invalid);
    }
    std::string_view signed_part = std::string_view(raw).substr(0, stamp_bytes + nonce_bytes);
    if (!equal_constant_time(mac(form_name, cookie, signed_part),
                             std::string_view(raw).substr(stamp_bytes + nonce_bytes))) {
        return unexpected(FormRefusal::invalid);
    }
    std::uint64_t stamp = 0;
    for (std::size_t i = 0; i < stamp_bytes; i++) {
        stamp = (stamp << 8) | static_cast<std::uint8_t>(raw[i]);
    }
    auto made_s = static_cast<std::int64_t>(stamp);
    if (made_s > now_s + future_slack_s || now_s - made_s > form_lifetime_s) {
        return unexpected(FormRefusal::expired);
    }
    std::string nonce(signed_part.substr(stamp_bytes));
    if (used_.contains(nonce)) {
        return unexpected(FormRefusal::replayed);
    }
    if (used_.size() >= used_forms_max) {
        forget_expired(now_s);
        if (used_.size() >= used_forms_max) {
            return unexpected(FormRefusal::busy);
        }
    }
    used_.emplace(std::move(nonce), made_s + form_lifetime_s);
    return {};
}

RateLimiter::RateLimiter(std::uint32_t requests_per_minute, std::uint32_t posts_per_minute)
    : requests_max_milli_(static_cast<std::int64_t>(requests_per_minute) * 1000),
      posts_max_milli_(static_cast<std::int64_t>(posts_per_minute) * 1000) {
    HUB_ASSERT(requests_per_minute > 0 && posts_per_minute > 0);
}

void RateLimiter::refill(Buckets& buckets, std::int64_t now_ms) const {
    std::int64_t elapsed_ms = std::max<std::int64_t>(0, now_ms - buckets.refilled_ms);
    // A bucket of N per minute gains N tokens in 60,000 ms: N/60 milli-tokens per ms.
    buckets.requests_milli = std::min(
        requests_max_milli_, buckets.requests_milli + elapsed_ms * requests_max_milli_ / 60'000);
    buckets.posts_milli =
        std::min(posts_max_milli_, buckets.posts_milli + elapsed_ms * posts_max_milli_ / 60'000);
    buckets.refilled_ms = std::max(buckets.refilled_ms, now_ms);
}

bool RateLimiter::make_room(std::int64_t now_ms) {
    for (auto entry = buckets_.begin(); entry != buckets_.end();) {
        refill(entry->second, now_ms);
        bool rested = entry->second.requests_milli == requests_max_milli_ &&
                      entry->second.posts_milli == posts_max_milli_;
        entry = rested ? buckets_.erase(entry) : std::next(entry);
    }
    return buckets_.size() < rate_addresses_max;
}

RateVerdict RateLimiter::take(std::string_view address, bool post, std::int64_t now_ms) {
    auto found = buckets_.find(address);
    if (found == buckets_.end()) {
        if (buckets_.size() >= rate_addresses_max && !make_room(now_ms)) {
            return RateVerdict::table_full;
        }
        found = buckets_
                    .emplace(std::string(address),
                             Buckets{requests_max_milli_, posts_max_milli_, now_ms})
                    .first;
    }
    Buckets& buckets = found->second;
    refill(buckets, now_ms);
    if (buckets.requests_milli < 1000 || (post && buckets.posts_milli < 1000)) {
        return RateVerdict::limited;
    }
    buckets.requests_milli -= 1000;
    if (post) {
        buckets.posts_milli -= 1000;
    }
    return RateVerdict::allowed;
}

std::uint32_t RateLimiter::retry_after_s(std::string_view address, bool post) const {
    auto found = buckets_.find(address);
    if (found == buckets_.end()) {
        return 1;
    }
    const Buckets& buckets = found->second;
    std::int64_t wait_ms = 0;
    if (buckets.requests_milli < 1000) {
        wait_ms = (1000 - buckets.requests_milli) * 60'000 / requests_max_milli_;
    }
    if (post && buckets.posts_milli < 1000) {
        wait_ms = std::max(wait_ms, (1000 - buckets.posts_milli) * 60'000 / posts_max_milli_);
    }
    return static_cast<std::uint32_t>(std::max<std::int64_t>(1, (wait_ms + 999) / 1000));
}

}  // namespace hub::enroll
