// The contract test's JSON Schema validator (schema_validator.hpp) on the shared cases of
// tests/fixtures/schema-cases.json, which the PHP validator runs too; Python's jsonschema
// (tests/fixtures/schema_cases.py) answers the same cases in the same run, so the three agree.
// Run from the repository root (make test-cpp). Last line: "N passed, N failed".
#include "sim_support.hpp"

#include "schema_validator.hpp"

using nlohmann::json;
using simtest::contains;

namespace {

const std::string kFixtures = "tests/fixtures";

json load(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return json::parse(text.str());
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : " | ") + s;
    return out;
}

void shared_cases_agree_with_python() {
    json doc = load(kFixtures + "/schema-cases.json");
    const json& cases = doc["cases"];
    CHECK(cases.size() > 100, "the shared cases are there");
    std::string out = simtest::run("python3 " + kFixtures + "/schema_cases.py " + kFixtures + "/schema-cases.json");
    json python = json::parse(out, nullptr, false);
    CHECK(python.is_object() && python["results"].size() == cases.size(),
          "python3 tests/fixtures/schema_cases.py (python3-jsonschema) answered every case: " + out);
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const json& c = cases[i];
        const std::string what = c["description"].get<std::string>();
        bool expected = c["valid"].get<bool>();
        try {
            schema::Validator v(c["schema"]);
            auto errors = v.errors(c["instance"]);
            CHECK(errors.empty() == expected, "C++: \"" + what + "\": expected " + (expected ? "valid" : "invalid") +
                                                  " " + join(errors));
        } catch (const std::exception& e) {
            CHECK(false, "C++: \"" + what + "\" threw " + e.what());
        }
        if (python.is_object() && i < python["results"].size())
            CHECK(python["results"][i].get<bool>() == expected, "python jsonschema: \"" + what + "\"");
    }
}

void unsupported_keywords_throw() {
    json doc = load(kFixtures + "/schema-cases.json");
    const json& cases = doc["unsupported"];
    CHECK(cases.size() > 10, "the unsupported cases are there");
    for (const json& c : cases) {
        const std::string what = c["description"].get<std::string>();
        try {
            schema::Validator v(c["schema"]);
            auto errors = v.errors(c["instance"]);
            CHECK(false, "\"" + what + "\" answered " + (errors.empty() ? "valid" : join(errors)));
        } catch (const schema::Unsupported& e) {
            CHECK(std::string(e.what()).rfind("schema: ", 0) == 0, what + ": " + e.what());
        }
    }
}

void messages_name_path_keyword_and_schema_place() {
    schema::Validator v(json::parse(R"({"$defs": {"Folder": {"type": "object",
        "properties": {"unread": {"type": "integer", "minimum": 0}, "name": {"type": "string"}},
        "required": ["name"], "additionalProperties": false}},
        "type": "object", "properties": {"folders": {"type": "array", "items": {"$ref": "#/$defs/Folder"}}}})"));
    auto errors = v.errors(json::parse(R"({"folders": [{"name": "a", "unread": 1},
        {"name": 7, "unread": -1, "extra": true}, {}]})"));
    std::string all = join(errors);
    CHECK(errors.size() == 4, "four errors: " + all);
    CHECK(contains(all, "/folders/1/unread: minimum: -1 is out of range (minimum 0) "
                        "(schema #/$defs/Folder/properties/unread/minimum)"), all);
    CHECK(contains(all, "/folders/1/name: type: expected string, got integer 7 "
                        "(schema #/$defs/Folder/properties/name/type)"), all);
    CHECK(contains(all, "/folders/1: additionalProperties: member \"extra\" is not allowed "
                        "(schema #/$defs/Folder/additionalProperties)"), all);
    CHECK(contains(all, "/folders/2: required: member \"name\" is missing (schema #/$defs/Folder/required)"), all);
    auto top = v.errors(json::array(), v.resolve("#/$defs/Folder"));
    CHECK(top.size() == 1 && top[0] == "(root): type: expected object, got array [] (schema (given schema)/type)",
          join(top));
}

}  // namespace

int main() {
    shared_cases_agree_with_python();
    unsupported_keywords_throw();
    messages_name_path_keyword_and_schema_place();
    return simtest::summary();
}
