// Folders, messages, sync, cache clear, folder-contents move (issue 5) through the C++
// wrapper, against an o365-sim process (O365_SIM, else target/debug/o365-sim).
// Built with -std=c++17 -Wall -Wextra -Werror. Last line: "N passed, N failed".
#include "o365.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string& what, int line) {
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        std::cout << "  FAIL test_sync.cpp:" << line << ": " << what << std::endl;
    }
}
#define CHECK(cond, what) check((cond), (what), __LINE__)

const std::string kAnna = "anna.schmidt@contoso.example";

// Value of a top-level string member (the wrapper's own reader).
std::string member(const std::string& json, const std::string& key) {
    std::string value;
    o365::detail::JsonReader(json).each_member([&](const std::string& k, std::string_view raw) {
        if (k == key) o365::detail::JsonReader::decode_string(raw, value);
    });
    return value;
}

// The first `"key":"value"` string after `from` in `doc`.
std::string find_str(const std::string& doc, const std::string& from, const std::string& key) {
    auto p = doc.find(from);
    if (p == std::string::npos) return "";
    std::string pat = "\"" + key + "\":\"";
    p = doc.find(pat, p);
    if (p == std::string::npos) return "";
    p += pat.size();
    return doc.substr(p, doc.find('"', p) - p);
}

// Does the folder object named `name` contain `needle`?
bool folder_has(const std::string& doc, const std::string& name, const std::string& needle) {
    auto p = doc.find("\"display_name\":\"" + name + "\"");
    if (p == std::string::npos) return false;
    auto start = doc.rfind('{', p), end = doc.find('}', p);
    auto hit = doc.find(needle, start);
    return hit != std::string::npos && hit < end;
}

struct Sim {
    pid_t pid = -1;
    std::string bin, url, ca;
    explicit Sim(std::string b) : bin(std::move(b)) {
        int fds[2];
        if (pipe(fds) != 0) return;
        pid = fork();
        if (pid == 0) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
            execl(bin.c_str(), bin.c_str(), "serve", "--listen", "127.0.0.1:0", "--seed", "demo",
                  static_cast<char*>(nullptr));
            _exit(127);
        }
        close(fds[1]);
        FILE* f = fdopen(fds[0], "r");
        char line[2048] = {0};
        if (f && fgets(line, sizeof line, f)) {
            url = member(line, "url");
            ca = member(line, "ca_file");
        }
        if (f) fclose(f);
    }
    ~Sim() {
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, nullptr, 0);
        }
    }
    // Drives the sim's sign-in page; returns the redirect URL.
    std::string sign_in(const std::string& authorize_url) const {
        std::string cmd = "'" + bin + "' browse sign-in --ca-file '" + ca + "' --url '" + authorize_url +
                          "' --user " + kAnna + " --password 'Passw0rd!'";
        std::string out;
        if (FILE* p = popen(cmd.c_str(), "r")) {
            char line[4096];
            if (fgets(line, sizeof line, p)) out = line;
            pclose(p);
        }
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
        return out;
    }
    // A request with a JSON body on the sim's admin API (curl, as in sim_support.hpp).
    std::string admin(const std::string& method, const std::string& path, const std::string& json) const {
        std::string cmd = "curl -s -X " + method + " -H 'Content-Type: application/json' --cacert '" + ca +
                          "' --data '" + json + "' '" + url + path + "'";
        std::string out;
        if (FILE* p = popen(cmd.c_str(), "r")) {
            char buf[4096];
            while (fgets(buf, sizeof buf, p)) out += buf;
            pclose(p);
        }
        return out;
    }
};

}  // namespace

int main() {
    const char* env = std::getenv("O365_SIM");
    std::string bin = env && *env ? env : "target/debug/o365-sim";
    if (access(bin.c_str(), X_OK) != 0) {
        std::cout << "  FAIL o365-sim not found at " << bin << " (cargo build -p o365-sim, or set O365_SIM)"
                  << std::endl;
        return 1;
    }
    char dir[] = "/tmp/o365-cpp-sync-XXXXXX";
    CHECK(mkdtemp(dir) != nullptr, "temp dir");
    {
        Sim sim(bin);
        CHECK(!sim.url.empty(), "o365-sim started");
        std::string cfg = std::string("{\"store\":\"") + dir +
                          "/o365.db\",\"encryption_key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
                          "\"app\":{\"client_id\":\"11111111-2222-3333-4444-555555555555\","
                          "\"redirect_uri\":\"http://localhost:8080/o365/callback\"},"
                          "\"endpoints\":{\"login\":\"" + sim.url + "\",\"graph\":\"" + sim.url +
                          "/v1.0\"},\"ca_file\":\"" + sim.ca + "\",\"sync\":{\"scheduler\":false}}";
        try {
            o365::Client c(cfg);
            std::string id = member(c.import_mailbox("{\"address\":\"" + kAnna + "\",\"users\":[\"u1\"]}"), "id");
            std::string mb = "\"mailbox\":\"" + id + "\",\"user\":\"u1\"";
            std::string start = c.call(&o365_authenticate, "{" + mb + "}");
            std::string redirect = sim.sign_in(member(start, "authorize_url"));
            std::string done = c.call(&o365_authenticate, "{\"callback_url\":\"" + redirect + "\"}");
            CHECK(member(done, "status") == "authenticated", "signed in: " + done);

            std::string folders = c.list_folders("{" + mb + "}");
            CHECK(folder_has(folders, "Posteingang", "\"well_known\":\"inbox\""), "inbox role");
            CHECK(folder_has(folders, "Gesendete Elemente", "\"well_known\":\"sentitems\""), "sentitems role");
            std::string r = c.sync("{" + mb + "}");
            CHECK(member(r, "status") == "ok", "sync: " + r);

            std::string page = c.list_messages("{" + mb + ",\"folder\":\"inbox\",\"limit\":2,\"unread_only\":true}");
            std::string first = find_str(page, "\"messages\":[", "id");
            std::string second = find_str(page, "\"internet_message_id\"", "id");
            CHECK(!first.empty() && !second.empty() && first != second, "two messages: " + page);
            std::string msg = c.get_message("{" + mb + ",\"id\":\"" + first + "\"}");
            CHECK(msg.find("\"body\":{") != std::string::npos, "body");
            CHECK(c.mark_read("{" + mb + ",\"id\":\"" + first + "\"}").find(first) != std::string::npos, "read");
            CHECK(member(c.move_message("{" + mb + ",\"id\":\"" + first + "\",\"to\":\"archive\"}"), "id") == first,
                  "same id after the move");
            c.delete_message("{" + mb + ",\"id\":\"" + second + "\"}");
            try {
                c.get_message("{" + mb + ",\"id\":\"" + second + "\",\"refresh\":true}");
                CHECK(false, "deleted message still found");
            } catch (const o365::NotFound&) {
                CHECK(true, "deleted");
            }
            std::string job = c.move_folder_contents("{" + mb + ",\"from\":\"Gesendete Objekte\",\"to\":\"sentitems\"}");
            CHECK(member(job, "state") == "done", "folder contents moved: " + job);
            c.cache_clear("{" + mb + "}");
            folders = c.list_folders("{" + mb + "}");
            CHECK(folder_has(folders, "Gesendete Objekte", "\"total_count\":0"), "fresh after the clear");
            // Microsoft throttles the mailbox for 5 minutes: nothing waits. The cached tree comes
            // back stale, a send is queued, with "queue": false it is O365_THROTTLED.
            sim.admin("POST", "/_sim/faults", "{\"path\":\"/v1.0/*\",\"status\":429,\"retryAfter\":300}");
            folders = c.list_folders("{" + mb + ",\"max_age_ms\":0}");
            CHECK(folders.find("\"stale\":true") != std::string::npos, "stale while throttled: " + folders);
            std::string queued = c.send("{" + mb + ",\"message\":{\"to\":[\"kunde@kunden.example\"],"
                                        "\"subject\":\"Gedrosselt\",\"body_text\":\"x\"}}");
            CHECK(member(queued, "state") == "queued", "queued while throttled: " + queued);
            try {
                c.send("{" + mb + ",\"queue\":false,\"message\":{\"to\":[\"kunde@kunden.example\"],"
                       "\"subject\":\"Nie\",\"body_text\":\"x\"}}");
                CHECK(false, "queue:false sent while throttled");
            } catch (const o365::Throttled& e) {
                CHECK(e.details_json().find("retry_after_ms") != std::string::npos, "retry_after_ms");
            }
            std::string health = c.get_mailbox("{\"mailbox\":\"" + id + "\"}");
            CHECK(health.find("\"throttled_until\":\"") != std::string::npos, "throttled_until: " + health);
            CHECK(health.find("\"background\":{") != std::string::npos, "background health: " + health);
            sim.admin("DELETE", "/_sim/faults", "{}");
            try {
                c.sync("{\"mailbox\":\"" + id + "\",\"user\":\"intruder\"}");
                CHECK(false, "intruder synced");
            } catch (const o365::Forbidden&) {
                CHECK(true, "intruder refused");
            }
        } catch (const std::exception& e) {
            CHECK(false, std::string("unexpected exception: ") + e.what());
        }
    }
    std::string rm = std::string("rm -rf '") + dir + "'";
    CHECK(std::system(rm.c_str()) == 0, "cleanup");
    std::cout << g_passed << " passed, " << g_failed << " failed" << std::endl;
    return g_failed == 0 ? 0 : 1;
}
