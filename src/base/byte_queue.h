// byte_queue.h -- a bounded FIFO of bytes with one owner.
//
// Used for the two ciphertext directions of a TLS connection and for plaintext replies
// waiting to be encrypted. The capacity is fixed at construction; append() refuses what
// would cross it so that back-pressure reaches the producer instead of memory growing.
// Storage is one contiguous buffer that is compacted lazily, so readable() is always a
// single span the engine can hand to a send SQE. It grows on demand, doubling from
// initial_bytes up to the capacity.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "base/assert.h"

namespace hub::base {

class ByteQueue {
public:
    static constexpr std::size_t initial_bytes = 4096;

    // Storage is allocated on first append and released by release_if_empty(), so that an
    // idle connection holds no buffer memory.
    explicit ByteQueue(std::size_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

    std::size_t size_bytes() const { return tail_ - head_; }
    std::size_t capacity_bytes() const { return capacity_bytes_; }
    std::size_t space_bytes() const { return capacity_bytes_ - size_bytes(); }
    bool empty() const { return head_ == tail_; }

    // Appends all of bytes, or nothing if they do not fit; returns whether they did.
    [[nodiscard]] bool append(std::span<const char> bytes) {
        if (bytes.size() > space_bytes()) {
            return false;
        }
        if (bytes.empty()) {
            return true;  // memcpy must not see the null pointer of an empty span.
        }
        if (head_ > 0 && storage_.size() - tail_ < bytes.size()) {
            compact();
        }
        if (storage_.size() - tail_ < bytes.size()) {
            // Grow geometrically from a small start: an idle SMTP session's 8-byte EHLO
            // must not cost a full-capacity buffer.
            std::size_t wanted =
                std::max({tail_ + bytes.size(), storage_.size() * 2, initial_bytes});
            storage_.resize(std::min(wanted, capacity_bytes_));
        }
        std::memcpy(storage_.data() + tail_, bytes.data(), bytes.size());
        tail_ += bytes.size();
        HUB_ASSERT(tail_ <= storage_.size());
        return true;
    }
    [[nodiscard]] bool append(std::string_view text) {
        return append(std::span<const char>(text.data(), text.size()));
    }

    // Copies up to out.size() bytes from the front and removes them; returns the count.
    std::size_t pop_into(std::span<char> out) {
        std::size_t count = std::min(out.size(), size_bytes());
        if (count == 0) {
            return 0;
        }
        std::memcpy(out.data(), storage_.data() + head_, count);
        consume(count);
        return count;
    }

    // The bytes at the front, contiguous, valid until the next append or consume.
    std::span<const char> readable() const {
        return std::span<const char>(storage_.data() + head_, size_bytes());
    }

    void consume(std::size_t count) {
        HUB_ASSERT(count <= size_bytes());
        head_ += count;
        if (head_ == tail_) {
            head_ = 0;
            tail_ = 0;
        }
    }

    void clear() {
        head_ = 0;
        tail_ = 0;
    }

    // Gives every buffered byte away with its storage instead of copying it: `out` gets the
    // storage, the bytes being out[returned offset, out.size()); the queue keeps out's old
    // storage, emptied, to append to (so two buffers take turns and neither is reallocated).
    // Precondition: the queue holds bytes.
    [[nodiscard]] std::size_t hand_over(std::vector<char>& out) {
        HUB_ASSERT(!empty());
        std::size_t begin = head_;
        storage_.resize(tail_);  // Never grows: tail_ <= storage_.size().
        out.clear();
        storage_.swap(out);
        head_ = 0;
        tail_ = 0;
        return begin;
    }

    // Frees the storage when nothing is buffered; the next append allocates it again.
    void release_if_empty() {
        if (empty()) {
            std::vector<char>().swap(storage_);
        }
    }

private:
    void compact() {
        std::size_t count = size_bytes();
        std::memmove(storage_.data(), storage_.data() + head_, count);
        head_ = 0;
        tail_ = count;
    }

    std::size_t capacity_bytes_;
    std::vector<char> storage_;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
};

}  // namespace hub::base
