// model_test.cc -- the console's menu model driven by tables of keys: what each page shows,
// which keys are refused, which actions come out and what their outcomes do.
#include "console/model.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "console/checks.h"
#include "console/limits.h"

namespace hub::console {
namespace {

Settings dev_settings() {
    Settings settings;
    settings.host_name = "hub.example";
    settings.development = true;
    return settings;
}

void type(Model& model, std::string_view text) {
    for (char c : text) {
        model.press(Key::byte(static_cast<unsigned char>(c)));
    }
}

void press(Model& model, KeyKind kind) {
    model.press(Key::of(kind));
}

std::string screen_text(const Model& model) {
    return model.render().text();
}

TEST(ConsoleModel, MainMenuShowsEverySection) {
    Model model(dev_settings());
    Screen screen = model.render();
    ASSERT_EQ(screen.rows, 24);
    ASSERT_EQ(screen.lines.size(), 24u);
    std::string text = screen.text();
    for (const char* label :
         {"1  Status", "2  Network", "3  Certificates", "4  Partners", "5  Service access",
          "6  Passwords", "7  Queue", "8  Shutdown", "9  Backup", "0  Log out",
          "Hubbox console (development)", "hub.example", "Main menu"}) {
        EXPECT_NE(text.find(label), std::string::npos) << label << "\n" << text;
    }
}

TEST(ConsoleModel, EveryLineFitsTheScreen) {
    for (auto [cols, rows] : std::vector<std::pair<int, int>>{{80, 24}, {40, 10}, {132, 50}}) {
        Model model(dev_settings());
        model.press(Key::resized(cols, rows));
        for (char section : std::string("23456789")) {
            type(model, std::string(1, section));
            Screen screen = model.render();
            ASSERT_EQ(screen.lines.size(), static_cast<std::size_t>(rows));
            for (const Line& line : screen.lines) {
                EXPECT_LE(line.text.size(), static_cast<std::size_t>(cols)) << line.text;
            }
            press(model, KeyKind::escape);
        }
        EXPECT_EQ(model.depth(), 1u);
    }
}

TEST(ConsoleModel, SmallTerminalIsSaid) {
    Model model(dev_settings());
    model.press(Key::resized(60, 20));
    EXPECT_NE(screen_text(model).find("smaller than 80x24"), std::string::npos);
    model.press(Key::resized(80, 24));
    EXPECT_EQ(screen_text(model).find("smaller than"), std::string::npos);
}

// Keys that try to leave the menu or run something: each is refused on the main menu, no
// page opens and no action comes out.
TEST(ConsoleModel, EscapeAttemptsAreRefused) {
    struct Case {
        Key key;
        const char* shown;
    };
    const std::vector<Case> cases = {
        {Key::byte(0x03), "Ctrl-C"},
        {Key::byte(0x1a), "Ctrl-Z"},
        {Key::byte(0x1c), "Ctrl-\\"},
        {Key::byte(0x04), "Ctrl-D"},
        {Key::byte(0x1b), "Ctrl-["},
        {Key::byte(0x7f), "Delete"},
        {Key::byte(0x00), "Ctrl-@"},
        {Key::byte(0xff), "byte 0xff"},
        {Key::byte('!'), "'!'"},
        {Key::byte('$'), "'$'"},
        {Key::byte('('), "'('"},
        {Key::byte('`'), "'`'"},
        {Key::byte(';'), "';'"},
        {Key::byte('|'), "'|'"},
        {Key::byte('s'), "'s'"},
        {Key::of(KeyKind::escape), "Escape"},
        {Key::of(KeyKind::other), "that key"},
    };
    for (const Case& c : cases) {
        Model model(dev_settings());
        model.press(c.key);
        EXPECT_EQ(model.depth(), 1u) << c.shown;
        EXPECT_FALSE(model.take_action().has_value()) << c.shown;
        EXPECT_NE(model.status().find("Refused"), std::string::npos) << c.shown;
        EXPECT_NE(model.status().find(c.shown), std::string::npos) << model.status();
        EXPECT_FALSE(model.finished());
    }
}

TEST(ConsoleModel, ShellSyntaxIsNeverAChoice) {
    Model model(dev_settings());
    type(model, "!sh");
    type(model, "$(id)");
    type(model, "`id`; sh");
    EXPECT_EQ(model.depth(), 1u);
    EXPECT_FALSE(model.take_action().has_value());
    type(model, std::string(10000, 'A'));
    EXPECT_EQ(model.depth(), 1u);
    EXPECT_FALSE(model.take_action().has_value());
    EXPECT_NE(model.status().find("Refused: 'A'"), std::string::npos);
}

TEST(ConsoleModel, StatusIsAnActionShownAsText) {
    Model model(dev_settings());
    type(model, "1");
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::status);
    EXPECT_FALSE(model.take_action().has_value());  // Once.
    EXPECT_NE(screen_text(model).find("Working..."), std::string::npos);
    type(model, "1");  // Busy: refused, not queued.
    EXPECT_NE(model.status().find("Busy"), std::string::npos);
    Outcome outcome;
    outcome.lines = {"Hub version 0.1", "bad \x1b[2J byte"};
    model.complete(outcome);
    ASSERT_EQ(model.top().kind, PageKind::text);
    std::string text = screen_text(model);
    EXPECT_NE(text.find("Hub version 0.1"), std::string::npos);
    EXPECT_NE(text.find("bad ?[2J byte"), std::string::npos) << text;
    type(model, "r");  // Refresh: the same page, asked again.
    action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::status);
    outcome.lines = {"second"};
    model.complete(outcome);
    EXPECT_EQ(model.depth(), 2u);
    EXPECT_NE(screen_text(model).find("second"), std::string::npos);
    press(model, KeyKind::escape);
    EXPECT_EQ(model.depth(), 1u);
}

TEST(ConsoleModel, SuspendAPartnerFromTheList) {
    Model model(dev_settings());
    type(model, "41");
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::partner_list);
    Outcome listing;
    listing.header = "NAME STATE";
    listing.rows = {{"partner1", "partner1 active"}, {"partner2", "partner2 active"}};
    model.complete(listing);
    ASSERT_EQ(model.top().kind, PageKind::list);
    press(model, KeyKind::down);
    press(model, KeyKind::enter);
    EXPECT_EQ(model.top().title, "Partner partner2");
    type(model, "2");
    ASSERT_EQ(model.top().kind, PageKind::confirm);
    type(model, "x");  // Not an answer.
    EXPECT_NE(model.status().find("Refused"), std::string::npos);
    type(model, "y");
    action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::partner_suspend);
    EXPECT_EQ(action->target, "partner2");
    Outcome done;
    done.message = "partner suspend: done";
    model.complete(done);
    EXPECT_EQ(model.top().title, "Partner partner2");  // The question closed.
    EXPECT_EQ(model.status(), "partner suspend: done");
    press(model, KeyKind::escape);  // Back at the list: it asks again.
    action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::partner_list);
}

TEST(ConsoleModel, FailedActionsSayWhyAndStay) {
    Model model(dev_settings());
    type(model, "71");
    ASSERT_TRUE(model.take_action());
    Outcome failed;
    failed.ok = false;
    failed.message = "cannot reach the running hubd";
    model.complete(failed);
    EXPECT_EQ(model.top().title, "Queue");
    EXPECT_NE(screen_text(model).find("cannot reach the running hubd"), std::string::npos);
}

TEST(ConsoleModel, FormFieldsAreBoundedAndChecked) {
    Model model(dev_settings());
    type(model, "42");
    ASSERT_EQ(model.top().kind, PageKind::form);
    type(model, "$(id)");
    press(model, KeyKind::enter);
    type(model, "partner3.gov.uk");
    press(model, KeyKind::enter);
    press(model, KeyKind::enter);
    type(model, "192.0.2.7:25");
    press(model, KeyKind::enter);
    model.press(Key::byte(0x03));  // Ctrl-C in a field: refused, the value unchanged.
    EXPECT_NE(model.status().find("Refused: Ctrl-C"), std::string::npos);
    press(model, KeyKind::enter);  // Submit: the name is refused by the partner rule.
    EXPECT_FALSE(model.take_action().has_value());
    EXPECT_NE(model.status().find("Name:"), std::string::npos) << model.status();
    EXPECT_EQ(model.top().selected, 0u);  // Back on the field to fix.
    for (int i = 0; i < 5; i++) {
        press(model, KeyKind::backspace);
    }
    type(model, std::string(10000, 'p'));  // A paste far beyond the field.
    EXPECT_EQ(model.top().fields[0].value.size(), 64u);
    EXPECT_NE(model.status().find("at most 64"), std::string::npos);
    for (int i = 0; i < 63; i++) {
        press(model, KeyKind::backspace);
    }
    type(model, "3");
    for (int i = 0; i < 5; i++) {  // Through the four other fields, then submit.
        press(model, KeyKind::enter);
    }
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action) << model.status();
    EXPECT_EQ(action->kind, ActionKind::partner_add);
    EXPECT_EQ(action->field("name"), "p3");
    EXPECT_EQ(action->field("domain"), "partner3.gov.uk");
    EXPECT_EQ(action->field("inbound"), "");
    EXPECT_EQ(action->field("outbound"), "192.0.2.7:25");
    model.complete(Outcome{true, "partner add: done", {}, {}, {}, {}, 0});
    EXPECT_EQ(model.top().title, "Partners");  // The form closed.
}

TEST(ConsoleModel, PasswordsAreHiddenAndMustMatch) {
    Model model(dev_settings());
    type(model, "62");
    type(model, "alice");
    press(model, KeyKind::tab);
    type(model, "correct horse battery");
    press(model, KeyKind::tab);
    type(model, "correct horse battery!");
    std::string text = screen_text(model);
    EXPECT_EQ(text.find("correct horse"), std::string::npos) << text;
    EXPECT_NE(text.find("*********************"), std::string::npos);
    press(model, KeyKind::enter);
    EXPECT_FALSE(model.take_action().has_value());
    EXPECT_NE(model.status().find("differ"), std::string::npos);
    press(model, KeyKind::backspace);
    press(model, KeyKind::enter);
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::admin_password);
    EXPECT_EQ(action->field("password"), "correct horse battery");
}

TEST(ConsoleModel, EscapeCancelsAForm) {
    Model model(dev_settings());
    type(model, "62");
    type(model, "alice");
    press(model, KeyKind::escape);
    EXPECT_EQ(model.top().title, "Passwords");
    EXPECT_NE(model.status().find("Cancelled"), std::string::npos);
    EXPECT_FALSE(model.take_action().has_value());
}

TEST(ConsoleModel, ShutdownAsksFirst) {
    struct Case {
        std::string keys;
        std::optional<ActionKind> action;
    };
    const std::vector<Case> cases = {
        {"81y", ActionKind::reboot}, {"82y", ActionKind::power_off}, {"81n", std::nullopt},
        {"82N", std::nullopt},       {"81!", std::nullopt},
    };
    for (const Case& c : cases) {
        Model model(dev_settings());
        type(model, c.keys);
        std::optional<Action> action = model.take_action();
        EXPECT_EQ(action.has_value(), c.action.has_value()) << c.keys;
        if (action && c.action) {
            EXPECT_EQ(action->kind, *c.action) << c.keys;
        }
    }
}

TEST(ConsoleModel, BackupPage) {
    // Show, back up now (asked first), schedule: the actions and their fields.
    Model model(dev_settings());
    type(model, "91");
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::backup_show);
    model.complete(Outcome{true, "", {"schedule: every 24 hours"}, {}, {}, {}, 0});
    press(model, KeyKind::escape);
    type(model, "2n");
    EXPECT_FALSE(model.take_action().has_value());
    type(model, "2y");
    action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::backup_run);
    model.complete(Outcome{true, "", {"backup: /b/a.hbk"}, {}, {}, {}, 0});
    press(model, KeyKind::escape);
    type(model, "5");
    type(model, "0");
    press(model, KeyKind::enter);
    type(model, "7");
    press(model, KeyKind::enter);  // Submit: 0 hours is refused.
    EXPECT_FALSE(model.take_action().has_value());
    EXPECT_NE(model.status().find("from 1 to 8760"), std::string::npos) << model.status();
    press(model, KeyKind::backspace);
    type(model, "6");
    press(model, KeyKind::enter);
    press(model, KeyKind::enter);
    action = model.take_action();
    ASSERT_TRUE(action) << model.status();
    EXPECT_EQ(action->kind, ActionKind::backup_schedule);
    EXPECT_EQ(action->field("interval_hours"), "6");
    EXPECT_EQ(action->field("keep"), "7");
}

TEST(ConsoleModel, BackupRestoreNeedsTheWord) {
    Model model(dev_settings());
    type(model, "94");
    ASSERT_EQ(model.top().kind, PageKind::form);
    type(model, "hubbox-hub-20261207T092828Z.hbk");
    press(model, KeyKind::enter);
    type(model, "secret passphrase");
    press(model, KeyKind::enter);
    type(model, "yes");
    press(model, KeyKind::enter);
    EXPECT_FALSE(model.take_action().has_value());
    EXPECT_NE(model.status().find("type RESTORE"), std::string::npos) << model.status();
    EXPECT_EQ(screen_text(model).find("secret passphrase"), std::string::npos);  // Hidden.
    for (int i = 0; i < 3; i++) {
        press(model, KeyKind::backspace);
    }
    type(model, "RESTORE");
    press(model, KeyKind::enter);
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action) << model.status();
    EXPECT_EQ(action->kind, ActionKind::backup_restore);
    EXPECT_EQ(action->field("archive"), "hubbox-hub-20261207T092828Z.hbk");
    EXPECT_EQ(action->field("passphrase"), "secret passphrase");
}

TEST(ConsoleModel, QueueMessageActionsNameTheMessage) {
    struct Case {
        std::string keys;
        ActionKind kind;
    };
    const std::vector<Case> cases = {
        {"1", ActionKind::queue_show},    {"2", ActionKind::queue_retry},
        {"3", ActionKind::queue_hold},    {"4", ActionKind::queue_release},
        {"5y", ActionKind::queue_delete},
    };
    for (const Case& c : cases) {
        Model model(dev_settings());
        type(model, "71");
        ASSERT_TRUE(model.take_action());
        Outcome listing;
        listing.rows = {{"0123456789abcdef", "0123456789abcdef 1234 alice@partner1.gov.uk"}};
        model.complete(listing);
        press(model, KeyKind::enter);
        type(model, c.keys);
        std::optional<Action> action = model.take_action();
        ASSERT_TRUE(action) << c.keys;
        EXPECT_EQ(action->kind, c.kind);
        EXPECT_EQ(action->target, "0123456789abcdef");
    }
}

TEST(ConsoleModel, CertificateDecisions) {
    Model model(dev_settings());
    type(model, "32");
    ASSERT_EQ(model.take_action()->kind, ActionKind::ca_requests);
    Outcome listing;
    listing.rows = {{"7", "7 pending partner2"}};
    model.complete(listing);
    press(model, KeyKind::enter);
    type(model, "2");
    type(model, "wrong CN");
    press(model, KeyKind::enter);
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::ca_reject);
    EXPECT_EQ(action->target, "7");
    EXPECT_EQ(action->field("reason"), "wrong CN");
}

TEST(ConsoleModel, AFormsTextAnswerTakesItsPlace) {
    Model model(dev_settings());
    type(model, "63");
    type(model, "partner2");
    press(model, KeyKind::enter);
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::enrollment_reset);
    EXPECT_EQ(action->field("partner"), "partner2");
    model.complete(Outcome{true, "", {"the password"}, {}, {}, {}, 0});
    EXPECT_EQ(model.top().kind, PageKind::text);
    // 'r' would reset the password again: the answer's page does not ask again.
    type(model, "r");
    EXPECT_FALSE(model.take_action());
    EXPECT_NE(model.status().find("Refused: 'r'"), std::string::npos) << model.status();
    press(model, KeyKind::escape);
    EXPECT_EQ(model.top().title, "Passwords");
}

TEST(ConsoleModel, ARiskyNetworkChangeIsKeptOrUndone) {
    struct Case {
        Key answer;
        ActionKind kind;
    };
    const std::vector<Case> cases = {
        {Key::byte('y'), ActionKind::net_keep},
        {Key::byte('n'), ActionKind::net_undo},
        {Key::of(KeyKind::escape), ActionKind::net_undo},
    };
    for (const Case& c : cases) {
        Model model(dev_settings());
        type(model, "22");
        type(model, "eth0");
        press(model, KeyKind::tab);
        type(model, "192.0.2.20/24");
        press(model, KeyKind::enter);
        std::optional<Action> action = model.take_action();
        ASSERT_TRUE(action);
        EXPECT_EQ(action->kind, ActionKind::net_address);
        EXPECT_EQ(action->target, "set");
        EXPECT_EQ(action->field("interface"), "eth0");
        Outcome pending;
        pending.message = "eth0 now has 192.0.2.20/24";
        pending.confirm_token = "0123456789abcdef";
        pending.confirm_seconds = 60;
        model.complete(pending);
        ASSERT_EQ(model.top().kind, PageKind::confirm);
        EXPECT_NE(screen_text(model).find("undone in 60 seconds"), std::string::npos);
        model.press(Key::byte('!'));  // Neither: refused, still asking.
        EXPECT_EQ(model.top().kind, PageKind::confirm);
        model.press(c.answer);
        action = model.take_action();
        ASSERT_TRUE(action);
        EXPECT_EQ(action->kind, c.kind);
        EXPECT_EQ(action->target, "0123456789abcdef");
        model.complete(Outcome{true, "kept", {}, {}, {}, {}, 0});
        EXPECT_EQ(model.top().title, "Network");
    }
}

TEST(ConsoleModel, LongMessagesWrap) {
    Model model(dev_settings());
    type(model, "71");
    ASSERT_TRUE(model.take_action());
    Outcome failed;
    failed.ok = false;
    failed.message = std::string(100, 'a') + " the end of the reason";
    model.complete(failed);
    Screen screen = model.render();
    EXPECT_NE(screen.text().find("the end of the reason"), std::string::npos) << screen.text();
    EXPECT_EQ(screen.lines[22].style, Style::error);
    EXPECT_EQ(screen.lines[21].style, Style::error);
    EXPECT_EQ(screen.lines[23].style, Style::hint);
}

TEST(ConsoleModel, ListsScrollWithTheSelection) {
    Model model(dev_settings());
    type(model, "71");
    ASSERT_TRUE(model.take_action());
    Outcome listing;
    for (int i = 0; i < 100; i++) {
        std::string id = fmt::format("{:016x}", i);
        listing.rows.push_back({id, id + " message"});
    }
    model.complete(listing);
    press(model, KeyKind::page_down);
    press(model, KeyKind::page_down);
    press(model, KeyKind::down);
    std::size_t selected = model.top().selected;
    EXPECT_EQ(selected, 18u * 2 + 1);  // 18 rows a page at 80x24, less the column heads.
    std::string text = screen_text(model);
    EXPECT_NE(text.find(" > " + fmt::format("{:016x}", selected)), std::string::npos) << text;
    press(model, KeyKind::end);
    EXPECT_EQ(model.top().selected, 99u);
    EXPECT_NE(screen_text(model).find(" > " + fmt::format("{:016x}", 99)), std::string::npos);
    press(model, KeyKind::home);
    EXPECT_EQ(model.top().selected, 0u);
    press(model, KeyKind::enter);
    EXPECT_EQ(model.top().title, "Message 0000000000000000");
}

TEST(ConsoleModel, LogOutFinishes) {
    Model model(dev_settings());
    type(model, "0");
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::logout);
    EXPECT_TRUE(model.finished());
}

TEST(ConsoleModel, PagesStayWithinTheirDepth) {
    Model model(dev_settings());
    type(model, "41");
    ASSERT_TRUE(model.take_action());
    Outcome listing;
    listing.rows = {{"p", "p"}};
    model.complete(listing);
    press(model, KeyKind::enter);
    type(model, "2");
    EXPECT_LE(model.depth(), page_depth_max);
}

// --- Pasted fields (the hub key forms) --------------------------------------------------

// A paste as the terminal delivers it: each line break is an Enter.
void paste(Model& model, std::string_view text) {
    for (char c : text) {
        if (c == '\n') {
            press(model, KeyKind::enter);
        } else {
            model.press(Key::byte(static_cast<unsigned char>(c)));
        }
    }
}

const std::string certificate_pem =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBszCCAVmgAwIBAgIUZ2V0IHRoaXMgb25lIGZyb20gdGhlIENBMAoGCCqGSM49\n"
    "BAMCMBgxFjAUBgNVBAMMDUV4dGVybmFsIFJvb3Q=\n"
    "-----END CERTIFICATE-----\n";

// Certificates, 5: the signed certificate pasted, the chain skipped with ".", a root
// pasted, and the form submits on the last field's ".".
TEST(ConsoleModel, PastedFieldsTakeLinesUntilADot) {
    Model model(dev_settings());
    type(model, "35");
    ASSERT_EQ(model.top().kind, PageKind::form);
    EXPECT_NE(screen_text(model).find("a line with just . ends it"), std::string::npos);
    press(model, KeyKind::enter);  // Blank lines before a paste are not part of it.
    paste(model, certificate_pem);
    std::string shown = screen_text(model);
    EXPECT_NE(shown.find("(4 lines, 1 certificate)"), std::string::npos) << shown;
    // A long last line is cut at its start; the summary stays.
    type(model, std::string(70, 'Q'));
    shown = screen_text(model);
    EXPECT_NE(shown.find("(5 lines, 1 certificate) <QQQ"), std::string::npos) << shown;
    for (int i = 0; i < 70; i++) {
        press(model, KeyKind::backspace);
    }
    EXPECT_EQ(model.top().selected, 0u);
    paste(model, ".\n");
    EXPECT_EQ(model.top().selected, 1u);
    EXPECT_NE(screen_text(model).find("(empty)"), std::string::npos);
    paste(model, ".\n");  // No intermediates.
    EXPECT_EQ(model.top().selected, 2u);
    paste(model, certificate_pem + certificate_pem);
    EXPECT_NE(screen_text(model).find("(8 lines, 2 certificates)"), std::string::npos);
    EXPECT_FALSE(model.take_action());
    paste(model, ".\n");
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action) << model.status();
    EXPECT_EQ(action->kind, ActionKind::hub_key_install);
    // The value is the lines as pasted, the last line break and the "." gone.
    EXPECT_EQ(action->field("certificate"), certificate_pem.substr(0, certificate_pem.size() - 1));
    EXPECT_EQ(action->field("chain"), "");
    EXPECT_EQ(action->field("ca"),
              certificate_pem + certificate_pem.substr(0, certificate_pem.size() - 1));
}

// What a pasted field refuses, each in a fresh install form: the value is as the table says
// and the status line says why.
TEST(ConsoleModel, PastedFieldsAreBounded) {
    struct Case {
        const char* name;
        std::function<void(Model&)> keys;
        std::size_t value_bytes;  // The certificate field's value afterwards.
        const char* status;       // "" when nothing is refused.
    };
    const std::vector<Case> cases = {
        {"Escape byte",
         [](Model& m) {
             paste(m, "ab");
             m.press(Key::byte(0x1b));
         },
         2, "Refused: Ctrl-["},
        {"NUL",
         [](Model& m) {
             paste(m, "ab\n");
             m.press(Key::byte(0x00));
         },
         3, "Refused: Ctrl-@"},
        {"Ctrl-C", [](Model& m) { m.press(Key::byte(0x03)); }, 0, "Refused: Ctrl-C"},
        {"Delete", [](Model& m) { m.press(Key::byte(0x7f)); }, 0, "Refused: Delete"},
        {"a high byte", [](Model& m) { m.press(Key::byte(0xc3)); }, 0, "Refused: byte 0xc3"},
        {"Backspace takes a line break",
         [](Model& m) {
             paste(m, "ab\n");
             press(m, KeyKind::backspace);
         },
         2, ""},
        {"Enter on an empty field adds nothing", [](Model& m) { paste(m, "\n\n\n"); }, 0, ""},
        {"bytes",
         [](Model& m) {
             std::string line(63, 'x');
             for (std::size_t i = 0; i < paste_bytes_max / 64 + 10; i++) {
                 paste(m, line);
                 paste(m, i % 2 == 0 ? "\n" : "y\n");  // Lines stay under paste_lines_max.
             }
         },
         paste_bytes_max, "holds at most"},
        {"lines",
         [](Model& m) {
             for (std::size_t i = 0; i < paste_lines_max + 5; i++) {
                 paste(m, "z\n");
             }
         },
         2 * paste_lines_max - 1 + 5, "holds at most 4096 lines"},  // 'z's still fit the last line.
    };
    for (const Case& c : cases) {
        Model model(dev_settings());
        type(model, "35");
        c.keys(model);
        ASSERT_EQ(model.top().kind, PageKind::form) << c.name;
        EXPECT_EQ(model.top().selected, 0u) << c.name;
        EXPECT_EQ(model.top().fields[0].value.size(), c.value_bytes) << c.name;
        if (*c.status == '\0') {
            EXPECT_EQ(model.status(), "") << c.name;
        } else {
            EXPECT_NE(model.status().find(c.status), std::string::npos)
                << c.name << ": " << model.status();
        }
        EXPECT_FALSE(model.take_action()) << c.name;
        for (const Line& line : model.render().lines) {
            EXPECT_LE(line.text.size(), 80u) << c.name;
        }
    }
}

// The other hub key pages: the key type as a menu, the PEM import's key field, the
// bundle's hidden password; a paste that is not what the field holds is refused.
TEST(ConsoleModel, HubKeyForms) {
    Model model(dev_settings());
    type(model, "342");
    std::optional<Action> action = model.take_action();
    ASSERT_TRUE(action);
    EXPECT_EQ(action->kind, ActionKind::hub_key_request);
    EXPECT_EQ(action->target, "p384");
    Outcome csr;
    csr.lines = {"-----BEGIN CERTIFICATE REQUEST-----", "MIIB",
                 "-----END CERTIFICATE REQUEST-----"};
    model.complete(csr);
    EXPECT_EQ(model.top().kind, PageKind::text);
    EXPECT_NE(screen_text(model).find("\n -----BEGIN CERTIFICATE REQUEST-----\n"),
              std::string::npos);
    // 'r' would make another key: the CSR's page does not ask again.
    EXPECT_EQ(screen_text(model).find("r refreshes"), std::string::npos);
    type(model, "r");
    EXPECT_FALSE(model.take_action());
    EXPECT_NE(model.status().find("Refused: 'r'"), std::string::npos) << model.status();
    press(model, KeyKind::escape);
    press(model, KeyKind::escape);
    type(model, "6");  // Import a PEM key and certificate: a certificate where the key goes.
    paste(model, certificate_pem + ".\n");
    paste(model, certificate_pem + ".\n.\n.\n");
    EXPECT_FALSE(model.take_action());
    EXPECT_NE(model.status().find("Private key: paste a PEM private key"), std::string::npos)
        << model.status();
    EXPECT_EQ(model.top().selected, 0u);
    press(model, KeyKind::escape);
    type(model, "7");
    paste(model, "MIIC\nAQID\n.\n");
    type(model, "secret");
    EXPECT_NE(screen_text(model).find("******"), std::string::npos);
    EXPECT_EQ(screen_text(model).find("secret"), std::string::npos);
    press(model, KeyKind::enter);
    paste(model, ".\n");
    action = model.take_action();
    ASSERT_TRUE(action) << model.status();
    EXPECT_EQ(action->kind, ActionKind::hub_key_pkcs12);
    EXPECT_EQ(action->field("bundle"), "MIIC\nAQID");
    EXPECT_EQ(action->field("password"), "secret");
}

TEST(ConsoleChecks, Table) {
    struct Case {
        Check check;
        const char* value;
        bool ok;
    };
    const std::vector<Case> cases = {
        {check_partner_name, "partner1", true},
        {check_archive, "hubbox-hub-20261207T092828Z.hbk", true},
        {check_archive, "/mnt/usb/hubbox-hub-20261207T092828Z.hbk", true},
        {check_archive, "../etc/hubbox-x.hbk", false},
        {check_archive, "sub/hubbox-x.hbk", false},
        {check_archive, "/a/../hubbox-x.hbk", false},
        {check_archive, "hubbox-x.hbk;id", false},
        {check_archive, "$(id).hbk", false},
        {check_archive, "hubbox-x.tar", false},
        {check_archive_passphrase, "", true},
        {check_archive_passphrase, "a passphrase", true},
        {check_archive_passphrase, "a\nb", false},
        {check_interval_hours, "24", true},
        {check_interval_hours, "0", false},
        {check_interval_hours, "8761", false},
        {check_keep, "7", true},
        {check_keep, "1001", false},
        {check_restore_word, "RESTORE", true},
        {check_restore_word, "restore", false},
        {check_partner_name, "$(id)", false},
        {check_partner_name, "", false},
        {check_partner_domain, "partner3.gov.uk", true},
        {check_partner_domain, "bad domain", false},
        {check_networks, "", true},
        {check_networks, "192.0.2.0/24, 2001:db8::/32", true},
        {check_networks, "192.0.2.0/33", false},
        {check_smart_host, "192.0.2.1:25", true},
        {check_smart_host, "[2001:db8::1]:2525", true},
        {check_smart_host, "mail.example:25", false},
        {check_revoke_reason, "keyCompromise", true},
        {check_revoke_reason, "because", false},
        {check_password, "short", false},
        {check_password, "long enough password", true},
        {check_admin_name, "alice", true},
        {check_admin_name, "a;b", false},
        {check_interface, "eth0", true},
        {check_interface, "eth0; sh", false},
        {check_address_cidr, "192.0.2.10/24", true},
        {check_address_cidr, "2001:db8::10/64", true},
        {check_address_cidr, "192.0.2.10/33", false},
        {check_address_cidr, "192.0.2.10", false},
        {check_mtu, "1500", true},
        {check_mtu, "67", false},
        {check_mtu, "15x", false},
        {check_port, "25", true},
        {check_port, "0", false},
        {check_port, "65536", false},
        {check_host, "192.0.2.1", true},
        {check_host, "mail.example.org", true},
        {check_host, "$(id)", false},
        {check_destination, "default", true},
        {check_destination, "10.0.0.0/8", true},
        {check_destination, "10.0.0.0", false},
        {check_dns_servers, "192.0.2.53 2001:db8::53", true},
        {check_dns_servers, "1.1.1.1 1.0.0.1 8.8.8.8 8.8.4.4", false},
        {check_sources, "any", true},
        {check_sources, "none", true},
        {check_sources, "10.0.0.0/8,192.0.2.0/24", true},
        {check_sources, "everyone", false},
        {check_reason_text, "wrong CN", true},
        {check_reason_text, "", false},
        {check_key_type, "p256", true},
        {check_key_type, "rsa2048", false},
        {check_certificates_paste, "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----",
         true},
        {check_certificates_paste, "-----BEGIN CERTIFICATE-----\nMII", false},
        {check_certificates_paste,
         "-----BEGIN CERTIFICATE-----\n\x1b[2J\n-----END CERTIFICATE-----", false},
        {check_certificates_paste, "", false},
        {check_optional_certificates_paste, "", true},
        {check_optional_certificates_paste, "junk", false},
        {check_private_key_paste, "-----BEGIN PRIVATE KEY-----\nMIG\n-----END PRIVATE KEY-----",
         true},
        {check_private_key_paste,
         "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----", true},
        {check_private_key_paste, "-----BEGIN PRIVATE KEY-----\nMIG", false},
        {check_private_key_paste, "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----",
         false},
        {check_base64_paste, "MIIC\nAQID", true},
        {check_base64_paste, "TWE=\n", true},
        {check_base64_paste, "TQ==", true},
        {check_base64_paste, "T", false},
        {check_base64_paste, "TQ=x", false},
        {check_base64_paste, "$(id)", false},
        {check_base64_paste, "", false},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(c.check(c.value).empty(), c.ok) << c.value << ": " << c.check(c.value);
    }
}

}  // namespace
}  // namespace hub::console
