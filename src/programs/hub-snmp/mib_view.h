// mib_view.h -- a MIB as a sorted list of variable bindings, answered without net-snmp.
//
// hub-snmp builds one View from each snapshot of the hub (mib_map.h) and answers every
// AgentX Get and GetNext from it: Get is an exact lookup, GetNext the first binding after
// the requested name within the registered subtree. The View knows nothing of net-snmp, so
// the whole MIB mapping is unit-tested as plain data; agentx.cc only copies a Binding
// into a net-snmp variable.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace hub::snmp {

// An object identifier. Sub-identifiers are 32-bit (RFC 2578 7.1.3); vector's
// lexicographic order is the SNMP order of names.
using Oid = std::vector<std::uint32_t>;

Oid oid_join(const Oid& prefix, std::initializer_list<std::uint32_t> tail);
bool oid_starts_with(const Oid& oid, const Oid& prefix);
std::string oid_to_string(const Oid& oid);  // "1.3.6.1..." (no leading dot)

// The SMI base types hub-snmp serves (RFC 2578 7.1).
enum class ValueType : std::uint8_t {
    integer,       // INTEGER / Integer32, also TimeInterval and TruthValue
    octet_string,  // SnmpAdminString, DisplayString, DateAndTime
    object_id,     // OBJECT IDENTIFIER
    counter32,
    gauge32,
    timeticks,  // TimeTicks and TimeStamp
};

struct Value {
    ValueType type = ValueType::integer;
    std::int64_t number = 0;  // integer: int32 range; counter32/gauge32/timeticks: uint32 range
    std::string text;         // octet_string
    Oid oid;                  // object_id

    static Value integer(std::int32_t number);
    // Counter32 wraps (RFC 2578 7.1.6): the value is count mod 2^32.
    static Value counter32(std::uint64_t count);
    // Gauge32 latches at its maximum (RFC 2578 7.1.7).
    static Value gauge32(std::uint64_t level);
    static Value timeticks(std::uint32_t centiseconds);
    // TimeInterval (SNMPv2-TC): hundredths of a second, INTEGER (0..2147483647); latches.
    static Value time_interval_ms(std::uint64_t milliseconds);
    // TruthValue (SNMPv2-TC): true(1), false(2).
    static Value truth(bool value);
    // Text cut to max_bytes (the MIB's SIZE) without splitting a UTF-8 sequence, control
    // characters turned into spaces (a managers' display shows one line per value).
    static Value octets(std::string_view text, std::size_t max_bytes);
    // Binary octets as they are (DateAndTime), at most max_bytes.
    static Value binary(std::string_view octets, std::size_t max_bytes);
    static Value object_id(Oid oid);

    bool operator==(const Value&) const = default;
};

std::string value_to_string(const Value& value);  // For tests and debug lines.

struct Binding {
    Oid name;
    Value value;
};

class View {
public:
    // Adds a binding; any order. Returns false (and adds nothing) when the view is full.
    bool add(Oid name, Value value);
    // Sorts the bindings; a name added twice is a bug in the mapping (asserted).
    void finish();

    // The binding named exactly `name`, or nullptr.
    const Binding* find(const Oid& name) const;
    // The first binding after `name` whose name starts with `subtree`, or nullptr.
    const Binding* next_after(const Oid& name, const Oid& subtree) const;

    std::size_t size() const { return bindings_.size(); }
    const std::vector<Binding>& bindings() const { return bindings_; }
    bool dropped() const { return dropped_; }  // Some add() found the view full.

private:
    std::vector<Binding> bindings_;
    bool finished_ = false;
    bool dropped_ = false;
};

}  // namespace hub::snmp
