// A small header-only JSON Schema (draft 2020-12) validator on nlohmann::json for the subset that
// include/o365.schema.json uses (schemars output), so the contract tests can check the library's
// real responses. The C++ twin of bindings/php/tests/Support/SchemaValidator.php: same keywords,
// same messages, same shared cases (tests/fixtures/schema-cases.json, which Python's jsonschema
// answers too).
//
//     schema::Validator v = schema::Validator::from_file("include/o365.schema.json");
//     auto errors = v.errors(nlohmann::json::parse(text), v.resolve("#/$defs/FolderList"));
//     // empty when valid, else "/folders/0/unread: minimum: -1 is out of range (minimum 0) (schema #/...)"
//
// Only local $ref ("#", "#/json/pointer" with ~0 ~1 and %XX escapes) is resolved. Annotation
// keywords (title, description, default, examples, format, ...) and x-* extensions are no-ops.
// Every schema the validator reaches (the document at construction, a schema handed to errors(),
// every $ref target) is scanned first: a keyword it does not implement, a malformed keyword
// value or an unresolvable $ref throws schema::Unsupported, so nothing is silently skipped.
// `pattern` uses std::regex (ECMAScript) on bytes: fine for ASCII patterns.
#pragma once

#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace schema {

// A schema the validator cannot honour (message starts with "schema: ").
struct Unsupported : std::logic_error {
    explicit Unsupported(const std::string& what) : std::logic_error("schema: " + what) {}
};

class Validator {
public:
    using json = nlohmann::json;

    explicit Validator(json root) : root_(std::move(root)) { scan(root_, "#"); }

    static Validator from_file(const std::string& path) {
        std::ifstream in(path);
        if (!in) throw std::runtime_error("cannot read " + path);
        std::stringstream text;
        text << in.rdbuf();
        return Validator(json::parse(text.str()));
    }

    const json& document() const { return root_; }

    // What is wrong with `instance` against `schema` (the whole document when null); empty when
    // valid. Each: "<instance path>: <keyword>: <what> (schema <path>)"; at most `max`.
    std::vector<std::string> errors(const json& instance, const json* schema = nullptr,
                                    std::size_t max = 20) {
        const json& s = schema ? *schema : root_;
        scan(s, "(given schema)");
        std::vector<std::string> out;
        check(instance, s, "", "(given schema)", out);
        if (out.size() > max) out.resize(max);
        return out;
    }
    std::vector<std::string> errors(const json& instance, const json& schema, std::size_t max = 20) {
        return errors(instance, &schema, max);
    }
    bool is_valid(const json& instance, const json& schema) { return errors(instance, schema, 1).empty(); }

    // The schema a local reference points to; throws Unsupported when not local or dangling.
    const json& resolve(const std::string& ref) const {
        if (ref == "#") return root_;
        if (ref.compare(0, 2, "#/") != 0)
            throw Unsupported("$ref \"" + ref + "\" is not a local JSON pointer (#/...): not supported");
        const json* node = &root_;
        std::size_t start = 2;
        for (;;) {
            std::size_t end = ref.find('/', start);
            std::string token = unescape(ref.substr(start, end == std::string::npos ? end : end - start));
            if (node->is_object() && node->contains(token)) {
                node = &(*node)[token];
            } else if (node->is_array() && is_index(token) && std::stoul(token) < node->size()) {
                node = &(*node)[std::stoul(token)];
            } else {
                throw Unsupported("$ref \"" + ref + "\" points nowhere (no \"" + token + "\")");
            }
            if (end == std::string::npos) break;
            start = end + 1;
        }
        if (!node->is_object() && !node->is_boolean())
            throw Unsupported("$ref \"" + ref + "\" points to something that is not a schema");
        return *node;
    }

private:
    json root_;
    std::set<std::string> scanned_;
    std::map<std::string, std::regex> regexes_;

    static bool in(const std::string& k, std::initializer_list<const char*> list) {
        for (const char* x : list)
            if (k == x) return true;
        return false;
    }

    static bool is_index(const std::string& t) {
        if (t.empty() || t.size() > 9 || (t.size() > 1 && t[0] == '0')) return false;
        for (char c : t)
            if (c < '0' || c > '9') return false;
        return true;
    }

    static std::string unescape(const std::string& raw) {
        std::string pct;
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '%' && i + 2 < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
                std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
                pct += static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16));
                i += 2;
            } else {
                pct += raw[i];
            }
        }
        std::string out;
        for (std::size_t i = 0; i < pct.size(); ++i) {
            if (pct[i] == '~' && i + 1 < pct.size() && (pct[i + 1] == '0' || pct[i + 1] == '1')) {
                out += pct[i + 1] == '0' ? '~' : '/';
                ++i;
            } else {
                out += pct[i];
            }
        }
        return out;
    }

    static std::string escape(const std::string& token) {
        std::string out;
        for (char c : token) {
            if (c == '~') out += "~0";
            else if (c == '/') out += "~1";
            else out += c;
        }
        return out;
    }

    static std::string show(const json& v) {
        std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
        return s.size() > 80 ? s.substr(0, 77) + "..." : s;
    }

    const std::regex& regex(const std::string& pattern, const std::string& at) {
        auto it = regexes_.find(pattern);
        if (it != regexes_.end()) return it->second;
        try {
            return regexes_.emplace(pattern, std::regex(pattern, std::regex::ECMAScript)).first->second;
        } catch (const std::regex_error& e) {
            throw Unsupported(at + ": pattern \"" + pattern + "\" cannot be compiled: " + e.what());
        }
    }
    bool matches(const std::string& pattern, const std::string& subject, const std::string& at) {
        return std::regex_search(subject, regex(pattern, at));
    }

    // ---- scanning: every keyword known, every value well-formed ----

    void scan(const json& s, const std::string& path) {
        if (s.is_boolean()) return;
        if (!s.is_object()) throw Unsupported(path + " is not a schema (an object or a boolean)");
        if (path[0] == '#') {  // a place in the document: scanned once
            if (!scanned_.insert(path).second) return;
        }
        for (auto it = s.begin(); it != s.end(); ++it) {
            const std::string& key = it.key();
            const json& value = it.value();
            std::string at = path + "/" + escape(key);
            if (key.compare(0, 2, "x-") == 0) continue;
            if (key == "$id") {
                if (path != "#") throw Unsupported("$id below the root (" + at + ") is not supported");
                continue;
            }
            if (in(key, {"properties", "patternProperties", "$defs", "definitions"})) {
                if (!value.is_object()) throw Unsupported(at + " must be an object of schemas");
                for (auto m = value.begin(); m != value.end(); ++m) {
                    if (key == "patternProperties") regex(m.key(), at);
                    scan(m.value(), at + "/" + escape(m.key()));
                }
            } else if (in(key, {"$schema", "$comment", "title", "description", "default", "examples", "format",
                                "deprecated", "readOnly", "writeOnly", "contentEncoding", "contentMediaType"})) {
                continue;
            } else if (in(key, {"additionalProperties", "propertyNames", "items", "not", "if", "then", "else"})) {
                if (value.is_array())
                    throw Unsupported(at + ": the array form (draft 2019 and before) is not supported");
                scan(value, at);
            } else if (in(key, {"allOf", "anyOf", "oneOf", "prefixItems"})) {
                if (!value.is_array() || value.empty()) throw Unsupported(at + " must be a non-empty array of schemas");
                for (std::size_t i = 0; i < value.size(); ++i) scan(value[i], at + "/" + std::to_string(i));
            } else if (in(key, {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"})) {
                if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<std::int64_t>() >= 0))
                    throw Unsupported(at + " must be a non-negative integer");
            } else if (in(key, {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})) {
                if (!value.is_number() || (key == "multipleOf" && num(value) <= 0))
                    throw Unsupported(at + " must be a number" + (key == "multipleOf" ? " > 0" : ""));
            } else if (key == "type") {
                const json types = value.is_array() ? value : json::array({value});
                if (types.empty()) throw Unsupported(at + ": an empty type list");
                for (const json& t : types)
                    if (!t.is_string() || !in(t.get<std::string>(), {"null", "boolean", "object", "array",
                                                                      "number", "integer", "string"}))
                        throw Unsupported(at + ": " + show(t) + " is not a JSON Schema type");
            } else if (key == "enum") {
                if (!value.is_array()) throw Unsupported(at + " must be an array");
            } else if (key == "required") {
                if (!value.is_array()) throw Unsupported(at + " must be an array of strings");
                for (const json& n : value)
                    if (!n.is_string()) throw Unsupported(at + " must be an array of strings");
            } else if (key == "uniqueItems") {
                if (!value.is_boolean()) throw Unsupported(at + " must be a boolean");
            } else if (key == "pattern") {
                if (!value.is_string()) throw Unsupported(at + " must be a string");
                regex(value.get<std::string>(), at);
            } else if (key == "$ref") {
                if (!value.is_string()) throw Unsupported(at + " must be a string");
                scan(resolve(value.get<std::string>()), value.get<std::string>());
            } else if (key == "const") {
                continue;
            } else {
                throw Unsupported("keyword \"" + key + "\" at " + at + " is not implemented by this validator");
            }
        }
    }

    // ---- validation ----

    static long double num(const json& v) {
        if (v.is_number_unsigned()) return static_cast<long double>(v.get<std::uint64_t>());
        if (v.is_number_integer()) return static_cast<long double>(v.get<std::int64_t>());
        return static_cast<long double>(v.get<double>());
    }

    static bool is_type(const json& v, const std::string& t) {
        if (t == "null") return v.is_null();
        if (t == "boolean") return v.is_boolean();
        if (t == "object") return v.is_object();
        if (t == "array") return v.is_array();
        if (t == "number") return v.is_number();
        if (t == "integer") {
            if (v.is_number_integer()) return true;
            if (!v.is_number_float()) return false;
            double d = v.get<double>();
            return std::isfinite(d) && std::floor(d) == d;
        }
        return v.is_string();
    }

    static std::string type_name(const json& v) {
        for (const char* t : {"null", "boolean", "object", "array", "integer", "number", "string"})
            if (is_type(v, t)) return t;
        return "?";
    }

    // JSON equality: numbers by value (1 == 1.0), objects regardless of member order.
    static bool equal(const json& a, const json& b) {
        if (a.is_number() && b.is_number()) return num(a) == num(b);
        if (a.is_array() && b.is_array()) {
            if (a.size() != b.size()) return false;
            for (std::size_t i = 0; i < a.size(); ++i)
                if (!equal(a[i], b[i])) return false;
            return true;
        }
        if (a.is_object() && b.is_object()) {
            if (a.size() != b.size()) return false;
            for (auto it = a.begin(); it != a.end(); ++it) {
                auto other = b.find(it.key());
                if (other == b.end() || !equal(it.value(), *other)) return false;
            }
            return true;
        }
        return a.type() == b.type() && a == b;
    }

    static std::size_t code_points(const std::string& s) {
        std::size_t n = 0;
        for (unsigned char c : s)
            if ((c & 0xC0) != 0x80) ++n;
        return n;
    }

    static bool fail(std::vector<std::string>& errors, const std::string& at, const std::string& keyword,
                     const std::string& what, const std::string& spath) {
        errors.push_back((at.empty() ? std::string("(root)") : at) + ": " + keyword + ": " + what + " (schema " +
                         spath + ")");
        return false;
    }

    bool is_additional(const json& schema, const std::string& name) {
        auto props = schema.find("properties");
        if (props != schema.end() && props->contains(name)) return false;
        auto pats = schema.find("patternProperties");
        if (pats != schema.end())
            for (auto p = pats->begin(); p != pats->end(); ++p)
                if (matches(p.key(), name, "")) return false;
        return true;
    }

    bool check(const json& v, const json& schema, const std::string& at, const std::string& spath,
               std::vector<std::string>& errors) {
        if (schema.is_boolean()) {
            if (schema.get<bool>()) return true;
            return fail(errors, at, "false", "no value is allowed here", spath);
        }
        bool ok = true;
        for (auto it = schema.begin(); it != schema.end(); ++it) {
            const std::string& key = it.key();
            const json& kv = it.value();
            const std::string sp = spath + "/" + escape(key);
            if (key == "$ref") {
                const std::string ref = kv.get<std::string>();
                ok = check(v, resolve(ref), at, ref, errors) && ok;
            } else if (key == "type") {
                const json types = kv.is_array() ? kv : json::array({kv});
                bool hit = false;
                std::string names;
                for (const json& t : types) {
                    hit = hit || is_type(v, t.get<std::string>());
                    names += (names.empty() ? "" : " or ") + t.get<std::string>();
                }
                if (!hit) ok = fail(errors, at, "type", "expected " + names + ", got " + type_name(v) + " " + show(v), sp);
            } else if (key == "const") {
                if (!equal(v, kv)) ok = fail(errors, at, "const", "expected " + show(kv) + ", got " + show(v), sp);
            } else if (key == "enum") {
                bool hit = false;
                for (const json& e : kv) hit = hit || equal(v, e);
                if (!hit) ok = fail(errors, at, "enum", show(v) + " is not one of " + show(kv), sp);
            } else if (key == "properties") {
                if (!v.is_object()) continue;
                for (auto p = kv.begin(); p != kv.end(); ++p) {
                    auto m = v.find(p.key());
                    if (m != v.end())
                        ok = check(*m, p.value(), at + "/" + escape(p.key()), sp + "/" + escape(p.key()), errors) && ok;
                }
            } else if (key == "patternProperties") {
                if (!v.is_object()) continue;
                for (auto m = v.begin(); m != v.end(); ++m)
                    for (auto p = kv.begin(); p != kv.end(); ++p)
                        if (matches(p.key(), m.key(), sp))
                            ok = check(m.value(), p.value(), at + "/" + escape(m.key()), sp + "/" + escape(p.key()),
                                       errors) && ok;
            } else if (key == "additionalProperties") {
                if (!v.is_object()) continue;
                for (auto m = v.begin(); m != v.end(); ++m) {
                    if (!is_additional(schema, m.key())) continue;
                    if (kv.is_boolean() && !kv.get<bool>())
                        ok = fail(errors, at, "additionalProperties", "member \"" + m.key() + "\" is not allowed", sp);
                    else
                        ok = check(m.value(), kv, at + "/" + escape(m.key()), sp, errors) && ok;
                }
            } else if (key == "propertyNames") {
                if (!v.is_object()) continue;
                for (auto m = v.begin(); m != v.end(); ++m)
                    ok = check(json(m.key()), kv, at + "/" + escape(m.key()), sp, errors) && ok;
            } else if (key == "required") {
                if (!v.is_object()) continue;
                for (const json& n : kv)
                    if (!v.contains(n.get<std::string>()))
                        ok = fail(errors, at, "required", "member \"" + n.get<std::string>() + "\" is missing", sp);
            } else if (key == "minProperties" || key == "maxProperties") {
                if (!v.is_object()) continue;
                std::uint64_t n = v.size(), limit = kv.get<std::uint64_t>();
                if (key == "minProperties" ? n < limit : n > limit)
                    ok = fail(errors, at, key, std::to_string(n) + " members, limit " + std::to_string(limit), sp);
            } else if (key == "prefixItems") {
                if (!v.is_array()) continue;
                for (std::size_t i = 0; i < kv.size() && i < v.size(); ++i)
                    ok = check(v[i], kv[i], at + "/" + std::to_string(i), sp + "/" + std::to_string(i), errors) && ok;
            } else if (key == "items") {
                if (!v.is_array()) continue;
                auto pre = schema.find("prefixItems");
                std::size_t from = pre != schema.end() ? pre->size() : 0;
                for (std::size_t i = from; i < v.size(); ++i) {
                    std::string ai = at + "/" + std::to_string(i);
                    if (kv.is_boolean() && !kv.get<bool>()) {
                        ok = fail(errors, ai, "items", "no item is allowed beyond the first " + std::to_string(from), sp);
                        break;
                    }
                    ok = check(v[i], kv, ai, sp, errors) && ok;
                }
            } else if (key == "minItems" || key == "maxItems") {
                if (!v.is_array()) continue;
                std::uint64_t n = v.size(), limit = kv.get<std::uint64_t>();
                if (key == "minItems" ? n < limit : n > limit)
                    ok = fail(errors, at, key, std::to_string(n) + " items, limit " + std::to_string(limit), sp);
            } else if (key == "uniqueItems") {
                if (!v.is_array() || !kv.get<bool>()) continue;
                bool dup = false;
                for (std::size_t i = 0; i < v.size() && !dup; ++i)
                    for (std::size_t j = i + 1; j < v.size() && !dup; ++j)
                        if (equal(v[i], v[j])) {
                            ok = fail(errors, at, "uniqueItems",
                                      "items " + std::to_string(i) + " and " + std::to_string(j) + " are equal", sp);
                            dup = true;
                        }
            } else if (in(key, {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})) {
                if (!v.is_number()) continue;
                long double x = num(v), b = num(kv);
                bool bad = key == "minimum"            ? x < b
                           : key == "maximum"          ? x > b
                           : key == "exclusiveMinimum" ? x <= b
                                                       : x >= b;
                if (bad) ok = fail(errors, at, key, show(v) + " is out of range (" + key + " " + show(kv) + ")", sp);
            } else if (key == "multipleOf") {
                if (!v.is_number()) continue;
                bool bad;
                if (v.is_number_integer() && kv.is_number_integer()) {
                    bad = std::fmod(num(v), num(kv)) != 0;
                } else {
                    double q = v.get<double>() / kv.get<double>();
                    bad = !std::isfinite(q) || std::floor(q) != q;
                }
                if (bad) ok = fail(errors, at, "multipleOf", show(v) + " is not a multiple of " + show(kv), sp);
            } else if (key == "minLength" || key == "maxLength") {
                if (!v.is_string()) continue;
                std::uint64_t n = code_points(v.get<std::string>()), limit = kv.get<std::uint64_t>();
                if (key == "minLength" ? n < limit : n > limit)
                    ok = fail(errors, at, key, std::to_string(n) + " characters, limit " + std::to_string(limit), sp);
            } else if (key == "pattern") {
                if (v.is_string() && !matches(kv.get<std::string>(), v.get<std::string>(), sp))
                    ok = fail(errors, at, "pattern", show(v) + " does not match " + kv.get<std::string>(), sp);
            } else if (key == "allOf") {
                for (std::size_t i = 0; i < kv.size(); ++i)
                    ok = check(v, kv[i], at, sp + "/" + std::to_string(i), errors) && ok;
            } else if (key == "anyOf" || key == "oneOf") {
                std::vector<std::size_t> passed;
                std::string why;
                for (std::size_t i = 0; i < kv.size(); ++i) {
                    std::vector<std::string> branch;
                    if (check(v, kv[i], at, sp + "/" + std::to_string(i), branch)) {
                        passed.push_back(i);
                        if (key == "anyOf") break;
                    } else {
                        why += (why.empty() ? "[" : "; [") + std::to_string(i) + "] " +
                               (branch.empty() ? std::string("?") : branch[0]);
                    }
                }
                if (passed.empty()) {
                    ok = fail(errors, at, key, "no branch matched: " + why, sp);
                } else if (key == "oneOf" && passed.size() > 1) {
                    std::string list;
                    for (std::size_t i : passed) list += (list.empty() ? "" : ", ") + std::to_string(i);
                    ok = fail(errors, at, "oneOf", "more than one branch matched: " + list, sp);
                }
            } else if (key == "not") {
                std::vector<std::string> ignored;
                if (check(v, kv, at, sp, ignored))
                    ok = fail(errors, at, "not", "the value matches the schema it must not match", sp);
            } else if (key == "if") {
                std::vector<std::string> ignored;
                if (check(v, kv, at, sp, ignored)) {
                    auto t = schema.find("then");
                    if (t != schema.end()) ok = check(v, *t, at, spath + "/then", errors) && ok;
                } else {
                    auto e = schema.find("else");
                    if (e != schema.end()) ok = check(v, *e, at, spath + "/else", errors) && ok;
                }
            }
            // then/else: through if; annotations and x-*: no-ops (scan() refused the rest)
        }
        return ok;
    }
};

}  // namespace schema
