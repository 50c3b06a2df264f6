// The C++ wrapper on a PostgreSQL store (issue 11): two clients with their own host ids share
// one state (a mailbox imported through one is seen by the other, an event published through
// one is taken exactly once across both, from two threads), and a server nobody listens on
// is o365::Store with kind store_unreachable, a hint, and the URL's password masked.
//
// Needs a PostgreSQL server in O365_TEST_PG_URL: `make test-cpp` runs it inside
// scripts/pg_cluster.sh run (a throwaway cluster); O365_TEST_PG_SKIP=1 skips it.
// Built with -std=c++17 -Wall -Wextra -Werror and run under valgrind (the check counter and
// JSON lookup of sim_support.hpp; no sim). Last line: "N passed, N failed".
#include "sim_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

namespace {

using simtest::contains;
using simtest::member;

const char* const KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr int EVENTS = 30;

// The test server's URL with a schema of this run's own.
std::string store_url(const std::string& base) {
    std::random_device rd;
    std::string sep = contains(base, "?") ? "&" : "?";
    return base + sep + "schema=cpp_pg_" + std::to_string(getpid()) + "_" + std::to_string(rd() % 1000000);
}

std::string config(const std::string& store, const std::string& host) {
    return "{\"store\": \"" + store + "\", \"encryption_key\": \"" + KEY + "\", \"host_id\": \"" + host +
           "\", \"sync\": {\"scheduler\": false}, \"events\": {\"lease_ms\": 60000}, "
           "\"debug\": {\"test_hooks\": true}}";
}

void test_two_hosts_share_one_state(const std::string& url) {
    o365::Client web1(config(url, "web1"));
    o365::Client web2(config(url, "web2"));
    CHECK(static_cast<bool>(web1) && static_cast<bool>(web2), "both hosts open the store");

    std::string imported = web1.import_mailbox(
        "{\"address\": \"vertrieb@contoso.example\", \"users\": [\"u1\"], \"main_user\": \"u1\"}");
    std::string id = member(imported, "id");
    CHECK(!id.empty(), "import answers an id: " + imported);
    std::string seen = web2.get_mailbox("{\"mailbox\": \"vertrieb@contoso.example\", \"user\": \"u1\"}");
    CHECK(member(seen, "id") == id, "the other host sees the mailbox: " + seen);

    for (int i = 0; i < EVENTS; ++i) {
        web1.debug_emit_event("{\"type\": \"cpp_tick\", \"id\": \"cpp-" + std::to_string(i) +
                              "\", \"payload\": {\"seq\": " + std::to_string(i) + "}}");
    }
    std::mutex lock;
    std::map<std::string, int> taken;
    int strays = 0;
    auto consume = [&](const o365::Client& c) {
        while (auto ev = c.next_event(1000)) {
            std::string eid = member(*ev, "id");
            c.ack_event(eid);
            std::lock_guard<std::mutex> g(lock);
            if (member(*ev, "type") == "cpp_tick") {
                ++taken[eid];
            } else {
                ++strays;
            }
        }
    };
    std::thread t1(consume, std::cref(web1));
    std::thread t2(consume, std::cref(web2));
    t1.join();
    t2.join();
    int once = 0;
    for (const auto& [eid, n] : taken) {
        if (n == 1) ++once;
        CHECK(n == 1, eid + " taken " + std::to_string(n) + " times");
    }
    CHECK(once == EVENTS, "every event taken once across the hosts: " + std::to_string(once));
    CHECK(strays == 0, "no other events");
}

// A loopback port nobody listens on.
int free_port() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    int port = ntohs(a.sin_port);
    close(s);
    return port;
}

void test_unreachable_server_is_a_store_error() {
    std::string url = "postgres://o365:geheim-42@127.0.0.1:" + std::to_string(free_port()) +
                      "/crm?sslmode=disable&connect_timeout=5";
    try {
        o365::Client c(config(url, "web1"));
        CHECK(false, "a client on a server nobody listens on");
    } catch (const o365::Store& e) {
        CHECK(e.kind() == "store_unreachable", "kind: " + e.kind());
        CHECK(!e.hint().empty(), "a hint: " + e.document());
        CHECK(!contains(e.document(), "geheim-42"), "password masked: " + e.document());
        CHECK(contains(e.document(), "***"), "shown as ***: " + e.document());
    } catch (const std::exception& e) {
        CHECK(false, std::string("another exception: ") + e.what());
    }
}

void test_missing_key_is_invalid_argument(const std::string& url) {
    try {
        o365::Client c("{\"store\": \"" + url + "\", \"sync\": {\"scheduler\": false}}");
        CHECK(false, "a PostgreSQL store without encryption_key");
    } catch (const o365::InvalidArgument& e) {
        CHECK(contains(e.document(), "encryption_key"), "names the key: " + e.document());
    } catch (const std::exception& e) {
        CHECK(false, std::string("another exception: ") + e.what());
    }
}

}  // namespace

int main() {
    const char* base = std::getenv("O365_TEST_PG_URL");
    if (!base || !*base) {
        const char* skip = std::getenv("O365_TEST_PG_SKIP");
        if (skip && std::string(skip) == "1") {
            std::cout << "skipped: O365_TEST_PG_SKIP=1" << std::endl << "0 passed, 0 failed" << std::endl;
            return 0;
        }
        std::cout << "O365_TEST_PG_URL is not set: run `scripts/pg_cluster.sh run " << "build/tests/cpp/test_pg`"
                  << std::endl
                  << "0 passed, 1 failed" << std::endl;
        return 1;
    }
    std::string url = store_url(base);
    try {
        test_two_hosts_share_one_state(url);
        test_unreachable_server_is_a_store_error();
        test_missing_key_is_invalid_argument(url);
    } catch (const o365::Error& e) {
        CHECK(false, std::string("unexpected error: ") + e.document());
    }
    return simtest::summary();
}
