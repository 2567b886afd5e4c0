// startup_check_test.cc -- the sans-I/O half of hubd --check: certificate dates, loader
// messages split into findings, the report and its exit status.
#include "engine/startup_check.h"

#include <gtest/gtest.h>

namespace hub::engine {
namespace {

constexpr std::int64_t day_s = 86400;
constexpr std::int64_t now_s = 1800000000;  // 2027-01-15 08:00:00 UTC.

TEST(CheckValidity, Table) {
    struct Case {
        std::int64_t not_before_s, not_after_s;
        const char* expected;  // "" = no finding.
    };
    const Case cases[] = {
        {now_s - day_s, now_s + 365 * day_s, ""},
        {now_s - day_s, now_s + 30 * day_s, ""},  // Exactly 30 days: fine.
        {now_s - day_s, now_s + 30 * day_s - 1,
         "warning f:1 c: expires on 2027-02-14 07:59:59 UTC, in 29 days"},
        {now_s - day_s, now_s, "warning f:1 c: expires on 2027-01-15 08:00:00 UTC, in 0 days"},
        {now_s - 2 * day_s, now_s - 1, "error f:1 c: expired on 2027-01-15 07:59:59 UTC"},
        {now_s + 1, now_s + 365 * day_s, "error f:1 c: not valid before 2027-01-15 08:00:01 UTC"},
    };
    for (const Case& c : cases) {
        auto finding = check_validity("f:1", "c", c.not_before_s, c.not_after_s, now_s);
        std::string got;
        if (finding) {
            got = std::string(finding->severity == Severity::error ? "error " : "warning ") +
                  finding->where + " " + finding->text;
        }
        EXPECT_EQ(got, c.expected);
    }
}

TEST(FindingsFromLines, KeepFileAndLine) {
    auto findings = findings_from_lines(
        "p.toml:5: partner[0]: bad pin\np.toml: cannot read: gone\nelsewhere: x\n", "p.toml",
        "hub.conf:9");
    ASSERT_EQ(findings.size(), 3u);
    EXPECT_EQ(findings[0].where, "p.toml:5");
    EXPECT_EQ(findings[0].text, "partner[0]: bad pin");
    EXPECT_EQ(findings[1].where, "p.toml");
    EXPECT_EQ(findings[1].text, "cannot read: gone");
    EXPECT_EQ(findings[2].where, "hub.conf:9");
    EXPECT_EQ(findings[2].text, "elsewhere: x");
}

TEST(RenderFindings, EveryFindingThenCounts) {
    std::vector<Finding> findings{{Severity::error, "a:1", "one"},
                                  {Severity::warning, "b:2", "two"},
                                  {Severity::error, "", "three"}};
    EXPECT_EQ(render_findings(findings),
              "a:1: error: one\nb:2: warning: two\nerror: three\nhubd --check: 2 errors, 1 "
              "warning\n");
    EXPECT_EQ(exit_status_of(findings), 1);
    findings.erase(findings.begin());
    findings.pop_back();
    EXPECT_EQ(exit_status_of(findings), 0);  // Warnings alone pass.
    EXPECT_EQ(exit_status_of({}), 0);
    EXPECT_EQ(render_findings({}), "hubd --check: 0 errors, 0 warnings\n");
}

}  // namespace
}  // namespace hub::engine
