// Checked reading of YAML configuration files: every failure names "file:line: reason", every
// unknown key is refused (nothing in a config file is silently ignored). Used by each module's
// config parser; exceptions stay inside the parser, which turns them into Result errors.
#pragma once

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace goldgate::yamlcfg {

/// A parse failure carrying its own "file:line: reason" text.
struct ConfigError {
  std::string message;
};

class Ctx {
 public:
  explicit Ctx(std::string file) : file_(std::move(file)) {}
  [[noreturn]] void fail(const YAML::Node& n, const std::string& why) const {
    throw ConfigError{file_ + ":" + std::to_string(lineOf(n)) + ": " + why};
  }
  [[noreturn]] void failAt(int line, const std::string& why) const {
    throw ConfigError{file_ + ":" + std::to_string(line) + ": " + why};
  }
  static int lineOf(const YAML::Node& n) {
    auto m = n.Mark();
    return m.line >= 0 ? m.line + 1 : 0;
  }
  const std::string& file() const { return file_; }

  /// Rejects keys that are not in `allowed`.
  void onlyKeys(const YAML::Node& map, std::initializer_list<const char*> allowed) const {
    onlyKeys(map, std::vector<const char*>(allowed));
  }
  void onlyKeys(const YAML::Node& map, const std::vector<const char*>& allowed) const {
    if (!map.IsMap()) fail(map, "expected a mapping");
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string key = str(it->first, "key");
      bool ok = false;
      for (const char* a : allowed) ok = ok || key == a;
      if (!ok) {
        std::string list;
        for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
        fail(it->first, "unknown key '" + key + "' (expected one of: " + list + ")");
      }
    }
  }

  std::string str(const YAML::Node& n, const char* what) const {
    if (!n.IsScalar()) fail(n, std::string(what) + ": expected a string");
    return n.Scalar();
  }

  uint64_t uint(const YAML::Node& n, const char* what, uint64_t min, uint64_t max) const {
    if (!n.IsScalar()) fail(n, std::string(what) + ": expected a number");
    const std::string& s = n.Scalar();
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size())
      fail(n, std::string(what) + ": '" + s + "' is not a whole number");
    if (v < min || v > max)
      fail(n, std::string(what) + ": " + s + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) +
                  "]");
    return v;
  }

  double real(const YAML::Node& n, const char* what, double min, double max) const {
    if (!n.IsScalar()) fail(n, std::string(what) + ": expected a number");
    const std::string& s = n.Scalar();
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) fail(n, std::string(what) + ": '" + s + "' is not a number");
    if (v < min || v > max)
      fail(n, std::string(what) + ": " + s + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) +
                  "]");
    return v;
  }

  bool boolean(const YAML::Node& n, const char* what) const {
    if (!n.IsScalar()) fail(n, std::string(what) + ": expected true or false");
    const std::string& s = n.Scalar();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    fail(n, std::string(what) + ": expected true or false, got '" + s + "'");
  }

  std::vector<std::string> strList(const YAML::Node& n, const char* what) const {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      out.push_back(n.Scalar());
      return out;
    }
    if (!n.IsSequence()) fail(n, std::string(what) + ": expected a list of strings");
    for (const auto& e : n) out.push_back(str(e, what));
    return out;
  }

  std::map<std::string, std::string> strMap(const YAML::Node& n, const char* what) const {
    if (!n.IsMap()) fail(n, std::string(what) + ": expected a mapping of strings");
    std::map<std::string, std::string> out;
    for (auto it = n.begin(); it != n.end(); ++it) out[str(it->first, what)] = str(it->second, what);
    return out;
  }

 private:
  std::string file_;
};

/// Parses YAML text; a syntax error becomes ConfigError "name:line: YAML syntax error: …".
inline YAML::Node loadYaml(const std::string& text, const std::string& name) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError{name + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg};
  }
}

}  // namespace goldgate::yamlcfg
