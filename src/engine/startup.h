// startup.h -- what hubd does once, as root, before the shards start.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"
#include "config/hub_config.h"

namespace hub::engine {

// The account hubd becomes when started as root: [hub] user, looked up. Started as another
// user, hubd stays that user and both ids are -1. Errors: no such user, or it is root.
struct HubUser {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
};
[[nodiscard]] Result<HubUser, std::string> resolve_hub_user(const std::string& name);

// Becomes user (named name in the log) for good -- groups, gid, uid, and a check that root
// cannot be regained -- then sets no_new_privs; a user of -1 only sets no_new_privs. Any
// failure is fatal: a process that meant to drop root must never go on as root.
void drop_privileges(const HubUser& user, const std::string& name);

// A listen address as a socket address (the host must be a numeric IPv4 or IPv6 address,
// as the configuration loader checks); false if it is not.
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
};
[[nodiscard]] bool socket_address_of(const config::ListenAddress& address, SocketAddress& out);

// A listening TCP socket on host:port with SO_REUSEPORT (one per shard, so the kernel
// spreads connections across shards) and TCP_NODELAY (inherited by accepted sockets).
[[nodiscard]] Result<int, std::string> bind_listener(const config::ListenAddress& address,
                                                     const char* purpose);

// Creates "<spool>/shard-<k>" for every shard, hands the tree to owner (when uid is not
// -1), and opens each shard directory for the shard's openat and directory fsync.
[[nodiscard]] Result<std::vector<int>, std::string> prepare_spool(const std::string& spool_dir,
                                                                  unsigned shard_count, uid_t owner,
                                                                  gid_t group);

// The read-only status socket (docs/HEALTH.md, "Who may ask"): a Unix socket at path,
// bound and listening, owned by owner (when not -1) and group_name's group with mode 0660,
// so that the monitoring readers (hub-metrics, hub-snmp) may connect; with group_name
// empty, 0600 like the control socket. Done as root, before the privilege drop, because
// the socket's directory (/run/hubbox on the appliance) need not be writable by the hub
// user. A stale socket file at path is replaced. Errors: no such group, or the path's
// bind/chown/chmod failure.
[[nodiscard]] Result<int, std::string> bind_status_socket(const std::string& path, uid_t owner,
                                                          const std::string& group_name);

}  // namespace hub::engine
