// o365.hpp — header-only C++17 wrapper over the o365 C ABI (include/o365.h).
//
//     #include "o365.hpp"
//     o365::Client client(R"({"store": "/var/lib/crm/o365.db"})");
//     std::string box = client.import_mailbox(
//         R"({"address": "anna@contoso.example", "users": ["u1"], "main_user": "u1"})");
//     std::string all = client.list_mailboxes("{}");
//     while (auto event = client.next_event(1000)) { handle(*event); client.ack_event(id_of(*event)); }
//
// * Requests and results are JSON text (std::string); no JSON library is needed. Define
//   O365_WITH_NLOHMANN before including this header to get call_json() / next_event_json()
//   taking and returning nlohmann::json as well.
// * A failed call throws the o365::Error subclass for its status (o365::NotFound,
//   o365::Forbidden, ...) with status(), kind(), what() (the message), hint(), details_json()
//   and document() (the library's error document, verbatim).
// * o365::Client owns one o365_client* (move-only, freed in the destructor). The handle is
//   thread-safe, so one Client may be shared by threads (all calls are const).
// * Every string the library returns is freed with o365_string_free.
// * After fork(), create a new Client in the child: the inherited one throws o365::Forked.
//
// Link with -lo365 (and -pthread).
#ifndef O365_HPP
#define O365_HPP

#include "o365.h"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#ifdef O365_WITH_NLOHMANN
#include <nlohmann/json.hpp>
#endif

namespace o365 {

// ---- errors --------------------------------------------------------------------------------

// Base of every exception thrown for a status the library returned.
class Error : public std::runtime_error {
public:
    Error(int status, std::string kind, const std::string& message, std::string hint = {},
          std::string details_json = {}, std::string document = {})
        : std::runtime_error(message), status_(status), kind_(std::move(kind)),
          hint_(std::move(hint)), details_(std::move(details_json)),
          document_(std::move(document)) {}

    // The status number (O365_* in o365.h); -1 for errors raised by this wrapper itself.
    int status() const noexcept { return status_; }
    // The snake_case error kind from the document ("error"), e.g. "mailbox_not_found".
    const std::string& kind() const noexcept { return kind_; }
    // What the caller can do about it; empty when the library gave no hint.
    const std::string& hint() const noexcept { return hint_; }
    // The "details" object as JSON text; empty when absent.
    const std::string& details_json() const noexcept { return details_; }
    // The whole error document as the library returned it.
    const std::string& document() const noexcept { return document_; }

private:
    int status_;
    std::string kind_, hint_, details_, document_;
};

#define O365_DEFINE_ERROR(Name)                                                                  \
    class Name : public Error {                                                                  \
    public:                                                                                      \
        using Error::Error;                                                                      \
    };
O365_DEFINE_ERROR(InvalidArgument)  // 1
O365_DEFINE_ERROR(NotFound)         // 2
O365_DEFINE_ERROR(AlreadyExists)    // 3
O365_DEFINE_ERROR(Forbidden)        // 4
O365_DEFINE_ERROR(AuthRequired)     // 5
O365_DEFINE_ERROR(ConsentRequired)  // 6
O365_DEFINE_ERROR(PolicyViolation)  // 7
O365_DEFINE_ERROR(Throttled)        // 8
O365_DEFINE_ERROR(Network)          // 9
O365_DEFINE_ERROR(Remote)           // 10
O365_DEFINE_ERROR(Store)            // 11
O365_DEFINE_ERROR(Timeout)          // 12
O365_DEFINE_ERROR(Forked)           // 13
O365_DEFINE_ERROR(Internal)         // 14
O365_DEFINE_ERROR(WrongThread)      // 15
O365_DEFINE_ERROR(Conflict)         // 16
#undef O365_DEFINE_ERROR

namespace detail {

// Owns a string returned by the library.
struct StringFree {
    void operator()(char* s) const noexcept { o365_string_free(s); }
};
using LibString = std::unique_ptr<char, StringFree>;

inline std::string take(char* s) {
    LibString owned(s);
    return owned ? std::string(owned.get()) : std::string();
}

// Minimal reader for the top level of a JSON object (enough for error documents).
class JsonReader {
public:
    explicit JsonReader(std::string_view text) : s_(text) {}

    // Calls f(key, raw_value_view) for each top-level member; false if not an object.
    template <class F>
    bool each_member(F&& f) {
        ws();
        if (!eat('{')) return false;
        ws();
        if (eat('}')) return true;
        for (;;) {
            ws();
            std::string key;
            if (!string_value(key)) return false;
            ws();
            if (!eat(':')) return false;
            ws();
            std::size_t start = i_;
            if (!skip_value()) return false;
            f(key, s_.substr(start, i_ - start));
            ws();
            if (eat(',')) continue;
            return eat('}');
        }
    }

    // Decodes a JSON string literal (with escapes, \uXXXX and surrogate pairs, to UTF-8).
    static bool decode_string(std::string_view raw, std::string& out) {
        JsonReader r(raw);
        return r.string_value(out) && r.i_ == raw.size();
    }

    static bool parse_int(std::string_view raw, long long& out) {
        if (raw.empty()) return false;
        std::size_t i = 0;
        bool neg = false;
        if (raw[0] == '-') { neg = true; i = 1; }
        if (i >= raw.size()) return false;
        long long v = 0;
        for (; i < raw.size(); ++i) {
            if (raw[i] < '0' || raw[i] > '9') return false;
            v = v * 10 + (raw[i] - '0');
            if (v > 1000000000000LL) return false;
        }
        out = neg ? -v : v;
        return true;
    }

private:
    std::string_view s_;
    std::size_t i_ = 0;

    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }
    bool eat(char c) {
        if (i_ < s_.size() && s_[i_] == c) { ++i_; return true; }
        return false;
    }
    static void put_utf8(std::string& out, unsigned long cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }
    bool hex4(unsigned long& v) {
        if (i_ + 4 > s_.size()) return false;
        v = 0;
        for (int k = 0; k < 4; ++k) {
            char c = s_[i_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= static_cast<unsigned long>(c - '0');
            else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned long>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned long>(c - 'A' + 10);
            else return false;
        }
        return true;
    }
    bool string_value(std::string& out) {
        if (!eat('"')) return false;
        out.clear();
        while (i_ < s_.size()) {
            char c = s_[i_++];
            if (c == '"') return true;
            if (c != '\\') { out += c; continue; }
            if (i_ >= s_.size()) return false;
            char e = s_[i_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned long cp;
                if (!hex4(cp)) return false;
                if (cp >= 0xD800 && cp <= 0xDBFF && i_ + 6 <= s_.size() && s_[i_] == '\\' &&
                    s_[i_ + 1] == 'u') {
                    std::size_t save = i_;
                    i_ += 2;
                    unsigned long lo;
                    if (hex4(lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else {
                        i_ = save;
                        cp = 0xFFFD;
                    }
                } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                    cp = 0xFFFD;
                }
                put_utf8(out, cp);
                break;
            }
            default: return false;
            }
        }
        return false;
    }
    bool skip_value() {
        ws();
        if (i_ >= s_.size()) return false;
        char c = s_[i_];
        if (c == '"') {
            std::string ignored;
            return string_value(ignored);
        }
        if (c == '{' || c == '[') {
            char close = c == '{' ? '}' : ']';
            ++i_;
            ws();
            if (eat(close)) return true;
            for (;;) {
                ws();
                if (c == '{') {
                    std::string ignored;
                    if (!string_value(ignored)) return false;
                    ws();
                    if (!eat(':')) return false;
                }
                if (!skip_value()) return false;
                ws();
                if (eat(',')) continue;
                return eat(close);
            }
        }
        std::size_t start = i_;
        while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' ||
                                  s_[i_] == '+' || s_[i_] == '.'))
            ++i_;
        return i_ > start;
    }
};

}  // namespace detail

// The parts of an error document.
struct ErrorDocument {
    int status = -1;
    std::string kind, message, hint, details_json;
};

// Parses {"status", "error", "message", "hint"?, "details"?}; missing parts stay empty.
inline ErrorDocument parse_error_document(std::string_view doc) {
    ErrorDocument d;
    detail::JsonReader(doc).each_member([&](const std::string& key, std::string_view raw) {
        if (key == "status") {
            long long v;
            if (detail::JsonReader::parse_int(raw, v)) d.status = static_cast<int>(v);
        } else if (key == "error") {
            detail::JsonReader::decode_string(raw, d.kind);
        } else if (key == "message") {
            detail::JsonReader::decode_string(raw, d.message);
        } else if (key == "hint") {
            detail::JsonReader::decode_string(raw, d.hint);
        } else if (key == "details") {
            d.details_json = std::string(raw);
        }
    });
    return d;
}

// Throws the exception for `status` built from the error document `doc`.
[[noreturn]] inline void throw_error(int status, const std::string& doc) {
    ErrorDocument d = parse_error_document(doc);
    std::string kind = d.kind.empty() ? "unknown" : d.kind;
    std::string message = d.message.empty()
                              ? "o365 call failed with status " + std::to_string(status) +
                                    (doc.empty() ? std::string(" and no error document") : ": " + doc)
                              : d.message;
    switch (status) {
#define O365_THROW_CASE(N, Name)                                                                 \
    case N: throw Name(status, kind, message, d.hint, d.details_json, doc);
        O365_THROW_CASE(O365_INVALID_ARGUMENT, InvalidArgument)
        O365_THROW_CASE(O365_NOT_FOUND, NotFound)
        O365_THROW_CASE(O365_ALREADY_EXISTS, AlreadyExists)
        O365_THROW_CASE(O365_FORBIDDEN, Forbidden)
        O365_THROW_CASE(O365_AUTH_REQUIRED, AuthRequired)
        O365_THROW_CASE(O365_CONSENT_REQUIRED, ConsentRequired)
        O365_THROW_CASE(O365_POLICY_VIOLATION, PolicyViolation)
        O365_THROW_CASE(O365_THROTTLED, Throttled)
        O365_THROW_CASE(O365_NETWORK, Network)
        O365_THROW_CASE(O365_REMOTE, Remote)
        O365_THROW_CASE(O365_STORE, Store)
        O365_THROW_CASE(O365_TIMEOUT, Timeout)
        O365_THROW_CASE(O365_FORKED, Forked)
        O365_THROW_CASE(O365_INTERNAL, Internal)
        O365_THROW_CASE(O365_WRONG_THREAD, WrongThread)
        O365_THROW_CASE(O365_CONFLICT, Conflict)
#undef O365_THROW_CASE
    default: throw Error(status, kind, message, d.hint, d.details_json, doc);
    }
}

// ---- the client ----------------------------------------------------------------------------

// A request/response function of the C ABI: o365_<verb>(client, request_json, &out_json).
using VerbFn = o365_status (*)(o365_client*, const char*, char**);

// The verbs callable by name through Client::call(name, json). One line per verb.
struct VerbEntry {
    std::string_view name;
    VerbFn fn;
};
inline constexpr VerbEntry kVerbs[] = {
    {"import_mailbox", &o365_import_mailbox},
    {"list_mailboxes", &o365_list_mailboxes},
    {"get_mailbox", &o365_get_mailbox},
    {"update_mailbox", &o365_update_mailbox},
    {"remove_mailbox", &o365_remove_mailbox},
    {"debug_panic", &o365_debug_panic},
    {"debug_emit_event", &o365_debug_emit_event},
    {"debug_counters", &o365_debug_counters},
    {"send", &o365_send},
    {"send_status", &o365_send_status},
    {"outbox_process", &o365_outbox_process},
    {"link_open", &o365_link_open},
    {"link_accept", &o365_link_accept},
    {"link_download", &o365_link_download},
    {"links_purge", &o365_links_purge},
    {"list_folders", &o365_list_folders},
    {"list_messages", &o365_list_messages},
    {"get_message", &o365_get_message},
    {"get_attachment", &o365_get_attachment},
    {"mark_read", &o365_mark_read},
    {"move_message", &o365_move_message},
    {"delete_message", &o365_delete_message},
    {"sync", &o365_sync},
    {"cache_clear", &o365_cache_clear},
    {"move_folder_contents", &o365_move_folder_contents},
};

inline VerbFn find_verb(std::string_view name) {
    for (const auto& v : kVerbs)
        if (v.name == name) return v.fn;
    return nullptr;
}

// The library's version string ("MAJOR.MINOR.PATCH").
inline std::string version() { return o365_version(); }
// The loaded library's ABI version (compare with O365_ABI_VERSION).
inline std::uint32_t abi_version() { return o365_abi_version(); }

class Client {
public:
    // Opens a client; `config_json` as in the README ("store" is required).
    // Throws o365::InvalidArgument (naming the field) for a bad config, o365::Error with
    // kind "abi_mismatch" when the loaded library has another ABI than this header.
    explicit Client(const std::string& config_json) {
        if (o365_abi_version() != O365_ABI_VERSION) {
            throw Error(-1, "abi_mismatch",
                        "libo365 has C ABI version " + std::to_string(o365_abi_version()) +
                            ", this program was built against " + std::to_string(O365_ABI_VERSION),
                        "rebuild the program against the library's o365.h");
        }
        o365_client* handle = nullptr;
        char* out = nullptr;
        o365_status status = o365_client_new(config_json.c_str(), &handle, &out);
        std::string doc = detail::take(out);
        if (status != O365_OK) {
            if (handle) o365_client_free(handle);
            throw_error(status, doc);
        }
        handle_ = handle;
        info_ = std::move(doc);
    }

    // Adopts a handle from o365_client_new (it will be freed by this object).
    static Client adopt(o365_client* handle) noexcept { return Client(handle); }

    ~Client() { reset(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    Client(Client&& other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), info_(std::move(other.info_)) {}
    Client& operator=(Client&& other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, nullptr);
            info_ = std::move(other.info_);
        }
        return *this;
    }

    // Frees the handle now (later calls throw o365::InvalidArgument).
    void reset() noexcept {
        if (handle_) o365_client_free(std::exchange(handle_, nullptr));
    }
    // Gives up ownership.
    o365_client* release() noexcept { return std::exchange(handle_, nullptr); }
    o365_client* get() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != nullptr; }
    // What o365_client_new returned: {"version", "store", "warnings": [...]}.
    const std::string& info() const noexcept { return info_; }

    // ---- generic calls ----
    std::string call(VerbFn fn, const std::string& request_json) const {
        char* out = nullptr;
        o365_status status = fn(handle_, request_json.c_str(), &out);
        std::string result = detail::take(out);
        if (status != O365_OK) throw_error(status, result);
        return result;
    }
    // By name (see kVerbs); std::invalid_argument for a name that is not a verb.
    std::string call(std::string_view verb, const std::string& request_json) const {
        VerbFn fn = find_verb(verb);
        if (!fn) throw std::invalid_argument("o365: unknown verb \"" + std::string(verb) + "\"");
        return call(fn, request_json);
    }

    // ---- named verbs (one line each) ----
    std::string import_mailbox(const std::string& req) const { return call(&o365_import_mailbox, req); }
    std::string list_mailboxes(const std::string& req = "{}") const { return call(&o365_list_mailboxes, req); }
    std::string get_mailbox(const std::string& req) const { return call(&o365_get_mailbox, req); }
    std::string update_mailbox(const std::string& req) const { return call(&o365_update_mailbox, req); }
    std::string remove_mailbox(const std::string& req) const { return call(&o365_remove_mailbox, req); }
    std::string debug_panic(const std::string& req = "{}") const { return call(&o365_debug_panic, req); }
    std::string debug_emit_event(const std::string& req) const { return call(&o365_debug_emit_event, req); }
    std::string debug_counters() const { return call(&o365_debug_counters, "{}"); }
    // Sending (issue 6): o365::PolicyViolation for too_many_recipients / serial_mail_not_allowed.
    std::string send(const std::string& req) const { return call(&o365_send, req); }
    std::string send_status(const std::string& req) const { return call(&o365_send_status, req); }
    std::string outbox_process(const std::string& req = "{}") const { return call(&o365_outbox_process, req); }
    // The link page behind _downloadLink(Text) / _agreementLink.
    std::string link_open(const std::string& req) const { return call(&o365_link_open, req); }
    std::string link_accept(const std::string& req) const { return call(&o365_link_accept, req); }
    std::string link_download(const std::string& req) const { return call(&o365_link_download, req); }
    std::string links_purge(const std::string& req = "{}") const { return call(&o365_links_purge, req); }
    // Folders, messages, sync (issue 5); requests and results as in o365.h.
    std::string list_folders(const std::string& req) const { return call(&o365_list_folders, req); }
    std::string list_messages(const std::string& req) const { return call(&o365_list_messages, req); }
    std::string get_message(const std::string& req) const { return call(&o365_get_message, req); }
    std::string get_attachment(const std::string& req) const { return call(&o365_get_attachment, req); }
    std::string mark_read(const std::string& req) const { return call(&o365_mark_read, req); }
    std::string move_message(const std::string& req) const { return call(&o365_move_message, req); }
    std::string delete_message(const std::string& req) const { return call(&o365_delete_message, req); }
    std::string sync(const std::string& req) const { return call(&o365_sync, req); }
    std::string cache_clear(const std::string& req) const { return call(&o365_cache_clear, req); }
    std::string move_folder_contents(const std::string& req) const { return call(&o365_move_folder_contents, req); }

    // ---- events ----
    // The next pending event (JSON), or std::nullopt when none came within timeout_ms.
    std::optional<std::string> next_event(std::uint32_t timeout_ms = 0) const {
        char* out = nullptr;
        o365_status status = o365_next_event(handle_, timeout_ms, &out);
        std::string result = detail::take(out);
        if (status == O365_TIMEOUT) return std::nullopt;
        if (status != O365_OK) throw_error(status, result);
        return result;
    }
    // Confirms an event by id; it is never handed out again.
    std::string ack_event(const std::string& event_id) const {
        char* out = nullptr;
        o365_status status = o365_ack_event(handle_, event_id.c_str(), &out);
        std::string result = detail::take(out);
        if (status != O365_OK) throw_error(status, result);
        return result;
    }

#ifdef O365_WITH_NLOHMANN
    // call() with nlohmann::json request and result (a null request is sent as {}).
    nlohmann::json call_json(std::string_view verb, const nlohmann::json& request) const {
        return nlohmann::json::parse(call(verb, request.is_null() ? std::string("{}") : request.dump()));
    }
    std::optional<nlohmann::json> next_event_json(std::uint32_t timeout_ms = 0) const {
        auto e = next_event(timeout_ms);
        if (!e) return std::nullopt;
        return nlohmann::json::parse(*e);
    }
#endif

private:
    explicit Client(o365_client* handle) noexcept : handle_(handle) {}
    o365_client* handle_ = nullptr;
    std::string info_;
};

}  // namespace o365

#endif  // O365_HPP
