// shard_sim_test.cc -- a whole engine::Shard on the fake ring: simulated clients send mail
// over SMTP, simulated partners answer it, the disk fails and the process crashes, and the
// delivery invariants are checked after every step.
//
// One seed is one run, single-threaded, with no wall clock: the real Shard (inbound SMTP
// sessions, spool writer, scheduler, outbound relay, reports) runs through its ShardSeam on
// a FakeRing whose clock, network and disk the run drives. Each step the seed picks one
// thing to happen (a client connects or speaks, a partner reads or answers, one file
// operation or one network event completes, the clock moves, the process crashes), then the
// shard takes one reactor turn, then the invariants are checked:
//   - nothing is delivered that no client finished sending, or with other content;
//   - a message answered 250 is delivered to its partner at most once, except in the
//     at-least-once window docs/DELIVERY.md names: a crash after the partner's 250 (before
//     the status record was durable), or a connection that broke before the hub read that
//     250; any other duplicate is a violation;
//   - the hub's sockets and files stay under their bounds.
// At the end faults stop and the run goes on until nothing is left to do; then every
// message answered 250 must have been delivered to its partner or bounced to its sender
// (a DSN that names it): a message answered 250 and then lost is the violation the broken
// build (ack before sync) must produce.
//
// sim_shard [--seeds COUNT] [--first N] runs seeds N..N+COUNT-1; --seed N --trace replays one
// with every ring completion, network event and hub log line on stderr.
// --stream runs the same with spool.stream_bodies on and one message in three larger than
// a slice (dot lines and 998-byte lines across the slice edges). Streamed messages are
// delivered (with exactly the content sent) or bounced like any other; besides, at every
// restart after a crash and at the end, every message recovered has exactly the content
// sent (a torn stream is never half a message) and every one answered 250 and not yet
// delivered or bounced is in the spool.
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "base/log.h"
#include "engine/limits.h"
#include "engine/partner_snapshot.h"
#include "engine/shard.h"
#include "fake_ring.h"
#include "spool/spool_format.h"
#include "tls/tls_session.h"

namespace hub::sim {
namespace {

constexpr unsigned steps_per_run_min = 600;
constexpr unsigned steps_per_run_spread = 1200;
constexpr unsigned quiesce_steps_max = 200'000;
constexpr std::uint32_t clients_max = 24;  // Connections made in one run.
constexpr std::uint32_t connections_max = 8;
constexpr std::uint64_t wall_epoch_ms = 1'790'000'000'000;  // 2026: the wall clock's zero.
constexpr std::uint16_t smtp_port = 25;
constexpr const char* alpha_server = "10.1.0.1";
constexpr const char* beta_server = "10.2.0.1";

sockaddr_storage ipv4(const std::string& text, std::uint16_t port) {
    sockaddr_storage storage{};
    auto& address = reinterpret_cast<sockaddr_in&>(storage);
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    HUB_ASSERT(inet_pton(AF_INET, text.c_str(), &address.sin_addr) == 1);
    return storage;
}

std::string ipv4_text(const sockaddr_storage& storage) {
    char text[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(storage).sin_addr, text, sizeof text);
    return text;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

// Takes one CRLF line out of bytes, or nothing yet.
bool take_line(std::string& bytes, std::string& line) {
    std::size_t end = bytes.find("\r\n");
    if (end == std::string::npos) {
        return false;
    }
    line = bytes.substr(0, end);
    bytes.erase(0, end + 2);
    return true;
}

// What the run knows about one message a client sent.
struct Sent {
    std::string body;  // The DATA as the client sent it, dot-unstuffed, without the final dot.
    enum class Answer { none, accepted, refused, unknown } answer = Answer::none;
    std::uint32_t crashes_at_answer = 0;  // The crash count when the answer came.
    std::uint32_t deliveries = 0;         // Partner beta answered 250 to it this many times.
    bool duplicate_allowed = false;       // The at-least-once window opened for it.
    bool bounced = false;                 // A DSN naming it reached its sender.
};

// A simulated SMTP client: one connection, one message. A TLS client (from 10.1.1.0/24,
// where partner alpha's policy requires TLS) says STARTTLS and runs wolfSSL through
// tls::Session's memory queues (no client certificate: see configure()); the others
// (10.1.0.0/24, where the policy lets mail in clear) speak plain SMTP.
struct Client {
    int pipe = -1;
    std::uint32_t token = 0;
    bool use_tls = false;
    enum class Stage {
        greeting,
        ehlo,
        starttls,
        handshake,
        mail,
        rcpt,
        data,
        body,
        quit,
        done
    } stage = Stage::greeting;
    std::unique_ptr<tls::Session> tls;
    std::string plain_in;  // Reply bytes (decrypted, with TLS) not yet parsed.
};

// A simulated partner's SMTP server on one connection the hub opened.
struct PartnerSession {
    int pipe = -1;
    bool beta = false;  // Else alpha, which receives the bounces.
    enum class Stage { commands, data, closed } stage = Stage::commands;
    std::string input;  // Bytes read and not yet parsed.
    std::string data;
    std::string mail_from;
    std::uint32_t slow_steps = 0;  // A slow peer: steps left before it reads again.
    // The last message answered 250 on this connection, until the hub's next command shows
    // it read that 250 (its token, or 0).
    std::uint32_t unconfirmed_token = 0;
};

class ShardRun {
public:
    ShardRun(std::uint64_t seed, const std::string& dir, bool trace, bool stream)
        : seed_(seed),
          dir_(dir),
          trace_(trace),
          stream_(stream),
          ring_(seed, dir + "/shard-0", disk_faults_for(seed), trace) {}

    // One seed in eight runs with a disk that refuses writes and syncs seven times as often,
    // so that the rarer paths after a failed commit are reached too: e.g. a DSN that could
    // not be spooled, whose bounced status must wait for the report's retry (seed 437).
    static FaultRates disk_faults_for(std::uint64_t seed) {
        FaultRates rates;
        if (seed % 8 == 5) {
            rates.no_space = 150;
            rates.sync_eio = 150;
        }
        return rates;
    }

    ~ShardRun() { stop_shard(); }

    std::vector<std::string> run() {
        configure();
        if (!violations_.empty()) {
            return violations_;
        }
        spool_streamed_messages();
        start_shard();
        unsigned steps =
            steps_per_run_min + static_cast<unsigned>(ring_.below(steps_per_run_spread));
        for (step_ = 0; step_ < steps && violations_.empty(); step_++) {
            act(true);
            turn();
            check();
        }
        // Faults off; everything left is done: delivered, bounced, or still in the hub.
        ring_.set_faults(FaultRates{0, 0, 0, 0, 0, 0}, NetworkRates{0, 0, 0});
        faults_off_ = true;
        for (unsigned quiet = 0; quiet < quiesce_steps_max && violations_.empty(); quiet++) {
            if (quiet % 500 == 499 && !all_resolved()) {
                check_unresolved_still_spooled();
            }
            if (!act(false)) {
                if (all_resolved()) {
                    break;
                }
                // Nothing ready: time passes until the next timer (retries, ticks).
                std::uint64_t next = ring_.next_timer_ms();
                ring_.advance_clock(next == UINT64_MAX ? ring_.now_ms() + 1000 : next);
            }
            turn();
            check();
        }
        if (violations_.empty()) {
            final_check();
        }
        return violations_;
    }

    std::string summary() const {
        std::size_t accepted = 0;
        std::size_t delivered = 0;
        std::size_t bounced = 0;
        std::size_t duplicates = 0;
        for (const auto& [token, sent] : sent_) {
            accepted += sent.answer == Sent::Answer::accepted;
            delivered += sent.deliveries > 0;
            bounced += sent.bounced;
            duplicates += sent.deliveries > 1;
        }
        return fmt::format(
            "{} sent, {} answered 250, {} delivered, {} bounced, {} delivered twice, {} crashes, "
            "{} steps, {} recovered as streams",
            sent_.size(), accepted, delivered, bounced, duplicates, crashes_, step_,
            streamed_seen_.size());
    }

    std::uint32_t crashes() const { return crashes_; }
    // Messages recovered as streams (slices and a commit) at some restart or at the end.
    std::size_t streamed_count() const { return streamed_seen_.size(); }
    std::size_t accepted_count() const {
        std::size_t count = 0;
        for (const auto& [token, sent] : sent_) {
            count += sent.answer == Sent::Answer::accepted;
        }
        return count;
    }
    std::size_t duplicate_count() const {
        std::size_t count = 0;
        for (const auto& [token, sent] : sent_) {
            count += sent.deliveries > 1;
        }
        return count;
    }
    std::size_t bounced_count() const {
        std::size_t count = 0;
        for (const auto& [token, sent] : sent_) {
            count += sent.bounced;
        }
        return count;
    }

private:
    void violation(std::string text) {
        violations_.push_back(fmt::format("step {}: {}", step_, std::move(text)));
    }

    void trace(const std::string& text) const {
        if (trace_) {
            std::fprintf(stderr, "sim: t=%llu %s\n",
                         static_cast<unsigned long long>(ring_.now_ms()), text.c_str());
        }
    }

    void configure() {
        config_.spool_dir = dir_;
        config_.segment_bytes_max = 8192 + ring_.below(24 * 1024);  // Segments rotate.
        config_.spool_reserve_bytes = 1 << 20;
        config_.command_timeout_s = 300;
        config_.stream_bodies = stream_;
        policy::Partner alpha;
        alpha.name = "alpha";
        alpha.domains = {"alpha.example"};
        alpha.inbound = {policy::Cidr{}};
        alpha.outbound_host = alpha_server;
        alpha.outbound_port = smtp_port;
        alpha.outbound_name = "mx.alpha.example";
        policy::Partner beta = alpha;
        beta.name = "beta";
        beta.domains = {"beta.example"};
        beta.outbound_host = beta_server;
        beta.outbound_name = "mx.beta.example";
        auto cidr = [](std::uint8_t second) {
            policy::Cidr network;
            network.address[10] = 0xff;
            network.address[11] = 0xff;
            network.address[12] = 10;
            network.address[13] = second;
            network.prefix_bits = 96 + 16;
            return network;
        };
        alpha.inbound = {cidr(1)};
        beta.inbound = {cidr(2)};
        for (policy::Partner* partner : {&alpha, &beta}) {
            // Identified by source address (no client certificate required); relayed without TLS to
            // partner servers that offer none (see "Not modelled" in tests/README.md).
            partner->require_client_certificate = false;
            partner->client_cn.clear();
            partner->outbound_tls.require_tls = false;
            partner->outbound_tls.verify = policy::OutboundVerify::none;
        }
        // Alpha's default policy requires TLS; its 10.1.0.0/24 may send in clear text.
        policy::Cidr clear_network = cidr(1);
        clear_network.prefix_bits = 96 + 24;
        policy::InboundTlsPolicy clear;
        clear.require_tls = false;
        clear.request_certificate = false;
        clear.require_certificate = false;
        alpha.inbound_tls_by_network.push_back({clear_network, "clear", clear});
        tls::ServerConfig server;
        // RSA, and no client certificate: an ECDSA signature's length varies with wolfSSL's
        // random numbers, which the seed does not drive, and a handshake one byte longer
        // would split differently and take another path -- a replay must be exact.
        server.certificate_chain_path = HUB_SIM_TLS_DIR "/server-rsa.pem";
        server.private_key_path = HUB_SIM_TLS_DIR "/server-rsa.key";
        server.client_ca_path = HUB_SIM_TLS_DIR "/ca.pem";
        auto server_context = tls::ServerContext::create(server);
        tls::ClientConfig client;
        client.trust_anchor_path = HUB_SIM_TLS_DIR "/ca.pem";
        client.verify_peer = false;  // The test server certificate names localhost.
        auto client_context = tls::ClientContext::create(client);
        if (!server_context || !client_context) {
            violations_.push_back("set-up: TLS contexts: " +
                                  (!server_context ? server_context.error().message
                                                   : client_context.error().message));
            return;
        }
        server_context_ = *server_context;
        client_context_ = *client_context;
        engine::OutboundKeyMaterial keys;
        keys.certificate_pem = read_file(HUB_SIM_TLS_DIR "/client.pem");
        keys.private_key_pem = read_file(HUB_SIM_TLS_DIR "/client.key");
        keys.trust_anchor_pem = read_file(HUB_SIM_TLS_DIR "/ca.pem");
        auto snapshot = engine::build_snapshot(config_.domain, {alpha, beta}, keys, 1, nullptr);
        if (!snapshot) {
            violations_.push_back("set-up: partner snapshot: " + snapshot.error());
            return;
        }
        board_.publish(*snapshot);
        listener_fd_ = ring_.listener(smtp_port);
        queue_config_.delay_warning_s = 0;     // Only bounces are reports here.
        queue_config_.retry_delay_s_min = 30;  // Short, so that a run winds down in fewer turns.
        queue_config_.retry_delay_s_max = 300;
        queue_config_.recovery_spread_s = 1;
        queue_config_.seed = seed_;
    }

    // One seed in three starts with streamed messages (spool format 3) already in the
    // spool, as a hub that streamed them and then stopped would leave them: 1 to 3 messages
    // of up to three 256 KiB slices (the first always more than one), their slices interleaved with
    // each other and with a stream that never got its commit, written with the real encoder. They
    // count as answered 250 (before the run), so the invariants hold for them too: delivered once
    // (faults and crashes permitting the at-least-once window), or bounced, never lost,
    // and with the content that was stored.
    void spool_streamed_messages() {
        if (seed_ % 3 != 0) {
            return;
        }
        constexpr std::uint32_t seq = 1;
        constexpr std::uint32_t first_token = 1000;
        std::uint32_t count = 1 + static_cast<std::uint32_t>(ring_.below(3));
        std::string image;
        spool::append_segment_header(0, seq, image);
        std::vector<std::string> contents;
        std::vector<spool::StreamedMessageEncoder> encoders;
        for (std::uint32_t index = 0; index < count; index++) {
            std::uint32_t token = first_token + index;
            std::string body = fmt::format(
                "From: <c{0}@alpha.example>\r\nTo: <u{0}@beta.example>\r\nSubject: sim {0}\r\n"
                "Message-ID: <sim-{0}-{1}@alpha.example>\r\nX-Sim-Token: {0}\r\n\r\n",
                token, seed_);
            // The first spans two or three slices (its lines cross their boundaries).
            std::size_t target = index == 0 ? spool::slice_content_bytes_max +
                                                  ring_.below(2 * spool::slice_content_bytes_max)
                                 : ring_.below(2) == 0
                                     ? 1 + ring_.below(2000)
                                     : ring_.below(3 * spool::slice_content_bytes_max);
            for (std::size_t line = 0; body.size() < target; line++) {
                // One line in four starts with a dot; lines of up to 998 bytes.
                body +=
                    fmt::format("{}line {} of streamed message {} {}\r\n", line % 4 == 0 ? "." : "",
                                line, token, std::string(ring_.below(960), 'x'));
            }
            Sent sent;
            sent.body = body;
            sent.answer = Sent::Answer::accepted;
            sent_[token] = std::move(sent);
            contents.push_back(
                fmt::format("Received: from sim (10.1.0.9) by hub id {}\r\n", token) + body);
            encoders.emplace_back(spool::QueueId{0, seq, index});
        }
        spool::StreamedMessageEncoder abandoned(spool::QueueId{0, seq, count});
        abandoned.append_slice("Received: a stream whose commit never came\r\n", image);
        for (std::size_t at = 0;; at += spool::slice_content_bytes_max) {
            bool any = false;
            for (std::uint32_t index = 0; index < count; index++) {
                std::string_view content(contents[index]);
                if (at >= content.size()) {
                    continue;
                }
                any = true;
                std::string_view slice = content.substr(at, spool::slice_content_bytes_max);
                encoders[index].append_slice(slice, image);
                if (at + slice.size() == content.size()) {
                    spool::MessageMeta meta;
                    meta.id = encoders[index].id();
                    meta.arrival_unix_s = wall_epoch_ms / 1000;
                    meta.client_address = "10.1.0.9";
                    meta.partner = "alpha";
                    meta.envelope.helo = "sim";
                    meta.envelope.esmtp = true;
                    meta.envelope.mail_from = fmt::format("c{}@alpha.example", first_token + index);
                    meta.envelope.recipients.push_back(smtp::Recipient{
                        fmt::format("u{}@beta.example.{}", first_token + index, config_.domain), 0,
                        ""});
                    encoders[index].append_commit(meta, image);
                }
            }
            if (!any) {
                break;
            }
        }
        std::string path = fmt::format("{}/shard-0/{:08x}.seg", dir_, seq);
        std::ofstream out(path, std::ios::binary);
        out.write(image.data(), static_cast<std::streamsize>(image.size()));
        out.close();
        HUB_ASSERT(out.good());
        trace(fmt::format("spool holds {} streamed messages ({} bytes)", count, image.size()));
    }

    void start_shard() {
        auto recovery = spool::recover(dir_, 1);
        HUB_ASSERT(recovery.has_value());
        if (stream_) {
            check_spooled_whole(*recovery);
        }
        buffers_ = std::make_unique<engine::BufferRingMemory>();
        HUB_ASSERT(engine::allocate_buffer_ring(*buffers_, engine::recv_buffer_count,
                                                engine::recv_buffer_bytes)
                       .has_value());
        ring_.set_shard_mode(buffers_.get(), faults_off_ ? NetworkRates{0, 0, 0} : NetworkRates{});
        seam_.ring = &ring_;
        seam_.buffers = buffers_.get();
        seam_.monotonic_ms = [this] { return ring_.now_ms(); };
        seam_.wall_ms = [this] { return wall_epoch_ms + ring_.now_ms(); };
        seam_.peer_address = [this](int fd, sockaddr_storage& peer) {
            return ring_.peer_address(fd, peer);
        };
        engine::ShardSettings settings;
        settings.index = 0;
        settings.smtp_listener_fd = listener_fd_;
        settings.spool_dir_fd = ring_.dir_fd();
        settings.first_segment_seq = std::max<std::uint32_t>(
            1, recovery->next_segment_seq.empty() ? 0 : recovery->next_segment_seq[0]);
        settings.connections_max = connections_max;
        settings.connections_per_partner_max = connections_max;
        settings.config = &config_;
        settings.partners = &board_;
        settings.spool_low = &spool_low_;
        settings.stop = &stop_;
        settings.spool_free_bytes = &spool_free_bytes_;
        settings.tls_context = server_context_;
        settings.queue_config = queue_config_;
        settings.seam = &seam_;
        settings.recovered = std::move(recovery->messages);
        for (auto& segment : recovery->segments) {
            if (segment.problem == spool::SegmentProblem::not_regular_file) {
                continue;
            }
            int fd = ring_.open_existing(std::filesystem::path(segment.path).filename());
            settings.own_segments.push_back({std::move(segment), fd});
        }
        trace(fmt::format("shard starts: {} messages recovered", settings.recovered.size()));
        shard_ = std::make_unique<engine::Shard>(std::move(settings));
        auto started = shard_->start();
        HUB_ASSERT(started.has_value());
    }

    void stop_shard() {
        if (shard_ == nullptr) {
            return;
        }
        shard_.reset();
        base::log_set_thread_sink(nullptr);
        engine::free_buffer_ring(*buffers_);
    }

    void crash() {
        crashes_++;
        trace("crash");
        stop_shard();
        ring_.crash();
        // Every client whose answer had not come is left not knowing.
        for (Client& client : clients_) {
            if (client.stage != Client::Stage::done) {
                finish_client(client, true);
            }
        }
        for (auto& [token, sent] : sent_) {
            if (sent.deliveries > 0) {
                sent.duplicate_allowed = true;  // Its status record may not have held.
            }
        }
        start_shard();
    }

    void turn() {
        auto more = shard_->turn();
        if (!more) {
            violation("shard turn: " + more.error());
        }
    }

    // One seeded event; false if the one picked (or, without faults, every one) had nothing
    // to do.
    bool act(bool faults) {
        if (!faults) {
            // Everything ready happens, in seeded order; time moves only when nothing is.
            for (unsigned tries = 0; tries < 4; tries++) {
                if (ring_.network_step() || ring_.step() || peers_step()) {
                    return true;
                }
            }
            return ring_.network_step() || ring_.step() || peers_step(true);
        }
        std::uint64_t pick = ring_.below(1000);
        if (pick < 1) {
            crash();
            return true;
        }
        if (pick < 40) {
            if (next_token_ <= clients_max) {
                open_client();
                return true;
            }
            return false;
        }
        if (pick < 300) {
            return ring_.step();
        }
        if (pick < 600) {
            return ring_.network_step();
        }
        if (pick < 950) {
            return peers_step();
        }
        std::uint64_t next = ring_.next_timer_ms();
        std::uint64_t jump = ring_.below(5) == 0 ? ring_.below(120'000) : ring_.below(400);
        ring_.advance_clock(std::min(next, ring_.now_ms() + jump));
        return true;
    }

    void open_client() {
        Client client;
        client.token = next_token_++;
        client.use_tls = ring_.below(2) == 0;
        std::string from =
            fmt::format("10.1.{}.{}", client.use_tls ? 1 : 0, 10 + client.token % 200);
        client.pipe = ring_.client_connect(listener_fd_, ipv4(from, 40000));
        trace(fmt::format("client {} connects from {}", client.token, from));
        clients_.push_back(std::move(client));
    }

    // Every peer that can make progress does so once; the seed picks the order.
    bool peers_step(bool all = false) {
        bool moved = false;
        for (int id : ring_.take_new_outbound()) {
            open_partner_session(id);
            moved = true;
        }
        std::size_t count = clients_.size() + partners_.size();
        if (count == 0) {
            return moved;
        }
        std::size_t start = ring_.below(count);
        for (std::size_t offset = 0; offset < count; offset++) {
            std::size_t index = (start + offset) % count;
            bool did = index < clients_.size() ? client_step(clients_[index])
                                               : partner_step(partners_[index - clients_.size()]);
            moved = moved || did;
            if (moved && !all) {
                return true;
            }
        }
        return moved;
    }

    static void send_text(Pipe& pipe, std::string_view text) {
        if (!pipe.reset && !pipe.peer_closed) {
            pipe.to_hub.append(text);
        }
    }

    void finish_client(Client& client, bool unknown) {
        if (client.stage == Client::Stage::body ||
            (unknown && client.stage == Client::Stage::quit)) {
            auto found = sent_.find(client.token);
            if (found != sent_.end() && found->second.answer == Sent::Answer::none) {
                found->second.answer = Sent::Answer::unknown;
            }
        }
        client.stage = Client::Stage::done;
        client.tls.reset();
        if (Pipe* pipe = ring_.pipe(client.pipe)) {
            pipe->peer_closed = true;
        }
    }

    std::string message_body(std::uint32_t token) {
        std::string body = fmt::format(
            "From: <c{0}@alpha.example>\r\nTo: <u{0}@beta.example>\r\nSubject: sim {0}\r\n"
            "Message-ID: <sim-{0}-{1}@alpha.example>\r\nX-Sim-Token: {0}\r\n\r\n",
            token, seed_);
        std::size_t lines = ring_.below(4) == 0 ? 200 + ring_.below(2000) : 1 + ring_.below(20);
        for (std::size_t line = 0; line < lines; line++) {
            body += fmt::format("line {} of message {} {}\r\n", line, token,
                                std::string(ring_.below(60), 'x'));
        }
        body += ".a line that starts with a dot\r\n";
        if (stream_ && ring_.below(3) == 0) {
            // Larger than a slice: whole slices and a piece, with dot lines and lines of the
            // most octets allowed (998 and CRLF) straddling each slice's edge.
            std::size_t target = spool::slice_content_bytes_max * (1 + ring_.below(3)) +
                                 ring_.below(spool::slice_content_bytes_max);
            std::size_t line = 0;
            while (body.size() < target) {
                std::size_t edge =
                    spool::slice_content_bytes_max - body.size() % spool::slice_content_bytes_max;
                if (edge < 1200 && line % 2 == 0) {
                    body += fmt::format("{:.<998}\r\n", fmt::format("{} {}", line, token));
                } else if (edge < 1200) {
                    body += fmt::format(".dot line {} {}\r\n", line, token);
                } else {
                    body += fmt::format("big line {} of message {} {}\r\n", line, token,
                                        std::string(ring_.below(900), 'y'));
                }
                line++;
            }
        }
        return body;
    }

    // Every message recovered has exactly the content its client sent (our Received: then
    // the body): slices without their commit never make a message, nor half of one. Every
    // message answered 250 and neither delivered nor bounced is there (or quoted in the
    // bounce that reports it). Marks the messages recovered as streams.
    void check_spooled_whole(const spool::Recovery& recovery) {
        std::map<std::uint32_t, bool> found;
        for (const spool::RecoveredMessage& message : recovery.messages) {
            auto content = spool::read_content(message);
            if (!content) {
                violation("read_content: " + content.error().detail);
                continue;
            }
            std::size_t at = content->find("X-Sim-Token: ");
            if (at == std::string::npos) {
                continue;  // A bounce of a message it quotes nothing of.
            }
            auto token = static_cast<std::uint32_t>(std::atoi(content->c_str() + at + 13));
            found[token] = true;
            if (message.meta.envelope.mail_from.empty()) {
                continue;  // A bounce, which quotes its message's header block.
            }
            auto sent = sent_.find(token);
            std::size_t body_at = content->find("From: <c");
            if (sent == sent_.end() || body_at == std::string::npos ||
                content->compare(body_at, std::string::npos, sent->second.body) != 0) {
                violation(fmt::format("message {} recovered with content other than was sent{}",
                                      token, message.streamed() ? " (streamed)" : ""));
                continue;
            }
            if (message.streamed()) {
                streamed_seen_[token] = true;
            }
        }
        for (const auto& [token, sent] : sent_) {
            if (sent.answer == Sent::Answer::accepted && sent.deliveries == 0 && !sent.bounced &&
                !found[token]) {
                violation(fmt::format("lost acknowledged message {} (spool scan)", token));
            }
        }
    }

    // Sends text to the hub: as it is, or encrypted once TLS is up.
    void client_send(Client& client, Pipe& pipe, std::string_view text) {
        if (pipe.reset || pipe.peer_closed) {
            return;
        }
        if (!client.tls) {
            pipe.to_hub.append(text);
            return;
        }
        while (!text.empty()) {
            std::size_t chunk = std::min(text.size(), client.tls->writable_bytes());
            if (chunk == 0 || !client.tls->write(text.substr(0, chunk))) {
                trace(fmt::format("client {}: TLS write failed", client.token));
                finish_client(client, true);
                return;
            }
            text.remove_prefix(chunk);
            move_ciphertext(client, pipe);
        }
    }

    static void move_ciphertext(Client& client, Pipe& pipe) {
        std::span<const char> bytes = client.tls->ciphertext_out.readable();
        if (!pipe.reset && !pipe.peer_closed) {
            pipe.to_hub.append(bytes.data(), bytes.size());
        }
        client.tls->ciphertext_out.consume(bytes.size());
    }

    // Takes what the hub sent into client.plain_in (through TLS once it is up); false once
    // the client gave up.
    bool client_receive(Client& client, Pipe& pipe, bool& moved) {
        if (!client.tls) {
            moved = moved || !pipe.to_peer.empty();
            client.plain_in += pipe.to_peer;
            pipe.to_peer.clear();
            return true;
        }
        std::size_t count = std::min(pipe.to_peer.size(), client.tls->ciphertext_in.space_bytes());
        if (count > 0) {
            HUB_ASSERT(client.tls->ciphertext_in.append(
                std::span<const char>(pipe.to_peer.data(), count)));
            pipe.to_peer.erase(0, count);
            moved = true;
        }
        if (!client.tls->handshake_done()) {
            auto progress = client.tls->handshake();
            move_ciphertext(client, pipe);
            if (!progress) {
                trace(fmt::format("client {}: TLS handshake: {}", client.token,
                                  progress.error().message));
                finish_client(client, true);
                return false;
            }
            if (!client.tls->handshake_done()) {
                return true;
            }
            trace(fmt::format("client {}: TLS up", client.token));
            moved = true;
            client.stage = Client::Stage::ehlo;
            client_send(client, pipe, "EHLO client.alpha.example\r\n");
        }
        char buffer[4096];
        for (;;) {
            auto got = client.tls->read(buffer);
            if (!got) {
                finish_client(client, true);  // close_notify after 221, or a broken record.
                return false;
            }
            if (*got == 0) {
                break;
            }
            client.plain_in.append(buffer, *got);
        }
        move_ciphertext(client, pipe);
        return true;
    }

    bool client_step(Client& client) {
        if (client.stage == Client::Stage::done) {
            return false;
        }
        Pipe* pipe = ring_.pipe(client.pipe);
        HUB_ASSERT(pipe != nullptr);
        if (pipe->reset || (pipe->hub_closed && pipe->to_peer.empty())) {
            trace(fmt::format("client {}: connection {}", client.token,
                              pipe->reset ? "reset" : "closed"));
            finish_client(client, true);
            return true;
        }
        bool moved = false;
        if (!client_receive(client, *pipe, moved)) {
            return true;
        }
        std::string line;
        while (client.stage != Client::Stage::done && take_line(client.plain_in, line)) {
            moved = true;
            if (line.size() >= 4 && line[3] == '-') {
                continue;  // More lines of this reply follow.
            }
            int code = std::atoi(line.substr(0, 3).c_str());
            client_reply(client, *pipe, code, line);
        }
        return moved;
    }

    void client_reply(Client& client, Pipe& pipe, int code, const std::string& line) {
        auto give_up = [&] {
            trace(fmt::format("client {}: gives up at '{}'", client.token, line));
            client_send(client, pipe, "QUIT\r\n");
            finish_client(client, false);
        };
        switch (client.stage) {
            case Client::Stage::greeting:
                if (code != 220) {
                    return give_up();
                }
                client_send(client, pipe, "EHLO client.alpha.example\r\n");
                client.stage = Client::Stage::ehlo;
                return;
            case Client::Stage::ehlo:
                if (code != 250) {
                    return give_up();
                }
                if (client.use_tls && !client.tls) {
                    client_send(client, pipe, "STARTTLS\r\n");
                    client.stage = Client::Stage::starttls;
                    return;
                }
                client_send(client, pipe,
                            fmt::format("MAIL FROM:<c{}@alpha.example>\r\n", client.token));
                client.stage = Client::Stage::mail;
                return;
            case Client::Stage::starttls: {
                if (code != 220) {
                    return give_up();
                }
                auto session = tls::Session::create_client(client_context_);
                HUB_ASSERT(session.has_value());
                client.tls = std::move(*session);
                client.stage = Client::Stage::handshake;
                bool moved = false;
                client_receive(client, pipe, moved);  // The ClientHello.
                return;
            }
            case Client::Stage::handshake:
                return;  // Nothing is said in clear text after the 220.
            case Client::Stage::mail:
                if (code != 250) {
                    return give_up();
                }
                client_send(
                    client, pipe,
                    fmt::format("RCPT TO:<u{}@beta.example.{}>\r\n", client.token, config_.domain));
                client.stage = Client::Stage::rcpt;
                return;
            case Client::Stage::rcpt:
                if (code != 250) {
                    return give_up();
                }
                client_send(client, pipe, "DATA\r\n");
                client.stage = Client::Stage::data;
                return;
            case Client::Stage::data: {
                if (code != 354) {
                    return give_up();
                }
                Sent sent;
                sent.body = message_body(client.token);
                std::string stuffed;
                std::size_t start = 0;
                while (start < sent.body.size()) {
                    std::size_t end = sent.body.find("\r\n", start) + 2;
                    if (sent.body[start] == '.') {
                        stuffed += '.';
                    }
                    stuffed.append(sent.body, start, end - start);
                    start = end;
                }
                client_send(client, pipe, stuffed + ".\r\n");
                sent_[client.token] = std::move(sent);
                client.stage = Client::Stage::body;
                return;
            }
            case Client::Stage::body: {
                Sent& sent = sent_[client.token];
                sent.answer = code == 250 ? Sent::Answer::accepted : Sent::Answer::refused;
                sent.crashes_at_answer = crashes_;
                if (code != 250 && sent.deliveries > 0) {
                    violation(
                        fmt::format("message {} delivered, and its client refused", client.token));
                }
                trace(fmt::format("client {}: answered '{}'", client.token, line));
                client_send(client, pipe, "QUIT\r\n");
                client.stage = Client::Stage::quit;
                return;
            }
            case Client::Stage::quit:
                finish_client(client, false);
                return;
            case Client::Stage::done:
                return;
        }
    }

    void open_partner_session(int id) {
        Pipe* pipe = ring_.pipe(id);
        HUB_ASSERT(pipe != nullptr);
        PartnerSession session;
        session.pipe = id;
        std::string host = ipv4_text(pipe->peer);
        session.beta = host == beta_server;
        if (!session.beta && host != alpha_server) {
            violation("the hub connected to " + host + ", which is no partner's server");
            return;
        }
        trace(fmt::format("partner {} session on pipe {}", session.beta ? "beta" : "alpha", id));
        send_text(*pipe,
                  fmt::format("220 mx.{}.example ESMTP\r\n", session.beta ? "beta" : "alpha"));
        partners_.push_back(session);
    }

    // A partner's answer to a finished DATA: mostly 250, by the seed sometimes 4xx or 5xx
    // (once faults are off, no more 4xx: what is left ends delivered or bounced).
    int partner_verdict() {
        std::uint64_t roll = ring_.below(100);
        if (faults_off_) {
            return roll < 4 ? 554 : 250;
        }
        return roll < 10 ? 451 : roll < 14 ? 554 : 250;
    }

    bool partner_step(PartnerSession& session) {
        if (session.stage == PartnerSession::Stage::closed) {
            return false;
        }
        Pipe* pipe = ring_.pipe(session.pipe);
        HUB_ASSERT(pipe != nullptr);
        if (session.unconfirmed_token != 0 && pipe->reset && !pipe->to_hub.empty()) {
            // The 250 never reached the hub: it will send the message again.
            sent_[session.unconfirmed_token].duplicate_allowed = true;
            session.unconfirmed_token = 0;
        }
        if (pipe->reset || pipe->hub_closed) {
            if (session.unconfirmed_token != 0 && !pipe->to_hub.empty()) {
                sent_[session.unconfirmed_token].duplicate_allowed = true;
            }
            session.stage = PartnerSession::Stage::closed;
            pipe->peer_closed = true;
            return true;
        }
        if (!faults_off_ && session.slow_steps == 0 && ring_.below(100) < 3) {
            session.slow_steps = 1 + static_cast<std::uint32_t>(ring_.below(40));
        }
        if (session.slow_steps > 0) {
            session.slow_steps--;
            pipe->peer_reads = session.slow_steps == 0;
            return false;
        }
        pipe->peer_reads = true;
        if (pipe->to_peer.empty()) {
            return false;
        }
        session.input += pipe->to_peer;
        pipe->to_peer.clear();
        std::string line;
        while (session.stage != PartnerSession::Stage::closed && take_line(session.input, line)) {
            partner_line(session, *pipe, line);
        }
        return true;
    }

    void partner_line(PartnerSession& session, Pipe& pipe, const std::string& line) {
        if (session.stage == PartnerSession::Stage::data) {
            if (line != ".") {
                session.data += (line.starts_with(".") ? line.substr(1) : line) + "\r\n";
                return;
            }
            session.stage = PartnerSession::Stage::commands;
            // A bounce is always taken: its arrival is what "reported" means here (a refused
            // one is not bounced again, docs/DELIVERY.md: never for the null sender).
            bool bounce = session.mail_from.find("<>") != std::string::npos;
            int verdict = bounce ? 250 : partner_verdict();
            if (verdict == 250) {
                partner_accepted(session);
            }
            send_text(pipe, verdict == 250   ? "250 2.0.0 queued\r\n"
                            : verdict == 451 ? "451 4.3.0 try later\r\n"
                                             : "554 5.6.0 refused\r\n");
            session.data.clear();
            return;
        }
        // A command after the 250: the hub has read it (it speaks after each reply).
        session.unconfirmed_token = 0;
        std::string verb = line.substr(0, line.find_first_of(" :"));
        for (char& c : verb) {
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        if (verb == "EHLO" || verb == "HELO") {
            send_text(pipe, fmt::format("250 mx.{}.example\r\n", session.beta ? "beta" : "alpha"));
        } else if (verb == "MAIL") {
            session.mail_from = line;
            send_text(pipe, "250 2.1.0 ok\r\n");
        } else if (verb == "RCPT" || verb == "RSET" || verb == "NOOP") {
            send_text(pipe, "250 2.1.5 ok\r\n");
        } else if (verb == "DATA") {
            session.stage = PartnerSession::Stage::data;
            send_text(pipe, "354 go ahead\r\n");
        } else if (verb == "QUIT") {
            send_text(pipe, "221 bye\r\n");
            pipe.peer_closed = true;
            session.stage = PartnerSession::Stage::closed;
        } else {
            send_text(pipe, "502 5.5.1 unknown\r\n");
        }
    }

    // The partner answers 250 to a whole message: it has now been delivered.
    void partner_accepted(PartnerSession& session) {
        std::size_t at = session.data.find("X-Sim-Token: ");
        if (at == std::string::npos) {
            violation("a partner received a message no client sent");
            return;
        }
        auto token = static_cast<std::uint32_t>(std::atoi(session.data.c_str() + at + 13));
        auto found = sent_.find(token);
        if (found == sent_.end()) {
            violation(fmt::format("message {} delivered but never sent", token));
            return;
        }
        Sent& sent = found->second;
        bool bounce = session.mail_from.find("<>") != std::string::npos;
        if (!session.beta) {
            if (!bounce) {
                violation(fmt::format("message {} went to alpha, not a bounce", token));
            }
            trace(fmt::format("bounce of message {} reaches alpha", token));
            sent.bounced = true;
            return;
        }
        // The stored content is our Received: line, then what the client sent, with its
        // From: rewritten to the hub's suffix (DESIGN.md, address rewriting): the rest is
        // identical.
        std::size_t sent_from = sent.body.find("Subject: ");
        std::size_t delivered_from = session.data.find(sent.body.substr(sent_from, 20));
        if (!session.data.starts_with("Received: ") || delivered_from == std::string::npos ||
            session.data.compare(delivered_from, std::string::npos, sent.body, sent_from) != 0) {
            violation(fmt::format("message {} delivered with content other than was sent", token));
            trace("delivered:\n" + session.data + "\nsent:\n" + sent.body);
            return;
        }
        // Answer none: the hub may deliver before its answer reached the client; if that
        // answer turns out to be a refusal, client_reply reports it.
        if (sent.answer == Sent::Answer::refused && sent.crashes_at_answer == crashes_) {
            // Answered 451/452 and punched out, no crash since (that could bring it back).
            violation(fmt::format("message {} delivered though refused", token));
        }
        sent.deliveries++;
        if (sent.deliveries > 1 && !sent.duplicate_allowed) {
            violation(
                fmt::format("message {} delivered twice outside the at-least-once window", token));
        }
        trace(fmt::format("message {} delivered to beta ({} times)", token, sent.deliveries));
        session.unconfirmed_token = token;
    }

    void check() {
        std::size_t sockets = ring_.open_sockets();
        std::size_t sockets_max =
            connections_max + engine::connections_reserve + queue_config_.connections_max;
        if (sockets > sockets_max) {
            violation(fmt::format("the hub holds {} sockets (at most {})", sockets, sockets_max));
        }
        // At worst one segment per message (24) and per bounce (24), plus those in flight.
        std::size_t files_max = 2 * clients_max + 16;
        if (ring_.held_files() > files_max) {
            violation(fmt::format("the hub holds {} files", ring_.held_files()));
        }
    }

    bool all_resolved() const {
        for (const auto& [token, sent] : sent_) {
            if (sent.answer == Sent::Answer::accepted && sent.deliveries == 0 && !sent.bounced) {
                return false;
            }
        }
        return true;
    }

    // Every message answered 250 is delivered or bounced to its sender, with no
    // exception: a bounced status record becomes durable only after the DSN that reports
    // it (docs/DELIVERY.md, "A bounce and its report").
    void report_lost(std::uint32_t token) {
        violation(fmt::format("lost acknowledged message {}", token));
    }

    // A message answered 250 and not yet delivered or bounced must still be in the spool,
    // itself or inside the bounce that reports it (the hub's record is its only copy).
    // Checked now and then while the run winds down, so that a lost message is reported at
    // once rather than after the wind-down's step budget.
    void check_unresolved_still_spooled() {
        auto recovery = spool::recover(dir_, 1);
        if (!recovery) {
            violation("spool scan: " + recovery.error().detail);
            return;
        }
        if (stream_) {
            check_spooled_whole(*recovery);
            return;
        }
        std::string live;
        for (const spool::RecoveredMessage& message : recovery->messages) {
            auto content = spool::read_content(message);
            if (content) {
                live += *content;
            }
        }
        for (const auto& [token, sent] : sent_) {
            if (sent.answer == Sent::Answer::accepted && sent.deliveries == 0 && !sent.bounced &&
                live.find(fmt::format("X-Sim-Token: {}\r\n", token)) == std::string::npos) {
                report_lost(token);
            }
        }
    }

    void final_check() {
        if (stream_) {
            auto recovery = spool::recover(dir_, 1);
            if (!recovery) {
                violation("spool scan: " + recovery.error().detail);
                return;
            }
            check_spooled_whole(*recovery);
        }
        for (const auto& [token, sent] : sent_) {
            if (sent.answer == Sent::Answer::accepted && sent.deliveries == 0 && !sent.bounced) {
                report_lost(token);
            }
        }
    }

    std::uint64_t seed_;
    std::string dir_;
    bool trace_;
    bool stream_;
    FakeRing ring_;
    config::HubConfig config_;
    queue::Config queue_config_;
    engine::PartnerBoard board_;
    std::atomic<bool> spool_low_{false};
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> spool_free_bytes_{std::uint64_t{1} << 40};
    std::shared_ptr<tls::ServerContext> server_context_;
    std::shared_ptr<tls::ClientContext> client_context_;
    engine::ShardSeam seam_;
    std::unique_ptr<engine::BufferRingMemory> buffers_;
    std::unique_ptr<engine::Shard> shard_;
    int listener_fd_ = -1;
    std::uint32_t next_token_ = 1;
    std::vector<Client> clients_;
    std::vector<PartnerSession> partners_;
    std::map<std::uint32_t, Sent> sent_;
    std::map<std::uint32_t, bool> streamed_seen_;
    std::uint32_t crashes_ = 0;
    unsigned step_ = 0;
    bool faults_off_ = false;
    std::vector<std::string> violations_;
};

// The hub logs at debug level whether traced or not: its log writes are ring operations,
// so a level that depended on --trace would make the replay take another path. The ring
// shows them only with --trace.
void log_everything() {
    base::log_threshold.store(base::LogLevel::debug);
}

}  // namespace
}  // namespace hub::sim

int main(int argc, char** argv) {
    std::uint64_t first = 1;
    std::uint64_t count = 40;
    bool trace = false;
    bool one = false;
    bool summaries = false;
    bool stream = false;
    for (int index = 1; index < argc; index++) {
        std::string argument = argv[index];
        if (argument == "--seed" && index + 1 < argc) {
            first = std::strtoull(argv[++index], nullptr, 10);
            count = 1;
            one = true;
        } else if (argument == "--first" && index + 1 < argc) {
            first = std::strtoull(argv[++index], nullptr, 10);
        } else if (argument == "--seeds" && index + 1 < argc) {
            count = std::strtoull(argv[++index], nullptr, 10);
        } else if (argument == "--trace") {
            trace = true;
        } else if (argument == "--stream") {
            stream = true;
        } else if (argument == "--summaries") {
            summaries = true;  // One line per seed: compare a replay with its run.
        } else {
            std::fprintf(
                stderr,
                "usage: %s [--stream] [--seeds COUNT] [--first N] [--summaries] | --seed N "
                "[--trace]\n",
                argv[0]);
            return 2;
        }
    }
    hub::sim::log_everything();
    hub::base::log_set_program("sim");
    hub::tls::initialise_library();
    auto started = std::chrono::steady_clock::now();
    std::uint64_t failures = 0;
    std::uint64_t accepted = 0;
    std::uint64_t crashes = 0;
    std::uint64_t bounced = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t streamed = 0;
    for (std::uint64_t seed = first; seed < first + count; seed++) {
        std::string dir =
            fmt::format("{}/hub-sim-shard-{}-{}", std::filesystem::temp_directory_path().string(),
                        getpid(), seed);
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir + "/shard-0");
        std::vector<std::string> violations;
        {
            hub::sim::ShardRun run(seed, dir, trace, stream);
            violations = run.run();
            accepted += run.accepted_count();
            crashes += run.crashes();
            bounced += run.bounced_count();
            duplicates += run.duplicate_count();
            streamed += run.streamed_count();
            if (trace || one || summaries) {
                std::fprintf(stderr, "sim: seed %llu: %s\n", static_cast<unsigned long long>(seed),
                             run.summary().c_str());
            }
        }
        std::filesystem::remove_all(dir);
        if (!violations.empty()) {
            failures++;
            for (const std::string& text : violations) {
                std::fprintf(stderr, "sim: seed %llu: %s\n", static_cast<unsigned long long>(seed),
                             text.c_str());
            }
            std::fprintf(stderr, "sim: replay: %s --seed %llu --trace\n", argv[0],
                         static_cast<unsigned long long>(seed));
        }
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(
        stderr,
        "sim: %llu seeds in %.1f s: %llu failed; %llu messages answered 250, %llu "
        "bounced, %llu delivered twice (the at-least-once window), %llu crashes, %llu "
        "recovered as streams\n",
        static_cast<unsigned long long>(count), seconds, static_cast<unsigned long long>(failures),
        static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(bounced),
        static_cast<unsigned long long>(duplicates), static_cast<unsigned long long>(crashes),
        static_cast<unsigned long long>(streamed));
    // Seeds that never accept, bounce or crash prove nothing: a run of many must do all three.
    if (!one && count >= 20 && (accepted == 0 || crashes == 0 || bounced == 0)) {
        std::fprintf(stderr,
                     "sim: the seeds never reached an accepted message, a bounce and a crash\n");
        return 1;
    }
    if (!one && count >= 20 && stream && streamed == 0) {
        std::fprintf(stderr, "sim: --stream, but no message was recovered as a stream\n");
        return 1;
    }
    return failures == 0 ? 0 : 1;
}
