// spool-streamed-write -- writes a spool segment of streamed messages (spool format 3), for
// the integration tests.
//
// PURPOSE   Put messages into a stopped hub's spool exactly as a shard that streams them
//           would: the real spool::StreamedMessageEncoder, content_slice records of the
//           largest size (spool::slice_content_bytes_max), the slices of all messages
//           interleaved round-robin (as many connections' slices share a batch), each
//           message's commit right after its last slice. hubd then recovers and delivers
//           them (tests/integration/relay_streamed.sh).
// RUNS IN   a test script, as root or the hub user, with hubd stopped (the spool lock).
// TRUST     test input only.
// LIMITS    content files up to spool::content_bytes_max each.
// SEE ALSO  spool/spool_format.h "Streamed messages", tests/integration/streamed_lib.sh
//
// Usage: spool-streamed-write SEGMENT SHARD SEQ MAIL_FROM RCPT CONTENT...
//   SEGMENT  the file to create: <spool>/shard-<SHARD>/<SEQ as 8 hex>.seg
//   CONTENT  one file per message: its whole content (Received:, header block, body; CRLF)
// Prints, per message, "message <queue id> <content bytes> <slices>" and then, per slice,
// "slice <queue id> <index> <content offset in SEGMENT> <content bytes>".
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "spool/limits.h"
#include "spool/segment_source.h"
#include "spool/spool_format.h"

namespace {

using hub::spool::QueueId;

std::string read_file(const char* path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "spool-streamed-write: cannot read %s\n", path);
        std::exit(1);
    }
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

hub::spool::MessageMeta meta_for(const QueueId& id, const std::string& from,
                                 const std::string& rcpt, std::uint64_t declared) {
    hub::spool::MessageMeta meta;
    meta.id = id;
    meta.arrival_unix_s = static_cast<std::uint64_t>(time(nullptr));
    meta.client_address = "127.0.0.1";
    meta.partner = "partner1";
    meta.envelope.helo = "partner1.gov.uk";
    meta.envelope.esmtp = true;
    meta.envelope.mail_from = from;
    meta.envelope.declared_bytes = declared;
    meta.envelope.body_type = hub::smtp::BodyType::seven_bit;
    meta.envelope.recipients.push_back(hub::smtp::Recipient{rcpt, 0, ""});
    meta.tls.version = "TLSv1.3";
    meta.tls.cipher = "TLS_AES_256_GCM_SHA384";
    meta.tls.bits = 256;
    meta.tls.client_cert_verdict = "verified";
    return meta;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 7) {
        std::fprintf(stderr,
                     "usage: spool-streamed-write SEGMENT SHARD SEQ MAIL_FROM RCPT CONTENT...\n");
        return 2;
    }
    const char* segment_path = argv[1];
    auto shard = static_cast<std::uint8_t>(std::strtoul(argv[2], nullptr, 10));
    auto seq = static_cast<std::uint32_t>(std::strtoul(argv[3], nullptr, 10));
    std::string from = argv[4];
    std::string rcpt = argv[5];
    std::vector<std::string> contents;
    for (int arg = 6; arg < argc; arg++) {
        contents.push_back(read_file(argv[arg]));
        if (contents.back().empty() || contents.back().size() > hub::spool::content_bytes_max) {
            std::fprintf(stderr, "spool-streamed-write: %s: empty or too large\n", argv[arg]);
            return 1;
        }
    }
    std::string image;
    hub::spool::append_segment_header(shard, seq, image);
    std::vector<hub::spool::StreamedMessageEncoder> encoders;
    for (std::size_t index = 0; index < contents.size(); index++) {
        encoders.emplace_back(QueueId{shard, seq, static_cast<std::uint32_t>(index)});
    }
    // Round-robin: slice k of every message that has one, then slice k + 1 ...
    constexpr std::size_t slice_bytes = hub::spool::slice_content_bytes_max;
    for (std::size_t at = 0;; at += slice_bytes) {
        bool any = false;
        for (std::size_t index = 0; index < contents.size(); index++) {
            const std::string& content = contents[index];
            if (at >= content.size()) {
                continue;
            }
            any = true;
            std::string_view slice = std::string_view(content).substr(at, slice_bytes);
            encoders[index].append_slice(slice, image);
            if (at + slice.size() == content.size()) {
                encoders[index].append_commit(
                    meta_for(encoders[index].id(), from, rcpt, content.size()), image);
            }
        }
        if (!any) {
            break;
        }
    }
    // Checked with the reader's code, as hubd will read it.
    hub::spool::DecodedSegment decoded = hub::spool::decode_segment(
        std::span<const char>(image.data(), image.size()),
        hub::spool::DecodeOptions{hub::spool::SegmentName{shard, seq}, false});
    if (decoded.summary.problem != hub::spool::SegmentProblem::none ||
        decoded.messages.size() != contents.size()) {
        std::fprintf(stderr, "spool-streamed-write: the segment does not decode: %s\n",
                     decoded.summary.problem_detail.c_str());
        return 1;
    }
    int fd = open(segment_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::fprintf(stderr, "spool-streamed-write: %s: %s\n", segment_path, std::strerror(errno));
        return 1;
    }
    std::size_t written = 0;
    while (written < image.size()) {
        ssize_t n = write(fd, image.data() + written, image.size() - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            std::fprintf(stderr, "spool-streamed-write: write: %s\n", std::strerror(errno));
            return 1;
        }
        written += static_cast<std::size_t>(n);
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        std::fprintf(stderr, "spool-streamed-write: fsync: %s\n", std::strerror(errno));
        return 1;
    }
    for (const hub::spool::RecoveredMessage& message : decoded.messages) {
        std::string id = message.meta.id.to_string();
        std::printf("message %s %llu %zu\n", id.c_str(),
                    static_cast<unsigned long long>(message.content_bytes), message.slices.size());
        for (std::size_t index = 0; index < message.slices.size(); index++) {
            std::printf("slice %s %zu %llu %u\n", id.c_str(), index,
                        static_cast<unsigned long long>(message.slices[index].content_offset),
                        message.slices[index].content_bytes);
        }
    }
    return 0;
}
