// snmp_group_index_fuzz.cc -- parse arbitrary bytes as hub-snmp's group index file.
//
// Beyond "no crash, no leak, no huge allocation", it checks that a file that parses is
// read back identically after serialize() (same pairs), that the serialized form is a
// fixed point, and that assign() of a new name still gives a fresh, unused index.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/assert.h"
#include "programs/hub-snmp/group_index.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    hub::Result<hub::snmp::GroupIndexes, std::string> table = hub::snmp::GroupIndexes::parse(text);
    if (!table) {
        HUB_ASSERT(!table.error().empty());
        return 0;
    }
    std::string once = table->serialize();
    hub::Result<hub::snmp::GroupIndexes, std::string> again = hub::snmp::GroupIndexes::parse(once);
    HUB_ASSERT(again.has_value());
    HUB_ASSERT(again->size() == table->size());
    HUB_ASSERT(again->serialize() == once);
    hub::Result<std::uint32_t, std::string> fresh = again->assign("fuzz-new-partner-name");
    if (fresh && !table->find("fuzz-new-partner-name")) {
        hub::Result<hub::snmp::GroupIndexes, std::string> third =
            hub::snmp::GroupIndexes::parse(again->serialize());
        HUB_ASSERT(third.has_value());  // The new index was unused: no duplicate.
        HUB_ASSERT(third->find("fuzz-new-partner-name") == *fresh);
    }
    return 0;
}
