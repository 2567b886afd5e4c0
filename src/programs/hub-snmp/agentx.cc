// agentx.cc -- net-snmp's agent library as an AgentX subagent for hub-snmp.
//
// PURPOSE   Registers hub-snmp's subtrees with snmpd over AgentX and answers from a View.
// RUNS IN   hub-snmp, on its only thread (net-snmp is single-threaded global state).
// TRUST     Requests come from snmpd, which has already authenticated the manager (SNMPv3
//           USM) and applied its access control; names are still bounded (MAX_OID_LEN) and
//           checked before use. Nothing is writable: handlers are registered read-only.
// LIMITS    One View answers a whole request; names of at most MAX_OID_LEN sub-identifiers.
// SEE ALSO  agentx.h, RFC 2741, net-snmp's agent/mibgroup/agentx/subagent.c.
#include "programs/hub-snmp/agentx.h"

#include <sys/select.h>

#include <cerrno>
#include <cstdlib>
#include <limits>

// net-snmp last, in this order (its config header first): its headers define macros (and
// `linux`) the others must not see.
// clang-format off
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>
// clang-format on

namespace hub::snmp {

namespace {
bool agent_exists = false;

std::vector<oid> to_netsnmp(const Oid& name) {
    return std::vector<oid>(name.begin(), name.end());
}

// False when the name cannot be one of ours (too long, or a sub-identifier above 2^32-1).
bool from_netsnmp(const oid* name, std::size_t length, Oid& out) {
    if (length > MAX_OID_LEN) {
        return false;
    }
    out.clear();
    for (std::size_t i = 0; i < length; i++) {
        if (name[i] > std::numeric_limits<std::uint32_t>::max()) {
            return false;
        }
        out.push_back(static_cast<std::uint32_t>(name[i]));
    }
    return true;
}

u_char asn_type(ValueType type) {
    switch (type) {
        case ValueType::integer:
            return ASN_INTEGER;
        case ValueType::octet_string:
            return ASN_OCTET_STR;
        case ValueType::object_id:
            return ASN_OBJECT_ID;
        case ValueType::counter32:
            return ASN_COUNTER;
        case ValueType::gauge32:
            return ASN_GAUGE;
        case ValueType::timeticks:
            return ASN_TIMETICKS;
    }
    return ASN_NULL;
}

// Calls fill(type, bytes, length) with the value in net-snmp's representation.
template <typename Fill>
int with_netsnmp_value(const Value& value, Fill fill) {
    u_char type = asn_type(value.type);
    switch (value.type) {
        case ValueType::integer: {
            long number = static_cast<long>(value.number);
            return fill(type, &number, sizeof number);
        }
        case ValueType::counter32:
        case ValueType::gauge32:
        case ValueType::timeticks: {
            u_long number = static_cast<u_long>(value.number);
            return fill(type, &number, sizeof number);
        }
        case ValueType::octet_string:
            return fill(type, value.text.data(), value.text.size());
        case ValueType::object_id: {
            std::vector<oid> name = to_netsnmp(value.oid);
            return fill(type, name.data(), name.size() * sizeof(oid));
        }
    }
    return SNMPERR_GENERR;
}

int set_value(netsnmp_variable_list* variable, const Value& value) {
    return with_netsnmp_value(value, [&](u_char type, const void* bytes, std::size_t length) {
        return snmp_set_var_typed_value(variable, type, bytes, length);
    });
}

}  // namespace

struct AgentAccess {
    static int handle(netsnmp_mib_handler* handler, netsnmp_handler_registration* registration,
                      netsnmp_agent_request_info* info, netsnmp_request_info* requests) {
        auto* agent = static_cast<Agent*>(handler->myvoid);
        const View& view = agent->source_.view_for_request();
        Oid subtree;
        if (!from_netsnmp(registration->rootoid, registration->rootoid_len, subtree)) {
            return SNMP_ERR_GENERR;
        }
        Oid name;
        for (netsnmp_request_info* request = requests; request != nullptr;
             request = request->next) {
            if (request->processed != 0) {
                continue;
            }
            netsnmp_variable_list* variable = request->requestvb;
            bool valid = from_netsnmp(variable->name, variable->name_length, name);
            switch (info->mode) {
                case MODE_GET: {
                    const Binding* binding = valid ? view.find(name) : nullptr;
                    if (binding == nullptr) {
                        netsnmp_set_request_error(info, request, SNMP_NOSUCHINSTANCE);
                    } else if (set_value(variable, binding->value) != SNMPERR_SUCCESS) {
                        netsnmp_set_request_error(info, request, SNMP_ERR_GENERR);
                    }
                    break;
                }
                case MODE_GETNEXT: {
                    const Binding* binding = valid ? view.next_after(name, subtree) : nullptr;
                    if (binding == nullptr) {
                        break;  // Untouched: the library moves on past our subtree.
                    }
                    std::vector<oid> next = to_netsnmp(binding->name);
                    snmp_set_var_objid(variable, next.data(), next.size());
                    if (set_value(variable, binding->value) != SNMPERR_SUCCESS) {
                        netsnmp_set_request_error(info, request, SNMP_ERR_GENERR);
                    }
                    break;
                }
                default:
                    // Registered read-only: the library answers sets itself.
                    netsnmp_set_request_error(info, request, SNMP_ERR_NOTWRITABLE);
                    break;
            }
        }
        return SNMP_ERR_NOERROR;
    }
};

Result<std::unique_ptr<Agent>, std::string> Agent::start(const AgentSettings& settings,
                                                         ViewSource& source) {
    if (agent_exists) {
        return unexpected(std::string("only one AgentX subagent per process"));
    }
    // net-snmp's own lines (connection lost, reconnected) go to stderr like ours.
    snmp_disable_log();
    snmp_enable_stderrlog();
    // A subagent reads no snmp.conf, loads no MIB files and keeps no persistent state:
    // everything comes from hub-snmp's flags, and its sandbox has no writable /var/lib/snmp.
    setenv("MIBS", "", 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_CONFIG_LOAD, 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
    if (!settings.persistent_dir.empty()) {
        set_persistent_directory(settings.persistent_dir.c_str());
    }
    // Alarms (AgentX pings, reconnects) run from serve(), not from SIGALRM.
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_ALARM_DONT_USE_SIG, 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_ROLE, 1);  // subagent
    netsnmp_ds_set_string(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_X_SOCKET,
                          settings.agentx_socket.c_str());
    if (init_agent(settings.name.c_str()) != 0) {
        return unexpected(std::string("net-snmp: init_agent failed"));
    }
    // After init_agent(), which sets the library's default (15 s) for a subagent.
    netsnmp_ds_set_int(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_AGENTX_PING_INTERVAL,
                       static_cast<int>(settings.ping_s));
    std::unique_ptr<Agent> agent(new Agent(source));
    agent->name_ = settings.name;
    agent_exists = true;
    for (const Oid& subtree : settings.subtrees) {
        std::vector<oid> root = to_netsnmp(subtree);
        netsnmp_handler_registration* registration =
            netsnmp_create_handler_registration(settings.name.c_str(), &AgentAccess::handle,
                                                root.data(), root.size(), HANDLER_CAN_RONLY);
        if (registration == nullptr) {
            return unexpected("net-snmp: cannot create a registration for " +
                              oid_to_string(subtree));
        }
        registration->handler->myvoid = agent.get();
        if (netsnmp_register_handler(registration) != MIB_REGISTERED_OK) {
            return unexpected("net-snmp: cannot register " + oid_to_string(subtree));
        }
    }
    init_snmp(settings.name.c_str());  // Opens the AgentX session (or schedules retries).
    return agent;
}

Agent::~Agent() {
    snmp_shutdown(name_.c_str());
    shutdown_agent();
    agent_exists = false;
}

void Agent::serve(std::uint32_t timeout_ms) {
    int descriptors = 0;
    int block = 0;  // Use our timeout, lowered to the library's next timer if sooner.
    fd_set readable;
    FD_ZERO(&readable);
    timeval timeout{.tv_sec = static_cast<time_t>(timeout_ms / 1000),
                    .tv_usec = static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
    snmp_select_info(&descriptors, &readable, &timeout, &block);
    int count = select(descriptors, &readable, nullptr, nullptr, &timeout);
    if (count > 0) {
        snmp_read(&readable);
    } else if (count == 0) {
        snmp_timeout();
    }
    // count < 0: EINTR (a signal; the caller checks why) or EBADF from a session the
    // library is closing; either way its timers below still run.
    run_alarms();
    netsnmp_check_outstanding_agent_requests();
}

bool Agent::notify(const std::vector<Binding>& bindings) {
    netsnmp_variable_list* list = nullptr;
    for (const Binding& binding : bindings) {
        std::vector<oid> name = to_netsnmp(binding.name);
        int added = with_netsnmp_value(
            binding.value, [&](u_char type, const void* bytes, std::size_t length) {
                return snmp_varlist_add_variable(&list, name.data(), name.size(), type, bytes,
                                                 length) != nullptr
                           ? SNMPERR_SUCCESS
                           : SNMPERR_GENERR;
            });
        if (added != SNMPERR_SUCCESS) {
            snmp_free_varbind(list);
            return false;
        }
    }
    // send_v2trap() without its void: the subagent's hook turns it into an AgentX Notify.
    int status = netsnmp_send_traps(-1, -1, nullptr, 0, list, nullptr, 0);
    snmp_free_varbind(list);
    return status == 0;
}

std::uint32_t Agent::uptime_cs() const {
    return static_cast<std::uint32_t>(netsnmp_get_agent_uptime());
}

}  // namespace hub::snmp
