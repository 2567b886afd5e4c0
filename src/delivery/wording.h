// wording.h -- the text that goes into deferrals, bounces, reports and delivery lines.
//
// One place decides how a failure is worded, so that a report can take it apart again
// (describe_failure) and name the server that failed.
#pragma once

#include <string>
#include <string_view>

#include "dsn/dsn.h"
#include "queue/scheduler.h"
#include "smtp/client_session.h"

namespace hub::delivery {

// The bounce text for a message with too many Received: fields (dsn::received_count_max).
inline constexpr std::string_view loop_text =
    "554 5.4.6 Too many Received: header fields: mail loop";
// Failures found before or after a transaction, by the hub itself.
inline constexpr std::string_view unreadable_text = "the spooled copy could not be read";
inline constexpr std::string_view connection_ended_text =
    "the connection ended before this message was sent";

// "host [a]:p said: 550 5.1.1 ..." -- a reply the partner's server gave.
std::string remote_said(std::string_view peer, const smtp::Reply& reply);

// A recipient's outcome text: the server's reply quoted as such, or the hub's own reply.
std::string recipient_text(std::string_view peer, const smtp::RecipientResult& outcome);

struct SessionFailure {
    std::string text;
    // The destination is down for everything queued to it (no TLS, a refused greeting),
    // not just this batch.
    bool destination_down = false;
};

// Why a whole session failed. A refusal the server worded is quoted as its reply; a
// missing STARTTLS or a failed handshake is the hub's own finding (the EHLO reply is not
// the reason).
SessionFailure session_failure(std::string_view peer, const smtp::Failure& failure);

queue::Outcome outcome_of(smtp::RecipientStatus status);

// The delivery line's status= word: sent, deferred or bounced.
std::string_view verdict(queue::Outcome outcome);

// The delivery line's dsn= (RFC 3463): the server's enhanced code, else its reply class;
// no reply at all (null) means no transaction took place: 4.4.1.
std::string dsn_code(const smtp::RecipientResult* outcome);

// Fills a report line from a failure text: remote_address, remote_reply and status when
// the text quotes a server (remote_said), else hub_text.
void describe_failure(std::string_view text, dsn::RecipientReport& report);

}  // namespace hub::delivery
