// sealed_stream_test.cc -- the backup file's encryption: round trips at chunk boundaries,
// and every way a file can be wrong (changed byte, cut, extended, wrong passphrase or
// key) is refused with its own error, without plaintext from a bad chunk.
#include "backup/sealed_stream.h"

#include <gtest/gtest.h>

#include <string>

#include "backup/limits.h"

namespace hub::backup {
namespace {

// The cheapest cost a reader accepts keeps the tests fast; the format is the same.
constexpr KdfCost test_cost{1, kdf_memlimit_kib_min};
constexpr std::string_view passphrase = "correct horse battery staple";

std::string pattern(std::size_t size) {
    std::string text(size, '\0');
    for (std::size_t i = 0; i < size; i++) {
        text[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
    }
    return text;
}

std::string seal(std::string_view plaintext, std::size_t slice = 1000) {
    auto sealer = StreamSealer::for_passphrase(passphrase, test_cost);
    EXPECT_TRUE(sealer.has_value());
    std::string file = sealer->header();
    for (std::size_t at = 0; at < plaintext.size(); at += slice) {
        sealer->push(plaintext.substr(at, slice), file);
    }
    sealer->finish(file);
    return file;
}

// Opens file with the passphrase, feeding it in slices; the plaintext or the failure.
Result<std::string, OpenFailure> open(std::string_view file, std::string_view with = passphrase,
                                      std::size_t slice = 777) {
    auto opener = StreamOpener::with_passphrase(file.substr(0, stream_header_bytes), with);
    if (!opener) {
        return unexpected(opener.error());
    }
    std::string plaintext;
    std::string_view body = file.substr(std::min(file.size(), stream_header_bytes));
    for (std::size_t at = 0; at < body.size(); at += slice) {
        if (auto pushed = opener->push(body.substr(at, slice), plaintext); !pushed) {
            return unexpected(pushed.error());
        }
    }
    if (auto finished = opener->finish(plaintext); !finished) {
        return unexpected(finished.error());
    }
    return plaintext;
}

TEST(SealedStream, RoundTripsAtEveryChunkBoundary) {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, chunk_bytes - 1, chunk_bytes,
                             chunk_bytes + 1, 3 * chunk_bytes, 3 * chunk_bytes + 5}) {
        std::string plaintext = pattern(size);
        std::string file = seal(plaintext, 4099);
        std::size_t chunks = size / chunk_bytes + 1;
        EXPECT_EQ(file.size(), stream_header_bytes + size + chunks * 17) << size;
        auto opened = open(file);
        ASSERT_TRUE(opened.has_value()) << size << ": " << describe(opened.error());
        EXPECT_EQ(*opened, plaintext) << size;
        auto in_one = open(file, passphrase, file.size());
        ASSERT_TRUE(in_one.has_value()) << size;
        EXPECT_EQ(*in_one, plaintext) << size;
    }
}

TEST(SealedStream, WrongPassphraseIsToldApart) {
    std::string file = seal(pattern(5000));
    auto opened = open(file, "correct horse battery stapler");
    ASSERT_FALSE(opened.has_value());
    EXPECT_EQ(opened.error().error, OpenError::wrong_key);
    EXPECT_NE(describe(opened.error()).find("wrong passphrase"), std::string::npos);
}

TEST(SealedStream, EveryFlippedByteIsRefused) {
    std::string plaintext = pattern(2 * chunk_bytes + 300);
    std::string file = seal(plaintext);
    // Every header byte, and a spread of body bytes including the first and last.
    std::vector<std::size_t> offsets;
    for (std::size_t i = 0; i < stream_header_bytes; i++) {
        offsets.push_back(i);
    }
    for (std::size_t i = stream_header_bytes; i < file.size(); i += 997) {
        offsets.push_back(i);
    }
    offsets.push_back(file.size() - 1);
    for (std::size_t offset : offsets) {
        std::string changed = file;
        changed[offset] = static_cast<char>(changed[offset] ^ 0x01);
        auto opened = open(changed);
        ASSERT_FALSE(opened.has_value()) << "flipped byte " << offset << " was accepted";
        if (offset >= stream_header_bytes) {
            EXPECT_EQ(opened.error().error, OpenError::damaged) << offset;
        }
    }
}

TEST(SealedStream, TruncatedAndExtendedAreRefused) {
    std::string file = seal(pattern(2 * chunk_bytes + 300));
    std::size_t first_chunk_end = stream_header_bytes + chunk_bytes + 17;
    for (std::size_t length :
         {std::size_t{0}, std::size_t{10}, stream_header_bytes - 1, stream_header_bytes,
          first_chunk_end, first_chunk_end + 1, file.size() - 1}) {
        std::string cut = file.substr(0, length);
        if (length < stream_header_bytes) {
            auto facts = read_header(cut);
            EXPECT_FALSE(facts.has_value()) << length;
            continue;
        }
        auto opened = open(cut);
        ASSERT_FALSE(opened.has_value()) << "cut at " << length << " was accepted";
        EXPECT_TRUE(opened.error().error == OpenError::truncated ||
                    opened.error().error == OpenError::damaged)
            << length;
    }
    // The sealer always ends with a short FINAL chunk (possibly empty), so a byte appended
    // makes that chunk a different one, which fails its tag.
    auto extended = open(file + "x");
    ASSERT_FALSE(extended.has_value());
    EXPECT_EQ(extended.error().error, OpenError::damaged);
    // Two archives back to back: the first FINAL tag ends it.
    auto doubled = open(file + file.substr(stream_header_bytes));
    ASSERT_FALSE(doubled.has_value());
}

TEST(SealedStream, HeaderChecksComeBeforeAnyKeyWork) {
    std::string file = seal("x");
    EXPECT_EQ(read_header("not a backup at all").error().error, OpenError::not_a_backup);
    std::string newer = file;
    newer[8] = 2;
    EXPECT_EQ(read_header(newer).error().error, OpenError::newer_format);
    std::string greedy = file;
    greedy[19] = 0x7f;  // memlimit far above kdf_memlimit_kib_max
    EXPECT_EQ(read_header(greedy).error().error, OpenError::bad_header);
    std::string kind = file;
    kind[9] = 7;
    EXPECT_EQ(read_header(kind).error().error, OpenError::bad_header);
}

TEST(SealedStream, SealedToAPublicKeyOpensOnlyWithItsSecretKey) {
    PublicKey public_key{};
    SecretKey secret_key{};
    make_key_pair(public_key, secret_key);
    auto sealer = StreamSealer::for_public_key(public_key);
    ASSERT_TRUE(sealer.has_value());
    std::string plaintext = pattern(chunk_bytes + 10);
    std::string file = sealer->header();
    sealer->push(plaintext, file);
    sealer->finish(file);
    auto opener = StreamOpener::with_secret_key(file.substr(0, stream_header_bytes), secret_key);
    ASSERT_TRUE(opener.has_value());
    std::string out;
    ASSERT_TRUE(opener->push(file.substr(stream_header_bytes), out).has_value());
    ASSERT_TRUE(opener->finish(out).has_value());
    EXPECT_EQ(out, plaintext);

    PublicKey other_public{};
    SecretKey other_secret{};
    make_key_pair(other_public, other_secret);
    auto wrong = StreamOpener::with_secret_key(file.substr(0, stream_header_bytes), other_secret);
    ASSERT_FALSE(wrong.has_value());
    EXPECT_EQ(wrong.error().error, OpenError::wrong_key);
    auto with_passphrase =
        StreamOpener::with_passphrase(file.substr(0, stream_header_bytes), passphrase);
    ASSERT_FALSE(with_passphrase.has_value());
    EXPECT_EQ(with_passphrase.error().error, OpenError::wrong_key_kind);
}

TEST(SealedStream, ShortPassphraseIsRefusedWhenCreating) {
    EXPECT_FALSE(StreamSealer::for_passphrase("short", test_cost).has_value());
}

}  // namespace
}  // namespace hub::backup
