// shard.h -- one core's reactor: its ring, listeners, connections, spool writer and
// compactor (spool_compactor.h, which it tells when to start and hands its completions).
//
// A shard shares nothing mutable with the others on the data path. It reads the
// immutable configuration, the partner snapshots the supervisor publishes (a new one at
// each reload), an atomic "spool space low" flag written by the supervisor, and an atomic
// stop flag.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "config/hub_config.h"
#include "delivery/delivery.h"
#include "engine/connection.h"
#include "engine/control.h"
#include "engine/delivery_state.h"
#include "engine/partner_snapshot.h"
#include "engine/ring.h"
#include "engine/ring_log_sink.h"
#include "engine/ring_setup.h"
#include "engine/shard_health.h"
#include "engine/shard_seam.h"
#include "engine/spool_compactor.h"
#include "engine/spool_writer.h"
#include "policy/partners.h"
#include "smtp/server_session.h"
#include "tls/tls_session.h"

namespace hub::engine {

struct ShardSettings {
    std::uint8_t index = 0;
    int cpu = -1;                // Pin to this CPU; -1 leaves it unpinned.
    int smtp_listener_fd = -1;   // STARTTLS port, already bound and listening.
    int smtps_listener_fd = -1;  // Implicit TLS port.
    int spool_dir_fd = -1;       // "<spool>/shard-<index>", opened O_DIRECTORY.
    std::uint32_t first_segment_seq = 0;
    std::uint32_t connections_max = 0;              // This shard's share.
    std::uint32_t connections_per_partner_max = 0;  // This shard's share.
    const config::HubConfig* config = nullptr;
    // The partner table and its outbound TLS contexts; a snapshot is published before the
    // shards start and again at each reload.
    const PartnerBoard* partners = nullptr;
    // The listeners' server contexts: tls_context for STARTTLS on smtp_listener_fd, and
    // smtps_tls_context (when set; else tls_context) for implicit TLS. Each may carry
    // contexts of its own per SNI name (ServerContext::add_server_name); hubd builds them
    // from tls.certificate and the directory's listener certificates.
    std::shared_ptr<tls::ServerContext> tls_context;
    std::shared_ptr<tls::ServerContext> smtps_tls_context;
    const std::atomic<bool>* spool_low = nullptr;
    const std::atomic<bool>* stop = nullptr;
    // Delivery: the recovered messages this shard delivers, and read-only fds of the
    // recovered segments they live in.
    std::vector<spool::RecoveredMessage> recovered;
    struct SegmentFd {
        std::uint8_t shard = 0;
        std::uint32_t segment_seq = 0;
        int fd = -1;
    };
    std::vector<SegmentFd> recovered_segment_fds;  // In other shards' directories.
    // Recovered segments of this shard's own directory: the spool writer takes them over
    // (and deletes them once dead).
    struct OwnSegment {
        spool::SegmentSummary summary;
        int fd = -1;
    };
    std::vector<OwnSegment> own_segments;
    // The supervisor's last statvfs of the spool (free bytes), and how many shards share
    // it: each shard's spool writer budgets its writes on them (SpaceBudget).
    const std::atomic<std::uint64_t>* spool_free_bytes = nullptr;
    std::uint32_t shard_count = 1;
    queue::Config queue_config;
    ControlMailbox* control = nullptr;     // Administrative commands (hubctl), may be null.
    std::atomic<bool>* serving = nullptr;  // Set once set-up is done and accepts are armed.
    // The simulator's fake ring, buffers and clocks (shard_seam.h); null in hubd.
    const ShardSeam* seam = nullptr;
};

class Shard {
public:
    explicit Shard(ShardSettings settings);
    ~Shard();
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;

    // Runs the reactor until the stop flag is set and in-flight commits have finished.
    // Errors are fatal set-up failures (ring, buffer ring).
    [[nodiscard]] Result<void, std::string> run();

    // run() in its three parts, for the simulator (tests/sim), which interleaves loop turns
    // with its own steps: start() sets up and arms; turn() is one reactor turn (submit,
    // reap, pump, schedule) and says false once stopped, or an error; finish() closes.
    [[nodiscard]] Result<void, std::string> start();
    [[nodiscard]] Result<bool, std::string> turn();
    void finish();

private:
    void reap(std::span<const Completion> completions);
    void dispatch(const Completion& completion);
    void arm_accept(unsigned listener_index);
    void arm_tick();
    void on_tick();
    void release_idle_buffers(Connection& connection);
    void release_receive_buffers();
    void on_accept(unsigned listener_index, int result, std::uint32_t flags);
    Connection* take_free_slot();
    void open_connection(int fd, bool implicit_tls);
    void arm_recv(Connection& connection);
    void on_recv(Connection& connection, int result, std::uint32_t flags);
    void on_send_done(Connection& connection, int result);
    void pump(Connection& connection);
    bool advance_tls(Connection& connection);
    void move_input_to_tls(Connection& connection);
    bool feed_session(Connection& connection);
    void take_replies(Connection& connection);
    void handle_events(Connection& connection);
    void spool_message(Connection& connection);
    void stream_message_content(Connection& connection);
    void begin_stream(Connection& connection);
    void abandon_stream(Connection& connection);
    bool stream_waits_for_writer(const Connection& connection) const;
    void resume_streams();
    spool::MessageMeta inbound_meta(const Connection& connection, const spool::QueueId& id,
                                    std::uint64_t arrival_unix_ms, std::string& received) const;
    void deliver_commit_outcomes();
    void flush(Connection& connection);
    void update_back_pressure(Connection& connection);
    void begin_close(Connection& connection);
    void finish_close(Connection& connection);
    void reject_busy(Connection& connection, smtp::RefusalReason reason, std::string_view reply);
    // One "reject:" line per refusal (smtp/refusal.h, docs/LOGGING.md).
    // It also counts the refusal (shard_health.h).
    void log_refusal(const Connection& connection, const smtp::Refusal& refusal);
    void log_session_refusals(Connection& connection);
    std::uint32_t slot_index(const Connection& connection) const;
    std::uint64_t now_ms() const;
    // Takes the newest published partner snapshot if it is not the one in use (a reload):
    // new connections and jobs use it from now on; see partner_snapshot.h.
    void adopt_partners();

    // Outbound delivery (outbound_flow.cc).
    void start_delivery();
    void queue_message(StoredMessage stored, queue::Origin origin,
                       std::span<const spool::RecipientStatus> statuses = {}, bool held = false);
    void run_scheduler();
    void run_control();
    void on_admin_durable(const CommitOutcome& outcome);
    std::string list_for_control() const;
    // This shard's part of "status" (health::encode of ShardHealth::part plus the queue).
    std::string status_for_control() const;
    health::PartnerRow* health_partner_of(queue::DestinationId destination);
    void count_received(const StoredMessage& stored);
    void count_transaction(const DeliveryJob& job, const JobItem& item,
                           const std::vector<delivery::RecipientLine>& lines);
    void count_outbound_failure(Connection& connection, std::string_view text);
    void count_bounce_outside_transaction(const spool::QueueId& id, std::uint32_t recipient_index);
    void carry_out(std::vector<delivery::Action>& actions);
    void start_job(delivery::QueueForDelivery& deliver);
    int segment_fd(std::uint8_t shard, std::uint32_t segment_seq) const;
    bool submit_record_read(const StoredMessage& stored, std::string& buffer, Op op,
                            std::uint32_t index, std::uint32_t generation);
    void on_record_read(std::uint32_t job_index, std::uint32_t item_index, int result);
    void prepare_item(DeliveryJob& job, JobItem& item);
    void render_item(DeliveryJob& job, JobItem& item, const smtp::Envelope& envelope,
                     std::string_view text, std::uint64_t later_bytes);
    bool submit_slice_read(std::uint32_t job_index, std::uint32_t item_index);
    void on_slice_read(std::uint32_t job_index, std::uint32_t item_index, int result);
    void feed_next_slice(Connection& connection);
    void streamed_damaged(std::uint32_t job_index, std::uint32_t item_index, std::string_view what);
    void open_outbound(std::uint32_t job_index);
    void on_out_socket(Connection& connection, int result);
    void on_out_connect(Connection& connection, int result);
    void pump_outbound(Connection& connection);
    bool advance_client_tls(Connection& connection);
    // The client TLS session for job's partner (after STARTTLS's 220, or at once for
    // implicit TLS); false after telling the client session it failed.
    bool start_client_tls(Connection& connection, DeliveryJob& job);
    void feed_client(Connection& connection);
    void take_client_output(Connection& connection);
    void handle_client_events(Connection& connection);
    void next_transaction(Connection& connection, DeliveryJob& job);
    void item_done(DeliveryJob& job, JobItem& item, const smtp::MessageResult* result,
                   std::string_view failure_text);
    void log_delivery(const DeliveryJob& job, const JobItem& item,
                      const delivery::RecipientLine& line) const;
    void fail_job(std::uint32_t job_index, std::string_view text, bool destination_down);
    void finish_job(std::uint32_t job_index, bool keep_connection = false);
    bool reuse_idle_connection(std::uint32_t job_index);
    void forget_idle_connection(Connection& connection);
    void release_job(std::uint32_t job_index);
    std::string job_peer(const DeliveryJob& job) const;
    void start_report(ReportKind kind, const spool::QueueId& id,
                      std::vector<queue::RecipientNote> recipients);
    void on_report_read(std::uint32_t report_index, int result);
    bool submit_report_slice_read(std::uint32_t report_index);
    void forget_stored(const spool::QueueId& id);
    void write_status(const spool::QueueId& id, std::uint32_t recipient_index,
                      spool::RecipientStatus status);
    void take_durable_statuses();

    // Spool reclamation (spool_reclaim.cc): the writer and the compactor, and what the
    // compactor may ask of this shard's messages.
    void start_spool_writer();
    CompactionHost compaction_host();
    void spool_generated(std::string content, const std::string& recipient, std::uint64_t report);
    void on_generated_durable(const CommitOutcome& outcome);
    std::uint64_t wall_ms() const;

    ShardSettings settings_;
    io_uring ring_storage_{};
    Ring io_uring_ring_{ring_storage_};
    // Everything but set-up and teardown submits through the interface (the seam for a fake).
    RingOps& ring_{settings_.seam != nullptr ? *settings_.seam->ring : io_uring_ring_};
    RingLogSink log_sink_{ring_};
    BufferRingMemory buffers_;
    smtp::ServerConfig starttls_config_;
    smtp::ServerConfig implicit_tls_config_;
    std::unique_ptr<SpoolWriter> spool_;
    // Copies live messages out of the head segment so it can go (spool_compactor.h).
    std::unique_ptr<SpoolCompactor> compactor_;
    ShardHealth health_{settings_.index};
    bool counting_transaction_ = false;  // item_done's actions: their bounces are counted.

    std::vector<std::unique_ptr<Connection>> slots_;
    std::vector<std::uint32_t> free_slots_;
    std::vector<std::uint32_t> runnable_;      // Budget ran out: pump again next turn.
    std::vector<std::uint32_t> runnable_now_;  // The list being worked through.
    // Inbound streams parked until the spool writer lands their slice (slot, generation).
    std::vector<std::pair<std::uint32_t, std::uint32_t>> streams_waiting_;
    // Inbound connections per partner, by its destination id (stable across reloads).
    std::vector<std::uint32_t> partner_connections_;
    // The snapshot new connections and jobs use; older ones live on in the connections
    // and jobs that started under them.
    std::shared_ptr<const PartnerSnapshot> snapshot_;
    std::uint32_t open_count_ = 0;
    std::uint32_t closed_since_collect_ = 0;  // Connections closed since mi_collect(true).
    std::uint64_t next_forced_collect_ms_ = 0;
    bool receive_buffers_touched_ = false;  // A recv used one since they were last dropped.
    bool accepting_ = true;
    bool accept_armed_[2] = {false, false};
    std::uint64_t next_accept_retry_ms_ = 0;
    __kernel_timespec tick_interval_{};
    __kernel_timespec send_timeout_{};
    std::vector<char> plaintext_scratch_;  // One TLS record of decrypted bytes.
    std::uint64_t stop_deadline_ms_ = 0;   // Set when the stop flag is first seen.

    // Delivery state (outbound_flow.cc).
    // The relay's decisions (routing, outcomes, reports) and the scheduler it owns; this
    // shard carries out the actions they return.
    std::unique_ptr<delivery::Delivery> delivery_;
    queue::Scheduler* scheduler_ = nullptr;                  // delivery_'s.
    std::vector<queue::DestinationId> partner_destination_;  // By index in snapshot_'s table.
    // Connection cache: idle, TLS-up connections per destination (partner), newest last;
    // and the TLS session each partner's server last gave us, offered for resumption. Both
    // by destination id, which a reload never renumbers.
    std::vector<std::vector<std::uint32_t>> idle_outbound_;
    std::vector<tls::SavedSession> saved_sessions_;
    std::unordered_map<std::uint64_t, StoredMessage> stored_;  // By queue_key().
    // Accepted messages whose commit is in flight, with what routing needs.
    std::unordered_map<std::uint64_t, StoredMessage> committing_;
    std::vector<DeliveryJob> jobs_;
    std::vector<std::uint32_t> free_jobs_;
    std::vector<ReportJob> reports_;
    std::vector<std::uint32_t> free_reports_;
    std::vector<std::pair<ReportKind, StoredMessage>> reports_waiting_;  // No free job yet.
    smtp::ClientConfig client_config_;
    std::uint64_t scheduler_due_ms_ = 0;
    std::uint64_t report_counter_ = 0;
    // hubctl's hold/release/delete whose message_status record is being committed.
    std::optional<ControlCommand> control_pending_;
};

}  // namespace hub::engine
