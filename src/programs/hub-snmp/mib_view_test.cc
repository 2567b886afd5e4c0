// mib_view_test.cc -- exact and next lookups over a sorted view, and the SMI value rules
// (Counter32 wraps, Gauge32 latches, TimeInterval in hundredths, text cut safely).
#include "programs/hub-snmp/mib_view.h"

#include <gtest/gtest.h>

namespace hub::snmp {
namespace {

View sample() {
    View view;
    view.add({1, 3, 6, 1, 2, 1, 28, 1, 1, 2, 1}, Value::gauge32(5));
    view.add({1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 1}, Value::counter32(7));
    view.add({1, 3, 6, 1, 2, 1, 28, 2, 1, 2, 1, 1}, Value::counter32(3));
    view.add({1, 3, 6, 1, 4, 1, 32473, 1, 1, 1, 1, 0}, Value::truth(true));
    view.finish();
    return view;
}

TEST(MibView, FindIsExact) {
    View view = sample();
    ASSERT_NE(view.find({1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 1}), nullptr);
    EXPECT_EQ(view.find({1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 1})->value, Value::counter32(7));
    EXPECT_EQ(view.find({1, 3, 6, 1, 2, 1, 28, 1, 1, 1}), nullptr);  // A prefix is not a name.
    EXPECT_EQ(view.find({1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 1, 0}), nullptr);
}

TEST(MibView, NextWalksInOrderAndStaysInTheSubtree) {
    View view = sample();
    Oid mta = {1, 3, 6, 1, 2, 1, 28};
    std::vector<std::string> walked;
    Oid at = mta;
    while (const Binding* next = view.next_after(at, mta)) {
        walked.push_back(oid_to_string(next->name));
        at = next->name;
    }
    EXPECT_EQ(walked, (std::vector<std::string>{"1.3.6.1.2.1.28.1.1.1.1", "1.3.6.1.2.1.28.1.1.2.1",
                                                "1.3.6.1.2.1.28.2.1.2.1.1"}));
}

TEST(MibView, NextFromBeforeTheSubtreeGivesItsFirstBinding) {
    View view = sample();
    Oid hubbox = {1, 3, 6, 1, 4, 1, 32473, 1};
    const Binding* first = view.next_after({1, 3, 6, 1, 2, 1, 28, 9}, hubbox);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(oid_to_string(first->name), "1.3.6.1.4.1.32473.1.1.1.1.0");
    EXPECT_EQ(view.next_after(hubbox, hubbox), first);
    EXPECT_EQ(view.next_after(first->name, hubbox), nullptr);
    // A name between bindings (inside a column) gives the following one.
    const Binding* next =
        view.next_after({1, 3, 6, 1, 2, 1, 28, 1, 1, 1, 0, 5}, {1, 3, 6, 1, 2, 1, 28});
    ASSERT_NE(next, nullptr);
    EXPECT_EQ(oid_to_string(next->name), "1.3.6.1.2.1.28.1.1.1.1");
}

TEST(MibView, EmptyViewAnswersNothing) {
    View view;
    view.finish();
    EXPECT_EQ(view.find({1, 3}), nullptr);
    EXPECT_EQ(view.next_after({1, 3}, {1, 3}), nullptr);
}

TEST(MibValue, SmiRules) {
    EXPECT_EQ(Value::counter32((1ull << 32) + 5).number, 5);   // wraps
    EXPECT_EQ(Value::gauge32(1ull << 40).number, 4294967295);  // latches
    EXPECT_EQ(Value::time_interval_ms(12'345).number, 1234);   // hundredths
    EXPECT_EQ(Value::time_interval_ms(1ull << 50).number, 2147483647);
    EXPECT_EQ(Value::truth(true).number, 1);
    EXPECT_EQ(Value::truth(false).number, 2);
    EXPECT_EQ(Value::octets("a\tb\r\nc", 255).text, "a b  c");
    // Cut at 4 bytes: "ab" then the 3-byte euro sign would be split, so it goes whole.
    EXPECT_EQ(Value::octets("ab\xE2\x82\xAC", 4).text, "ab");
    EXPECT_EQ(Value::octets("ab\xE2\x82\xAC", 5).text, "ab\xE2\x82\xAC");
    EXPECT_EQ(Value::octets("abcdef", 3).text, "abc");
}

}  // namespace
}  // namespace hub::snmp
