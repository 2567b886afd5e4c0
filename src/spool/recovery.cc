// recovery.cc -- rebuilding the queue from the spool directory.
//
// PURPOSE   List "shard-<k>/<seq>.seg" files, decode each with the shared decoder, apply
//           status records across segments, and report live messages and the next free
//           segment number per shard. Also rereads one message's content on demand.
// RUNS IN   hubd at start-up, before the shards start; hubctl, against a running or a
//           stopped hub. Blocking reads are fine in both.
// TRUST     the spool is written by hubd, but files in it are validated like peer input:
//           names are parsed strictly, non-regular files are not opened for reading
//           (O_NONBLOCK|O_NOFOLLOW, then fstat), and contents go through the decoder.
//           Nothing here ever writes, renames or deletes: quarantine is a separate step.
// LIMITS    segments_per_shard_max names listed per shard; read_chunk_bytes per read; a
//           record's metadata and at most header_scan_bytes_max of content in memory.
// SEE ALSO  spool_format.h, spool_format.cc (the decoder), segment_source.h
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>
#include <utility>

#include "base/assert.h"
#include "spool/limits.h"
#include "spool/segment_source.h"
#include "spool/spool_format.h"

namespace hub::spool {
namespace {

// Reads a file through a window of read_chunk_bytes, so that a scan costs one pread per
// chunk rather than one per field.
class FileSource final : public ByteSource {
public:
    explicit FileSource(int fd, std::uint64_t size) : fd_(fd), size_(size) {
        window_.resize(read_chunk_bytes);
    }

    Result<std::span<const char>, int> read(std::uint64_t offset, std::size_t count) override {
        HUB_ASSERT(count <= read_chunk_bytes);
        if (offset < window_offset_ || offset + count > window_offset_ + window_bytes_) {
            int error = refill(offset);
            if (error != 0) {
                return unexpected(error);
            }
        }
        HUB_ASSERT(offset >= window_offset_);
        std::size_t start = static_cast<std::size_t>(offset - window_offset_);
        std::size_t available = window_bytes_ > start ? window_bytes_ - start : 0;
        return std::span<const char>(window_.data() + start, std::min(count, available));
    }

    std::uint64_t size_hint() const override { return size_; }

private:
    // Fills the window from offset; a short fill means end of file (for now: the hub may
    // be appending, and the next refill will see more).
    int refill(std::uint64_t offset) {
        window_offset_ = offset;
        window_bytes_ = 0;
        while (window_bytes_ < window_.size()) {
            ssize_t got =
                ::pread(fd_, window_.data() + window_bytes_, window_.size() - window_bytes_,
                        static_cast<off_t>(offset + window_bytes_));
            if (got < 0 && errno == EINTR) {
                continue;
            }
            if (got < 0) {
                return errno;
            }
            if (got == 0) {
                break;
            }
            window_bytes_ += static_cast<std::size_t>(got);
        }
        size_ = std::max(size_, offset + window_bytes_);
        return 0;
    }

    int fd_;
    std::uint64_t size_;
    std::vector<char> window_;
    std::uint64_t window_offset_ = 0;
    std::size_t window_bytes_ = 0;
};

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }

private:
    int fd_;
};

RecoveryFailure failure(RecoveryError error, const std::string& path, int error_number) {
    return RecoveryFailure{error, fmt::format("{}: {}", path, std::strerror(error_number))};
}

// "shard-<decimal>" with no sign, no leading zero and a value below shard_count_max.
bool parse_shard_name(std::string_view name, std::uint32_t& shard) {
    constexpr std::string_view prefix = "shard-";
    if (name.size() <= prefix.size() || name.size() > prefix.size() + 3 ||
        name.substr(0, prefix.size()) != prefix) {
        return false;
    }
    std::string_view digits = name.substr(prefix.size());
    if (digits.size() > 1 && digits[0] == '0') {
        return false;
    }
    std::uint32_t value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value >= shard_count_max) {
        return false;
    }
    shard = value;
    return true;
}

// "<8 lower-case hex>.seg" (as segment_relative_path writes them), at most segment_seq_max.
bool parse_segment_name(std::string_view name, std::uint32_t& seq) {
    if (name.size() != 12 || name.substr(8) != ".seg") {
        return false;
    }
    std::uint32_t value = 0;
    for (char c : name.substr(0, 8)) {
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0) {
            return false;
        }
        value = (value << 4) | static_cast<std::uint32_t>(digit);
    }
    if (value > segment_seq_max) {
        return false;
    }
    seq = value;
    return true;
}

// Lists the names in directory fd (which it takes over) that parse as numbers, sorted.
template <typename Parse>
Result<std::vector<std::uint32_t>, int> list_numbers(int fd, Parse parse, std::size_t max) {
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
        int error = errno;
        ::close(fd);
        return unexpected(error);
    }
    std::vector<std::uint32_t> numbers;
    int error = 0;
    for (;;) {
        errno = 0;
        dirent* entry = ::readdir(dir);
        if (entry == nullptr) {
            error = errno;
            break;
        }
        std::uint32_t number = 0;
        if (parse(std::string_view(entry->d_name), number)) {
            if (numbers.size() >= max) {
                error = EMFILE;  // More segments than any hub writes: refuse to guess.
                break;
            }
            numbers.push_back(number);
        }
    }
    ::closedir(dir);
    if (error != 0) {
        return unexpected(error);
    }
    std::sort(numbers.begin(), numbers.end());
    return numbers;
}

// A status or message_status record, in spool order, waiting for its message.
struct PendingEvent {
    QueueId id;
    StatusEvent event;
};

// Appends a decoded segment's status and message_status records to events in file order.
void collect_events(const DecodedSegment& segment, std::vector<PendingEvent>& events) {
    const auto& statuses = segment.statuses;
    const auto& admin = segment.message_statuses;
    std::size_t s = 0;
    std::size_t a = 0;
    // Bounded: each pass takes one record from one of the two lists.
    while (s < statuses.size() || a < admin.size()) {
        bool take_status = a == admin.size() || (s < statuses.size() && statuses[s].record_offset <
                                                                            admin[a].record_offset);
        PendingEvent pending;
        if (take_status) {
            const StatusUpdate& status = statuses[s++];
            pending.id = status.id;
            pending.event.type = RecordType::status;
            pending.event.recipient_index = status.recipient_index;
            pending.event.recipient_status = status.status;
        } else {
            const MessageStatusUpdate& update = admin[a++];
            pending.id = update.id;
            pending.event.type = RecordType::message_status;
            pending.event.message_status = update.status;
            pending.event.time_unix_ms = update.time_unix_ms;
        }
        events.push_back(pending);
    }
    HUB_ASSERT(s == statuses.size() && a == admin.size());
}

// Decodes one segment file into recovery; status events are collected for later.
Result<void, RecoveryFailure> scan_segment(int shard_fd, const std::string& path, SegmentName name,
                                           Recovery& recovery,
                                           std::vector<PendingEvent>& statuses) {
    std::string leaf = path.substr(path.rfind('/') + 1);
    int fd = ::openat(shard_fd, leaf.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    int open_errno = fd < 0 ? errno : 0;
    SegmentSummary summary;
    summary.path = path;
    summary.shard = name.shard;
    summary.segment_seq = name.segment_seq;
    if (open_errno == ENOENT) {
        return {};  // Deleted by the hub since we listed the directory: nothing live in it.
    }
    if (fd < 0 && open_errno != ELOOP) {  // ELOOP: a symlink, reported below.
        return unexpected(failure(RecoveryError::unreadable_file, path, open_errno));
    }
    Fd file(fd);
    struct stat info {};
    if (fd >= 0 && ::fstat(fd, &info) != 0) {
        return unexpected(failure(RecoveryError::unreadable_file, path, errno));
    }
    if (fd < 0 || !S_ISREG(info.st_mode)) {
        summary.problem = SegmentProblem::not_regular_file;
        summary.problem_detail = "not a regular file";
        recovery.segments.push_back(std::move(summary));
        return {};
    }
    FileSource source(fd, static_cast<std::uint64_t>(info.st_size));
    SegmentDecodeResult result = decode_segment_from(source, DecodeOptions{name, false});
    if (result.read_errno != 0) {
        return unexpected(failure(RecoveryError::unreadable_file, path, result.read_errno));
    }
    result.decoded.summary.path = path;
    for (RecoveredMessage& message : result.decoded.messages) {
        message.segment_path = path;
        message.segment_shard = name.shard;
        message.segment_seq = name.segment_seq;
        recovery.messages.push_back(std::move(message));
    }
    collect_events(result.decoded, statuses);
    recovery.segments.push_back(std::move(result.decoded.summary));
    return {};
}

struct IdOrder {
    bool operator()(const QueueId& a, const QueueId& b) const {
        return std::tie(a.shard, a.segment_seq, a.ordinal) <
               std::tie(b.shard, b.segment_seq, b.ordinal);
    }
};

// Applies one event to its message: a recipient's final status, or the administrator's
// hold, release or delete (deleted is final for the whole message).
void apply_event(const StatusEvent& event, RecoveredMessage& message, bool& deleted) {
    message.history.push_back(event);
    switch (event.type) {
        case RecordType::status:
            if (event.recipient_index < message.recipient_status.size()) {
                message.recipient_status[event.recipient_index] = event.recipient_status;
            }
            return;
        case RecordType::message_status:
            switch (event.message_status) {
                case MessageStatus::held:
                    message.held = true;
                    return;
                case MessageStatus::released:
                    message.held = false;
                    return;
                case MessageStatus::deleted:
                    deleted = true;
                    return;
            }
            HUB_PANIC("unknown MessageStatus");
        case RecordType::segment_header:
        case RecordType::message:
        case RecordType::content_slice:
        case RecordType::streamed_message:
            break;
    }
    HUB_PANIC("not a status event");
}

// Keeps one copy of each id, applies the status and administrator records, and keeps only
// live messages: not deleted, and with a recipient still pending. Two copies of an id exist
// when a compaction copied a message forward and the hub stopped before deleting the old
// segment (or its deletion was not yet durable). Both copies passed every check and are
// byte for byte the same record, and status records name the id, not a copy, so either
// would deliver correctly; the last one in spool order (the newer copy) wins because the
// old segment was on its way out: with its copies dropped it is dead again, and the hub
// deletes it right after start-up instead of compacting it a second time.
void apply_statuses(Recovery& recovery, const std::vector<PendingEvent>& statuses) {
    std::vector<std::pair<QueueId, std::size_t>> index;  // id -> position in messages.
    index.reserve(recovery.messages.size());
    for (std::size_t i = 0; i < recovery.messages.size(); i++) {
        index.emplace_back(recovery.messages[i].meta.id, i);
    }
    auto by_id = [](const auto& a, const auto& b) { return IdOrder{}(a.first, b.first); };
    std::stable_sort(index.begin(), index.end(), by_id);
    std::vector<bool> keep(recovery.messages.size(), true);
    for (std::size_t i = 1; i < index.size(); i++) {
        if (index[i].first == index[i - 1].first) {
            keep[index[i - 1].second] = false;  // stable_sort: the last in spool order stays.
        }
    }
    std::vector<bool> deleted(recovery.messages.size(), false);
    for (const PendingEvent& status : statuses) {
        auto found = std::lower_bound(index.begin(), index.end(),
                                      std::pair<QueueId, std::size_t>(status.id, 0), by_id);
        for (; found != index.end() && found->first == status.id; ++found) {
            bool message_deleted = false;
            apply_event(status.event, recovery.messages[found->second], message_deleted);
            if (message_deleted) {
                deleted[found->second] = true;
            }
        }  // None found: its message record is in a segment already deleted.
    }
    std::vector<RecoveredMessage> live;
    for (std::size_t i = 0; i < recovery.messages.size(); i++) {
        const auto& states = recovery.messages[i].recipient_status;
        if (keep[i] && !deleted[i] &&
            std::find(states.begin(), states.end(), RecipientStatus::pending) != states.end()) {
            live.push_back(std::move(recovery.messages[i]));
        }
    }
    HUB_ASSERT(live.size() <= recovery.messages.size());
    recovery.messages = std::move(live);
}

void count_live(Recovery& recovery) {
    for (SegmentSummary& segment : recovery.segments) {
        segment.live_count = 0;
    }
    // Messages are in segment order, so one pass pairs them with their summaries.
    std::size_t s = 0;
    for (const RecoveredMessage& message : recovery.messages) {
        while (s < recovery.segments.size() && recovery.segments[s].path != message.segment_path) {
            s++;
        }
        HUB_ASSERT(s < recovery.segments.size());
        recovery.segments[s].live_count++;
    }
}

// Scans one shard directory; records the next free sequence in recovery.
Result<void, RecoveryFailure> scan_shard(int spool_fd, const std::string& spool_dir,
                                         std::uint32_t shard, Recovery& recovery,
                                         std::vector<PendingEvent>& statuses) {
    std::string shard_name = fmt::format("shard-{}", shard);
    std::string shard_path = spool_dir + "/" + shard_name;
    int fd = ::openat(spool_fd, shard_name.c_str(),
                      O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)) {
        return {};  // Gone, or a name that is not a shard directory: not ours.
    }
    if (fd < 0) {
        return unexpected(failure(RecoveryError::unreadable_dir, shard_path, errno));
    }
    Fd shard_dir(::dup(fd));  // list_numbers consumes fd; keep one for openat.
    auto seqs = list_numbers(fd, parse_segment_name, segments_per_shard_max);
    if (!seqs) {
        return unexpected(failure(RecoveryError::unreadable_dir, shard_path, seqs.error()));
    }
    if (shard_dir.get() < 0) {
        return unexpected(failure(RecoveryError::unreadable_dir, shard_path, errno));
    }
    for (std::uint32_t seq : *seqs) {
        auto uint8_shard = static_cast<std::uint8_t>(shard);
        std::string path = spool_dir + "/" + segment_relative_path(uint8_shard, seq);
        auto scanned =
            scan_segment(shard_dir.get(), path, SegmentName{uint8_shard, seq}, recovery, statuses);
        if (!scanned) {
            return unexpected(scanned.error());
        }
    }
    if (recovery.next_segment_seq.size() <= shard) {
        recovery.next_segment_seq.resize(shard + 1, 0);
    }
    if (!seqs->empty()) {
        HUB_ASSERT(seqs->back() <= segment_seq_max);  // So that + 1 cannot wrap.
        recovery.next_segment_seq[shard] = seqs->back() + 1;
    }
    return {};
}

}  // namespace

Result<Recovery, RecoveryFailure> recover(const std::string& spool_dir, std::uint32_t shard_count) {
    HUB_ASSERT(shard_count <= shard_count_max);
    int fd = ::open(spool_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return unexpected(failure(RecoveryError::unreadable_dir, spool_dir, errno));
    }
    Fd spool_fd(::dup(fd));
    auto shards = list_numbers(fd, parse_shard_name, shard_count_max);
    if (!shards) {
        return unexpected(failure(RecoveryError::unreadable_dir, spool_dir, shards.error()));
    }
    if (spool_fd.get() < 0) {
        return unexpected(failure(RecoveryError::unreadable_dir, spool_dir, errno));
    }
    Recovery recovery;
    recovery.next_segment_seq.assign(shard_count, 0);
    std::vector<PendingEvent> statuses;
    for (std::uint32_t shard : *shards) {
        auto scanned = scan_shard(spool_fd.get(), spool_dir, shard, recovery, statuses);
        if (!scanned) {
            return unexpected(scanned.error());
        }
    }
    apply_statuses(recovery, statuses);
    count_live(recovery);
    HUB_ASSERT(recovery.next_segment_seq.size() >= shard_count);
    return recovery;
}

Result<std::string, RecoveryFailure> read_content(const RecoveredMessage& message) {
    HUB_ASSERT(!message.segment_path.empty());
    int fd = ::open(message.segment_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        return unexpected(failure(RecoveryError::unreadable_file, message.segment_path, errno));
    }
    Fd file(fd);
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        return unexpected(failure(RecoveryError::unreadable_file, message.segment_path, errno));
    }
    if (!S_ISREG(info.st_mode)) {
        return unexpected(failure(RecoveryError::unreadable_file, message.segment_path, EINVAL));
    }
    FileSource source(fd, static_cast<std::uint64_t>(info.st_size));
    RecoveredMessage again;
    std::string content;
    int read_errno = 0;
    bool valid = false;
    SingleRecordOutcome outcome =
        message.streamed()
            ? decode_streamed_content(source, message, content, read_errno)
            : decode_message_at(source, message.record_offset, again, content, read_errno);
    switch (outcome) {
        case SingleRecordOutcome::ok:
            valid = message.streamed() ||
                    (again.meta.id == message.meta.id && content.size() == message.content_bytes);
            break;
        case SingleRecordOutcome::read_error:
            return unexpected(
                failure(RecoveryError::unreadable_file, message.segment_path, read_errno));
        case SingleRecordOutcome::not_a_valid_message:
            break;
    }
    if (!valid) {
        return unexpected(RecoveryFailure{
            RecoveryError::unreadable_file,
            fmt::format("{}: record at offset {} is no longer message {}", message.segment_path,
                        message.record_offset, message.meta.id.to_string())});
    }
    HUB_ASSERT(content.size() == message.content_bytes);
    return content;
}

}  // namespace hub::spool
