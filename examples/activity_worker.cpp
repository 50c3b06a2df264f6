// Example CRM worker in C++: books mail sent from Outlook (outside the CRM) as activities.
//
//   c++ -std=c++17 -Iinclude -Ibindings/cpp examples/activity_worker.cpp -lo365 -pthread
//   ./activity_worker /var/lib/crm/o365.db [seconds]
//
// Runs the library's background scheduler (it syncs Sent Items) and, for each `activity`
// event ("E-Mail – Ausgang", marker "Externer E-Mail-Versand", the mailbox's main user
// responsible), books it in the CRM, then acks it. An event not acked (the worker died while
// booking) comes again; the event id is stable, so the CRM's booking can be idempotent on it.
#include "o365.hpp"

#include <chrono>
#include <iostream>
#include <string>

namespace {

std::string member(const std::string& json, const std::string& key) {
    std::string value;
    o365::detail::JsonReader(json).each_member([&](const std::string& k, std::string_view raw) {
        if (k == key) o365::detail::JsonReader::decode_string(raw, value);
    });
    return value;
}

// The CRM's own booking (here: print). Must be idempotent on the event id.
void book(const std::string& activity) {
    std::cout << member(activity, "sent_at") << "  " << member(activity, "activity_type") << " / "
              << member(activity, "marker") << "  responsible: " << member(activity, "responsible_user")
              << "  subject: " << member(activity, "subject") << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string store = argc > 1 ? argv[1] : "/var/lib/crm/o365.db";
    const int seconds = argc > 2 ? std::stoi(argv[2]) : -1;  // -1: forever
    try {
        o365::Client client("{\"store\": \"" + store + "\", \"sync\": {\"scheduler\": true}}");
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (seconds < 0 || std::chrono::steady_clock::now() < until) {
            // Only the kinds this worker handles: progress, link and send events stay in the
            // queue for the workers that handle them.
            std::optional<std::string> event =
                client.next_event_filtered(R"({"types": ["activity", "reauth_required"]})", 1000);
            if (!event) continue;
            const std::string type = member(*event, "type");
            if (type == "activity") {
                book(*event);
            } else if (type == "reauth_required") {
                std::cerr << "mailbox " << member(*event, "address") << " needs a new sign-in\n";
            }
            client.ack_event(member(*event, "id"));
        }
    } catch (const o365::Error& e) {
        std::cerr << e.kind() << ": " << e.what() << " (" << e.hint() << ")\n";
        return 1;
    }
    return 0;
}
