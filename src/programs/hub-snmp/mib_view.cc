// mib_view.cc -- the sorted variable bindings behind every answer of hub-snmp.
//
// PURPOSE   Exact and next lookups over one snapshot's bindings (see mib_view.h).
// RUNS IN   hub-snmp, on its only thread.
// TRUST     Names come from snmpd (the AgentX master) and are only compared, never used
//           as indexes into anything.
// LIMITS    view_bindings_max bindings; strings cut to the MIB's SIZE by Value::octets.
// SEE ALSO  mib_map.cc (what goes in), agentx.cc (what asks).
#include "programs/hub-snmp/mib_view.h"

#include <algorithm>
#include <limits>

#include "base/assert.h"
#include "programs/hub-snmp/limits.h"

namespace hub::snmp {
namespace {

// One field set, the rest default (designated initializers would leave gcc warning about
// the members they skip).
Value number_value(ValueType type, std::int64_t number) {
    Value value;
    value.type = type;
    value.number = number;
    return value;
}

Value text_value(std::string text) {
    Value value;
    value.type = ValueType::octet_string;
    value.text = std::move(text);
    return value;
}

}  // namespace

Oid oid_join(const Oid& prefix, std::initializer_list<std::uint32_t> tail) {
    Oid joined = prefix;
    joined.insert(joined.end(), tail.begin(), tail.end());
    return joined;
}

bool oid_starts_with(const Oid& oid, const Oid& prefix) {
    return oid.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), oid.begin());
}

std::string oid_to_string(const Oid& oid) {
    std::string text;
    for (std::uint32_t part : oid) {
        if (!text.empty()) {
            text += '.';
        }
        text += std::to_string(part);
    }
    return text;
}

Value Value::integer(std::int32_t number) {
    return number_value(ValueType::integer, number);
}

Value Value::counter32(std::uint64_t count) {
    return number_value(ValueType::counter32, static_cast<std::int64_t>(count & 0xFFFF'FFFFu));
}

Value Value::gauge32(std::uint64_t level) {
    return number_value(ValueType::gauge32,
                        static_cast<std::int64_t>(std::min<std::uint64_t>(level, 0xFFFF'FFFFu)));
}

Value Value::timeticks(std::uint32_t centiseconds) {
    return number_value(ValueType::timeticks, centiseconds);
}

Value Value::time_interval_ms(std::uint64_t milliseconds) {
    constexpr std::uint64_t max = std::numeric_limits<std::int32_t>::max();
    return number_value(ValueType::integer,
                        static_cast<std::int64_t>(std::min(milliseconds / 10, max)));
}

Value Value::truth(bool value) {
    return integer(value ? 1 : 2);
}

Value Value::octets(std::string_view text, std::size_t max_bytes) {
    if (text.size() > max_bytes) {
        text = text.substr(0, max_bytes);
        // Do not end inside a UTF-8 sequence: drop continuation bytes and their lead byte.
        std::size_t end = text.size();
        std::size_t back = 0;
        while (end > 0 && back < 4 && (static_cast<unsigned char>(text[end - 1]) & 0xC0) == 0x80) {
            end--;
            back++;
        }
        if (end > 0 && static_cast<unsigned char>(text[end - 1]) >= 0xC0) {
            text = text.substr(0, end - 1);
        }
    }
    std::string kept(text);
    for (char& c : kept) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            c = ' ';
        }
    }
    return text_value(std::move(kept));
}

Value Value::binary(std::string_view octets, std::size_t max_bytes) {
    return text_value(std::string(octets.substr(0, std::min(octets.size(), max_bytes))));
}

Value Value::object_id(Oid oid) {
    Value value;
    value.type = ValueType::object_id;
    value.oid = std::move(oid);
    return value;
}

std::string value_to_string(const Value& value) {
    switch (value.type) {
        case ValueType::integer:
            return "INTEGER: " + std::to_string(value.number);
        case ValueType::octet_string:
            return "STRING: \"" + value.text + "\"";
        case ValueType::object_id:
            return "OID: " + oid_to_string(value.oid);
        case ValueType::counter32:
            return "Counter32: " + std::to_string(value.number);
        case ValueType::gauge32:
            return "Gauge32: " + std::to_string(value.number);
        case ValueType::timeticks:
            return "Timeticks: " + std::to_string(value.number);
    }
    return "?";
}

bool View::add(Oid name, Value value) {
    HUB_ASSERT(!finished_);
    if (bindings_.size() >= view_bindings_max) {
        dropped_ = true;
        return false;
    }
    bindings_.push_back(Binding{std::move(name), std::move(value)});
    return true;
}

void View::finish() {
    HUB_ASSERT(!finished_);
    std::sort(bindings_.begin(), bindings_.end(),
              [](const Binding& a, const Binding& b) { return a.name < b.name; });
    for (std::size_t i = 1; i < bindings_.size(); i++) {
        HUB_ASSERT(bindings_[i - 1].name != bindings_[i].name);
    }
    finished_ = true;
}

const Binding* View::find(const Oid& name) const {
    HUB_ASSERT(finished_);
    auto it = std::lower_bound(bindings_.begin(), bindings_.end(), name,
                               [](const Binding& b, const Oid& n) { return b.name < n; });
    if (it == bindings_.end() || it->name != name) {
        return nullptr;
    }
    return &*it;
}

const Binding* View::next_after(const Oid& name, const Oid& subtree) const {
    HUB_ASSERT(finished_);
    // A name before the subtree asks for its first binding.
    const Oid& from = name < subtree ? subtree : name;
    bool inclusive = name < subtree;
    auto before = [](const Binding& b, const Oid& n) { return b.name < n; };
    auto it = std::lower_bound(bindings_.begin(), bindings_.end(), from, before);
    if (!inclusive && it != bindings_.end() && it->name == from) {
        ++it;
    }
    if (it == bindings_.end() || !oid_starts_with(it->name, subtree)) {
        return nullptr;
    }
    return &*it;
}

}  // namespace hub::snmp
