// o365_send through the C++ wrapper against the o365-sim binary (issue 6): a mailbox signed in
// through the sim's own sign-in page; 10 recipients sent (and received by the sim), 11 refused
// with o365::PolicyViolation and the macro hint, serial mail and header injection refused,
// idempotent repeat, a keyed send retried after an alias refusal, a download link served.
// Needs the sim binary (O365_SIM, else next to $LIB, else target/debug/o365-sim) and curl.
// Last line: "N passed, N failed".
#include "sim_support.hpp"

#include <cctype>

namespace {

using simtest::contains;
using simtest::member;
using simtest::quote;
using simtest::run;
using simtest::Sim;

std::string recipients(const std::string& prefix, int n) {
    std::string out = "[";
    for (int i = 0; i < n; ++i) {
        if (i) out += ", ";
        out += "\"" + prefix + std::to_string(i) + "@kunden.example\"";
    }
    return out + "]";
}

void test_send(const Sim& sim) {
    simtest::TempDir dir;
    o365::Client c(sim.config(dir.path, "\"links\": {\"base_url\": \"https://crm.example/link/\"}"));
    std::string id = simtest::signed_in(sim, c, "anna.schmidt@contoso.example",
                                        "anna.schmidt@contoso.example");

    // 10 recipients: sent, and the sim's recipients got it.
    std::string req = "{\"mailbox\": \"" + id + "\", \"user\": \"u1\", \"idempotency_key\": \"cpp-1\", "
                      "\"message\": {\"to\": " + recipients("cpp", 6) + ", \"bcc\": " +
                      recipients("bcc", 4) + ", \"subject\": \"Angebot aus C++\", \"body_text\": \"Hallo\"}}";
    std::string sent = c.send(req);
    CHECK(member(sent, "state") == "sent", "10 recipients sent: " + sent);
    std::string imid = member(sent, "internet_message_id");
    CHECK(!imid.empty() && contains(sim.get("/_sim/outbound"), imid), "the sim received " + imid);
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
    std::string out = sim.get("/_sim/outbound");
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
        std::string dest = dir.path + "/expose.pdf";
        c.link_download("{\"token\": \"" + token + "\", \"file\": 0, \"path\": \"" + dest + "\"}");
        std::string got = run("cat " + quote(dest));
        CHECK(got == "PDF", "downloaded bytes: " + got);

        // The finished page: HTML, then the file streamed in pieces through link_read.
        std::string html = c.link_page("{\"method\": \"GET\", \"token\": \"" + token +
                                       "\", \"accept_language\": \"en\"}");
        CHECK(simtest::raw_member(html, "status") == "200", "page status: " + html);
        CHECK(member(html, "body").find("expose.pdf") != std::string::npos, "page lists the file");
        std::string file = c.link_page("{\"method\": \"GET\", \"token\": \"" + token +
                                       "\", \"query\": {\"f\": \"0\"}, \"range\": \"bytes=1-\"}");
        CHECK(simtest::raw_member(file, "status") == "206", "range answer: " + file);
        std::string stream = simtest::raw_member(file, "stream");
        std::string sid = member(stream, "id");
        std::string bytes;
        for (std::string piece; !(piece = c.link_read(sid, bytes.size(), 1)).empty();) bytes += piece;
        CHECK(bytes == "DF", "streamed range: " + bytes);
        try {
            c.link_read(sid + "x", 0, 16);
            CHECK(false, "a changed stream id must be refused");
        } catch (const o365::InvalidArgument& e) {
            CHECK(e.kind() == "stream_invalid", "kind: " + e.kind());
        }
    }
}

// A keyed send refused because the tenant does not allow sending from aliases goes out once
// when sent again under the same key after the admin allowed it.
void test_keyed_retry_after_alias_refusal(const Sim& sim) {
    simtest::TempDir dir;
    o365::Client c(sim.config(dir.path));
    sim.patch("/_sim/tenants/contoso.example", "{\"sendFromAliasEnabled\": false}");
    std::string id = member(c.import_mailbox("{\"address\": \"info@contoso.example\", \"users\": [\"u1\"], "
                                             "\"kind\": \"alias\", \"alias_of\": \"anna.schmidt@contoso.example\"}"),
                            "id");
    std::string start = c.call(&o365_authenticate, "{\"mailbox\": \"" + id + "\", \"user\": \"u1\"}");
    std::string redirect = sim.sign_in_page(member(start, "authorize_url"), "anna.schmidt@contoso.example");
    c.call(&o365_authenticate, "{\"callback_url\": \"" + redirect + "\"}");
    std::string mail = "{\"mailbox\": \"" + id + "\", \"user\": \"u1\", \"idempotency_key\": \"cpp-alias-1\", "
                       "\"message\": {\"to\": [\"kunde@kunden.example\"], \"subject\": \"Angebot vom Alias\"}}";
    std::string send_id;
    try {
        c.send(mail);
        CHECK(false, "sending from the alias must be refused");
    } catch (const o365::Forbidden& e) {
        CHECK(e.kind() == "alias_send_not_enabled", "kind: " + e.kind());
        CHECK(contains(e.hint(), "Set-OrganizationConfig -SendFromAliasEnabled $true"), "hint: " + e.hint());
        send_id = member(e.details_json(), "send_id");
    }
    CHECK(!contains(sim.get("/_sim/outbound"), "Angebot vom Alias"), "nothing sent while refused");
    sim.patch("/_sim/tenants/contoso.example", "{\"sendFromAliasEnabled\": true}");
    std::string sent = c.send(mail);
    CHECK(member(sent, "state") == "sent", "sent on the second try: " + sent);
    CHECK(!send_id.empty() && member(sent, "send_id") == send_id, "same send id: " + sent);
    CHECK(member(c.send(mail), "send_id") == send_id, "the key answers with the sent mail");
    std::string out = sim.get("/_sim/outbound");
    // The subject field appears once per received mail (headers and MIME repeat the text).
    size_t n = 0;
    for (size_t at = out.find("\"subject\":\"Angebot vom Alias\""); at != std::string::npos;
         at = out.find("\"subject\":\"Angebot vom Alias\"", at + 1))
        ++n;
    CHECK(n == 1, "received exactly once: " + std::to_string(n));
}

}  // namespace

int main() {
    Sim sim;
    if (!sim.start()) {
        std::cout << "cannot start " << simtest::sim_binary() << std::endl;
        std::cout << "0 passed, 1 failed" << std::endl;
        return 1;
    }
    try {
        test_send(sim);
        test_keyed_retry_after_alias_refusal(sim);
    } catch (const std::exception& e) {
        CHECK(false, std::string("unexpected exception: ") + e.what());
    }
    return simtest::summary();
}
