// sealed_stream.cc -- the backup file's encryption: Argon2id or a sealed box for the key,
// secretstream for the body, a keyed BLAKE2b over the header (sealed_stream.h).
#include "backup/sealed_stream.h"

#include <fmt/format.h>

#include <cstring>

#include "backup/limits.h"

namespace hub::backup {

namespace {

constexpr std::size_t offset_kind = 9;
constexpr std::size_t offset_opslimit = 12;
constexpr std::size_t offset_memlimit = 16;
constexpr std::size_t offset_salt = 20;
constexpr std::size_t offset_sealed_key = 36;
constexpr std::size_t offset_stream_header = 116;
constexpr std::size_t offset_mac = 140;
constexpr std::size_t salt_bytes = crypto_pwhash_SALTBYTES;
constexpr std::size_t sealed_key_bytes =
    crypto_secretstream_xchacha20poly1305_KEYBYTES + crypto_box_SEALBYTES;
constexpr std::size_t mac_bytes = 32;
constexpr std::size_t sealed_chunk_bytes =
    chunk_bytes + crypto_secretstream_xchacha20poly1305_ABYTES;
static_assert(salt_bytes == 16);
static_assert(sealed_key_bytes == 80);
static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == 24);
static_assert(offset_salt + salt_bytes == offset_sealed_key);
static_assert(offset_sealed_key + sealed_key_bytes == offset_stream_header);
static_assert(offset_stream_header + crypto_secretstream_xchacha20poly1305_HEADERBYTES ==
              offset_mac);
static_assert(offset_mac + mac_bytes == stream_header_bytes);

using StreamKey = std::array<unsigned char, crypto_secretstream_xchacha20poly1305_KEYBYTES>;

// Wipes a key when it goes out of scope, whichever way the function leaves.
struct KeyWipe {
    StreamKey& key;
    ~KeyWipe() { sodium_memzero(key.data(), key.size()); }
};

bool sodium_ready() {
    static const bool ready = sodium_init() >= 0;
    return ready;
}

void put_u32(std::string& out, std::size_t offset, std::uint32_t value) {
    for (std::size_t i = 0; i < 4; i++) {
        out[offset + i] = static_cast<char>((value >> (8 * i)) & 0xff);
    }
}

std::uint32_t get_u32(std::string_view in, std::size_t offset) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; i++) {
        value |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[offset + i])) << (8 * i);
    }
    return value;
}

unsigned char* bytes_of(std::string& text) {
    return reinterpret_cast<unsigned char*>(text.data());
}
const unsigned char* bytes_of(std::string_view text) {
    return reinterpret_cast<const unsigned char*>(text.data());
}

void header_mac(std::string_view header, const StreamKey& key,
                std::array<unsigned char, mac_bytes>& mac) {
    crypto_generichash(mac.data(), mac.size(), bytes_of(header), offset_mac, key.data(),
                       key.size());
}

bool derive_key(std::string_view passphrase, std::string_view salt, KdfCost cost, StreamKey& key) {
    return crypto_pwhash(key.data(), key.size(), passphrase.data(), passphrase.size(),
                         bytes_of(salt), cost.opslimit,
                         static_cast<std::size_t>(cost.memlimit_kib) * 1024,
                         crypto_pwhash_ALG_ARGON2ID13) == 0;
}

}  // namespace

std::string describe(const OpenFailure& failure) {
    switch (failure.error) {
        case OpenError::not_a_backup:
            return "not a Hubbox backup (no HUBBOXBK header)";
        case OpenError::newer_format:
            return "made by a newer Hubbox (archive format newer than this one reads); restore "
                   "it with that version";
        case OpenError::bad_header:
            return "damaged archive: its header is not valid";
        case OpenError::wrong_key:
            return "wrong passphrase or key (or the archive's header is damaged): nothing in it "
                   "can be read";
        case OpenError::wrong_key_kind:
            return "the archive is sealed the other way: it needs --secret-key for an archive "
                   "sealed to a public key, a passphrase for a passphrase archive";
        case OpenError::damaged:
            return fmt::format(
                "damaged or truncated archive: the data at byte {} fails its authentication",
                failure.offset);
        case OpenError::truncated:
            return fmt::format("truncated archive: it ends at byte {} before its last chunk",
                               failure.offset);
        case OpenError::trailing_data:
            return fmt::format("damaged archive: unexpected bytes after its end (byte {})",
                               failure.offset);
    }
    return "damaged archive";
}

Result<HeaderFacts, OpenFailure> read_header(std::string_view header) {
    if (header.size() < stream_magic.size() ||
        header.substr(0, stream_magic.size()) != stream_magic) {
        return unexpected(OpenFailure{OpenError::not_a_backup, 0});
    }
    if (header.size() < stream_header_bytes) {
        return unexpected(OpenFailure{OpenError::truncated, header.size()});
    }
    HeaderFacts facts;
    facts.format_version = static_cast<std::uint8_t>(header[8]);
    if (facts.format_version > stream_format_version) {
        return unexpected(OpenFailure{OpenError::newer_format, 8});
    }
    if (facts.format_version == 0 || header[10] != 0 || header[11] != 0) {
        return unexpected(OpenFailure{OpenError::bad_header, 8});
    }
    auto kind = static_cast<std::uint8_t>(header[offset_kind]);
    facts.cost = {get_u32(header, offset_opslimit), get_u32(header, offset_memlimit)};
    if (kind == static_cast<std::uint8_t>(KeyKind::passphrase)) {
        facts.key_kind = KeyKind::passphrase;
        if (facts.cost.opslimit < crypto_pwhash_OPSLIMIT_MIN ||
            facts.cost.opslimit > kdf_opslimit_max ||
            facts.cost.memlimit_kib < kdf_memlimit_kib_min ||
            facts.cost.memlimit_kib > kdf_memlimit_kib_max) {
            return unexpected(OpenFailure{OpenError::bad_header, offset_opslimit});
        }
    } else if (kind == static_cast<std::uint8_t>(KeyKind::public_key)) {
        facts.key_kind = KeyKind::public_key;
        if (facts.cost.opslimit != 0 || facts.cost.memlimit_kib != 0) {
            return unexpected(OpenFailure{OpenError::bad_header, offset_opslimit});
        }
    } else {
        return unexpected(OpenFailure{OpenError::bad_header, offset_kind});
    }
    return facts;
}

// --- StreamSealer ---------------------------------------------------------------------------

namespace {

// Fills the rest of a header whose kind-specific fields are set, and starts the stream.
void start_stream(std::string& header, crypto_secretstream_xchacha20poly1305_state& state,
                  const StreamKey& key) {
    crypto_secretstream_xchacha20poly1305_init_push(&state, bytes_of(header) + offset_stream_header,
                                                    key.data());
    std::array<unsigned char, mac_bytes> mac{};
    header_mac(header, key, mac);
    std::memcpy(header.data() + offset_mac, mac.data(), mac.size());
}

std::string blank_header(KeyKind kind) {
    std::string header(stream_header_bytes, '\0');
    std::memcpy(header.data(), stream_magic.data(), stream_magic.size());
    header[8] = static_cast<char>(stream_format_version);
    header[offset_kind] = static_cast<char>(kind);
    return header;
}

}  // namespace

Result<StreamSealer, std::string> StreamSealer::for_passphrase(std::string_view passphrase,
                                                               KdfCost cost) {
    if (!sodium_ready()) {
        return unexpected(std::string("libsodium could not be initialised"));
    }
    if (passphrase.size() < passphrase_bytes_min || passphrase.size() > passphrase_bytes_max) {
        return unexpected(fmt::format("the backup passphrase must be {} to {} bytes long",
                                      passphrase_bytes_min, passphrase_bytes_max));
    }
    StreamSealer sealer;
    sealer.header_ = blank_header(KeyKind::passphrase);
    put_u32(sealer.header_, offset_opslimit, cost.opslimit);
    put_u32(sealer.header_, offset_memlimit, cost.memlimit_kib);
    randombytes_buf(sealer.header_.data() + offset_salt, salt_bytes);
    StreamKey key{};
    KeyWipe wipe{key};
    if (!derive_key(passphrase, std::string_view(sealer.header_).substr(offset_salt, salt_bytes),
                    cost, key)) {
        return unexpected(std::string("Argon2id failed (out of memory?)"));
    }
    start_stream(sealer.header_, sealer.state_, key);
    return sealer;
}

Result<StreamSealer, std::string> StreamSealer::for_public_key(const PublicKey& recipient) {
    if (!sodium_ready()) {
        return unexpected(std::string("libsodium could not be initialised"));
    }
    StreamSealer sealer;
    sealer.header_ = blank_header(KeyKind::public_key);
    StreamKey key{};
    KeyWipe wipe{key};
    crypto_secretstream_xchacha20poly1305_keygen(key.data());
    if (crypto_box_seal(bytes_of(sealer.header_) + offset_sealed_key, key.data(), key.size(),
                        recipient.data()) != 0) {
        return unexpected(std::string("the public key is not usable"));
    }
    start_stream(sealer.header_, sealer.state_, key);
    return sealer;
}

StreamSealer::StreamSealer(StreamSealer&& other) noexcept
    : state_(other.state_),
      header_(std::move(other.header_)),
      pending_(std::move(other.pending_)),
      finished_(other.finished_) {
    sodium_memzero(&other.state_, sizeof(other.state_));
}

StreamSealer::~StreamSealer() {
    sodium_memzero(&state_, sizeof(state_));
}

void StreamSealer::seal_chunk(std::string_view plaintext, unsigned char tag,
                              std::string& ciphertext_out) {
    std::size_t at = ciphertext_out.size();
    ciphertext_out.resize(at + plaintext.size() + crypto_secretstream_xchacha20poly1305_ABYTES);
    unsigned long long written = 0;
    crypto_secretstream_xchacha20poly1305_push(&state_, bytes_of(ciphertext_out) + at, &written,
                                               bytes_of(plaintext), plaintext.size(), nullptr, 0,
                                               tag);
    HUB_ASSERT(written == plaintext.size() + crypto_secretstream_xchacha20poly1305_ABYTES);
}

void StreamSealer::push(std::string_view plaintext_in, std::string& ciphertext_out) {
    HUB_ASSERT(!finished_);
    // Whole chunks straight from the input once pending_ is empty: no copy for big members.
    while (!plaintext_in.empty()) {
        if (pending_.empty() && plaintext_in.size() >= chunk_bytes) {
            seal_chunk(plaintext_in.substr(0, chunk_bytes), 0, ciphertext_out);
            plaintext_in.remove_prefix(chunk_bytes);
            continue;
        }
        std::size_t take = std::min(chunk_bytes - pending_.size(), plaintext_in.size());
        pending_.append(plaintext_in.substr(0, take));
        plaintext_in.remove_prefix(take);
        if (pending_.size() == chunk_bytes) {
            seal_chunk(pending_, 0, ciphertext_out);
            pending_.clear();
        }
    }
}

void StreamSealer::finish(std::string& ciphertext_out) {
    HUB_ASSERT(!finished_);
    seal_chunk(pending_, crypto_secretstream_xchacha20poly1305_TAG_FINAL, ciphertext_out);
    sodium_memzero(pending_.data(), pending_.size());
    pending_.clear();
    finished_ = true;
}

// --- StreamOpener ---------------------------------------------------------------------------

Result<StreamOpener, OpenFailure> StreamOpener::with_key(std::string_view header,
                                                         const StreamKey& key) {
    std::array<unsigned char, mac_bytes> mac{};
    header_mac(header, key, mac);
    if (sodium_memcmp(mac.data(), bytes_of(header) + offset_mac, mac.size()) != 0) {
        return unexpected(OpenFailure{OpenError::wrong_key, offset_mac});
    }
    StreamOpener opener;
    if (crypto_secretstream_xchacha20poly1305_init_pull(
            &opener.state_, bytes_of(header) + offset_stream_header, key.data()) != 0) {
        return unexpected(OpenFailure{OpenError::bad_header, offset_stream_header});
    }
    return opener;
}

Result<StreamOpener, OpenFailure> StreamOpener::with_passphrase(std::string_view header,
                                                                std::string_view passphrase) {
    if (!sodium_ready()) {
        return unexpected(OpenFailure{OpenError::bad_header, 0});
    }
    auto facts = read_header(header);
    if (!facts) {
        return unexpected(facts.error());
    }
    if (facts->key_kind != KeyKind::passphrase) {
        return unexpected(OpenFailure{OpenError::wrong_key_kind, offset_kind});
    }
    StreamKey key{};
    KeyWipe wipe{key};
    if (!derive_key(passphrase, header.substr(offset_salt, salt_bytes), facts->cost, key)) {
        return unexpected(OpenFailure{OpenError::bad_header, offset_memlimit});
    }
    return with_key(header, key);
}

Result<StreamOpener, OpenFailure> StreamOpener::with_secret_key(std::string_view header,
                                                                const SecretKey& secret_key) {
    if (!sodium_ready()) {
        return unexpected(OpenFailure{OpenError::bad_header, 0});
    }
    auto facts = read_header(header);
    if (!facts) {
        return unexpected(facts.error());
    }
    if (facts->key_kind != KeyKind::public_key) {
        return unexpected(OpenFailure{OpenError::wrong_key_kind, offset_kind});
    }
    PublicKey public_key{};
    crypto_scalarmult_base(public_key.data(), secret_key.data());
    StreamKey key{};
    KeyWipe wipe{key};
    if (crypto_box_seal_open(key.data(), bytes_of(header) + offset_sealed_key, sealed_key_bytes,
                             public_key.data(), secret_key.data()) != 0) {
        return unexpected(OpenFailure{OpenError::wrong_key, offset_sealed_key});
    }
    return with_key(header, key);
}

StreamOpener::StreamOpener(StreamOpener&& other) noexcept
    : state_(other.state_),
      pending_(std::move(other.pending_)),
      offset_(other.offset_),
      final_seen_(other.final_seen_) {
    sodium_memzero(&other.state_, sizeof(other.state_));
}

Result<void, OpenFailure> StreamOpener::open_chunk(std::string_view chunk,
                                                   std::string& plaintext_out) {
    if (final_seen_) {
        return unexpected(OpenFailure{OpenError::trailing_data, offset_});
    }
    if (chunk.size() < crypto_secretstream_xchacha20poly1305_ABYTES) {
        return unexpected(OpenFailure{OpenError::truncated, offset_});
    }
    std::size_t at = plaintext_out.size();
    plaintext_out.resize(at + chunk.size() - crypto_secretstream_xchacha20poly1305_ABYTES);
    unsigned long long length = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&state_, bytes_of(plaintext_out) + at, &length,
                                                   &tag, bytes_of(chunk), chunk.size(), nullptr,
                                                   0) != 0) {
        plaintext_out.resize(at);
        return unexpected(OpenFailure{OpenError::damaged, offset_});
    }
    plaintext_out.resize(at + length);
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
        final_seen_ = true;
    } else if (tag != 0) {
        return unexpected(OpenFailure{OpenError::damaged, offset_});
    }
    offset_ += chunk.size();
    return {};
}

Result<void, OpenFailure> StreamOpener::push(std::string_view ciphertext_in,
                                             std::string& plaintext_out) {
    while (!ciphertext_in.empty()) {
        if (final_seen_) {
            return unexpected(OpenFailure{OpenError::trailing_data, offset_});
        }
        if (pending_.empty() && ciphertext_in.size() > sealed_chunk_bytes) {
            // A whole chunk with more behind it: it cannot be the file's last.
            if (auto opened =
                    open_chunk(ciphertext_in.substr(0, sealed_chunk_bytes), plaintext_out);
                !opened) {
                return opened;
            }
            ciphertext_in.remove_prefix(sealed_chunk_bytes);
            continue;
        }
        // Keep up to one whole chunk: whether it is the last is known only at the next byte
        // or at finish().
        if (pending_.size() == sealed_chunk_bytes) {
            std::string chunk = std::move(pending_);
            pending_.clear();
            if (auto opened = open_chunk(chunk, plaintext_out); !opened) {
                return opened;
            }
            continue;
        }
        std::size_t take = std::min(sealed_chunk_bytes - pending_.size(), ciphertext_in.size());
        pending_.append(ciphertext_in.substr(0, take));
        ciphertext_in.remove_prefix(take);
    }
    return {};
}

Result<void, OpenFailure> StreamOpener::finish(std::string& plaintext_out) {
    if (!pending_.empty()) {
        std::string chunk = std::move(pending_);
        pending_.clear();
        if (auto opened = open_chunk(chunk, plaintext_out); !opened) {
            return opened;
        }
    }
    if (!final_seen_) {
        return unexpected(OpenFailure{OpenError::truncated, offset_});
    }
    return {};
}

void make_key_pair(PublicKey& public_key, SecretKey& secret_key) {
    HUB_ASSERT(sodium_ready());
    crypto_box_keypair(public_key.data(), secret_key.data());
}

}  // namespace hub::backup
