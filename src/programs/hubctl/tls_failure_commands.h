// tls_failure_commands.h -- hubctl tls-failures record|list: the peers whose outbound TLS
// fails, remembered in the directory (docs/DIRECTORY.md, "Remembered TLS failures").
// Registered and dispatched by directory_commands.cc (they share --directory).
#pragma once

#include <string>
#include <vector>

#include "directory/directory.h"
#include "health/snapshot.h"

namespace hub::hubctl {

// What the snapshot says about each partner's outbound TLS: failing (since, last failure,
// reason when the last TLS failure was outbound), working (no longer failing and had TLS
// since hubd started), or nothing (no attempt since hubd started, or the shared "other"
// row): such partners are left out.
std::vector<directory::TlsObservation> tls_observations(const health::Snapshot& snapshot);

// tls-failures record: reads hubd's snapshot from its status socket (socket_path, else
// hub.conf's), then records it in the directory (directory_path, else hub.conf's
// directory.path) in one transaction. A hub.conf with partners.file has no directory:
// nothing to record, exit 0. Prints one line per peer added or cleared, nothing otherwise.
int record_tls_failures(const std::string& config_path, const std::string& directory_path,
                        const std::string& socket_path);

int list_tls_failures(directory::Directory& directory, bool json);

// For hubctl status: "remembered TLS failures (directory): ..." lines, or "" when hub.conf
// names no directory, it cannot be read, or it remembers none.
std::string remembered_tls_failures_text(const std::string& config_path);

}  // namespace hub::hubctl
