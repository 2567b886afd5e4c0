// address_list.cc -- a hand-written tokenizer and parser for RFC 5322 3.4 address lists.
//
// PURPOSE   Find the byte range of every addr-spec domain in an address field body, and
//           the places where a long line may be folded, so the rewriter can splice domains
//           without touching any other byte.
// RUNS IN   every shard (through rewrite_message), per address field of a relayed message.
// TRUST     the body is untrusted message text. Every byte is validated; an input the
//           grammar does not allow is an error, never an assertion. The lexer never reads
//           past the body and every loop consumes at least one byte per turn.
// LIMITS    rewrite/limits.h: field_bytes_max, addresses_per_field_max, comment_depth_max.
//           No allocation per byte: the only growth is `list`'s two vectors, per address.
// SEE ALSO  rewrite/rewrite.cc (the splice), RFC 5322 3.2 (lexical tokens), 3.4
//           (addresses), 4.4 (obsolete forms), RFC 6532 3.2 (UTF-8), and
//           tests/fuzz/rewrite_headers_fuzz.cc.
#include "rewrite/address_list.h"

#include "base/assert.h"
#include "rewrite/limits.h"

namespace hub::rewrite {

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

namespace {

// RFC 5322 3.2.3 atext, widened by RFC 6532 3.2 to every non-ASCII byte (UTF-8 is not
// validated: the bytes are copied, never interpreted).
bool is_atext(char c) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
        return true;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '/':
        case '=':
        case '?':
        case '^':
        case '_':
        case '`':
        case '{':
        case '|':
        case '}':
        case '~':
            return true;
        default:
            return false;
    }
}

// The specials a token can be (RFC 5322 3.2.3); '(' '[' '"' start longer tokens and
// ')' ']' '\' are never a token of their own.
bool is_token_special(char c) {
    return c == '<' || c == '>' || c == ':' || c == ';' || c == '@' || c == ',' || c == '.';
}

enum class TokenKind { end, atom, quoted_string, domain_literal, special, error };

struct Token {
    TokenKind kind = TokenKind::end;
    char special = 0;       // For TokenKind::special.
    std::size_t begin = 0;  // Byte range of the token in the body.
    std::size_t end = 0;
    bool cfws_before = false;  // Whitespace or a comment came right before it.
    ParseError error = ParseError::unexpected_byte;  // For TokenKind::error.
};

// Splits a body into tokens, skipping CFWS (RFC 5322 3.2.2) between them.
class Lexer {
public:
    explicit Lexer(std::string_view text) : text_(text) {}

    Token next() {
        Token token;
        std::size_t before = pos_;
        if (!skip_cfws(token.error)) {
            token.kind = TokenKind::error;
            return token;
        }
        token.cfws_before = pos_ != before;
        token.begin = pos_;
        if (pos_ == text_.size()) {
            token.kind = TokenKind::end;
        } else if (text_[pos_] == '"') {
            token.kind = TokenKind::quoted_string;
            if (!skip_delimited('"', ParseError::unterminated_quote, token.error)) {
                token.kind = TokenKind::error;
            }
        } else if (text_[pos_] == '[') {
            token.kind = TokenKind::domain_literal;
            if (!skip_delimited(']', ParseError::unterminated_literal, token.error)) {
                token.kind = TokenKind::error;
            }
        } else if (is_atext(text_[pos_])) {
            token.kind = TokenKind::atom;
            while (pos_ < text_.size() && is_atext(text_[pos_])) {
                pos_++;
            }
        } else if (is_token_special(text_[pos_])) {
            token.kind = TokenKind::special;
            token.special = text_[pos_];
            pos_++;
        } else {
            token.kind = TokenKind::error;
            token.error = ParseError::unexpected_byte;
        }
        token.end = pos_;
        HUB_ASSERT(token.kind == TokenKind::error || token.kind == TokenKind::end ||
                   token.end > token.begin);  // Every real token consumes a byte.
        return token;
    }

private:
    // RFC 5322 3.2.2 FWS inside a field body: CRLF is only ever followed by WSP.
    bool at_fold() const {
        return pos_ + 2 < text_.size() && text_[pos_] == '\r' && text_[pos_ + 1] == '\n' &&
               is_wsp(text_[pos_ + 2]);
    }

    bool skip_cfws(ParseError& error) {
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            if (is_wsp(c)) {
                pos_++;
            } else if (at_fold()) {
                pos_ += 3;
            } else if (c == '(') {
                if (!skip_comment(error)) {
                    return false;
                }
            } else if (c == '\r' || c == '\n') {
                error = ParseError::bad_line_break;
                return false;
            } else {
                break;
            }
        }
        return true;
    }

    // One byte of ctext/qtext/dtext, a quoted-pair or a fold. False (with `error` set) on
    // a bare CR or LF, or a backslash that escapes one or ends the text.
    bool skip_content_byte(ParseError unterminated, ParseError& error) {
        char c = text_[pos_];
        if (c == '\\') {
            // RFC 5322 3.2.1 quoted-pair (and obs-qp): any byte but CR and LF.
            if (pos_ + 1 == text_.size()) {
                error = unterminated;
                return false;
            }
            if (text_[pos_ + 1] == '\r' || text_[pos_ + 1] == '\n') {
                error = ParseError::bad_line_break;
                return false;
            }
            pos_ += 2;
        } else if (at_fold()) {
            pos_ += 3;
        } else if (c == '\r' || c == '\n') {
            error = ParseError::bad_line_break;
            return false;
        } else {
            pos_++;
        }
        return true;
    }

    // RFC 5322 3.2.2: comment = "(" *([FWS] ccontent) [FWS] ")", ccontent may be a comment.
    bool skip_comment(ParseError& error) {
        HUB_ASSERT(text_[pos_] == '(');
        std::size_t depth = 0;
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            if (c == '(') {
                depth++;
                if (depth > comment_depth_max) {
                    error = ParseError::comment_too_deep;
                    return false;
                }
                pos_++;
            } else if (c == ')') {
                pos_++;
                depth--;
                if (depth == 0) {
                    return true;
                }
            } else if (!skip_content_byte(ParseError::unterminated_comment, error)) {
                return false;
            }
        }
        error = ParseError::unterminated_comment;
        return false;
    }

    // RFC 5322 3.2.4 quoted-string and 3.4.1 domain-literal (with obs-dtext's quoted-pair).
    bool skip_delimited(char close, ParseError unterminated, ParseError& error) {
        HUB_ASSERT(text_[pos_] == '"' || text_[pos_] == '[');
        pos_++;
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            if (c == close) {
                pos_++;
                return true;
            }
            if (close == ']' && c == '[') {
                error = ParseError::unexpected_byte;  // dtext excludes '['.
                return false;
            }
            if (!skip_content_byte(unterminated, error)) {
                return false;
            }
        }
        error = unterminated;
        return false;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

// Recursive descent over the tokens with one token of lookahead. Every function returns
// false after recording the first error; the caller stops at once.
class Parser {
public:
    Parser(std::string_view body, AddressList& list) : body_(body), lexer_(body), list_(list) {}

    Result<std::size_t, ParseError> parse() {
        note_fold_point(0);  // "To: a@b" may fold right after the colon.
        if (!advance()) {
            return unexpected(error_);
        }
        // obs-addr-list: *([CFWS] ",") address *("," [address / CFWS]).
        while (current_.kind != TokenKind::end) {
            if (!at(',') && !parse_address(false)) {
                return unexpected(error_);
            }
            if (current_.kind == TokenKind::end) {
                break;
            }
            if (!expect_separator(',')) {
                return unexpected(error_);
            }
        }
        return addresses_count_;
    }

private:
    bool at(char special) const {
        return current_.kind == TokenKind::special && current_.special == special;
    }
    bool at_word() const {
        return current_.kind == TokenKind::atom || current_.kind == TokenKind::quoted_string;
    }

    bool fail(ParseError error) {
        error_ = error;
        return false;
    }

    bool advance() {
        current_ = lexer_.next();
        if (current_.kind == TokenKind::error) {
            return fail(current_.error);
        }
        return true;
    }

    // Consumes a list separator and notes the fold point after it.
    bool expect_separator(char special) {
        if (!at(special)) {
            return fail(ParseError::unexpected_token);
        }
        note_fold_point(current_.end);
        return advance();
    }

    void note_fold_point(std::size_t offset) {
        if (offset >= body_.size() || !is_wsp(body_[offset])) {
            return;
        }
        std::size_t after = offset;
        while (after < body_.size() && is_wsp(body_[after])) {
            after++;
        }
        // Folding before trailing WSP would leave a line of WSP only (RFC 5322 3.2.2).
        if (after < body_.size() && body_[after] != '\r') {
            HUB_ASSERT(list_.fold_points.empty() || list_.fold_points.back() < offset);
            list_.fold_points.push_back(offset);
        }
    }

    // A run of words (atoms, quoted strings) and dots: a phrase or a local part.
    struct WordRun {
        std::size_t words = 0;
        bool adjacent_words = false;  // Two words with no '.' between: a phrase only.

        // RFC 5322 3.4.1 local-part = dot-atom / quoted-string / obs-local-part. Dots in
        // odd places ("a..b") are tolerated as Postfix does; juxtaposed words are not.
        bool is_local_part() const { return words > 0 && !adjacent_words; }
    };

    bool scan_words(WordRun& run) {
        bool last_was_word = false;
        while (at_word() || at('.')) {
            if (at_word()) {
                run.adjacent_words = run.adjacent_words || last_was_word;
                run.words++;
            }
            last_was_word = at_word();
            if (!advance()) {
                return false;
            }
        }
        return true;
    }

    // RFC 5322 3.4 address = mailbox / group; mailbox = name-addr / addr-spec. A run of
    // words and dots comes first; what follows it says what the run was.
    bool parse_address(bool in_group) {
        WordRun run;
        if (!scan_words(run)) {
            return false;
        }
        if (at('<')) {
            return parse_angle_addr();  // Any phrase, or none (obs), is a display name.
        }
        if (at('@')) {
            // addr-spec: the run was its local part.
            if (!run.is_local_part()) {
                return fail(ParseError::unexpected_token);
            }
            return advance() && parse_domain();
        }
        if (at(':')) {
            if (in_group || run.words == 0) {
                return fail(ParseError::unexpected_token);  // Groups do not nest.
            }
            return parse_group();
        }
        return fail(run.words > 0 ? ParseError::missing_domain : ParseError::unexpected_token);
    }

    // RFC 5322 3.4 group = display-name ":" [group-list] ";" [CFWS]; groups do not nest.
    bool parse_group() {
        if (!expect_separator(':')) {
            return false;
        }
        while (!at(';')) {
            if (current_.kind == TokenKind::end) {
                return fail(ParseError::unexpected_token);  // No ';' closes the group.
            }
            // obs-group-list and obs-mbox-list allow empty elements.
            if (at(',')) {
                if (!expect_separator(',')) {
                    return false;
                }
                continue;
            }
            if (!parse_address(true)) {
                return false;
            }
            if (!at(',') && !at(';')) {
                return fail(ParseError::unexpected_token);
            }
        }
        return expect_separator(';');
    }

    // RFC 5322 3.4 angle-addr = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr.
    bool parse_angle_addr() {
        HUB_ASSERT(at('<'));
        if (!advance()) {
            return false;
        }
        if ((at('@') || at(',')) && !skip_obs_route()) {
            return false;
        }
        WordRun run;
        if (!scan_words(run)) {
            return false;
        }
        if (!run.is_local_part()) {
            return fail(ParseError::unexpected_token);
        }
        if (!at('@')) {
            return fail(ParseError::missing_domain);
        }
        if (!advance() || !parse_domain()) {
            return false;
        }
        if (!at('>')) {
            return fail(ParseError::unexpected_token);
        }
        return advance();
    }

    // RFC 5322 4.4 obs-route = obs-domain-list ":", obs-domain-list =
    // *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain]). Route domains are not
    // addresses anyone replies to; they are left as they are.
    bool skip_obs_route() {
        std::size_t domains = 0;
        while (!at(':')) {
            if (at(',')) {
                if (!advance()) {
                    return false;
                }
            } else if (at('@')) {
                if (!advance() || !skip_domain()) {
                    return false;
                }
                domains++;
            } else {
                return fail(ParseError::unexpected_token);
            }
        }
        if (domains == 0) {
            return fail(ParseError::unexpected_token);
        }
        return advance();
    }

    // RFC 5322 3.4.1 domain = dot-atom / domain-literal / obs-domain; the current token
    // follows the '@'. Fills `span` with the range from the first atom to the last.
    bool scan_domain(DomainSpan& span) {
        span.offset = current_.begin;
        if (current_.kind == TokenKind::domain_literal) {
            span.literal = true;
            span.bytes = current_.end - current_.begin;
            return advance();
        }
        if (current_.kind != TokenKind::atom) {
            return fail(ParseError::missing_domain);
        }
        std::size_t end = current_.end;
        if (!advance()) {
            return false;
        }
        while (at('.')) {
            span.has_cfws = span.has_cfws || current_.cfws_before;
            if (!advance()) {
                return false;
            }
            if (current_.kind != TokenKind::atom) {
                return fail(ParseError::unexpected_token);  // "a@b." or "a@b..c".
            }
            span.has_cfws = span.has_cfws || current_.cfws_before;
            end = current_.end;
            if (!advance()) {
                return false;
            }
        }
        span.bytes = end - span.offset;
        return true;
    }

    bool skip_domain() {
        DomainSpan ignored;
        return scan_domain(ignored);
    }

    bool parse_domain() {
        DomainSpan span;
        if (!scan_domain(span)) {
            return false;
        }
        if (addresses_count_ == addresses_per_field_max) {
            return fail(ParseError::too_many_addresses);
        }
        HUB_ASSERT(span.offset + span.bytes <= body_.size());
        HUB_ASSERT(list_.domains.empty() ||
                   list_.domains.back().offset + list_.domains.back().bytes <= span.offset);
        list_.domains.push_back(span);
        addresses_count_++;
        return true;
    }

    std::string_view body_;
    Lexer lexer_;
    AddressList& list_;
    Token current_;
    ParseError error_ = ParseError::unexpected_token;
    std::size_t addresses_count_ = 0;
};

}  // namespace

Result<std::size_t, ParseError> parse_address_list(std::string_view body, AddressList& list) {
    list.clear();
    if (body.size() > field_bytes_max) {
        return unexpected(ParseError::field_too_long);
    }
    Parser parser(body, list);
    Result<std::size_t, ParseError> result = parser.parse();
    HUB_ASSERT(!result || *result == list.domains.size());
    return result;
}

bool strip_domain_cfws(std::string_view text, std::span<char> out, std::size_t& bytes) {
    bytes = 0;
    Lexer lexer(text);
    while (true) {
        Token token = lexer.next();
        if (token.kind == TokenKind::end) {
            return true;
        }
        bool part = token.kind == TokenKind::atom ||
                    (token.kind == TokenKind::special && token.special == '.');
        if (!part || token.end - token.begin > out.size() - bytes) {
            return false;
        }
        for (std::size_t i = token.begin; i < token.end; i++) {
            out[bytes++] = text[i];
        }
    }
}

std::string_view parse_error_name(ParseError error) {
    switch (error) {
        case ParseError::field_too_long:
            return "field_too_long";
        case ParseError::too_many_addresses:
            return "too_many_addresses";
        case ParseError::comment_too_deep:
            return "comment_too_deep";
        case ParseError::unterminated_quote:
            return "unterminated_quote";
        case ParseError::unterminated_comment:
            return "unterminated_comment";
        case ParseError::unterminated_literal:
            return "unterminated_literal";
        case ParseError::bad_line_break:
            return "bad_line_break";
        case ParseError::unexpected_byte:
            return "unexpected_byte";
        case ParseError::unexpected_token:
            return "unexpected_token";
        case ParseError::missing_domain:
            return "missing_domain";
    }
    HUB_PANIC("unknown ParseError");
}

}  // namespace hub::rewrite
