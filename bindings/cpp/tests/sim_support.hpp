// Support for C++ tests against the o365-sim binary: a tiny check counter, the sim process
// (started per test run, demo seed), command running, JSON member lookup through the
// wrapper's reader, and sign-in driven through the sim's own pages (`o365-sim browse`).
#pragma once

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

namespace simtest {

inline int g_passed = 0, g_failed = 0;

// Users of the sim's demo seed.
inline const std::string kAnna = "anna.schmidt@contoso.example";
inline const std::string kBen = "ben.mueller@contoso.example";

inline void check(bool ok, const std::string& what, const char* file, int line) {
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        std::cout << "  FAIL " << file << ":" << line << ": " << what << std::endl;
    }
}
#define CHECK(cond, what) simtest::check((cond), (what), __FILE__, __LINE__)

inline int summary() {
    std::cout << g_passed << " passed, " << g_failed << " failed" << std::endl;
    return g_failed == 0 ? 0 : 1;
}

inline bool contains(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

// The string value of a top-level member of a JSON object ("" when absent or not a string).
inline std::string member(const std::string& json, const std::string& key) {
    std::string value;
    o365::detail::JsonReader(json).each_member([&](const std::string& k, std::string_view raw) {
        if (k == key) o365::detail::JsonReader::decode_string(raw, value);
    });
    return value;
}

// The raw JSON text of a top-level member.
inline std::string raw_member(const std::string& json, const std::string& key) {
    std::string value;
    o365::detail::JsonReader(json).each_member([&](const std::string& k, std::string_view raw) {
        if (k == key) value = std::string(raw);
    });
    return value;
}

inline std::string sim_binary() {
    if (const char* s = std::getenv("O365_SIM")) return s;
    if (const char* lib = std::getenv("LIB")) {
        std::string l = lib;
        auto slash = l.rfind('/');
        if (slash != std::string::npos) return l.substr(0, slash) + "/o365-sim";
    }
    return "target/debug/o365-sim";
}

// Runs a command, returns its standard output (trailing newline removed).
inline std::string run(const std::string& cmd) {
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

inline std::string quote(const std::string& s) { return "'" + s + "'"; }

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
    // GET on the sim's admin API.
    std::string get(const std::string& path) const {
        return run("curl -s --cacert " + quote(ca_file) + " " + quote(url + path));
    }
    // PATCH with a JSON body on the sim's admin API.
    std::string patch(const std::string& path, const std::string& json) const {
        return run("curl -s -X PATCH -H 'Content-Type: application/json' --cacert " + quote(ca_file) +
                   " --data " + quote(json) + " " + quote(url + path));
    }
    // A person signing in on the page behind authorize_url.
    std::string sign_in_page(const std::string& authorize_url, const std::string& login,
                             bool accept = true) const {
        return run(quote(sim_binary()) + " browse sign-in --ca-file " + quote(ca_file) + " --url " +
                   quote(authorize_url) + " --user " + quote(login) + " --password 'Passw0rd!'" +
                   (accept ? "" : " --decline"));
    }
    // Client config pointing at the sim, with a store in dir (the demo seed's public client).
    std::string config(const std::string& dir, const std::string& extra = "") const {
        return config_with_app(dir,
                               "{\"client_id\": \"11111111-2222-3333-4444-555555555555\", "
                               "\"redirect_uri\": \"http://localhost:8080/o365/callback\"}",
                               extra);
    }
    // The same with another "app" object (an app registration of the sim).
    std::string config_with_app(const std::string& dir, const std::string& app,
                                const std::string& extra = "") const {
        return "{\"store\": \"" + dir + "/o365.db\", "
               "\"encryption_key\": \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\", "
               "\"app\": " + app + ", "
               "\"endpoints\": {\"login\": \"" + url + "\", \"graph\": \"" + url + "/v1.0\"}, "
               "\"ca_file\": \"" + ca_file + "\"" + (extra.empty() ? "" : ", " + extra) + "}";
    }
};

inline int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return remove(path); }

// A fresh temporary directory, removed with everything in it when the object goes.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/o365-cpp-XXXXXX";
        const char* d = mkdtemp(tmpl);
        path = d ? d : "";
    }
    ~TempDir() {
        if (!path.empty()) nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
};

// Imports address for u1 (main) and u2 and signs it in as login; returns the mailbox id.
inline std::string signed_in(const Sim& sim, const o365::Client& c, const std::string& address,
                             const std::string& login) {
    std::string id = member(c.import_mailbox("{\"address\": \"" + address +
                                             "\", \"users\": [\"u1\", \"u2\"], \"main_user\": \"u1\"}"),
                            "id");
    std::string start = c.call(&o365_authenticate, "{\"mailbox\": \"" + id + "\", \"user\": \"u1\"}");
    std::string redirect = sim.sign_in_page(member(start, "authorize_url"), login);
    std::string done = c.call(&o365_authenticate, "{\"callback_url\": \"" + redirect + "\"}");
    CHECK(member(done, "status") == "authenticated", "signed in: " + done);
    return id;
}

}  // namespace simtest
