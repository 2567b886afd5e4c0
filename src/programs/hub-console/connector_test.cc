// connector_test.cc -- a test message to a partner's ping address (connector_test.h).
//
// Blocking I/O with timeouts on one socket: this runs in the console, one conversation at a
// time, while the administrator waits for its transcript. TLS is src/tls's client session
// (the same context settings hubd's delivery uses); this file only moves its ciphertext.
#include "programs/hub-console/connector_test.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>

#include "smtp/envelope.h"
#include "tls/tls_session.h"

namespace hub::hub_console {

namespace {

constexpr int step_timeout_s = 15;
constexpr std::size_t reply_lines_max = 512;
constexpr std::size_t reply_line_bytes_max = 1000;  // RFC 5321 4.5.3.1.5, CRLF included

std::string shown(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 200)) {
        out.push_back(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f ? c : '?');
    }
    return out;
}

// One conversation: plaintext until STARTTLS, then through session.
class Conversation {
public:
    explicit Conversation(std::vector<std::string>& transcript) : transcript_(transcript) {}
    ~Conversation() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }

    bool connect_to(const std::string& host, std::uint16_t port) {
        sockaddr_storage address{};
        socklen_t size = 0;
        auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
        if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            v4->sin_port = htons(port);
            size = sizeof(sockaddr_in);
        } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons(port);
            size = sizeof(sockaddr_in6);
        } else {
            return note(fmt::format("the smart host {} is not an IP address", shown(host)));
        }
        fd_ = ::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            return note(fmt::format("socket: {}", std::strerror(errno)));
        }
        timeval timeout{step_timeout_s, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), size) != 0) {
            return note(
                fmt::format("connect to {} port {}: {}", shown(host), port, std::strerror(errno)));
        }
        transcript_.push_back(fmt::format("--: connected to {} port {}", host, port));
        return true;
    }

    // Reads one reply (all its lines); its code, or nullopt after noting why.
    std::optional<int> reply() {
        for (std::size_t count = 0; count < reply_lines_max; count++) {
            std::optional<std::string> line = read_line();
            if (!line) {
                return std::nullopt;
            }
            transcript_.push_back("S: " + shown(*line));
            if (line->size() < 3 || !std::isdigit(static_cast<unsigned char>((*line)[0]))) {
                note("the server's reply is not SMTP");
                return std::nullopt;
            }
            if (line->size() == 3 || (*line)[3] == ' ') {
                return std::stoi(line->substr(0, 3));
            }
        }
        note("the server's reply has too many lines");
        return std::nullopt;
    }

    // Sends a command line and reads its reply; shown is what the transcript says.
    std::optional<int> command(const std::string& line, std::string_view shown_as = {}) {
        transcript_.push_back("C: " + std::string(shown_as.empty() ? line : shown_as));
        if (!send_text(line + "\r\n")) {
            return std::nullopt;
        }
        return reply();
    }

    bool send_text(std::string_view text) {
        if (session_) {
            // Bounded: every pass encrypts at least one byte (writable_bytes() > 0 once the
            // outbox is flushed, which flush_out does).
            while (!text.empty()) {
                if (!flush_out()) {
                    return false;
                }
                std::size_t chunk = std::min(text.size(), session_->writable_bytes());
                if (chunk == 0) {
                    return note("TLS: no room to write");
                }
                if (auto written = session_->write(std::span<const char>(text.data(), chunk));
                    !written) {
                    return note("TLS: " + written.error().message);
                }
                text.remove_prefix(chunk);
            }
            return flush_out();
        }
        return send_raw(text);
    }

    bool start_tls(std::shared_ptr<tls::ClientContext> context, const std::string& name) {
        auto created = tls::Session::create_client(std::move(context), name);
        if (!created) {
            return note("TLS: " + created.error().message);
        }
        session_ = std::move(*created);
        inbox_.clear();  // Nothing the server sent before the handshake is kept (RFC 3207 4.2).
        for (int round = 0; round < 64; round++) {
            auto progress = session_->handshake();
            if (!progress) {
                return note("TLS handshake failed: " + progress.error().message);
            }
            if (!flush_out()) {
                return false;
            }
            if (*progress == tls::Progress::done) {
                smtp::TlsFacts facts = session_->facts();
                transcript_.push_back(
                    fmt::format("TLS: {} {} ({} bits)", facts.version, facts.cipher, facts.bits));
                transcript_.push_back(fmt::format("TLS: server certificate {} {}",
                                                  shown(facts.client_subject),
                                                  facts.client_cert_verdict));
                return true;
            }
            if (*progress == tls::Progress::want_input && !receive_ciphertext()) {
                return false;
            }
        }
        return note("TLS handshake did not finish");
    }

    bool note(std::string text) {
        transcript_.push_back("--: " + std::move(text));
        return false;
    }

private:
    bool send_raw(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (sent < 0 && errno == EINTR) {
                continue;
            }
            if (sent <= 0) {
                return note(fmt::format("send: {}", std::strerror(errno)));
            }
            bytes.remove_prefix(static_cast<std::size_t>(sent));
        }
        return true;
    }

    bool flush_out() {
        std::span<const char> out = session_->ciphertext_out.readable();
        if (out.empty()) {
            return true;
        }
        bool sent = send_raw(std::string_view(out.data(), out.size()));
        session_->ciphertext_out.consume(out.size());
        return sent;
    }

    bool receive_ciphertext() {
        std::array<char, 16384> buffer{};
        std::size_t room = std::min(buffer.size(), session_->ciphertext_in.space_bytes());
        ssize_t got = ::recv(fd_, buffer.data(), room, 0);
        if (got < 0 && errno == EINTR) {
            return true;
        }
        if (got <= 0) {
            return note(got == 0 ? "the server closed the connection"
                                 : fmt::format("recv: {}", std::strerror(errno)));
        }
        return session_->ciphertext_in.append(
            std::span<const char>(buffer.data(), static_cast<std::size_t>(got)));
    }

    // More bytes into inbox_, plaintext or decrypted.
    bool receive() {
        std::array<char, 16384> buffer{};
        if (!session_) {
            ssize_t got = ::recv(fd_, buffer.data(), buffer.size(), 0);
            if (got < 0 && errno == EINTR) {
                return true;
            }
            if (got <= 0) {
                return note(got == 0 ? "the server closed the connection"
                                     : fmt::format("recv: {}", std::strerror(errno)));
            }
            inbox_.append(buffer.data(), static_cast<std::size_t>(got));
            return true;
        }
        for (int round = 0; round < 64; round++) {
            auto plain = session_->read(buffer);
            if (!plain) {
                return note("TLS: " + plain.error().message);
            }
            if (*plain > 0) {
                inbox_.append(buffer.data(), *plain);
                return true;
            }
            if (!flush_out() || !receive_ciphertext()) {
                return false;
            }
        }
        return note("TLS: no data");
    }

    std::optional<std::string> read_line() {
        // Bounded: each pass adds bytes, and the line is cut at reply_line_bytes_max.
        while (true) {
            std::size_t end = inbox_.find("\r\n");
            if (end != std::string::npos) {
                std::string line = inbox_.substr(0, end);
                inbox_.erase(0, end + 2);
                return line;
            }
            if (inbox_.size() > reply_line_bytes_max) {
                note("the server's reply line is too long");
                return std::nullopt;
            }
            if (!receive()) {
                return std::nullopt;
            }
        }
    }

    std::vector<std::string>& transcript_;
    int fd_ = -1;
    std::unique_ptr<tls::Session> session_;
    std::string inbox_;
};

std::string date_text() {
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    char text[64];
    gmtime_r(&now, &utc);
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S +0000", &utc);
    return text;
}

}  // namespace

std::string ping_address(const policy::Partner& partner) {
    return "lgolhubping@" + (partner.domains.empty() ? std::string("invalid") : partner.domains[0]);
}

ConnectorTest test_connector(const config::HubConfig& config, const policy::Partner& partner) {
    ConnectorTest result;
    Conversation talk(result.transcript);
    if (partner.outbound_host.empty()) {
        talk.note(fmt::format("{} has no outbound connector", partner.name));
        return result;
    }
    std::string server_name = partner.outbound_name.empty() && !partner.domains.empty()
                                  ? partner.domains[0]
                                  : partner.outbound_name;
    tls::initialise_library();
    tls::ClientConfig tls_config;
    tls_config.trust_anchor_path = config.client_ca_path;
    tls_config.server_name = server_name;
    tls_config.pinned_sha256 = partner.outbound_pin_sha256;
    tls_config.verify_peer = partner.outbound_pin_sha256.empty();
    // The hub's own client certificate when this account may read its key (the console
    // on a development hub); otherwise the test goes without one, and says so.
    bool with_certificate = ::access(config.private_key_path.c_str(), R_OK) == 0;
    if (with_certificate) {
        tls_config.certificate_chain_path = config.certificate_path;
        tls_config.private_key_path = config.private_key_path;
    }
    auto context = tls::ClientContext::create(tls_config);
    if (!context) {
        talk.note("TLS: " + context.error().message);
        return result;
    }
    if (!talk.connect_to(partner.outbound_host, partner.outbound_port)) {
        return result;
    }
    std::string ehlo = "EHLO " + config.hostname;
    auto expect = [&](std::optional<int> code, int first_digit) {
        return code && *code / 100 == first_digit;
    };
    if (!expect(talk.reply(), 2) || !expect(talk.command(ehlo), 2)) {
        talk.note("the server did not greet or answer EHLO with 2xx");
        return result;
    }
    if (!expect(talk.command("STARTTLS"), 2)) {
        talk.note("no STARTTLS: the hub never sends a partner mail in clear");
        return result;
    }
    if (!with_certificate) {
        talk.note("(no client certificate: the hub's key is not readable by this account)");
    }
    if (!talk.start_tls(*context, server_name)) {
        return result;
    }
    std::string recipient = ping_address(partner);
    if (!expect(talk.command(ehlo), 2) ||
        !expect(talk.command("MAIL FROM:<postmaster@" + config.hostname + ">"), 2) ||
        !expect(talk.command("RCPT TO:<" + recipient + ">"), 2) ||
        !expect(talk.command("DATA"), 3)) {
        talk.note("refused; nothing was sent");
        return result;
    }
    std::string message = fmt::format(
        "From: <postmaster@{0}>\r\nTo: <{1}>\r\nDate: {2}\r\nSubject: Hubbox connector test "
        "from {0}\r\n\r\nA test message from the hub's console, sent straight to {3}'s\r\n"
        "connector over the TLS shown in the transcript.\r\n.\r\n",
        config.hostname, recipient, date_text(), partner.name);
    result.transcript.push_back("C: (message: headers and 2 lines) .");
    if (!talk.send_text(message)) {
        return result;
    }
    result.delivered = expect(talk.reply(), 2);
    (void)talk.command("QUIT");
    talk.note(result.delivered ? "the partner's server accepted the test message"
                               : "the partner's server refused the test message");
    return result;
}

}  // namespace hub::hub_console
