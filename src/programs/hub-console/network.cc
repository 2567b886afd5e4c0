// network.cc -- the Network and Service access pages' actions (network.h).
//
// hub-netcfg, the privileged helper that carries them out, is not part of this build yet:
// until its client is merged every such action is refused with that sentence, and nothing
// on the box is changed.
#include "programs/hub-console/network.h"

namespace hub::hub_console {
namespace {

class Unavailable : public Network {
public:
    console::Outcome run(const console::Action&) override {
        console::Outcome outcome;
        outcome.ok = false;
        outcome.message = "Network settings need hub-netcfg, which this build does not have yet";
        return outcome;
    }
};

}  // namespace

std::unique_ptr<Network> make_network(const std::string&) {
    return std::make_unique<Unavailable>();
}

}  // namespace hub::hub_console
