// control_test.cc -- the control socket's grammar and the list lines, as tables of cases.
//
// Method: parse_control_line on good and bad lines; format_list_line then parse_list_line
// round-trips, with hostile text (tabs, line breaks) that must not split a field; lock_spool
// against a lock already held in this process through another open file description.
#include "engine/control.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace hub::engine {
namespace {

TEST(ControlLine, ParsesEveryVerb) {
    struct Case {
        std::string_view line;
        ControlVerb verb;
    };
    const Case cases[] = {
        {"hold 0100000007000002\n", ControlVerb::hold},
        {"release 0100000007000002", ControlVerb::release},
        {"retry 0100000007000002\r\n", ControlVerb::retry},
        {"delete 0100000007000002", ControlVerb::remove},
        {"list\n", ControlVerb::list},
        {"status\n", ControlVerb::status},
    };
    for (const Case& c : cases) {
        auto command = parse_control_line(c.line);
        ASSERT_TRUE(command.has_value()) << c.line;
        EXPECT_EQ(command->verb, c.verb) << c.line;
        if (c.verb != ControlVerb::list && c.verb != ControlVerb::status) {
            EXPECT_EQ(command->id, (spool::QueueId{1, 7, 2})) << c.line;
        }
    }
}

TEST(ControlLine, RefusesWithAReason) {
    const std::string_view lines[] = {"",
                                      "hold",
                                      "hodl 0100000007000002",
                                      "hold 01",
                                      "hold 0100000007000002 extra",
                                      "list all",
                                      "LIST",
                                      "status now",
                                      "STATUS"};
    for (std::string_view line : lines) {
        auto command = parse_control_line(line);
        ASSERT_FALSE(command.has_value()) << line;
        EXPECT_FALSE(command.error().empty()) << line;
    }
}

// The read-only status socket (docs/HEALTH.md, "Who may ask") takes status and nothing else.
TEST(ControlLine, OnlyStatusIsReadOnly) {
    EXPECT_TRUE(read_only_verb(ControlVerb::status));
    for (ControlVerb verb : {ControlVerb::hold, ControlVerb::release, ControlVerb::retry,
                             ControlVerb::remove, ControlVerb::list}) {
        EXPECT_FALSE(read_only_verb(verb));
    }
    EXPECT_EQ(status_socket_path("/var/spool/hubbox", ""), "/var/spool/hubbox/status.sock");
    EXPECT_EQ(status_socket_path("/var/spool/hubbox", "/run/hubbox/status.sock"),
              "/run/hubbox/status.sock");
}

TEST(ListLine, RoundTripsAndKeepsFieldsWhole) {
    ListLine message;
    message.id = spool::QueueId{1, 7, 2};
    message.held = true;
    std::string text = format_list_line(message);
    EXPECT_EQ(text, "M\t0100000007000002\t1");
    ListLine parsed;
    ASSERT_TRUE(parse_list_line(text, parsed));
    EXPECT_FALSE(parsed.recipient);
    EXPECT_TRUE(parsed.held);
    EXPECT_EQ(parsed.id, message.id);

    ListLine recipient;
    recipient.recipient = true;
    recipient.id = spool::QueueId{0, 1, 0};
    recipient.recipient_index = 3;
    recipient.state = "deferred";
    recipient.attempt_count = 2;
    recipient.next_attempt_ms = 1'700'000'000'123;
    recipient.destination = "partner2";
    recipient.last_error = "451 4.4.1 down\tagain\r\nM\t0000000000000000\t1";  // Hostile.
    text = format_list_line(recipient);
    EXPECT_EQ(text.find('\n'), std::string::npos);
    ASSERT_TRUE(parse_list_line(text, parsed));
    EXPECT_TRUE(parsed.recipient);
    EXPECT_EQ(parsed.id, recipient.id);
    EXPECT_EQ(parsed.recipient_index, 3u);
    EXPECT_EQ(parsed.state, "deferred");
    EXPECT_EQ(parsed.attempt_count, 2u);
    EXPECT_EQ(parsed.next_attempt_ms, 1'700'000'000'123u);
    EXPECT_EQ(parsed.destination, "partner2");
    EXPECT_EQ(parsed.last_error, "451 4.4.1 down again  M 0000000000000000 1");
}

TEST(ListLine, RefusesMalformedLines) {
    const std::string_view lines[] = {
        "",
        "M\t0100000007000002",
        "M\tnot-an-id\t1",
        "X\t0100000007000002\t1",
        "R\t0100000007000002\t1\tready\t0\t0\tpartner2",    // A field short.
        "R\t0100000007000002\tx\tready\t0\t0\tpartner2\t",  // Index not a number.
        "R\t0100000007000002\t1\tready\t-1\t0\tpartner2\t",
    };
    for (std::string_view line : lines) {
        ListLine parsed;
        EXPECT_FALSE(parse_list_line(line, parsed)) << line;
    }
}

TEST(SpoolLock, SecondHolderIsRefusedAfterItsWait) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hub-control-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    auto first = lock_spool(pattern, 0);
    ASSERT_TRUE(first.has_value()) << first.error();
    auto second = lock_spool(pattern, 100);  // flock locks are per open file description.
    ASSERT_FALSE(second.has_value());
    EXPECT_NE(second.error().find(spool_lock_path(pattern)), std::string::npos);
    ::close(*first);
    auto third = lock_spool(pattern, 0);
    ASSERT_TRUE(third.has_value()) << third.error();
    ::close(*third);
    std::filesystem::remove_all(pattern);
}

}  // namespace
}  // namespace hub::engine
