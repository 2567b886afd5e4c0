// transcript_test.cc -- golden SMTP conversations run against the session in-process.
//
// Method: every tests/transcripts/NAME.in is a client script (format in README.md); the
// runner plays it against a ServerSession the way the engine would (feeding each arrival
// in inbox-sized pieces, re-feeding while work remains, draining replies and events) and
// compares what the server said with NAME.ref. Set HUB_TRANSCRIPT_UPDATE=1 to rewrite the
// .ref files from the current behaviour (then review the diff before committing).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "smtp/server_session.h"

namespace hub::smtp {
namespace {

namespace fs = std::filesystem;

class ScriptPolicy final : public ServerPolicy {
public:
    RcptVerdict check_recipient(std::string_view address) override {
        if (address.starts_with("needcert@")) {
            return RcptVerdict::tls_required;
        }
        if (address.ends_with("@partner1.gov.uk.lgolhub.net") ||
            address.ends_with("@partner2.gov.uk.lgolhub.net")) {
            return RcptVerdict::accept;
        }
        if (address.ends_with(".lgolhub.net")) {
            return RcptVerdict::unknown_partner;
        }
        return RcptVerdict::relay_denied;
    }
    bool spool_has_space() override { return space; }
    bool space = true;
};

// "\r", "\n", "\t", "\\" and "\xHH" escapes.
std::string unescape(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); i++) {
        if (text[i] != '\\' || i + 1 == text.size()) {
            out += text[i];
            continue;
        }
        char c = text[++i];
        if (c == 'r') {
            out += '\r';
        } else if (c == 'n') {
            out += '\n';
        } else if (c == 't') {
            out += '\t';
        } else if (c == 'x' && i + 2 < text.size()) {
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

// The opposite, for bodies shown in the .ref: CR, LF and non-printables made visible.
std::string escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c < ' ' || c > '~') {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02X", static_cast<unsigned char>(c));
            out += hex;
        } else {
            out += c;
        }
    }
    return out;
}

class Runner {
public:
    std::string run(std::istream& script) {
        std::string line;
        int number = 0;
        while (std::getline(script, line)) {
            number++;
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            if (!step(line)) {
                ADD_FAILURE() << "bad script line " << number << ": " << line;
                break;
            }
        }
        if (batching_) {
            ADD_FAILURE() << "#batch without #send";
        }
        ensure_started();
        return out_;
    }

private:
    bool step(const std::string& line) {
        if (line == "#" || line.starts_with("# ")) {
            return true;  // Comment. (An empty line is a client line: just CRLF.)
        }
        if (!line.starts_with("#")) {
            return send(unescape(line) + "\r\n");
        }
        std::istringstream words(line.substr(1));
        std::string directive;
        words >> directive;
        std::string rest;
        std::getline(words, rest);
        if (!rest.empty() && rest.front() == ' ') {
            rest.erase(0, 1);
        }
        if (directive == "config") {
            return configure(rest);
        }
        if (directive == "reject") {
            if (session_) {
                return false;
            }
            create();
            session_->start(true, rest);
            drain();
            return true;
        }
        if (directive == "raw") {
            return send(unescape(rest));
        }
        if (directive == "repeat") {
            std::size_t count = std::stoul(rest);
            std::string unit = unescape(rest.substr(rest.find(' ') + 1));
            std::string bytes;
            for (std::size_t i = 0; i < count; i++) {
                bytes += unit;
            }
            return send(bytes);
        }
        if (directive == "batch") {
            batching_ = true;
            return true;
        }
        if (directive == "send") {
            batching_ = false;
            std::string bytes = std::move(batch_);
            batch_.clear();
            arrive(bytes);
            return true;
        }
        if (batching_) {
            return false;  // Only client bytes go into a batch.
        }
        ensure_started();
        if (directive == "starttls") {
            TlsFacts tls;
            tls.version = "TLSv1.3";
            tls.cipher = "TLS_AES_256_GCM_SHA384";
            tls.bits = 256;
            tls.client_cert_verdict = "verified";
            tls.client_cn = "partner1.gov.uk";
            session_->tls_started(tls);
            out_ += "=> tls_started\n";
            drain();
            return true;
        }
        if (directive == "commit") {
            return commit(rest);
        }
        if (directive == "timeout") {
            session_->on_timeout();
            drain();
            return true;
        }
        if (directive == "spool") {
            policy_.space = rest != "full";
            return true;
        }
        return false;
    }

    bool configure(const std::string& settings) {
        if (session_) {
            return false;  // Settings come before the conversation.
        }
        std::istringstream words(settings);
        std::string setting;
        while (words >> setting) {
            std::size_t equals = setting.find('=');
            std::string key = setting.substr(0, equals);
            std::string value = equals == std::string::npos ? "" : setting.substr(equals + 1);
            if (key == "tls") {
                implicit_tls_ = value == "implicit";
                config_.tls_required = value != "optional";
            } else if (key == "message_bytes_max") {
                config_.message_bytes_max = std::stoull(value);
            } else if (key == "recipients_count_max") {
                config_.recipients_count_max = static_cast<std::uint32_t>(std::stoul(value));
            } else if (key == "errors_count_max") {
                config_.errors_count_max = static_cast<std::uint32_t>(std::stoul(value));
            } else {
                return false;
            }
        }
        return true;
    }

    void create() {
        config_.hostname = "hub.lgolhub.net";
        config_.starttls_offered = !implicit_tls_;
        session_.emplace(config_, policy_);
        if (implicit_tls_) {
            session_->tls_started(TlsFacts{});
        }
    }

    void ensure_started() {
        if (!session_) {
            create();
            session_->start(false);
            drain();
        }
    }

    bool send(const std::string& bytes) {
        if (batching_) {
            batch_ += bytes;
        } else {
            arrive(bytes);
        }
        return true;
    }

    // One arrival, fed the way the engine feeds: never more than the inbox has room for.
    void arrive(std::string_view bytes) {
        ensure_started();
        while (!bytes.empty() && !session_->closed()) {
            std::size_t piece = std::min(session_->inbox_space_bytes(), bytes.size());
            if (piece == 0) {
                out_ += "=> inbox full, " + std::to_string(bytes.size()) + " bytes not sent\n";
                return;
            }
            bool more = session_->feed(std::span<const char>(bytes.data(), piece));
            bytes.remove_prefix(piece);
            drain();
            while (more) {
                more = session_->feed({});
                drain();
            }
        }
    }

    bool commit(const std::string& how) {
        if (!awaiting_commit_) {
            return false;
        }
        awaiting_commit_ = false;
        CommitResult result;
        if (how == "ok") {
            result.status = CommitResult::Status::durable;
            char id[32];
            std::snprintf(id, sizeof id, "00000001%06d", ++queued_);
            result.queue_id = id;
        } else if (how == "fail") {
            result.status = CommitResult::Status::failed;
        } else if (how == "nospace") {
            result.status = CommitResult::Status::no_space;
        } else {
            return false;
        }
        session_->commit_done(result);
        drain();
        while (session_->input_pending()) {
            session_->feed({});
            drain();
        }
        return true;
    }

    void drain() {
        for (char c : session_->replies()) {
            if (c != '\r') {
                out_ += c;
            }
        }
        session_->replies().clear();
        for (Event event = session_->next_event(); event != Event::none;
             event = session_->next_event()) {
            switch (event) {
                case Event::start_tls:
                    out_ += "=> start_tls\n";
                    break;
                case Event::message_ready:
                    describe_message();
                    awaiting_commit_ = true;
                    break;
                case Event::close:
                    out_ += "=> close\n";
                    break;
                case Event::none:
                    break;
            }
        }
    }

    void describe_message() {
        const Envelope& envelope = session_->envelope();
        out_ += "=> message_ready from=<" + envelope.mail_from + "> to=";
        for (std::size_t i = 0; i < envelope.recipients.size(); i++) {
            out_ += (i > 0 ? ",<" : "<") + envelope.recipients[i].address + ">";
        }
        out_ += " bytes=" + std::to_string(session_->body().size()) + "\n";
        std::string_view body = session_->body();
        out_ += "=> body " + escape(body.substr(0, 200)) + (body.size() > 200 ? "..." : "") + "\n";
    }

    ServerConfig config_;
    ScriptPolicy policy_;
    bool implicit_tls_ = false;
    std::optional<ServerSession> session_;
    std::string out_;
    bool batching_ = false;
    std::string batch_;
    bool awaiting_commit_ = false;
    int queued_ = 0;
};

std::vector<std::string> transcript_names() {
    std::vector<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(HUB_TRANSCRIPTS_DIR)) {
        if (entry.path().extension() == ".in") {
            names.push_back(entry.path().stem().string());
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

class TranscriptTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TranscriptTest, MatchesGolden) {
    fs::path dir = HUB_TRANSCRIPTS_DIR;
    std::ifstream script(dir / (GetParam() + ".in"));
    ASSERT_TRUE(script) << GetParam();
    std::string actual = Runner().run(script);
    fs::path ref_path = dir / (GetParam() + ".ref");
    const char* update = std::getenv("HUB_TRANSCRIPT_UPDATE");
    if (update != nullptr && std::string(update) == "1") {
        std::ofstream(ref_path, std::ios::binary) << actual;
        return;
    }
    std::ifstream ref(ref_path, std::ios::binary);
    ASSERT_TRUE(ref) << "missing " << ref_path;
    std::stringstream expected;
    expected << ref.rdbuf();
    EXPECT_EQ(actual, expected.str()) << "transcript " << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Golden, TranscriptTest, ::testing::ValuesIn(transcript_names()),
                         [](const ::testing::TestParamInfo<std::string>& file_info) {
                             std::string name = file_info.param;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

TEST(TranscriptFiles, EveryInputHasAGolden) {
    std::vector<std::string> names = transcript_names();
    EXPECT_GE(names.size(), 10u);
    for (const std::string& name : names) {
        EXPECT_TRUE(fs::exists(fs::path(HUB_TRANSCRIPTS_DIR) / (name + ".ref"))) << name;
    }
}

}  // namespace
}  // namespace hub::smtp
