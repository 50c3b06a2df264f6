// Sign-in through the C++ wrapper against the o365-sim binary (issue 4): code flow with the
// sim's page, every assigned user and nobody else (o365::Forbidden), a wrong account
// (account_mismatch), a reused state, admin consent (o365::ConsentRequired with the URL),
// sign-out. Last line: "N passed, N failed".
#include "sim_support.hpp"

using simtest::contains;
using simtest::kAnna;
using simtest::kBen;

using simtest::member;
using simtest::raw_member;

namespace {


std::string req(const std::string& mailbox, const std::string& user) {
    return "{\"mailbox\": \"" + mailbox + "\", \"user\": \"" + user + "\"}";
}

void assigned_users_and_nobody_else(const simtest::Sim& sim) {
    simtest::TempDir dir;
    o365::Client c(sim.config(dir.path));
    std::string id = simtest::signed_in(sim, c, kAnna, kAnna);
    CHECK(member(c.call(&o365_authenticate, req(id, "u2")), "status") == "authenticated",
          "second assigned user needs no sign-in");
    try {
        c.call(&o365_authenticate, req(id, "stranger"));
        CHECK(false, "an unassigned user must be refused");
    } catch (const o365::Forbidden& e) {
        CHECK(e.kind() == "user_not_assigned", "kind: " + e.kind());
        CHECK(e.status() == O365_FORBIDDEN, "status 4");
    }
    std::string log = c.call(&o365_audit_log, req(id, "u1"));
    CHECK(contains(log, "\"stranger\"") && contains(log, "\"denied\""), "refusal audited: " + log);
    std::string out = c.call(&o365_sign_out, req(id, "u1"));
    CHECK(raw_member(out, "tokens_removed") == "true", "signed out: " + out);
    CHECK(member(c.call(&o365_authenticate, req(id, "u2")), "status") == "authorization_required",
          "after sign-out a new sign-in is needed");
}

void wrong_account_and_reused_state(const simtest::Sim& sim) {
    simtest::TempDir dir;
    o365::Client c(sim.config(dir.path));
    std::string id = member(c.import_mailbox("{\"address\": \"" + kAnna + "\", \"users\": [\"u1\"]}"), "id");
    std::string start = c.call(&o365_authenticate, req(id, "u1"));
    std::string redirect = sim.sign_in_page(member(start, "authorize_url"), kBen);
    try {
        c.call(&o365_authenticate, "{\"callback_url\": \"" + redirect + "\"}");
        CHECK(false, "Ben must not sign in Anna's mailbox");
    } catch (const o365::Forbidden& e) {
        CHECK(e.kind() == "account_mismatch", "kind: " + e.kind());
        CHECK(contains(e.what(), kBen) && contains(e.what(), kAnna), std::string("names both: ") + e.what());
    }
    try {
        c.call(&o365_authenticate, "{\"callback_url\": \"" + redirect + "\"}");
        CHECK(false, "a state is single use");
    } catch (const o365::InvalidArgument& e) {
        CHECK(e.kind() == "state_already_used", "kind: " + e.kind());
    }
}

void admin_consent(const simtest::Sim& sim) {
    simtest::TempDir dir;
    o365::Client c(sim.config(dir.path));
    const std::string eve = "eve@fabrikam.example";
    std::string id = member(c.import_mailbox("{\"address\": \"" + eve + "\", \"users\": [\"u1\"]}"), "id");
    std::string start = c.call(&o365_authenticate, req(id, "u1"));
    std::string redirect = sim.sign_in_page(member(start, "authorize_url"), eve);
    std::string consent_url;
    try {
        c.call(&o365_authenticate, "{\"callback_url\": \"" + redirect + "\"}");
        CHECK(false, "fabrikam requires admin consent");
    } catch (const o365::ConsentRequired& e) {
        consent_url = member(e.details_json(), "admin_consent_url");
        CHECK(contains(consent_url, "/adminconsent"), "admin consent URL: " + consent_url);
        CHECK(contains(e.hint(), "administrator"), "hint: " + e.hint());
    }
    std::string back = sim.sign_in_page(consent_url, "admin@fabrikam.example");
    std::string next = c.call(&o365_authenticate, "{\"callback_url\": \"" + back + "\"}");
    CHECK(member(next, "admin_consent") == "granted", "consent granted: " + next);
    std::string done = c.call(&o365_authenticate, "{\"callback_url\": \"" +
                                                      sim.sign_in_page(member(next, "authorize_url"), eve) + "\"}");
    CHECK(member(done, "status") == "authenticated", "signed in after consent: " + done);
}

// o365_check_setup through the wrapper: the demo's "Web" app with its secret passes; an
// unknown app, a wrong secret and the Web app without its secret fail with their AADSTS code.
// A sign-in with the Web app but no secret ends in o365::Remote naming the fix.
void check_setup_and_app_registration_errors(const simtest::Sim& sim) {
    const std::string web = "22222222-3333-4444-5555-666666666666";
    const std::string secret = "Xq38Q~demo.web.secret-value_0123456789abc";
    const std::string web_redirect = "https://crm.example/o365/callback";
    auto app = [&](const std::string& id, const std::string& sec, const std::string& redirect) {
        return "{\"client_id\": \"" + id + "\", " +
               (sec.empty() ? std::string() : "\"client_secret\": \"" + sec + "\", ") +
               "\"redirect_uri\": \"" + redirect + "\"}";
    };
    {
        simtest::TempDir dir;
        o365::Client c(sim.config_with_app(dir.path, app(web, secret, web_redirect)));
        std::string r = c.check_setup();
        CHECK(raw_member(r, "ok") == "true", "good setup: " + r);
        CHECK(!contains(r, "\"failed\"") && !contains(r, "\"warning\""), "every item ok: " + r);
        CHECK(c.call("check_setup", "{\"tenant\": \"contoso.example\"}") .find("\"ok\":true") != std::string::npos,
              "by name, with a tenant");
    }
    const std::pair<std::string, std::string> bad[] = {
        {app("0badc0de-0000-4000-8000-000000000000", "", "http://localhost:8080/o365/callback"), "AADSTS700016"},
        {app(web, "wrong-secret", web_redirect), "AADSTS7000215"},
        {app(web, "", web_redirect), "AADSTS7000218"},
    };
    for (const auto& [a, code] : bad) {
        simtest::TempDir dir;
        o365::Client c(sim.config_with_app(dir.path, a));
        std::string r = c.check_setup();
        CHECK(raw_member(r, "ok") == "false", code + ": " + r);
        CHECK(contains(r, "\"name\":\"app_registration\",\"verdict\":\"failed\""), code + ": " + r);
        CHECK(contains(r, "\"code\":\"" + code + "\""), code + ": " + r);
        CHECK(contains(r, "\"name\":\"store\",\"verdict\":\"ok\""), code + " store ok: " + r);
    }
    simtest::TempDir dir;
    o365::Client c(sim.config_with_app(dir.path, app(web, "", web_redirect)));
    std::string id = member(c.import_mailbox("{\"address\": \"" + kAnna + "\", \"users\": [\"u1\"]}"), "id");
    std::string start = c.call(&o365_authenticate, req(id, "u1"));
    std::string redirect = sim.sign_in_page(member(start, "authorize_url"), kAnna);
    try {
        c.call(&o365_authenticate, "{\"callback_url\": \"" + redirect + "\"}");
        CHECK(false, "a Web app without its secret cannot redeem the code");
    } catch (const o365::Remote& e) {
        CHECK(e.kind() == "client_secret_missing", "kind: " + e.kind());
        CHECK(member(e.details_json(), "code") == "AADSTS7000218", "details: " + e.details_json());
        CHECK(contains(e.hint(), "app.client_secret"), "hint: " + e.hint());
    }
}

}  // namespace

int main() {
    simtest::Sim sim;
    if (!sim.start()) {
        std::cout << "cannot start " << simtest::sim_binary() << std::endl;
        std::cout << "0 passed, 1 failed" << std::endl;
        return 1;
    }
    assigned_users_and_nobody_else(sim);
    wrong_account_and_reused_state(sim);
    admin_consent(sim);
    check_setup_and_app_registration_errors(sim);
    return simtest::summary();
}
