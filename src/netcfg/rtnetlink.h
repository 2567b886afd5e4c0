// rtnetlink.h -- the kernel's links, addresses and routes over rtnetlink (libmnl).
//
// One NETLINK_ROUTE socket, in the network namespace the process (or thread) is in when
// it is opened. Every request waits for the kernel's acknowledgement, so a failed step is
// known at once, with the kernel's errno in the message.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "netcfg/reconcile.h"

struct mnl_socket;

namespace hub::netcfg {

class Rtnetlink {
public:
    // Errors: the socket cannot be opened or bound (no CAP_NET_ADMIN is needed for that;
    // it is needed for the changes).
    [[nodiscard]] static Result<Rtnetlink, std::string> open();

    // Links, their addresses and the main table's unicast routes.
    [[nodiscard]] Result<KernelState, std::string> dump();
    // One step; the error names the step and the kernel's reason.
    [[nodiscard]] Result<void, std::string> run(const Step& step);

    Rtnetlink(Rtnetlink&&) noexcept = default;
    Rtnetlink& operator=(Rtnetlink&&) noexcept = default;
    ~Rtnetlink();

private:
    struct Closer {
        void operator()(mnl_socket* socket) const;
    };
    explicit Rtnetlink(mnl_socket* socket);
    [[nodiscard]] Result<void, std::string> request(void* buffer, std::size_t bytes);
    template <typename Callback>
    [[nodiscard]] Result<void, std::string> dump_kind(int type, std::uint8_t family,
                                                      Callback& callback);

    std::unique_ptr<mnl_socket, Closer> socket_;
    unsigned port_id_ = 0;
    unsigned sequence_ = 0;
};

// Carries out a reconciliation pass after pass until the kernel matches the settings (the
// kernel may drop routes when an address goes), at most reconcile_passes_max passes.
// Errors: a step the kernel refused, or steps still left after the last pass.
inline constexpr int reconcile_passes_max = 3;
[[nodiscard]] Result<std::vector<std::string>, std::string> converge(Rtnetlink& netlink,
                                                                     const Settings& settings);

}  // namespace hub::netcfg
