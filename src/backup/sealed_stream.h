// sealed_stream.h -- the encrypted envelope around a backup's tar stream (docs/BACKUP.md,
// "The file format"), sans-I/O: bytes in, bytes out, no files.
//
// A backup file is a fixed 172-byte header followed by libsodium secretstream
// (XChaCha20-Poly1305) chunks of chunk_bytes plaintext each, the last one shorter (possibly
// empty) and tagged FINAL. The stream key is either derived from a passphrase with Argon2id
// (salt and cost in the header) or random and sealed to an administrator's X25519 public
// key (crypto_box_seal, in the header). The header ends with a BLAKE2b-256 MAC of the
// header under the stream key: a wrong passphrase or key is told apart from a damaged body,
// and a changed header byte is refused before any plaintext is produced.
//
// Header (little endian):
//   0   8  magic "HUBBOXBK"
//   8   1  format version (1)
//   9   1  key kind: 1 passphrase (Argon2id13), 2 sealed to a public key
//   10  2  zero
//   12  4  Argon2id opslimit (kind 1; else 0)
//   16  4  Argon2id memlimit in KiB (kind 1; else 0)
//   20  16 Argon2id salt (kind 1; else zero)
//   36  80 crypto_box_seal of the 32-byte stream key (kind 2; else zero)
//   116 24 secretstream header
//   140 32 BLAKE2b-256, keyed with the stream key, of bytes 0..139
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hub::backup {

inline constexpr std::string_view stream_magic = "HUBBOXBK";
inline constexpr std::uint8_t stream_format_version = 1;
inline constexpr std::size_t stream_header_bytes = 172;

enum class KeyKind : std::uint8_t { passphrase = 1, public_key = 2 };

using PublicKey = std::array<unsigned char, crypto_box_PUBLICKEYBYTES>;
using SecretKey = std::array<unsigned char, crypto_box_SECRETKEYBYTES>;

struct KdfCost {
    std::uint32_t opslimit = 0;
    std::uint32_t memlimit_kib = 0;
};

// Why a stream cannot be opened; each has one sentence for the administrator (describe()).
enum class OpenError {
    not_a_backup,    // No magic: some other file.
    newer_format,    // Written by a newer Hubbox.
    bad_header,      // Reserved bytes, an unknown key kind, a cost outside the limits.
    wrong_key,       // The header's MAC fails: wrong passphrase or key (or a changed header).
    wrong_key_kind,  // A passphrase for a key-sealed archive, or the other way round.
    damaged,         // A chunk fails its authentication tag.
    truncated,       // The file ends before the FINAL chunk.
    trailing_data,   // Bytes after the FINAL chunk.
};

struct OpenFailure {
    OpenError error = OpenError::damaged;
    std::uint64_t offset = 0;  // Byte offset in the file of the chunk or field concerned.
};

std::string describe(const OpenFailure& failure);

// What the unauthenticated header says (for messages and to pick passphrase or key).
struct HeaderFacts {
    std::uint8_t format_version = 0;
    KeyKind key_kind = KeyKind::passphrase;
    KdfCost cost;
};
[[nodiscard]] Result<HeaderFacts, OpenFailure> read_header(std::string_view header);

// The writing side. Moves only; the key is wiped on destruction.
class StreamSealer {
public:
    [[nodiscard]] static Result<StreamSealer, std::string> for_passphrase(
        std::string_view passphrase, KdfCost cost);
    [[nodiscard]] static Result<StreamSealer, std::string> for_public_key(
        const PublicKey& recipient);
    StreamSealer(StreamSealer&& other) noexcept;
    StreamSealer& operator=(StreamSealer&&) = delete;
    StreamSealer(const StreamSealer&) = delete;
    ~StreamSealer();

    // The 172 header bytes; write them first.
    const std::string& header() const { return header_; }
    // Appends to ciphertext_out the chunks that plaintext_in completes.
    void push(std::string_view plaintext_in, std::string& ciphertext_out);
    // Appends the last chunk (FINAL). Nothing may be pushed afterwards.
    void finish(std::string& ciphertext_out);

private:
    StreamSealer() = default;
    void seal_chunk(std::string_view plaintext, unsigned char tag, std::string& ciphertext_out);
    crypto_secretstream_xchacha20poly1305_state state_{};
    std::string header_;
    std::string pending_;  // Plaintext not yet a whole chunk.
    bool finished_ = false;
};

// The reading side: give it the header and the passphrase or key, then the rest of the
// file in any slices, then finish() at end of file. Plaintext comes out only from chunks
// that authenticated; a caller must still treat everything as unconfirmed until finish()
// succeeds (a truncated file is only known at its end).
class StreamOpener {
public:
    [[nodiscard]] static Result<StreamOpener, OpenFailure> with_passphrase(
        std::string_view header, std::string_view passphrase);
    [[nodiscard]] static Result<StreamOpener, OpenFailure> with_secret_key(
        std::string_view header, const SecretKey& secret_key);
    StreamOpener(StreamOpener&& other) noexcept;
    StreamOpener& operator=(StreamOpener&&) = delete;
    StreamOpener(const StreamOpener&) = delete;
    ~StreamOpener() = default;

    [[nodiscard]] Result<void, OpenFailure> push(std::string_view ciphertext_in,
                                                 std::string& plaintext_out);
    [[nodiscard]] Result<void, OpenFailure> finish(std::string& plaintext_out);
    bool finished() const { return final_seen_; }

private:
    StreamOpener() = default;
    [[nodiscard]] static Result<StreamOpener, OpenFailure> with_key(
        std::string_view header, const std::array<unsigned char, 32>& key);
    [[nodiscard]] Result<void, OpenFailure> open_chunk(std::string_view chunk,
                                                       std::string& plaintext_out);
    crypto_secretstream_xchacha20poly1305_state state_{};
    std::string pending_;                         // Ciphertext not yet a whole chunk.
    std::uint64_t offset_ = stream_header_bytes;  // File offset of pending_'s first byte.
    bool final_seen_ = false;
};

// A new X25519 key pair for sealed archives (hubctl backup keygen).
void make_key_pair(PublicKey& public_key, SecretKey& secret_key);

}  // namespace hub::backup
