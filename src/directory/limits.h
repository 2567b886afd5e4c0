// limits.h -- bounds on the partner directory and what hubctl writes into it.
#pragma once

#include <cstddef>

namespace hub::directory {

// How long a writer waits for another writer's transaction (hubctl against hubctl, or a
// reload reading while hubctl commits) before giving up with "database is locked".
inline constexpr int busy_timeout_ms = 5000;
inline constexpr std::size_t contact_bytes_max = 256;  // Free text: a person, a phone.
inline constexpr std::size_t actor_bytes_max = 64;     // Who made a change, as audited.
inline constexpr std::size_t audit_rows_shown_default = 50;
inline constexpr std::size_t audit_rows_shown_max = 100000;
// A listener certificate's file path (PATH_MAX less room for what hubd adds to a message).
inline constexpr std::size_t listener_certificate_path_bytes_max = 1024;
// A remembered TLS failure's reason, as hubd reported it (health::tls_reason_bytes_max cuts
// it first; this bounds what the directory keeps whatever the snapshot carries).
inline constexpr std::size_t tls_failure_reason_bytes_max = 256;

}  // namespace hub::directory
