// connector_test.h -- the Partners page's "send a test message": one SMTP conversation with
// a partner's smart host, made the way hubd delivers (STARTTLS is mandatory, the server's
// certificate verified against the hub's trust anchors and the partner's outbound name, or
// its pin), to the partner's ping address, with every line and the TLS facts written down.
#pragma once

#include <string>
#include <vector>

#include "config/hub_config.h"
#include "policy/partners.h"

namespace hub::hub_console {

struct ConnectorTest {
    bool delivered = false;               // The server accepted the message (250 after DATA).
    std::vector<std::string> transcript;  // "S: 220 ...", "C: EHLO ...", "TLS: ...", "--: ..."
};

// The ping address a partner's test message goes to: lgolhubping@<its first domain>.
std::string ping_address(const policy::Partner& partner);

// Talks to partner's outbound connector: greeting, EHLO, STARTTLS, the handshake (with the
// hub's client certificate when this process may read its key), EHLO, MAIL FROM the hub's
// postmaster, RCPT TO the ping address, DATA with a short message naming the hub and the
// time, QUIT. Every step is bounded by a 15 s timeout and every reply by 512 lines of at
// most 1,000 bytes; whatever fails ends the conversation and is the transcript's last line.
ConnectorTest test_connector(const config::HubConfig& config, const policy::Partner& partner);

}  // namespace hub::hub_console
