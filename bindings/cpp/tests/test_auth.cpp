// Sign-in through the C++ wrapper against the o365-sim binary (issue 4): code flow with the
// sim's page, every assigned user and nobody else (o365::Forbidden), a wrong account
// (account_mismatch), a reused state, admin consent (o365::ConsentRequired with the URL),
// sign-out. Last line: "N passed, N failed".
#include "sim_support.hpp"

using simtest::contains;
using simtest::member;
using simtest::raw_member;

namespace {

const std::string kAnna = "anna.schmidt@contoso.example";
const std::string kBen = "ben.mueller@contoso.example";

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
    return simtest::summary();
}
