// The published contract (include/o365.schema.json) against the library's real answers, from
// C++: a realistic scenario against o365-sim through the C++ wrapper (sign-in, folders,
// messages, sync, sends, link pages, events, operations, test hooks) validates the raw JSON of
// every call against its response schema in "x-o365-calls", every request it sends against the
// request schema, and failing calls' error documents against "x-o365-error" with their kind
// listed in "x-o365-error-kinds". It ends by requiring that every call of the schema was
// validated at least once. The PHP twin is bindings/php/tests/ContractTest.php.
// Run from the repository root (make test-cpp); O365_SCHEMA overrides the schema file.
// Last line: "N passed, N failed".
#include "sim_support.hpp"

#include "schema_validator.hpp"

#include <map>

using nlohmann::json;
using simtest::Sim;
using simtest::kAnna;
using simtest::kBen;

using simtest::TempDir;

namespace {


std::string schema_file() {
    if (const char* s = std::getenv("O365_SCHEMA")) return s;
    return "include/o365.schema.json";
}

// Validates what the scenario sends and receives; collects findings instead of stopping.
struct Contract {
    schema::Validator v;
    const json& calls;
    std::map<std::string, int> kinds;  // kind -> status
    std::map<std::string, int> validated;
    std::vector<std::string> findings;
    int errors_checked = 0;

    explicit Contract(schema::Validator validator)
        : v(std::move(validator)), calls(v.document().at("x-o365-calls")) {
        for (const json& k : v.document().at("x-o365-error-kinds"))
            kinds[k.at("kind").get<std::string>()] = k.at("status").get<int>();
    }

    const json* entry(const std::string& call) {
        auto it = calls.find(call);
        if (it == calls.end()) {
            findings.push_back(call + ": the library answers it, but x-o365-calls does not list it");
            return nullptr;
        }
        return &*it;
    }

    void request(const std::string& call, const std::string& text) {
        const json* e = entry(call);
        if (!e || e->at("request").is_null()) return;
        for (const auto& err : v.errors(json::parse(text), e->at("request")))
            findings.push_back(call + " request " + text + ": " + err);
    }

    // A request the library refuses as unknown_field must be outside the request schema too.
    void request_refused(const std::string& call, const std::string& text) {
        const json* e = entry(call);
        if (e && !e->at("request").is_null() && v.errors(json::parse(text), e->at("request")).empty())
            findings.push_back(call + ": the request schema accepts " + text + ", which the library refuses");
    }

    // has_json: whether the library wrote a result string at all (NULL otherwise).
    void response(const std::string& call, bool has_json, const std::string& text) {
        const json* e = entry(call);
        if (!e) return;
        if (e->at("response").is_null()) {
            if (has_json)
                findings.push_back(call + ": the schema says no JSON result, the library returned " + text.substr(0, 200));
        } else if (!has_json) {
            findings.push_back(call + ": the schema describes a result, the library returned none");
        } else {
            for (const auto& err : v.errors(json::parse(text), e->at("response")))
                findings.push_back(call + " response: " + err);
        }
        ++validated[call];
    }

    std::string error(const std::string& call, int status, const std::string& doc) {
        json d = json::parse(doc, nullptr, false);
        if (d.is_discarded()) {
            findings.push_back(call + ": the error document is not JSON: " + doc);
            return "";
        }
        for (const auto& err : v.errors(d, v.document().at("x-o365-error")))
            findings.push_back(call + " error document " + doc + ": " + err);
        std::string kind = d.value("error", std::string());
        auto k = kinds.find(kind);
        if (k == kinds.end())
            findings.push_back(call + ": error kind \"" + kind + "\" (status " + std::to_string(status) +
                               ") is not in x-o365-error-kinds");
        else if (k->second != status)
            findings.push_back(call + ": error kind \"" + kind + "\" came with status " + std::to_string(status) +
                               ", x-o365-error-kinds says " + std::to_string(k->second));
        ++errors_checked;
        return kind;
    }
};

// A verb of the C ABI through the wrapper's raw-JSON call, checked both ways.
json call(Contract& k, const o365::Client& c, const std::string& verb, o365::VerbFn fn, const json& req = json::object()) {
    std::string text = req.dump();
    k.request("o365_" + verb, text);
    std::string out;
    try {
        out = c.call(fn, text);
    } catch (const o365::Error& e) {
        CHECK(false, verb + " " + text + ": " + e.document());
        return json::object();
    }
    k.response("o365_" + verb, true, out);
    return json::parse(out);
}

// A verb that must fail with `status`: its error document is checked; returns the kind.
std::string fails(Contract& k, const o365::Client& c, const std::string& verb, o365::VerbFn fn, const json& req,
                  int status) {
    std::string text = req.dump();
    try {
        c.call(fn, text);
        CHECK(false, verb + " " + text + " must fail with status " + std::to_string(status));
    } catch (const o365::Error& e) {
        CHECK(e.status() == status, verb + " " + text + ": status " + std::to_string(e.status()) + " " + e.document());
        return k.error("o365_" + verb, e.status(), e.document());
    }
    return "";
}

// The next event through o365_next_event(_filtered), raw; null json on O365_TIMEOUT.
json next_event(Contract& k, const o365::Client& c, const json* filter = nullptr) {
    char* out = nullptr;
    std::string name = filter ? "o365_next_event_filtered" : "o365_next_event";
    o365_status st;
    if (filter) {
        k.request(name, filter->dump());
        st = o365_next_event_filtered(c.get(), filter->dump().c_str(), 0, &out);
    } else {
        st = o365_next_event(c.get(), 0, &out);
    }
    bool has = out != nullptr;
    std::string text = o365::detail::take(out);
    if (st == O365_TIMEOUT) {
        CHECK(k.error(name, st, text) == "no_event", name + ": " + text);
        return json();
    }
    CHECK(st == O365_OK, name + ": " + text);
    k.response(name, has, text);
    return json::parse(text);
}

void ack_event(Contract& k, const o365::Client& c, const std::string& id, int expect = O365_OK) {
    char* out = nullptr;
    o365_status st = o365_ack_event(c.get(), id.c_str(), &out);
    bool has = out != nullptr;
    std::string text = o365::detail::take(out);
    CHECK(st == expect, "ack_event " + id + ": " + text);
    if (st == O365_OK)
        k.response("o365_ack_event", has, text);
    else
        k.error("o365_ack_event", st, text);
}

// o365_link_read to the end (on success the library writes no JSON), then a forged stream id.
std::string link_read_all(Contract& k, const o365::Client& c, const std::string& stream) {
    std::string data;
    std::vector<std::uint8_t> buf(65536);
    for (;;) {
        std::size_t n = 0;
        char* out = nullptr;
        o365_status st = o365_link_read(c.get(), stream.c_str(), data.size(), buf.data(), buf.size(), &n, &out);
        bool has = out != nullptr;
        std::string text = o365::detail::take(out);
        CHECK(st == O365_OK, "link_read: " + text);
        k.response("o365_link_read", has, text);
        if (st != O365_OK || n == 0) break;
        data.append(reinterpret_cast<const char*>(buf.data()), n);
    }
    std::size_t n = 0;
    char* out = nullptr;
    o365_status st = o365_link_read(c.get(), (stream + "x").c_str(), 0, buf.data(), buf.size(), &n, &out);
    std::string text = o365::detail::take(out);
    CHECK(st == O365_INVALID_ARGUMENT && k.error("o365_link_read", st, text) == "stream_invalid", text);
    return data;
}

// o365_client_new, raw, with a good config and with an unknown option.
void client_new(Contract& k, const std::string& config) {
    k.request("o365_client_new", config);
    o365_client* handle = nullptr;
    char* out = nullptr;
    o365_status st = o365_client_new(config.c_str(), &handle, &out);
    bool has = out != nullptr;
    std::string text = o365::detail::take(out);
    CHECK(st == O365_OK, "client_new: " + text);
    o365_client_free(handle);
    k.response("o365_client_new", has, text);

    json bad = json::parse(config);
    bad["no_such_option"] = 1;
    handle = nullptr;
    out = nullptr;
    st = o365_client_new(bad.dump().c_str(), &handle, &out);
    text = o365::detail::take(out);
    CHECK(st == O365_INVALID_ARGUMENT && handle == nullptr, "client_new with an unknown option: " + text);
    CHECK(k.error("o365_client_new", st, text) == "unknown_field", text);
    k.request_refused("o365_client_new", bad.dump());
}

json with(json base, const json& more) {
    base.update(more);
    return base;
}

void scenario(Contract& k, const Sim& sim) {
    TempDir dir;
    std::string config = sim.config(dir.path,
                                    "\"debug\": {\"test_hooks\": true}, "
                                    "\"links\": {\"base_url\": \"https://crm.example/o365/link?t={token}\", "
                                    "\"language\": \"en\"}, "
                                    "\"log\": {\"level\": \"info\", \"buffer\": 1000}, "
                                    "\"sync\": {\"scheduler\": false}");
    client_new(k, config);
    o365::Client c(config);

    // setup and mailboxes
    call(k, c, "check_setup", &o365_check_setup);
    json box = call(k, c, "import_mailbox", &o365_import_mailbox,
                    {{"address", kAnna}, {"users", {"u1", "u2"}}, {"main_user", "u1"}});
    const std::string id = box.value("id", "");
    const json m = {{"mailbox", id}, {"user", "u1"}};
    fails(k, c, "import_mailbox", &o365_import_mailbox, {{"address", kAnna}, {"users", {"u1"}}}, O365_ALREADY_EXISTS);
    const json unknown = {{"address", "x@contoso.example"}, {"users", {"u1"}}, {"colour", "red"}};
    CHECK(fails(k, c, "import_mailbox", &o365_import_mailbox, unknown, O365_INVALID_ARGUMENT) == "unknown_field",
          "import_mailbox with an unknown field");
    k.request_refused("o365_import_mailbox", unknown.dump());
    call(k, c, "import_mailbox", &o365_import_mailbox,
         {{"address", "info@contoso.example"}, {"users", {"u1"}}, {"kind", "shared"},
          {"settings", {{"background_sync", false}}}});
    call(k, c, "list_mailboxes", &o365_list_mailboxes);
    call(k, c, "list_mailboxes", &o365_list_mailboxes, {{"user", "u1"}});
    call(k, c, "get_mailbox", &o365_get_mailbox, m);
    fails(k, c, "get_mailbox", &o365_get_mailbox, {{"mailbox", "nobody@contoso.example"}}, O365_NOT_FOUND);
    call(k, c, "update_mailbox", &o365_update_mailbox, {{"mailbox", id}, {"settings", {{"book_external_sent", true}}}});

    // sign-in: code flow (both halves), then the device flow for another mailbox
    json start = call(k, c, "authenticate", &o365_authenticate, m);
    CHECK(start.value("status", "") == "authorization_required", start.dump());
    json done = call(k, c, "authenticate", &o365_authenticate,
                     {{"callback_url", sim.sign_in_page(start.value("authorize_url", ""), kAnna)}});
    CHECK(done.value("status", "") == "authenticated", done.dump());
    call(k, c, "authenticate", &o365_authenticate, {{"mailbox", id}, {"user", "u2"}});
    fails(k, c, "authenticate", &o365_authenticate, {{"mailbox", id}, {"user", "stranger"}}, O365_FORBIDDEN);
    std::string ben = call(k, c, "import_mailbox", &o365_import_mailbox, {{"address", kBen}, {"users", {"u1"}}})
                          .value("id", "");
    json device = call(k, c, "authenticate", &o365_authenticate,
                       {{"mailbox", ben}, {"user", "u1"}, {"flow", "device_code"}});
    CHECK(device.value("status", "") == "device_code_pending", device.dump());
    fails(k, c, "list_folders", &o365_list_folders, {{"mailbox", ben}, {"user", "u1"}}, O365_AUTH_REQUIRED);
    call(k, c, "audit_log", &o365_audit_log, with(m, {{"limit", 10}}));

    // folders, messages, sync
    call(k, c, "list_folders", &o365_list_folders, m);
    call(k, c, "list_folders", &o365_list_folders, with(m, {{"include_hidden", true}, {"max_age_ms", 0}}));
    fails(k, c, "list_folders", &o365_list_folders, {{"mailbox", id}, {"user", "intruder"}}, O365_FORBIDDEN);
    CHECK(fails(k, c, "sync", &o365_sync, with(m, {{"folder", "inbox"}}), O365_INVALID_ARGUMENT) == "unknown_field",
          "sync with an unknown field");
    k.request_refused("o365_sync", with(m, {{"folder", "inbox"}}).dump());
    CHECK(call(k, c, "sync", &o365_sync, m).value("status", "") == "ok", "sync ok");
    json page = call(k, c, "list_messages", &o365_list_messages, with(m, {{"folder", "inbox"}, {"limit", 5}}));
    const json msgs = page.value("messages", json::array());
    if (msgs.size() < 5 || !page["next_cursor"].is_string()) {
        CHECK(false, "a first page of five with a cursor: " + page.dump());
        return;
    }
    call(k, c, "list_messages", &o365_list_messages,
         with(m, {{"folder", "inbox"}, {"limit", 5}, {"cursor", page["next_cursor"]}}));
    call(k, c, "list_messages", &o365_list_messages,
         with(m, {{"folder", "inbox"}, {"unread_only", true}, {"sort", "oldest"}}));
    call(k, c, "list_messages", &o365_list_messages, with(m, {{"folder", "inbox"}, {"search", "a"}}));
    fails(k, c, "list_messages", &o365_list_messages, with(m, {{"folder", "Gibt es nicht"}}), O365_NOT_FOUND);
    json all = call(k, c, "list_messages", &o365_list_messages, with(m, {{"folder", "inbox"}, {"limit", 500}}));
    std::string with_att;
    for (const json& x : all.value("messages", json::array()))
        if (x.value("has_attachments", false)) {
            with_att = x.value("id", "");
            break;
        }
    CHECK(!with_att.empty(), "a message with attachments in the inbox");
    json msg = call(k, c, "get_message", &o365_get_message, with(m, {{"id", with_att}}));
    call(k, c, "get_message", &o365_get_message, with(m, {{"id", msgs[0]["id"]}, {"refresh", true}}));
    json att = {{"message", with_att}, {"attachment", msg["attachments"][0]["id"]}};
    call(k, c, "get_attachment", &o365_get_attachment, with(m, att));
    call(k, c, "get_attachment", &o365_get_attachment, with(with(m, att), {{"path", dir.path + "/attachment.bin"}}));
    const json target = msgs[2]["id"];
    call(k, c, "mark_read", &o365_mark_read, with(m, {{"id", target}}));
    call(k, c, "mark_read", &o365_mark_read,
         with(m, {{"ids", {target, "AAMk-no-such-message"}}, {"read", false}}));
    call(k, c, "move_message", &o365_move_message, with(m, {{"id", target}, {"to", "Kunden"}}));
    call(k, c, "delete_message", &o365_delete_message, with(m, {{"id", msgs[1]["id"]}}));
    fails(k, c, "delete_message", &o365_delete_message, with(m, {{"id", msgs[1]["id"]}}), O365_NOT_FOUND);
    call(k, c, "move_folder_contents", &o365_move_folder_contents,
         with(m, {{"from", "Gesendete Objekte"}, {"to", "sentitems"}}));
    call(k, c, "sync", &o365_sync, with(m, {{"folders", {"inbox", "sentitems"}}}));

    // sending: now, queued, with a download link and with an agreement link
    json sent = call(k, c, "send", &o365_send,
                     with(m, {{"idempotency_key", "contract-cpp-1"},
                              {"message", {{"to", {"kunde@kunden.example"}},
                                           {"cc", {{{"address", "chef@kunden.example"}, {"name", "Chef"}}}},
                                           {"subject", "Angebot"},
                                           {"body_html", "<p>Guten Tag</p>"},
                                           {"importance", "high"}}}}));
    CHECK(sent.value("state", "") == "sent", sent.dump());
    call(k, c, "send_status", &o365_send_status, with(m, {{"send_id", sent["send_id"]}}));
    json queued = call(k, c, "send", &o365_send,
                       with(m, {{"queue", true},
                                {"message", {{"to", {"zwei@kunden.example"}}, {"subject", "Später"},
                                             {"body_text", "Guten Tag"}}}}));
    call(k, c, "send_status", &o365_send_status, with(m, {{"send_id", queued["send_id"]}}));
    call(k, c, "outbox_process", &o365_outbox_process, {{"wait_ms", 5000}});
    call(k, c, "send_status", &o365_send_status, with(m, {{"idempotency_key", "contract-cpp-1"}}));
    json eleven = json::array();
    for (int i = 1; i <= 11; ++i) eleven.push_back("k" + std::to_string(i) + "@kunden.example");
    fails(k, c, "send", &o365_send,
          with(m, {{"message", {{"to", eleven}, {"subject", "Zu viele"}, {"body_text", "x"}}}}), O365_POLICY_VIOLATION);
    fails(k, c, "send", &o365_send,
          with(m, {{"idempotency_key", "contract-cpp-1"},
                   {"message", {{"to", {"anders@kunden.example"}}, {"subject", "Anders"}, {"body_text", "x"}}}}),
          O365_CONFLICT);
    std::string bytes;
    for (int i = 0; i < 100000; ++i) bytes.push_back(static_cast<char>((i * 7919) % 251));
    static const char* b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string b64;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
        b64 += b64chars[(v >> 18) & 63];
        b64 += b64chars[(v >> 12) & 63];
        b64 += i + 1 < bytes.size() ? b64chars[(v >> 6) & 63] : '=';
        b64 += i + 2 < bytes.size() ? b64chars[v & 63] : '=';
    }
    json dl = call(k, c, "send", &o365_send,
                   with(m, {{"message", {{"to", {"kunde@kunden.example"}}, {"subject", "Exposé"},
                                         {"body_text", "_downloadLink(Exposé)"},
                                         {"attachments", {{{"name", "expose.pdf"}, {"base64", b64}}}}}}}));
    const std::string token = dl["link"].value("token", "");
    json ag = call(k, c, "send", &o365_send,
                   with(m, {{"agreement_text", "Vertraulich."},
                            {"message", {{"to", {"kunde@kunden.example"}}, {"subject", "Vertrag"},
                                         {"body_text", "_agreementLink"},
                                         {"attachments", {{{"name", "v.pdf"}, {"base64", "VmVydHJhZw=="}}}}}}}));
    const std::string ag_token = ag["link"].value("token", "");

    // the link page and its file stream; the older link calls
    call(k, c, "link_page", &o365_link_page, {{"method", "GET"}, {"token", token}, {"accept_language", "de-DE"}});
    json file = call(k, c, "link_page", &o365_link_page,
                     {{"method", "GET"}, {"token", token}, {"query", {{"f", "0"}}}});
    CHECK(link_read_all(k, c, file["stream"].value("id", "")) == bytes, "the streamed file is the attachment");
    call(k, c, "link_page", &o365_link_page,
         {{"method", "GET"}, {"token", token}, {"query", {{"f", "0"}}}, {"range", "bytes=0-9"}});
    call(k, c, "link_page", &o365_link_page, {{"method", "GET"}, {"token", token.substr(0, token.size() - 2)}});
    call(k, c, "link_open", &o365_link_open, {{"token", token}});
    fails(k, c, "link_open", &o365_link_open, {{"token", token.substr(0, token.size() - 2)}}, O365_INVALID_ARGUMENT);
    call(k, c, "link_open", &o365_link_open, {{"token", ag_token}});
    fails(k, c, "link_download", &o365_link_download,
          {{"token", ag_token}, {"file", 0}, {"path", dir.path + "/v.pdf"}}, O365_FORBIDDEN);
    json accepted = call(k, c, "link_accept", &o365_link_accept,
                         {{"token", ag_token}, {"client_address", "192.0.2.1"}, {"user_agent", "contract test"}});
    call(k, c, "link_download", &o365_link_download,
         {{"token", ag_token}, {"file", 0}, {"path", dir.path + "/v.pdf"}, {"acceptance", accepted["acceptance"]},
          {"client_address", "192.0.2.1"}});
    call(k, c, "link_download", &o365_link_download, {{"token", token}, {"file", 0}, {"path", dir.path + "/e.pdf"}});
    call(k, c, "links_purge", &o365_links_purge);

    // events: every type this scenario produced, through both calls, then acked
    json filter = {{"types", {"link_downloaded"}}, {"mailbox", id}};
    json first = next_event(k, c, &filter);
    CHECK(first.is_object(), "a link_downloaded event");
    if (first.is_object()) {
        ack_event(k, c, first.value("id", ""));
        ack_event(k, c, first.value("id", ""));
    }
    ack_event(k, c, "no-such-event", O365_NOT_FOUND);
    std::set<std::string> types;
    for (json e = next_event(k, c); e.is_object(); e = next_event(k, c)) {
        types.insert(e.value("type", ""));
        ack_event(k, c, e.value("id", ""));
    }
    CHECK(types.count("link_accepted") == 1, "a link_accepted event");
    json activity = {{"types", {"activity"}}};
    CHECK(next_event(k, c, &activity).is_null(), "no activity event");

    // operations and test hooks
    call(k, c, "maintenance", &o365_maintenance);
    call(k, c, "maintenance", &o365_maintenance, {{"idle_refresh_days", 1}, {"keep_acked_events_days", 1}});
    call(k, c, "metrics", &o365_metrics, {{"format", "json"}});
    call(k, c, "metrics", &o365_metrics, {{"format", "prometheus"}});
    call(k, c, "take_logs", &o365_take_logs, {{"max", 50}});
    call(k, c, "debug_counters", &o365_debug_counters);
    json emitted = call(k, c, "debug_emit_event", &o365_debug_emit_event,
                        {{"type", "activity"}, {"mailbox", id}, {"payload", {{"x", 1}}}});
    ack_event(k, c, emitted.value("id", ""));
    call(k, c, "debug_panic", &o365_debug_panic, {{"job", "scheduler"}});
    fails(k, c, "debug_panic", &o365_debug_panic, {{"message", "contract test"}}, O365_INTERNAL);
    call(k, c, "get_mailbox", &o365_get_mailbox, m);

    // the end of the mailbox
    call(k, c, "cache_clear", &o365_cache_clear, m);
    call(k, c, "sign_out", &o365_sign_out, m);
    fails(k, c, "sync", &o365_sync, m, O365_AUTH_REQUIRED);
    call(k, c, "remove_mailbox", &o365_remove_mailbox, {{"mailbox", id}});
    fails(k, c, "remove_mailbox", &o365_remove_mailbox, {{"mailbox", id}}, O365_NOT_FOUND);
}

}  // namespace

int main() {
    std::unique_ptr<Contract> k;
    try {
        k = std::make_unique<Contract>(schema::Validator::from_file(schema_file()));
    } catch (const std::exception& e) {
        CHECK(false, "the contract " + schema_file() + " (make header): " + e.what());
        return simtest::summary();
    }
    CHECK(k->v.document().value("$schema", "") == "https://json-schema.org/draft/2020-12/schema", "draft 2020-12");
    CHECK(k->calls.size() > 30, "x-o365-calls lists the calls");
    CHECK(!k->kinds.empty(), "x-o365-error-kinds lists the kinds");

    Sim sim;
    if (!sim.start()) {
        CHECK(false, "o365-sim started (" + simtest::sim_binary() + ")");
        return simtest::summary();
    }
    try {
        scenario(*k, sim);
    } catch (const std::exception& e) {
        CHECK(false, std::string("the scenario threw: ") + e.what());
    }

    std::set<std::string> reported;
    for (const auto& f : k->findings)
        if (reported.insert(f).second) CHECK(false, "schema finding: " + f);
    std::string missing;
    for (auto it = k->calls.begin(); it != k->calls.end(); ++it)
        if (!k->validated.count(it.key())) missing += " " + it.key();
    CHECK(missing.empty(), "calls of x-o365-calls that no response was validated for:" + missing);
    CHECK(k->errors_checked >= 15, "error documents checked: " + std::to_string(k->errors_checked));
    std::cout << k->validated.size() << " calls validated, " << k->errors_checked << " error documents" << std::endl;
    return simtest::summary();
}
