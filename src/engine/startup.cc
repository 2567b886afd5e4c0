// startup.cc -- binding listeners and preparing the spool tree, before privileges go.
//
// PURPOSE   The privileged, blocking set-up steps of hubd, kept out of main().
// RUNS IN   hubd's main thread at start, usually as root.
// TRUST     the configuration (already validated); no peer input.
// LIMITS    listen_backlog pending connections per listener.
// SEE ALSO  programs/hubd/main.cc, spool_writer.cc
#include "engine/startup.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/assert.h"
#include "base/log.h"

namespace hub::engine {
namespace {

inline constexpr int listen_backlog = 4096;

std::string errno_text() {
    return std::strerror(errno);
}

Result<void, std::string> make_dir(const std::string& path, uid_t owner, gid_t group) {
    if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
        return unexpected("cannot create " + path + ": " + errno_text());
    }
    if (owner != static_cast<uid_t>(-1) && chown(path.c_str(), owner, group) != 0) {
        return unexpected("cannot give " + path + " to the hub user: " + errno_text());
    }
    return {};
}

// Segments written by an earlier run as another user must stay readable and writable.
Result<void, std::string> chown_files(const std::string& dir, uid_t owner, gid_t group) {
    DIR* listing = opendir(dir.c_str());
    if (listing == nullptr) {
        return unexpected("cannot read " + dir + ": " + errno_text());
    }
    while (dirent* entry = readdir(listing)) {
        std::string name = entry->d_name;
        if (name == "." || name == "..") {
            continue;
        }
        std::string path = dir + "/" + name;
        if (chown(path.c_str(), owner, group) != 0) {
            closedir(listing);
            return unexpected("cannot give " + path + " to the hub user: " + errno_text());
        }
    }
    closedir(listing);
    return {};
}

}  // namespace

Result<HubUser, std::string> resolve_hub_user(const std::string& name) {
    if (geteuid() != 0) {
        return HubUser{};  // Not root: keep running as whoever started us.
    }
    passwd* entry = getpwnam(name.c_str());
    if (entry == nullptr) {
        return unexpected("hub.user = \"" + name +
                          "\": no such user; create it (tools/setup does: useradd --system "
                          "hubbox) or name an existing unprivileged user");
    }
    if (entry->pw_uid == 0) {
        return unexpected("hub.user = \"" + name + "\" is root; name an unprivileged user");
    }
    return HubUser{entry->pw_uid, entry->pw_gid};
}

bool socket_address_of(const config::ListenAddress& address, SocketAddress& out) {
    out = SocketAddress{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    if (inet_pton(AF_INET, address.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(address.port);
        out.length = sizeof(sockaddr_in);
        return true;
    }
    if (inet_pton(AF_INET6, address.host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(address.port);
        out.length = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

Result<int, std::string> bind_listener(const config::ListenAddress& address, const char* purpose) {
    SocketAddress socket_address;
    if (!socket_address_of(address, socket_address)) {
        return unexpected(std::string(purpose) + ": '" + address.host +
                          "' is not a numeric IP address");
    }
    sockaddr_storage& storage = socket_address.storage;
    socklen_t length = socket_address.length;
    std::string where =
        std::string(purpose) + " listener " + address.host + ":" + std::to_string(address.port);
    int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return unexpected(where + ": socket: " + errno_text());
    }
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0) {
        std::string error = errno_text();
        close(fd);
        return unexpected(where + ": setsockopt: " + error);
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
        listen(fd, listen_backlog) != 0) {
        std::string error = errno_text();
        close(fd);
        return unexpected(where + ": " + error);
    }
    return fd;
}

Result<std::vector<int>, std::string> prepare_spool(const std::string& spool_dir,
                                                    unsigned shard_count, uid_t owner,
                                                    gid_t group) {
    HUB_ASSERT(shard_count > 0);
    if (auto made = make_dir(spool_dir, owner, group); !made) {
        return unexpected(made.error());
    }
    std::vector<int> dir_fds;
    for (unsigned shard = 0; shard < shard_count; shard++) {
        std::string path = spool_dir + "/shard-" + std::to_string(shard);
        if (auto made = make_dir(path, owner, group); !made) {
            return unexpected(made.error());
        }
        if (owner != static_cast<uid_t>(-1)) {
            if (auto owned = chown_files(path, owner, group); !owned) {
                return unexpected(owned.error());
            }
        }
        int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            return unexpected("cannot open " + path + ": " + errno_text());
        }
        dir_fds.push_back(fd);
    }
    return dir_fds;
}

Result<int, std::string> bind_status_socket(const std::string& path, uid_t owner,
                                            const std::string& group_name) {
    gid_t group_id = static_cast<gid_t>(-1);
    if (!group_name.empty()) {
        struct group* entry = getgrnam(group_name.c_str());
        if (entry == nullptr) {
            return unexpected("health.status_group = \"" + group_name +
                              "\": no such group; create it (groupadd --system " + group_name +
                              ") or leave the option empty");
        }
        group_id = entry->gr_gid;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) {
        return unexpected("health.status_socket: path too long: " + path);
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    unlink(path.c_str());  // Left by a hubd that was killed.
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    mode_t previous = umask(0077);  // Never wider than 0600 before the chmod below.
    int bound = fd < 0 ? -1 : bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    umask(previous);
    if (bound != 0 || listen(fd, 8) != 0) {
        std::string error = errno_text();
        if (fd >= 0) {
            close(fd);
        }
        return unexpected("status socket " + path + ": " + error);
    }
    bool chowned = (owner == static_cast<uid_t>(-1) && group_id == static_cast<gid_t>(-1)) ||
                   chown(path.c_str(), owner, group_id) == 0;
    if (!chowned || chmod(path.c_str(), group_name.empty() ? 0600 : 0660) != 0) {
        std::string error = errno_text();
        close(fd);
        unlink(path.c_str());
        return unexpected("status socket " + path + ": " + error);
    }
    return fd;
}

void drop_privileges(const HubUser& user, const std::string& name) {
    if (user.uid != static_cast<uid_t>(-1)) {
        if (setgroups(0, nullptr) != 0 || setgid(user.gid) != 0 || setuid(user.uid) != 0) {
            base::log_fatal("cannot become user {}: {}", name, std::strerror(errno));
        }
        if (setuid(0) == 0) {
            base::log_fatal("privilege drop failed: could regain root");
        }
        base::log_info("running as user {} (uid {})", name, user.uid);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        base::log_fatal("prctl(PR_SET_NO_NEW_PRIVS): {}", std::strerror(errno));
    }
}

}  // namespace hub::engine
