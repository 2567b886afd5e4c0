// lingering_close.h -- the end of a connection after its last answer, sans I/O.
//
// Why: the page may answer before it has read the whole request -- 413 as soon as
// Content-Length is too large, 400 on a framing error, 408 when the body is too slow -- and
// then end the connection. If it close()d the socket while the visitor's bytes sat unread,
// the kernel would send RST instead of FIN; a client still writing its body then fails on
// the reset ("Broken pipe", "Connection reset") before it reads the answer, and the visitor
// sees a dead connection instead of the page saying what to change. So, as Apache and nginx
// do (RFC 9112 9.6), the server's loop ends a connection in three steps: the answer and TLS
// close_notify go to the kernel; shutdown(SHUT_WR) sends FIN after them; then it reads and
// throws away whatever arrives until the visitor closes, or drain_bytes_max were thrown
// away, or drain_timeout_ms passed (enroll/limits.h), and only then close()s. The bounds
// keep a hostile visitor from holding the connection; past them a reset is its own doing.
//
// This class is the bookkeeping of the third step: the loop asks how much it may read, says
// what it read and threw away or that the visitor closed, and asks whether to close now.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hub::enroll {

class LingeringClose {
public:
    enum class End {
        not_yet,
        visitor_closed,  // EOF or an error from the socket: nothing more will arrive.
        bytes_limit,     // drain_bytes_max thrown away; a visitor sending more is not waited for.
        time_limit,      // drain_timeout_ms passed.
    };

    // now_ms: when the answer, close_notify and FIN were all handed to the kernel.
    explicit LingeringClose(std::int64_t now_ms);

    // At most this many more bytes may be read and thrown away (0 once the limit is spent).
    std::size_t read_bytes_max() const;
    // The loop read bytes (at most read_bytes_max()) and threw them away.
    void discarded(std::size_t bytes);
    // The socket said EOF, or failed (a reset): the visitor is done.
    void visitor_closed() { visitor_closed_ = true; }

    // Whether to close now, and why; not_yet means keep reading until deadline_ms().
    End end(std::int64_t now_ms) const;
    std::int64_t deadline_ms() const { return deadline_ms_; }
    std::size_t discarded_bytes() const { return discarded_bytes_; }

private:
    std::int64_t deadline_ms_;
    std::size_t discarded_bytes_ = 0;
    bool visitor_closed_ = false;
};

}  // namespace hub::enroll
