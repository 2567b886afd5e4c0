// roles.cc -- the caller's role and what it may ask (roles.h).
//
// PURPOSE   One table of which role may send which request kind.
// RUNS IN   hub-ca, for every connection, before the request is decoded further.
// TRUST     The credentials come from the kernel (SO_PEERCRED); nothing the caller says
//           changes its role.
// LIMITS    None.
// SEE ALSO  ca/protocol.h, docs/CA.md ("Roles").

#include "ca/roles.h"

#include <algorithm>

namespace hub::ca {

Role role_of(const Peer& peer, const RoleIds& ids) {
    if (peer.uid == 0) {
        return Role::admin;
    }
    if (ids.enroll_uid && peer.uid == *ids.enroll_uid) {
        return Role::enroll;
    }
    if (ids.hubd_uid && peer.uid == *ids.hubd_uid) {
        return Role::hubd;
    }
    // hub-ca's own account can read the CA key anyway: admin adds nothing to it.
    if (peer.uid == ids.self_uid) {
        return Role::admin;
    }
    if (ids.admin_gid &&
        (peer.gid == *ids.admin_gid ||
         std::find(peer.groups.begin(), peer.groups.end(), *ids.admin_gid) != peer.groups.end())) {
        return Role::admin;
    }
    return Role::none;
}

bool role_allows(Role role, Kind kind) {
    switch (role) {
        case Role::admin:
            return kind != Kind::ok && kind != Kind::refused;
        case Role::enroll:
            return kind == Kind::submit || kind == Kind::status ||
                   kind == Kind::fetch_certificate || kind == Kind::fetch_crl ||
                   kind == Kind::fetch_ca;
        case Role::hubd:
            return kind == Kind::fetch_crl || kind == Kind::fetch_ca;
        case Role::none:
            return false;
    }
    return false;
}

std::string_view role_name(Role role) {
    switch (role) {
        case Role::admin:
            return "admin";
        case Role::enroll:
            return "enroll";
        case Role::hubd:
            return "hubd";
        case Role::none:
            return "none";
    }
    return "none";
}

}  // namespace hub::ca
