// wire_test.cc -- actions and outcomes through their wire form: round trips, and a table of
// malformed blocks, each refused.
#include "console/wire.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace hub::console {
namespace {

TEST(ConsoleWire, ActionsRoundTrip) {
    Action action;
    action.kind = ActionKind::partner_add;
    action.target = "with space and %";
    action.fields = {{"name", "p3"}, {"contact", "Ann Example\ttab"}, {"inbound", ""}};
    auto back = decode_action(encode_action(action));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->kind, action.kind);
    EXPECT_EQ(back->target, action.target);
    EXPECT_EQ(back->fields, action.fields);
    for (int i = 0; i <= static_cast<int>(ActionKind::logout); i++) {
        Action each;
        each.kind = static_cast<ActionKind>(i);
        auto decoded = decode_action(encode_action(each));
        ASSERT_TRUE(decoded) << action_name(each.kind);
        EXPECT_EQ(decoded->kind, each.kind);
    }
}

TEST(ConsoleWire, OutcomesRoundTrip) {
    Outcome outcome;
    outcome.ok = false;
    outcome.message = "refused: \"x\"\nsecond line";
    outcome.header = "NAME  STATE";
    outcome.lines = {"", "a line", "100%"};
    outcome.rows = {{"p1", "p1  active"}, {"", "no key"}};
    auto back = decode_outcome(encode_outcome(outcome));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->ok, outcome.ok);
    EXPECT_EQ(back->message, outcome.message);
    EXPECT_EQ(back->header, outcome.header);
    EXPECT_EQ(back->lines, outcome.lines);
    ASSERT_EQ(back->rows.size(), 2u);
    EXPECT_EQ(back->rows[1].text, "no key");
}

// A hub key form's pastes: each up to paste_bytes_max, paste_fields_max of them; one more
// byte or one more paste is refused.
TEST(ConsoleWire, PastesRoundTripWithinTheirBounds) {
    std::string line = std::string(63, 'A') + "\n";
    std::string full;
    while (full.size() + line.size() <= paste_bytes_max) {
        full += line;
    }
    full.append(paste_bytes_max - full.size(), '%');  // Percent-encoded: three bytes each.
    Action action;
    action.kind = ActionKind::hub_key_import;
    for (std::size_t i = 0; i < paste_fields_max; i++) {
        action.fields[fmt::format("paste{}", i)] = full;
    }
    action.fields["password"] = std::string(field_bytes_max, ' ');
    std::string encoded = encode_action(action);
    EXPECT_LE(encoded.size(), wire_request_bytes_max);
    auto back = decode_action(encoded);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->fields, action.fields);

    Action too_long = action;
    too_long.fields["paste0"] += "A";
    EXPECT_FALSE(decode_action(encode_action(too_long)));
    Action too_many = action;
    too_many.fields["password"] = std::string(field_bytes_max + 1, 'x');
    EXPECT_FALSE(decode_action(encode_action(too_many)));
}

TEST(ConsoleWire, MalformedBlocksAreRefused) {
    const std::string h = std::string(wire_header) + "\n";
    const std::vector<std::string> actions = {
        "",
        "kind status\nend\n",
        h + "kind status\n",
        h + "kind status\nend",
        h + "kind status\nend\nmore\n",
        h + "end\n",
        h + "kind status\nkind status\nend\n",
        h + "kind reboot%2\nend\n",
        h + "kind reboot%zz\nend\n",
        h + "kind rm%20-rf\nend\n",
        h + "kind status\nfield a 1\nfield a 2\nend\n",
        h + "kind status\nshell sh\nend\n",
        h + "kind status\ntarget " + std::string(2000, 'x') + "\nend\n",
        h + std::string(wire_request_bytes_max, 'x') + "\nend\n",
    };
    for (const std::string& text : actions) {
        EXPECT_FALSE(decode_action(text)) << text.substr(0, 80);
    }
    const std::vector<std::string> outcomes = {
        h + "end\n",
        h + "ok 2\nend\n",
        h + "ok 1\nok 1\nend\n",
        h + "ok 1\nline %4\nend\n",
        h + "ok 1\nwhat ever\nend\n",
    };
    for (const std::string& text : outcomes) {
        EXPECT_FALSE(decode_outcome(text)) << text;
    }
}

}  // namespace
}  // namespace hub::console
