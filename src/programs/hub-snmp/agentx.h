// agentx.h -- hub-snmp's side of AgentX (RFC 2741): net-snmp's agent library, wrapped.
//
// net-snmp is C with global state; this is the only part of Hubbox that includes its
// headers (agentx.cc), so its macros and warnings stay out of everything else. The Agent
// registers the subtrees, answers each Get/GetNext/GetBulk from the View its ViewSource
// gives (GetBulk is turned into GetNexts by the library), sends notifications through the
// master (send_v2trap becomes an AgentX Notify), and reconnects when snmpd restarts
// (agentxPingInterval).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "programs/hub-snmp/mib_view.h"

namespace hub::snmp {

class ViewSource {
public:
    virtual ~ViewSource() = default;
    // The view to answer a request from; may refresh it first (the request waits).
    virtual const View& view_for_request() = 0;
};

struct AgentSettings {
    std::string agentx_socket;  // "/run/agentx/master", "unix:/path" or "tcp:127.0.0.1:705"
    std::string name = "hub-snmp";
    std::uint32_t ping_s = 5;  // 0: never ping, so never reconnect.
    // net-snmp's own state directory (it keeps certificate indexes there even for AgentX);
    // hub-snmp points it into its state directory, the one place it may write.
    std::string persistent_dir;
    std::vector<Oid> subtrees;
};

class Agent {
public:
    // Sets up net-snmp as a subagent and registers the subtrees. Only one Agent may exist
    // (net-snmp's state is global). The master may be absent: the library keeps trying to
    // connect every ping_s seconds.
    static Result<std::unique_ptr<Agent>, std::string> start(const AgentSettings& settings,
                                                             ViewSource& source);
    ~Agent();
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;

    // Serves AgentX traffic for at most timeout_ms; returns early when interrupted by a
    // signal.
    void serve(std::uint32_t timeout_ms);

    // Sends one notification (bindings: snmpTrapOID.0 first). False when the library
    // refused it (it is not queued: with snmpd away, a notification is lost).
    bool notify(const std::vector<Binding>& bindings);

    // The master's sysUpTime now, in hundredths of a second (the library keeps it in step
    // with every AgentX response).
    std::uint32_t uptime_cs() const;

private:
    explicit Agent(ViewSource& source) : source_(source) {}
    ViewSource& source_;
    std::string name_;

    friend struct AgentAccess;
};

}  // namespace hub::snmp
