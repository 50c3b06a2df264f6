// o365_send through the C++ wrapper against the o365-sim binary (issue 6): a mailbox signed in
// through the sim's own sign-in page; 10 recipients sent (and received by the sim), 11 refused
// with o365::PolicyViolation and the macro hint, serial mail and header injection refused,
// idempotent repeat, a download link served.
// Build: c++ -std=c++17 -Wall -Wextra -Werror -Iinclude -Ibindings/cpp test_send.cpp -lo365
// Needs the sim binary (O365_SIM, else next to $LIB, else target/debug/o365-sim) and curl.
// Last line: "N passed, N failed".
#include "o365.hpp"

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <ftw.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string& what, int line) {
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        std::cout << "  FAIL test_send.cpp:" << line << ": " << what << std::endl;
    }
}
#define CHECK(cond, what) check((cond), (what), __LINE__)

bool contains(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

std::string member(const std::string& json, const std::string& key) {
    std::string value;
    o365::detail::JsonReader(json).each_member([&](const std::string& k, std::string_view raw) {
        if (k == key) o365::detail::JsonReader::decode_string(raw, value);
    });
    return value;
}

std::string sim_binary() {
    if (const char* s = std::getenv("O365_SIM")) return s;
    if (const char* lib = std::getenv("LIB")) {
        std::string l = lib;
        auto slash = l.rfind('/');
        if (slash != std::string::npos) return l.substr(0, slash) + "/o365-sim";
    }
    return "target/debug/o365-sim";
}

// Runs a command, returns its standard output (trailing newline removed).
std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

struct Sim {
    pid_t pid = -1;
    std::string url, ca_file;

    bool start() {
        int fds[2];
        if (pipe(fds) != 0) return false;
        pid = fork();
        if (pid == 0) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
            std::string bin = sim_binary();
            execl(bin.c_str(), bin.c_str(), "serve", "--listen", "127.0.0.1:0", "--seed", "demo",
                  static_cast<char*>(nullptr));
            _exit(127);
        }
        close(fds[1]);
        std::string line;
        char c;
        while (read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
        close(fds[0]);
        url = member(line, "url");
        ca_file = member(line, "ca_file");
        return !url.empty();
    }
    ~Sim() {
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, nullptr, 0);
        }
    }
    std::string outbound() const {
        return run("curl -s --cacert " + quote(ca_file) + " " + quote(url + "/_sim/outbound"));
    }
};

std::string g_dir;

int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return remove(path); }

std::string recipients(const std::string& prefix, int n) {
    std::string out = "[";
    for (int i = 0; i < n; ++i) {
        if (i) out += ", ";
        out += "\"" + prefix + std::to_string(i) + "@kunden.example\"";
    }
    return out + "]";
}

void test_send(const Sim& sim) {
    const std::string anna = "anna.schmidt@contoso.example";
    std::string cfg = "{\"store\": \"" + g_dir + "/o365.db\", "
                      "\"encryption_key\": \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\", "
                      "\"app\": {\"client_id\": \"11111111-2222-3333-4444-555555555555\", "
                      "\"redirect_uri\": \"http://localhost:8080/o365/callback\"}, "
                      "\"endpoints\": {\"login\": \"" + sim.url + "\", \"graph\": \"" + sim.url +
                      "/v1.0\"}, \"ca_file\": \"" + sim.ca_file + "\", "
                      "\"links\": {\"base_url\": \"https://crm.example/link/\"}}";
    o365::Client c(cfg);
    std::string id = member(c.import_mailbox("{\"address\": \"" + anna + "\", \"users\": [\"u1\"]}"), "id");
    std::string start = c.call(&o365_authenticate, "{\"mailbox\": \"" + id + "\", \"user\": \"u1\"}");
    CHECK(member(start, "status") == "authorization_required", "sign-in starts: " + start);
    std::string redirect = run(quote(sim_binary()) + " browse sign-in --ca-file " + quote(sim.ca_file) +
                               " --url " + quote(member(start, "authorize_url")) + " --user " + anna +
                               " --password 'Passw0rd!'");
    std::string done = c.call(&o365_authenticate, "{\"callback_url\": \"" + redirect + "\"}");
    CHECK(member(done, "status") == "authenticated", "signed in: " + done);

    // 10 recipients: sent, and the sim's recipients got it.
    std::string req = "{\"mailbox\": \"" + id + "\", \"user\": \"u1\", \"idempotency_key\": \"cpp-1\", "
                      "\"message\": {\"to\": " + recipients("cpp", 6) + ", \"bcc\": " +
                      recipients("bcc", 4) + ", \"subject\": \"Angebot aus C++\", \"body_text\": \"Hallo\"}}";
    std::string sent = c.send(req);
    CHECK(member(sent, "state") == "sent", "10 recipients sent: " + sent);
    std::string imid = member(sent, "internet_message_id");
    CHECK(!imid.empty() && contains(sim.outbound(), imid), "the sim received " + imid);
    CHECK(member(c.send(req), "send_id") == member(sent, "send_id"), "same key: first result");
    std::string status = c.send_status("{\"mailbox\": \"" + id + "\", \"user\": \"u1\", \"idempotency_key\": \"cpp-1\"}");
    CHECK(member(status, "state") == "sent", "send_status: " + status);

    // 11: refused with the hint that names the macros.
    try {
        c.send("{\"mailbox\": \"" + id + "\", \"user\": \"u1\", \"message\": {\"to\": " +
               recipients("elf", 11) + ", \"subject\": \"x\"}}");
        CHECK(false, "11 recipients must be refused");
    } catch (const o365::PolicyViolation& e) {
        CHECK(e.kind() == "too_many_recipients", "kind: " + e.kind());
        CHECK(contains(e.hint(), "_downloadLink(Text)") && contains(e.hint(), "_agreementLink"),
              "hint: " + e.hint());
    }
    try {
        c.send("{\"mailbox\": \"" + id + "\", \"user\": \"u1\", \"serial_mail\": true, "
               "\"message\": {\"to\": [\"a@kunden.example\"], \"subject\": \"Newsletter\"}}");
        CHECK(false, "serial mail must be refused");
    } catch (const o365::PolicyViolation& e) {
        CHECK(e.kind() == "serial_mail_not_allowed", "kind: " + e.kind());
    }
    try {
        c.send("{\"mailbox\": \"" + id + "\", \"user\": \"u1\", \"message\": {\"to\": [\"a@kunden.example\"], "
               "\"subject\": \"Hallo\\r\\nBcc: x@kunden.example\"}}");
        CHECK(false, "header injection must be refused");
    } catch (const o365::InvalidArgument& e) {
        CHECK(e.kind() == "header_injection", "kind: " + e.kind());
    }

    // A download link: the mail carries the link, the host's page serves the file.
    std::string linked = c.send("{\"mailbox\": \"" + id + "\", \"user\": \"u1\", \"message\": {"
                                "\"to\": [\"kunde@kunden.example\"], \"subject\": \"Expose\", "
                                "\"body_text\": \"Bitte: _downloadLink(Expose)\", "
                                "\"attachments\": [{\"name\": \"expose.pdf\", \"base64\": \"UERG\"}]}}");
    CHECK(member(linked, "state") == "sent", "link mail sent: " + linked);
    std::string out = sim.outbound();
    auto at = out.find("https://crm.example/link/");
    CHECK(at != std::string::npos, "link in the body");
    if (at != std::string::npos) {
        std::string token;
        for (size_t i = at + 25; i < out.size() && (isalnum(static_cast<unsigned char>(out[i])) ||
                                                     out[i] == '-' || out[i] == '_' || out[i] == '.');
             ++i)
            token.push_back(out[i]);
        std::string page = c.link_open("{\"token\": \"" + token + "\"}");
        CHECK(member(page, "kind") == "download", "link page: " + page);
        std::string dest = g_dir + "/expose.pdf";
        c.link_download("{\"token\": \"" + token + "\", \"file\": 0, \"path\": \"" + dest + "\"}");
        std::string got = run("cat " + quote(dest));
        CHECK(got == "PDF", "downloaded bytes: " + got);
    }
}

}  // namespace

int main() {
    char tmpl[] = "/tmp/o365-cpp-send-XXXXXX";
    if (!mkdtemp(tmpl)) {
        std::cout << "cannot create a temporary directory" << std::endl;
        return 2;
    }
    g_dir = tmpl;
    {
        Sim sim;
        if (!sim.start()) {
            std::cout << "  FAIL: o365-sim did not start (" << sim_binary() << ")" << std::endl;
            ++g_failed;
        } else {
            try {
                test_send(sim);
            } catch (const std::exception& e) {
                check(false, std::string("unexpected exception: ") + e.what(), __LINE__);
            }
        }
    }
    nftw(g_dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    std::cout << g_passed << " passed, " << g_failed << " failed" << std::endl;
    return g_failed == 0 ? 0 : 1;
}
