// byte_queue_test.cc -- ByteQueue's hand_over: bytes leave with their storage, not copied.
#include "base/byte_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hub::base {
namespace {

std::string text_of(const std::vector<char>& bytes, std::size_t begin) {
    return std::string(bytes.begin() + static_cast<std::ptrdiff_t>(begin), bytes.end());
}

// The send path: the queue's buffer goes out as it is, and the queue appends to the buffer
// of the send before; the two take turns without being reallocated.
TEST(ByteQueue, HandOverGivesTheBytesWithTheirStorage) {
    ByteQueue queue(64 * 1024);
    ASSERT_TRUE(queue.append(std::string_view("xxhello")));
    queue.consume(2);
    const char* storage = queue.readable().data() - 2;
    std::vector<char> sending;
    sending.reserve(8192);
    const char* previous = sending.data();
    std::size_t begin = queue.hand_over(sending);
    EXPECT_EQ(begin, 2u);
    EXPECT_EQ(text_of(sending, begin), "hello");
    EXPECT_EQ(sending.data(), storage);  // Not a copy.
    EXPECT_TRUE(queue.empty());
    ASSERT_TRUE(queue.append(std::string_view("next")));
    EXPECT_EQ(queue.readable().data(), previous);  // Appends into the old send buffer.
    EXPECT_EQ(std::string(queue.readable().data(), queue.size_bytes()), "next");
    sending.clear();
    begin = queue.hand_over(sending);
    EXPECT_EQ(text_of(sending, begin), "next");
    EXPECT_EQ(sending.data(), previous);
    ASSERT_TRUE(queue.append(std::string_view("third")));
    EXPECT_EQ(queue.readable().data(), storage);
}

}  // namespace
}  // namespace hub::base
