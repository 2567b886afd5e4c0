// ca_request_fuzz.cc -- random bytes as a certificate signing request into check_request.
//
// Input: the request as a partner would upload it (DER or PEM). Whatever arrives, a request
// that passes has a common name, a key type, a subject, at most dns_names_count_max DNS
// names, each a lower-case host name, and its DER within request_der_bytes_max; a refusal
// says why.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "ca/limits.h"
#include "ca/request.h"

namespace {

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace hub::ca;
    auto checked = check_request(std::span<const std::uint8_t>(data, size));
    if (!checked) {
        check(!checked.error().empty(), "a refusal says why");
        return 0;
    }
    check(!checked->common_name.empty(), "a common name");
    check(!checked->key_type.empty(), "a key type");
    check(!checked->subject_raw.empty(), "a subject");
    check(checked->der.size() <= request_der_bytes_max, "bounded");
    check(checked->dns_names.size() <= dns_names_count_max, "bounded names");
    for (const std::string& name : checked->dns_names) {
        for (char c : name) {
            check(!(c >= 'A' && c <= 'Z'), "names are lower case");
        }
    }
    return 0;
}
