// Tests of the header-only C++ wrapper (bindings/cpp/o365.hpp) against libo365.so.
// Built by `make test` with -std=c++17 -Wall -Wextra -Werror and run under valgrind.
// Last line: "N passed, N failed".
#include "o365.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include <ftw.h>
#include <unistd.h>

namespace {

std::atomic<int> g_passed{0}, g_failed{0};

void check(bool ok, const std::string& what, int line) {
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        std::cout << "  FAIL test_client.cpp:" << line << ": " << what << std::endl;
    }
}
#define CHECK(cond, what) check((cond), (what), __LINE__)

// Runs f and checks that it throws E (and not another exception); returns the caught error.
template <class E, class F>
std::optional<E> expect_throw(F&& f, const std::string& what, int line) {
    try {
        f();
        check(false, what + ": no exception", line);
    } catch (const std::exception& ex) {
        if (const E* e = dynamic_cast<const E*>(&ex)) {
            check(true, what, line);
            return *e;
        }
        if (const o365::Error* oe = dynamic_cast<const o365::Error*>(&ex)) {
            check(false, what + ": wrong exception, status " + std::to_string(oe->status()) + " " +
                             oe->what() + " " + oe->document(),
                  line);
        } else {
            check(false, what + ": wrong exception: " + ex.what(), line);
        }
    }
    return std::nullopt;
}
#define EXPECT_THROW(E, expr, what) expect_throw<E>([&] { (void)(expr); }, (what), __LINE__)

bool contains(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

// value of a top-level string member (uses the wrapper's own reader)
std::string member(const std::string& json, const std::string& key) {
    std::string value;
    o365::detail::JsonReader(json).each_member([&](const std::string& k, std::string_view raw) {
        if (k == key) o365::detail::JsonReader::decode_string(raw, value);
    });
    return value;
}

std::string g_dir;
const char* kKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

std::string config(const std::string& name, bool hooks = true) {
    return std::string("{\"store\": \"") + g_dir + "/" + name + ".db\", \"encryption_key\": \"" +
           kKey + "\", \"debug\": {\"test_hooks\": " + (hooks ? "true" : "false") + "}}";
}

std::string mailbox(const std::string& address, const std::string& users = "[\"u1\"]",
                    const std::string& main_user = "u1", const std::string& kind = "user") {
    return "{\"address\": \"" + address + "\", \"users\": " + users + ", \"main_user\": \"" +
           main_user + "\", \"kind\": \"" + kind + "\"}";
}

// ---- tests -----------------------------------------------------------------------------------

void test_version() {
    CHECK(!o365::version().empty(), "version() not empty");
    CHECK(o365::abi_version() == O365_ABI_VERSION, "abi_version() == O365_ABI_VERSION");
}

void test_parser() {
    auto d = o365::parse_error_document(
        R"({"status": 8, "error": "throttled", "message": "slow \"down\"\n caf\u00e9 \ud83d\ude00",)"
        R"( "hint": "wait", "details": {"retry_after_ms": 1500, "nested": [1, {"a": "}"}]}})");
    CHECK(d.status == 8, "parser: status");
    CHECK(d.kind == "throttled", "parser: kind");
    CHECK(d.message == "slow \"down\"\n caf\xc3\xa9 \xf0\x9f\x98\x80", "parser: escapes: " + d.message);
    CHECK(d.hint == "wait", "parser: hint");
    CHECK(d.details_json == R"({"retry_after_ms": 1500, "nested": [1, {"a": "}"}]})",
          "parser: details raw: " + d.details_json);
    auto empty = o365::parse_error_document("not json");
    CHECK(empty.status == -1 && empty.message.empty(), "parser: garbage gives empty document");

    int statuses[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 99};
    for (int s : statuses) {
        std::string doc = "{\"status\": " + std::to_string(s) +
                          ", \"error\": \"k\", \"message\": \"m\", \"hint\": \"h\"}";
        try {
            o365::throw_error(s, doc);
        } catch (const o365::Error& e) {
            bool right_type = false;
            switch (s) {
            case 1: right_type = dynamic_cast<const o365::InvalidArgument*>(&e) != nullptr; break;
            case 2: right_type = dynamic_cast<const o365::NotFound*>(&e) != nullptr; break;
            case 3: right_type = dynamic_cast<const o365::AlreadyExists*>(&e) != nullptr; break;
            case 4: right_type = dynamic_cast<const o365::Forbidden*>(&e) != nullptr; break;
            case 5: right_type = dynamic_cast<const o365::AuthRequired*>(&e) != nullptr; break;
            case 6: right_type = dynamic_cast<const o365::ConsentRequired*>(&e) != nullptr; break;
            case 7: right_type = dynamic_cast<const o365::PolicyViolation*>(&e) != nullptr; break;
            case 8: right_type = dynamic_cast<const o365::Throttled*>(&e) != nullptr; break;
            case 9: right_type = dynamic_cast<const o365::Network*>(&e) != nullptr; break;
            case 10: right_type = dynamic_cast<const o365::Remote*>(&e) != nullptr; break;
            case 11: right_type = dynamic_cast<const o365::Store*>(&e) != nullptr; break;
            case 12: right_type = dynamic_cast<const o365::Timeout*>(&e) != nullptr; break;
            case 13: right_type = dynamic_cast<const o365::Forked*>(&e) != nullptr; break;
            case 14: right_type = dynamic_cast<const o365::Internal*>(&e) != nullptr; break;
            case 15: right_type = dynamic_cast<const o365::WrongThread*>(&e) != nullptr; break;
            case 16: right_type = dynamic_cast<const o365::Conflict*>(&e) != nullptr; break;
            default: right_type = typeid(e) == typeid(o365::Error); break;
            }
            CHECK(right_type, "throw_error(" + std::to_string(s) + ") has the right class");
            CHECK(e.status() == s && e.kind() == "k" && std::string(e.what()) == "m" &&
                      e.hint() == "h" && e.document() == doc,
                  "throw_error(" + std::to_string(s) + ") carries status/kind/message/hint");
        }
    }
}

void test_bad_config() {
    auto e = EXPECT_THROW(o365::InvalidArgument, o365::Client("{\"store\": 42"), "malformed config");
    if (e) {
        CHECK(e->status() == O365_INVALID_ARGUMENT, "status 1");
        CHECK(!e->kind().empty(), "kind set");
        CHECK(contains(e->document(), "\"status\":1") || contains(e->document(), "\"status\": 1"),
              "document has the status: " + e->document());
    }
    EXPECT_THROW(o365::InvalidArgument, o365::Client("{\"store\": \"" + g_dir + "/x.db\", \"bogus\": 1}"),
                 "unknown config field");
    EXPECT_THROW(o365::InvalidArgument, o365::Client("{}"), "config without store");
    // host_id names this host in lease owners: no '|' (the owner separator)
    auto h = EXPECT_THROW(o365::InvalidArgument,
                          o365::Client("{\"store\": \"" + g_dir + "/h.db\", \"host_id\": \"web|1\"}"),
                          "host_id with |");
    if (h) CHECK(contains(h->document(), "host_id"), "names host_id: " + h->document());
    EXPECT_THROW(o365::InvalidArgument,
                 o365::Client("{\"store\": \"" + g_dir + "/p.db\", \"events\": {\"poll_ms\": 0}}"),
                 "events.poll_ms 0");
    o365::Client named("{\"store\": \"" + g_dir + "/named.db\", \"host_id\": \"web1\", "
                       "\"events\": {\"poll_ms\": 50}, \"sync\": {\"scheduler\": false}}");
    CHECK(static_cast<bool>(named), "client with host_id and events.poll_ms");
}

void test_happy_path() {
    o365::Client c(config("happy"));
    CHECK(static_cast<bool>(c), "client open");
    CHECK(c.info().empty() || contains(c.info(), "version"), "info(): " + c.info());
    std::string anna = c.import_mailbox(mailbox("anna@contoso.example", "[\"u1\", \"u2\"]"));
    CHECK(member(anna, "address") == "anna@contoso.example", "import result: " + anna);
    CHECK(member(anna, "auth_state") == "not_authenticated", "auth_state: " + anna);
    std::string id = member(anna, "id");
    CHECK(!id.empty(), "mailbox id");
    std::string team = c.import_mailbox(mailbox("team@contoso.example", "[\"u2\"]", "u2", "shared"));
    CHECK(member(team, "kind") == "shared", "shared kind: " + team);

    std::string all = c.list_mailboxes();
    CHECK(contains(all, "anna@contoso.example") && contains(all, "team@contoso.example"),
          "list all: " + all);
    std::string u1 = c.list_mailboxes(R"({"user": "u1"})");
    CHECK(contains(u1, "anna@") && !contains(u1, "team@"), "list u1: " + u1);

    std::string got = c.get_mailbox("{\"mailbox\": \"" + id + "\", \"user\": \"u2\"}");
    CHECK(member(got, "id") == id, "get by id: " + got);
    CHECK(c.call("get_mailbox", "{\"mailbox\": \"" + id + "\", \"user\": \"u2\"}") == got,
          "call(name) == named method");
    CHECK(c.call(&o365_get_mailbox, "{\"mailbox\": \"" + id + "\", \"user\": \"u2\"}") == got,
          "call(fn) == named method");

    std::string upd = c.update_mailbox(
        R"({"mailbox": "anna@contoso.example", "user": "u1", "users": ["u1", "u3"], "main_user": "u3"})");
    CHECK(member(upd, "main_user") == "u3", "update: " + upd);
    c.remove_mailbox(R"({"mailbox": "team@contoso.example", "user": "u2"})");
    EXPECT_THROW(o365::NotFound, c.get_mailbox(R"({"mailbox": "team@contoso.example"})"),
                 "removed mailbox is gone");
}

void test_errors() {
    o365::Client c(config("errors"));
    c.import_mailbox(mailbox("anna@contoso.example"));
    auto dup = EXPECT_THROW(o365::AlreadyExists, c.import_mailbox(mailbox("anna@contoso.example")),
                            "second import");
    if (dup) CHECK(dup->status() == O365_ALREADY_EXISTS && !std::string(dup->what()).empty(),
                   "AlreadyExists carries status and message");
    EXPECT_THROW(o365::InvalidArgument,
                 c.import_mailbox(mailbox("bob@contoso.example", "[\"u1\"]", "u2")),
                 "main_user not among users");
    EXPECT_THROW(o365::Forbidden,
                 c.get_mailbox(R"({"mailbox": "anna@contoso.example", "user": "intruder"})"),
                 "unassigned user");
    auto nf = EXPECT_THROW(o365::NotFound,
                           c.get_mailbox(R"({"mailbox": "ghost@contoso.example", "user": "u1"})"),
                           "unknown mailbox");
    if (nf) CHECK(!nf->kind().empty() && !nf->document().empty(), "NotFound has kind and document");
    // every not-OK status is also an o365::Error
    EXPECT_THROW(o365::Error, c.get_mailbox(R"({"mailbox": "ghost@contoso.example"})"),
                 "catch by base class");

    const char* bad[] = {"", "{", "[]", "{\"mailbox\": 1}", "{\"mailbox\": \"a@b.c\", \"x\": 1}",
                         "{\"mailbox\": \"\xff\xfe\"}"};
    for (const char* b : bad)
        EXPECT_THROW(o365::InvalidArgument, c.get_mailbox(b), std::string("bad request ") + b);
    std::string big = "{\"mailbox\": \"" + std::string(10000000, 'a') + "\"}";
    EXPECT_THROW(o365::InvalidArgument, c.get_mailbox(big), "10 MB request");
    EXPECT_THROW(std::invalid_argument, c.call("no_such_verb", "{}"), "unknown verb name");

    // a panic inside the library: Internal, and the client keeps working
    auto p = EXPECT_THROW(o365::Internal, c.debug_panic(), "debug_panic");
    if (p) CHECK(p->status() == O365_INTERNAL, "Internal status 14");
    CHECK(contains(c.list_mailboxes(), "anna@contoso.example"), "works after panic");

    o365::Client plain(config("errors", false));
    EXPECT_THROW(o365::Forbidden, plain.debug_panic(), "test hooks off");
}

void test_move() {
    o365::Client a(config("move"));
    a.import_mailbox(mailbox("anna@contoso.example"));
    o365::Client b(std::move(a));
    CHECK(!a && b, "move construction transfers the handle");
    CHECK(contains(b.list_mailboxes(), "anna@"), "moved-to client works");
    auto e = EXPECT_THROW(o365::InvalidArgument, a.list_mailboxes(), "moved-from client");
    if (e) CHECK(!std::string(e->what()).empty(), "moved-from error has a message");

    o365::Client c(config("move2"));
    c = std::move(b);  // frees c's own handle (valgrind checks), takes b's
    CHECK(c && !b, "move assignment");
    CHECK(contains(c.list_mailboxes(), "anna@"), "move-assigned client works");
    c.reset();
    CHECK(!c, "reset");
    c.reset();

    std::vector<o365::Client> many;
    for (int i = 0; i < 4; ++i) many.emplace_back(config("move"));
    many.erase(many.begin());
    for (auto& m : many) CHECK(contains(m.list_mailboxes(), "anna@"), "client in a vector");

    o365_client* raw = nullptr;
    {
        o365::Client d(config("move"));
        raw = d.release();
    }
    o365::Client adopted = o365::Client::adopt(raw);
    CHECK(contains(adopted.list_mailboxes(), "anna@"), "release + adopt");
}

void test_events() {
    o365::Client c(config("events"));
    while (auto e = c.next_event(0)) c.ack_event(member(*e, "id"));
    CHECK(!c.next_event(100).has_value(), "timeout gives nullopt");
    std::string emitted = c.debug_emit_event(R"({"type": "test.cpp", "payload": {"n": 3}})");
    std::string id = member(emitted, "id");
    CHECK(!id.empty(), "emit returns an id: " + emitted);
    auto ev = c.next_event(1000);
    CHECK(ev.has_value(), "event delivered");
    if (ev) {
        CHECK(member(*ev, "id") == id, "same id: " + *ev);
        CHECK(member(*ev, "type") == "test.cpp", "type: " + *ev);
        CHECK(contains(*ev, "\"n\":3") || contains(*ev, "\"n\": 3"), "payload: " + *ev);
    }
    c.ack_event(id);
    CHECK(!c.next_event(50).has_value(), "empty after ack");
    EXPECT_THROW(o365::NotFound, c.ack_event("no-such-event"), "ack of an unknown id");

    // durable across close/reopen until acked
    std::string id2 = member(c.debug_emit_event(R"({"type": "test.durable"})"), "id");
    c.reset();
    o365::Client again(config("events"));
    auto ev2 = again.next_event(1000);
    CHECK(ev2 && member(*ev2, "id") == id2, "event survives reopen");
    again.ack_event(id2);
}

void test_threads() {
    o365::Client c(config("threads"));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&c, &failures, t] {
            try {
                const o365::Client& shared = c;
                shared.import_mailbox(mailbox("t" + std::to_string(t) + "@contoso.example",
                                              "[\"all\"]", "all"));
                for (int i = 0; i < 5; ++i) {
                    shared.list_mailboxes(R"({"user": "all"})");
                    try {
                        shared.get_mailbox(R"({"mailbox": "ghost@contoso.example"})");
                        ++failures;
                    } catch (const o365::NotFound&) {
                    }
                }
            } catch (const std::exception& e) {
                ++failures;
                std::cout << "  thread " << t << ": " << e.what() << std::endl;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(failures == 0, "8 threads sharing one client");
    std::string all = c.list_mailboxes(R"({"user": "all"})");
    int n = 0;
    for (std::size_t pos = 0; (pos = all.find("@contoso.example", pos)) != std::string::npos; ++pos) ++n;
    CHECK(n == 8, "8 mailboxes stored: " + all);
}

#ifdef O365_WITH_NLOHMANN
void test_nlohmann() {
    o365::Client c(config("nlohmann"));
    nlohmann::json box = c.call_json("import_mailbox", {{"address", "anna@contoso.example"},
                                                        {"users", {"u1"}},
                                                        {"main_user", "u1"}});
    CHECK(box["address"] == "anna@contoso.example", "call_json result: " + box.dump());
    nlohmann::json all = c.call_json("list_mailboxes", nullptr);
    CHECK(all["mailboxes"].size() == 1, "call_json(null) sends {}: " + all.dump());
    std::string id = c.debug_emit_event(R"({"type": "test.json"})");
    auto ev = c.next_event_json(1000);
    CHECK(ev && (*ev)["type"] == "test.json", "next_event_json");
    if (ev) c.ack_event((*ev)["id"].get<std::string>());
    EXPECT_THROW(o365::AlreadyExists,
                 c.call_json("import_mailbox", {{"address", "anna@contoso.example"},
                                                {"users", {"u1"}}}),
                 "call_json throws like call");
}
#endif

int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return std::remove(path); }

}  // namespace

int main() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/o365-cpptest-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
        std::perror("mkdtemp");
        return 2;
    }
    g_dir = buf.data();
    std::cout << "o365 C++ wrapper test: library " << o365::version() << ", store dir " << g_dir
              << std::endl;

    struct {
        const char* name;
        void (*fn)();
    } tests[] = {{"version", test_version}, {"parser", test_parser},   {"bad_config", test_bad_config},
                 {"happy_path", test_happy_path}, {"errors", test_errors}, {"move", test_move},
                 {"events", test_events},   {"threads", test_threads},
#ifdef O365_WITH_NLOHMANN
                 {"nlohmann", test_nlohmann},
#endif
    };
    for (auto& t : tests) {
        int f0 = g_failed;
        std::cout << "== " << t.name << std::endl;
        try {
            t.fn();
        } catch (const o365::Error& e) {
            check(false, std::string("unexpected o365::Error: ") + e.what() + " " + e.document(), __LINE__);
        } catch (const std::exception& e) {
            check(false, std::string("unexpected exception: ") + e.what(), __LINE__);
        }
        if (g_failed != f0) std::cout << "   " << t.name << ": " << (g_failed - f0) << " failed" << std::endl;
    }
    nftw(g_dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    std::cout << g_passed << " passed, " << g_failed << " failed" << std::endl;
    return g_failed == 0 ? 0 : 1;
}
