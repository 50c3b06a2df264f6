// Metrics and filtered event streams (issue 15) through the C++ wrapper, against the o365-sim
// binary: the Prometheus text of o365_metrics, parsed here, counts exactly the Graph requests
// the sim counted; filtered consumers each take only their kinds, each event once; pulled
// log records are JSON objects with the expected events.
// Last line: "N passed, N failed".
#include "sim_support.hpp"

#include <map>
#include <vector>

namespace {

using simtest::contains;
using simtest::member;
using simtest::raw_member;
using simtest::Sim;

// Prometheus text exposition: "name{labels}" -> value. Comment lines must be HELP or TYPE.
std::map<std::string, double> parse_prometheus(const std::string& text, bool& well_formed) {
    std::map<std::string, double> out;
    well_formed = true;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty()) continue;
        if (line[0] == '#') {
            if (line.rfind("# HELP ", 0) != 0 && line.rfind("# TYPE ", 0) != 0) well_formed = false;
            continue;
        }
        std::size_t sp = line.rfind(' ');
        if (sp == std::string::npos) {
            well_formed = false;
            continue;
        }
        std::string value = line.substr(sp + 1);
        char* rest = nullptr;
        double v = value == "+Inf" ? 1e300 : std::strtod(value.c_str(), &rest);
        if (value != "+Inf" && (rest == nullptr || *rest != '\0')) well_formed = false;
        out[line.substr(0, sp)] = v;
    }
    return out;
}

double sum_with_prefix(const std::map<std::string, double>& m, const std::string& prefix) {
    double s = 0;
    for (const auto& [k, v] : m)
        if (k.rfind(prefix, 0) == 0) s += v;
    return s;
}

void test_metrics(const Sim& sim) {
    simtest::TempDir dir;
    o365::Client c(sim.config(dir.path, "\"sync\": {\"scheduler\": false}, "
                                        "\"log\": {\"level\": \"info\", \"buffer\": 500}"));
    std::string id = simtest::signed_in(sim, c, "anna.schmidt@contoso.example",
                                        "anna.schmidt@contoso.example");
    std::string synced = c.sync("{\"mailbox\": \"" + id + "\", \"user\": \"u1\"}");
    CHECK(!member(synced, "sync_id").empty() && member(synced, "sync_id") == member(synced, "run"),
          "o365_sync returns its sync_id: " + synced);
    for (int i = 0; i < 2; ++i) {
        std::string sent = c.send("{\"mailbox\": \"" + id + "\", \"user\": \"u1\", \"message\": "
                                  "{\"to\": [\"kunde@kunden.example\"], \"subject\": \"M" +
                                  std::to_string(i) + "\", \"body_text\": \"x\"}}");
        CHECK(member(sent, "state") == "sent", "sent: " + sent);
    }
    std::string res = c.metrics("{\"format\": \"prometheus\"}");
    CHECK(member(res, "format") == "prometheus", "format: " + res);
    bool ok = false;
    auto m = parse_prometheus(member(res, "text"), ok);
    CHECK(ok, "Prometheus text parses");

    // The sim's own count of Graph requests (routes "METHOD /v1.0/...").
    double sim_graph = 0;
    std::string routes = raw_member(sim.get("/_sim/counters"), "requestsPerRoute");
    o365::detail::JsonReader(routes).each_member([&](const std::string& k, std::string_view raw) {
        if (contains(k, " /v1.0/")) sim_graph += std::strtod(std::string(raw).c_str(), nullptr);
    });
    CHECK(sim_graph > 0, "the sim counted Graph requests");
    CHECK(sum_with_prefix(m, "o365_graph_requests_total{") == sim_graph,
          "requests by route and status sum to the sim's count: " + std::to_string(sim_graph));
    CHECK(m["o365_graph_request_duration_seconds_count"] == sim_graph, "latency histogram count");
    CHECK(m["o365_graph_request_duration_seconds_bucket{le=\"+Inf\"}"] == sim_graph, "+Inf bucket");
    CHECK(sum_with_prefix(m, "o365_graph_requests_total{route=\"/me/messages/{id}/send\",method=\"POST\",status=\"202\"}") == 2,
          "two send requests answered 202");
    CHECK(m["o365_sends_total{outcome=\"sent\"}"] == 2, "sends counted");
    CHECK(m["o365_outbox_entries{state=\"sent\"}"] == 2, "outbox depth by state");
    CHECK(m["o365_graph_throttled_total"] == 0, "no 429");
    CHECK(m.count("o365_sync_lag_seconds{mailbox=\"" + id + "\",address=\"anna.schmidt@contoso.example\"}") == 1,
          "sync lag of the mailbox");
    CHECK(contains(c.metrics(), "\"name\":\"o365_events_unacked\""), "JSON metrics");

    std::string logs = c.take_logs("{\"max\": 500}");
    CHECK(contains(logs, "\"message\":\"sign-in completed\"") &&
              contains(logs, "\"message\":\"sync round finished\"") &&
              contains(logs, "\"message\":\"send sent\""),
          "pulled log records: " + logs.substr(0, 300));
    try {
        c.metrics("{\"format\": \"text\"}");
        CHECK(false, "unknown format refused");
    } catch (const o365::InvalidArgument& e) {
        CHECK(true, e.what());
    }
}

void test_filtered_events(const Sim& sim) {
    simtest::TempDir dir;
    std::string cfg = sim.config(dir.path, "\"sync\": {\"scheduler\": false}, \"debug\": {\"test_hooks\": true}");
    o365::Client a(cfg), b(cfg);
    std::string box = member(a.import_mailbox("{\"address\": \"anna@contoso.example\", \"users\": [\"u1\"]}"), "id");
    std::vector<std::string> activities, others;
    const char* kinds[] = {"activity", "sync_progress", "activity", "send_failed"};
    for (const char* k : kinds) {
        std::string id = member(a.debug_emit_event(std::string("{\"type\": \"") + k + "\", \"mailbox\": \"" +
                                                   box + "\", \"payload\": {}}"),
                                "id");
        (std::string(k) == "activity" ? activities : others).push_back(id);
    }
    std::vector<std::string> got_a, got_b;
    while (auto e = a.next_event_filtered("{\"types\": [\"activity\"]}")) {
        CHECK(member(*e, "type") == "activity", "a sees only activities");
        got_a.push_back(member(*e, "id"));
        a.ack_event(member(*e, "id"));
    }
    while (auto e = b.next_event_filtered("{\"types\": [\"sync_progress\", \"send_failed\"], \"mailbox\": \"" + box + "\"}")) {
        CHECK(member(*e, "type") != "activity", "b never sees an activity");
        CHECK(member(*e, "redelivered") == "" && contains(*e, "\"redelivered\":false"), "first delivery");
        got_b.push_back(member(*e, "id"));
        b.ack_event(member(*e, "id"));
    }
    CHECK(got_a == activities, "each activity once, in order");
    CHECK(got_b == others, "each other event once, in order");
    CHECK(!a.next_event(), "nothing left");
    try {
        a.next_event_filtered("{\"types\": [\"nonsense\"]}");
        CHECK(false, "unknown type refused");
    } catch (const o365::InvalidArgument& e) {
        CHECK(contains(e.what(), "nonsense"), e.what());
    }
}

}  // namespace

int main() {
    Sim sim;
    if (!sim.start()) {
        std::cout << "cannot start o365-sim" << std::endl;
        return 1;
    }
    test_metrics(sim);
    test_filtered_events(sim);
    return simtest::summary();
}
