// limits.h -- bounds on what hub-netcfg accepts, keeps and waits for.
//
// Crossing one earns the caller a refusal with a message, never an assertion.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hub::netcfg {

// One frame on the socket: a 4-byte header and the body. Requests are small (a list of at
// most list_items_max sources of at most value_bytes_max each); answers carry listings.
inline constexpr std::size_t frame_header_bytes = 4;
inline constexpr std::size_t request_frame_bytes_max = 128 * 1024;
inline constexpr std::size_t answer_frame_bytes_max = 2 * 1024 * 1024;
inline constexpr std::size_t value_bytes_max = 1024;            // One field's value.
inline constexpr std::size_t text_value_bytes_max = 64 * 1024;  // The settings file (answers).
inline constexpr std::size_t list_items_max = 64;               // Repeated fields in one frame.
inline constexpr std::size_t answer_items_max = 1024;           // Interfaces, addresses, routes.
static_assert(list_items_max * (value_bytes_max + 3) + 64 < request_frame_bytes_max,
              "a request with a full source list must fit one frame");
static_assert(answer_items_max * (value_bytes_max + 3) + text_value_bytes_max + 16 * 1024 <
                  answer_frame_bytes_max,
              "a full listing with its message and settings text must fit one answer");

// The settings (network.conf and what a request may set).
inline constexpr std::size_t settings_file_bytes_max = text_value_bytes_max;
inline constexpr std::size_t interfaces_count_max = 32;
inline constexpr std::size_t addresses_per_interface_max = 16;
inline constexpr std::size_t routes_count_max = 64;
inline constexpr std::size_t resolvers_count_max = 3;  // glibc's MAXNS: more are ignored.
inline constexpr std::size_t sources_per_service_max = list_items_max;
inline constexpr std::size_t interface_name_bytes_max = 15;  // IFNAMSIZ - 1.
inline constexpr std::size_t hostname_bytes_max = 64;        // HOST_NAME_MAX on Linux.
// IPv6 needs 1280 on every link (RFC 8200 5): a lower MTU would switch IPv6 off silently.
inline constexpr std::uint32_t mtu_min = 1280;
inline constexpr std::uint32_t mtu_max = 9216;  // The largest jumbo frame common NICs take.

// The confirm-or-roll-back window for a change that could cut the administrator off.
inline constexpr std::uint32_t confirm_window_s_default = 60;
inline constexpr std::uint32_t confirm_window_s_min = 1;  // Tests use a short window.
inline constexpr std::uint32_t confirm_window_s_max = 600;

// Troubleshooting probes: the daemon answers one request at a time, so a probe holds every
// other caller (and a due roll-back) for at most probe_seconds_max. A ping sends its
// echo requests ping_interval_ms apart and then waits at most its timeout for the replies.
inline constexpr std::uint32_t ping_count_max = 10;
inline constexpr std::uint32_t ping_interval_ms = 200;
inline constexpr std::uint32_t probe_timeout_s_max = 10;
inline constexpr std::uint32_t probe_seconds_max =
    (ping_count_max * ping_interval_ms) / 1000 + probe_timeout_s_max;
inline constexpr std::uint32_t ping_payload_bytes = 56;  // Like ping(8).

// A client that connects and says nothing is dropped after this; the client waits longer
// for its answer, because the daemon may be busy with another caller's probe first.
inline constexpr int socket_timeout_ms = 5000;
inline constexpr int client_answer_timeout_ms = 60 * 1000;
static_assert(2 * probe_seconds_max * 1000 < client_answer_timeout_ms);
inline constexpr int listen_backlog = 16;

// Netlink: one receive buffer. The kernel sizes a dump's datagrams by the largest buffer
// it has seen the reader use, up to 32 KiB; a bigger buffer never truncates one.
inline constexpr std::size_t netlink_buffer_bytes = 64 * 1024;
inline constexpr std::size_t live_links_max = 4096;  // A dump longer than this is refused.

}  // namespace hub::netcfg
