// roles.h -- who may ask hub-ca what: the caller's role from its socket credentials.
//
// hub-ca learns the caller's uid and gid from the kernel (SO_PEERCRED), never from the
// request, and maps them to one role. Each role may send a fixed set of request kinds.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "ca/protocol.h"

namespace hub::ca {

enum class Role {
    none,    // Any other account: every request refused.
    admin,   // root, hub-ca's own account, members of [ca] admin_group: hubctl ca ...
    enroll,  // [ca] enroll_user (hub-enroll): submit, status, fetch, CRL, CA certificate.
    hubd,    // [hub] user: the CRL and the CA certificate.
};

struct RoleIds {
    std::uint32_t self_uid = 0;  // The account hub-ca runs as.
    std::optional<std::uint32_t> admin_gid;
    std::optional<std::uint32_t> enroll_uid;
    std::optional<std::uint32_t> hubd_uid;
};

struct Peer {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::span<const std::uint32_t> groups;  // The uid's supplementary groups (group database).
};

// The enrollment and hubd accounts are matched before the admin group, so that a service
// account that also sits in the admin group still gets only its own role.
Role role_of(const Peer& peer, const RoleIds& ids);
bool role_allows(Role role, Kind kind);
std::string_view role_name(Role role);

}  // namespace hub::ca
