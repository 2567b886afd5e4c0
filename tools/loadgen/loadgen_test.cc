// loadgen_test.cc -- the load generator's sans-I/O pieces: the reply reader, --size-dist
// parsing and drawing, the pacing schedule, and message construction. Tables of cases; no
// sockets, no clock.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "limits.h"
#include "message.h"
#include "pacing.h"
#include "reply.h"
#include "size_dist.h"

namespace hub::loadgen {
namespace {

std::vector<Reply> feed_all(ReplyReader& reader, std::string_view text) {
    EXPECT_TRUE(reader.append(std::span<const char>(text.data(), text.size())));
    std::vector<Reply> out;
    for (;;) {
        auto next = reader.next();
        EXPECT_TRUE(next.has_value()) << (next ? "" : next.error());
        if (!next || !*next) {
            return out;
        }
        out.push_back(**next);
    }
}

TEST(LoadgenReplyReader, SingleMultiAndBareCodeLines) {
    ReplyReader reader;
    auto replies =
        feed_all(reader, "220 hub ready\r\n250-hub\r\n250-PIPELINING\r\n250 SIZE 5\r\n221\r\n");
    ASSERT_EQ(replies.size(), 3u);
    EXPECT_EQ(replies[0].code, 220);
    EXPECT_EQ(replies[1].lines.size(), 3u);
    EXPECT_EQ(replies[1].last(), "250 SIZE 5");
    EXPECT_EQ(replies[2].code, 221);
    EXPECT_TRUE(reader.empty());
}

TEST(LoadgenReplyReader, SplitAcrossAppendsAndBareLf) {
    ReplyReader reader;
    EXPECT_TRUE(feed_all(reader, "250-first\r\n25").empty());
    EXPECT_TRUE(feed_all(reader, "0 sec").empty());
    auto replies = feed_all(reader, "ond\n");
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].lines[1], "250 second");
}

TEST(LoadgenReplyReader, Errors) {
    struct Case {
        std::string input;
        std::string error_start;
    };
    std::vector<Case> cases = {
        {"hello\r\n", "malformed reply line"},
        {"25 x\r\n", "malformed reply line"},
        {"250x\r\n", "malformed reply line"},
        {"250-a\r\n251 b\r\n", "reply code changed mid-reply"},
        {std::string(reply_line_bytes_max + 1, '2'), "reply line too long"},
        {"250 " + std::string(reply_line_bytes_max, 'x') + "\r\n", "reply line too long"},
    };
    std::string many;
    for (std::size_t i = 0; i <= reply_lines_max; i++) {
        many += "250-x\r\n";
    }
    cases.push_back({many, "reply with too many lines"});
    for (const Case& c : cases) {
        ReplyReader reader;
        ASSERT_TRUE(reader.append(std::span<const char>(c.input.data(), c.input.size())));
        Result<std::optional<Reply>, std::string> got = reader.next();
        ASSERT_FALSE(got.has_value()) << c.input.substr(0, 40);
        EXPECT_EQ(got.error().rfind(c.error_start, 0), 0u) << got.error();
    }
}

TEST(LoadgenReplyReader, InboxBound) {
    ReplyReader reader;
    std::string big(inbox_bytes_max, '2');
    EXPECT_TRUE(reader.append(std::span<const char>(big.data(), big.size())));
    EXPECT_FALSE(reader.append(std::span<const char>("x", 1)));
}

TEST(LoadgenReplyHelpers, EhloQueueIdFirstWords) {
    Reply ehlo{250, {"250-hub", "250-pipelining", "250-SIZE 10240000", "250 STARTTLS"}};
    Extensions extensions = parse_ehlo(ehlo);
    EXPECT_TRUE(extensions.pipelining);
    EXPECT_TRUE(extensions.size);
    EXPECT_FALSE(parse_ehlo(Reply{250, {"250-hub", "250 8BITMIME"}}).pipelining);
    EXPECT_EQ(queue_id_of(Reply{250, {"250 2.0.0 Ok: queued as ABC123 thanks"}}), "ABC123");
    EXPECT_EQ(queue_id_of(Reply{250, {"250 2.0.0 Ok: queued as XYZ"}}), "XYZ");
    EXPECT_EQ(queue_id_of(Reply{250, {"250 ok"}}), "-");
    EXPECT_EQ(first_words(Reply{452, {"452 " + std::string(100, 'z')}}).size(), 60u);
}

TEST(LoadgenSizeDistribution, ParsesAndRejects) {
    auto fixed = SizeDistribution::parse("fixed", 2048);
    ASSERT_TRUE(fixed.has_value());
    EXPECT_EQ(fixed->pick(1, 0, 0), 2048u);
    auto list = SizeDistribution::parse("1024:70,102400:25,5242880:5", 1);
    ASSERT_TRUE(list.has_value());
    EXPECT_EQ(list->entries().size(), 3u);
    EXPECT_EQ(list->bytes_max(), 5242880u);
    for (std::string bad : {"", "1024", "1024:", ":5", "0:1", "1024:0", "x:1", "1024:1,",
                            "1024:1,,2048:1", "99999999999:1", "1024:-1"}) {
        EXPECT_FALSE(SizeDistribution::parse(bad, 1).has_value()) << bad;
    }
}

TEST(LoadgenSizeDistribution, DeterministicAndRoughlyWeighted) {
    auto list = SizeDistribution::parse("1024:70,102400:25,5242880:5", 1);
    ASSERT_TRUE(list.has_value());
    std::map<std::uint64_t, int> counts;
    for (std::uint32_t session = 0; session < 100; session++) {
        for (std::uint32_t message = 0; message < 100; message++) {
            std::uint64_t size = list->pick(7, session, message);
            EXPECT_EQ(size, list->pick(7, session, message));  // Same inputs, same size.
            counts[size]++;
        }
    }
    EXPECT_NEAR(counts[1024], 7000, 300);
    EXPECT_NEAR(counts[102400], 2500, 250);
    EXPECT_NEAR(counts[5242880], 500, 120);
    int differ = 0;
    for (std::uint32_t message = 0; message < 100; message++) {
        differ += list->pick(7, 0, message) != list->pick(8, 0, message);
    }
    EXPECT_GT(differ, 10);  // Another seed, another sequence.
}

TEST(LoadgenPacer, ScheduleIsStartPlusIOverRate) {
    Pacer paced(200.0, 1000);
    EXPECT_TRUE(paced.paced());
    EXPECT_EQ(paced.take(), 1000);
    EXPECT_EQ(paced.take(), 1000 + 5000000);
    EXPECT_EQ(paced.take(), 1000 + 10000000);
    Pacer unpaced(0, 42);
    EXPECT_FALSE(unpaced.paced());
    EXPECT_EQ(unpaced.take(), 42);
    EXPECT_EQ(unpaced.take(), 42);
    Pacer fractional(0.5, 0);
    (void)fractional.take();
    EXPECT_EQ(fractional.take(), 2000000000);
    EXPECT_EQ(fractional.tickets_taken(), 2u);
}

TEST(LoadgenMessage, SizesTokenAndTerminator) {
    MessageFactory factory("a@example.org", "b@example.net", 200000);
    for (std::uint64_t size : {1u, 300u, 1024u, 102400u, 200000u}) {
        Message message = factory.make("run-3-7", size);
        std::string wire;
        for (std::uint64_t offset = 0; offset < message.wire_bytes();) {
            auto chunk = message.chunk(offset, 1000);
            wire.append(chunk.data(), chunk.size());
            offset += chunk.size();
        }
        EXPECT_EQ(wire.size(), message.wire_bytes());
        EXPECT_NE(wire.find("Message-ID: <run-3-7@loadgen.invalid>\r\n"), std::string::npos);
        EXPECT_TRUE(wire.ends_with("\r\n.\r\n"));
        EXPECT_EQ(wire.find("\r\n.", 0), wire.size() - 5);  // No other line starts with '.'.
        if (size >= 1024) {
            EXPECT_EQ(message.content_bytes(), size);
        }
    }
}

}  // namespace
}  // namespace hub::loadgen
