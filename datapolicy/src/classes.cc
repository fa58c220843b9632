#include "goldgate/datapolicy/classes.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "goldgate/common/yaml_ctx.h"

namespace goldgate::datapolicy {
namespace {

namespace fs = std::filesystem;
using yamlcfg::ConfigError;
using yamlcfg::Ctx;

std::string resolvePath(const std::string& file, const std::string& relativeTo) {
  if (file.empty() || file[0] == '/') return file;
  return (fs::path(relativeTo).parent_path() / file).string();
}

bool validName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

void parsePatterns(const Ctx& c, const YAML::Node& list, DataClass& d) {
  if (!list.IsSequence() || list.size() == 0) c.fail(list, "detectors.patterns: expected a non-empty list");
  for (const auto& n : list) {
    c.onlyKeys(n, {"regex", "literal", "flags", "run"});
    if (n["run"]) {
      if (n["regex"] || n["literal"] || n["flags"])
        c.fail(n, "a pattern is a 'run', or a 'regex' or 'literal' with 'flags'");
      const auto& r = n["run"];
      c.onlyKeys(r, {"bytes", "joiners", "min_length"});
      DataClass::Run run;
      run.line = Ctx::lineOf(n);
      if (!r["bytes"]) c.fail(r, "run: missing 'bytes' (a byte set such as '0-9' or 'A-Za-z0-9_\\-')");
      auto bytes = parseByteSet(c.str(r["bytes"], "run.bytes"));
      if (!bytes) c.fail(r["bytes"], "run.bytes: " + bytes.error().message);
      run.spec.bytes = *bytes;
      if (r["joiners"]) {
        auto j = parseByteSet(c.str(r["joiners"], "run.joiners"));
        if (!j) c.fail(r["joiners"], "run.joiners: " + j.error().message);
        if ((*j & *bytes).any()) c.fail(r["joiners"], "run.joiners: a joiner cannot also be one of the run's bytes");
        run.spec.joiners = *j;
      }
      if ((run.spec.bytes | run.spec.joiners).test(0)) c.fail(r, "run: NUL cannot be in a run");
      if (!r["min_length"]) c.fail(r, "run: missing 'min_length' (1..64)");
      run.spec.min_length = static_cast<uint32_t>(c.uint(r["min_length"], "run.min_length", 1, 64));
      d.runs.push_back(run);
      continue;
    }
    Pattern p;
    p.line = Ctx::lineOf(n);
    if (n["regex"] && n["literal"]) c.fail(n, "a pattern is either 'regex' or 'literal', not both");
    if (n["regex"]) p.expression = c.str(n["regex"], "regex");
    else if (n["literal"]) p.expression = c.str(n["literal"], "literal"), p.literal = true;
    else c.fail(n, "a pattern needs 'regex' or 'literal'");
    if (p.expression.empty()) c.fail(n, "empty pattern");
    if (n["flags"])
      for (const auto& f : c.strList(n["flags"], "flags")) {
        if (f == "caseless") p.caseless = true;
        else if (f == "dotall") p.dotall = true;
        else if (f == "multiline") p.multiline = true;
        else c.fail(n["flags"], "unknown pattern flag '" + f + "' (caseless, dotall, multiline)");
      }
    d.patterns.push_back(std::move(p));
  }
}

// `max_length` is read before: negative keywords must fit in the bytes kept around a value.
void parseContext(const Ctx& c, const YAML::Node& cx, DataClass& d) {
  c.onlyKeys(cx, {"keywords", "window", "required", "negative_keywords", "negative_window", "explained_by"});
  if (cx["required"]) d.context_required = c.boolean(cx["required"], "context.required");
  if (cx["keywords"]) {
    d.context_keywords = c.strList(cx["keywords"], "context.keywords");
    for (const auto& k : d.context_keywords)
      if (k.empty()) c.fail(cx["keywords"], "context.keywords: empty keyword");
  }
  if (cx["window"]) d.context_window = static_cast<uint32_t>(c.uint(cx["window"], "context.window", 1, 4096));
  if (d.context_required && d.context_keywords.empty()) c.fail(cx, "context.required needs context.keywords");
  if (cx["negative_window"]) {
    if (!cx["negative_keywords"]) c.fail(cx["negative_window"], "context.negative_window needs negative_keywords");
    d.negative_window =
        static_cast<uint32_t>(c.uint(cx["negative_window"], "context.negative_window", 1, kNearContextBytes));
  }
  if (cx["negative_keywords"]) {
    const auto& n = cx["negative_keywords"];
    d.negative_keywords = c.strList(n, "context.negative_keywords");
    // (at most 64: one bit each in the engine's first-byte table)
    if (d.negative_keywords.empty() || d.negative_keywords.size() > 64)
      c.fail(n, "context.negative_keywords: 1 to 64 keywords");
    size_t longest = 0;
    for (const auto& k : d.negative_keywords) {
      if (k.empty()) c.fail(n, "context.negative_keywords: empty keyword");
      longest = std::max(longest, k.size());
    }
    if (d.max_length + d.negative_window + longest > kNearContextBytes)
      c.fail(n, "context.negative_keywords: max_length (" + std::to_string(d.max_length) + ") + negative_window (" +
                    std::to_string(d.negative_window) + ") + the longest negative keyword (" + std::to_string(longest) +
                    ") must be at most " + std::to_string(kNearContextBytes) + " (the bytes kept around a value)");
  }
  if (cx["explained_by"]) {
    const auto& e = cx["explained_by"];
    d.explained_by = c.strList(e, "context.explained_by");
    d.explained_by_line = Ctx::lineOf(e);
    if (d.explained_by.size() > 8) c.fail(e, "context.explained_by: at most 8 classes");
    for (size_t i = 0; i < d.explained_by.size(); ++i) {
      if (!validName(d.explained_by[i]))
        c.fail(e, "context.explained_by: '" + d.explained_by[i] + "' is no class name");
      if (d.explained_by[i] == d.name) c.fail(e, "context.explained_by: a class cannot explain its own values");
      if (std::find(d.explained_by.begin(), d.explained_by.begin() + i, d.explained_by[i]) !=
          d.explained_by.begin() + i)
        c.fail(e, "context.explained_by: '" + d.explained_by[i] + "' is listed twice");
    }
  }
}

void parsePolicy(const Ctx& c, const YAML::Node& n, DataClass& d) {
  c.onlyKeys(n, {"default", "gap", "rules"});
  auto action = [&](const YAML::Node& a) {
    auto r = parseAction(c.str(a, "action"));
    if (!r) c.fail(a, r.error().message);
    return *r;
  };
  if (n["default"]) d.policy.default_action = action(n["default"]);
  if (n["gap"]) {
    std::string g = c.str(n["gap"], "gap");
    if (g == "fail-closed") d.policy.gap_fails_closed = true;
    else if (g == "continue") d.policy.gap_fails_closed = false;
    else c.fail(n["gap"], "gap: expected 'fail-closed' or 'continue', got '" + g + "'");
  }
  if (n["rules"]) {
    if (!n["rules"].IsSequence()) c.fail(n["rules"], "policy.rules: expected a list");
    for (const auto& r : n["rules"]) {
      c.onlyKeys(r, {"from", "to", "action", "min_confidence"});
      PolicyRule pr;
      pr.line = Ctx::lineOf(r);
      if (r["from"]) pr.from = c.str(r["from"], "from");
      if (r["to"]) pr.to = c.str(r["to"], "to");
      if (!r["action"]) c.fail(r, "policy rule: missing 'action'");
      pr.action = action(r["action"]);
      if (r["min_confidence"]) pr.min_confidence = c.real(r["min_confidence"], "policy rule: min_confidence", 0, 1);
      if (!validName(pr.from) || !validName(pr.to))
        c.fail(r, "policy rule: zone names use letters, digits, '-', '_', '.'");
      d.policy.rules.push_back(pr);
    }
  }
}

DataClass parse(const std::string& text, const std::string& file) {
  Ctx c(file);
  YAML::Node root = yamlcfg::loadYaml(text, file);
  if (!root || root.IsNull()) c.failAt(1, "empty class file");
  c.onlyKeys(root, {"name", "description", "severity", "critical", "detectors", "policy", "exact_match"});
  DataClass d;
  d.source_file = file;
  if (!root["name"]) c.failAt(1, "missing 'name'");
  d.name = c.str(root["name"], "name");
  d.name_line = Ctx::lineOf(root["name"]);
  if (!validName(d.name))
    c.fail(root["name"], "name '" + d.name + "': use letters, digits, '-', '_' and '.' (at most 64)");
  if (root["description"]) d.description = c.str(root["description"], "description");
  if (root["severity"]) d.severity = static_cast<uint32_t>(c.uint(root["severity"], "severity", 0, 10));
  if (root["critical"]) d.critical = c.boolean(root["critical"], "critical");
  d.policy.gap_fails_closed = d.critical;
  if (!root["detectors"]) c.fail(root, "missing 'detectors'");
  const auto& det = root["detectors"];
  c.onlyKeys(det, {"patterns", "validator", "entropy_min", "max_length", "boundary", "context", "confidence",
                   "min_confidence", "min_count", "ignore"});
  if (!det["patterns"]) c.fail(det, "detectors: missing 'patterns'");
  parsePatterns(c, det["patterns"], d);
  if (det["validator"]) {
    auto v = parseValidator(c.str(det["validator"], "validator"));
    if (!v) c.fail(det["validator"], v.error().message);
    d.validator = *v;
  }
  if (det["entropy_min"]) {
    if (d.validator != Validator::kEntropy) c.fail(det["entropy_min"], "entropy_min needs validator: entropy");
    d.entropy_min = c.real(det["entropy_min"], "entropy_min", 0, 8);
  } else if (d.validator == Validator::kEntropy) {
    c.fail(det, "validator entropy needs 'entropy_min' (bits per character)");
  }
  if (det["max_length"]) d.max_length = static_cast<uint32_t>(c.uint(det["max_length"], "max_length", 1, 4096));
  if (det["boundary"]) {
    std::string b = c.str(det["boundary"], "boundary");
    if (b == "digit") d.boundary = Boundary::kDigit;
    else if (b == "word") d.boundary = Boundary::kWord;
    else if (b == "base64") d.boundary = Boundary::kBase64;
    else if (b == "none") d.boundary = Boundary::kNone;
    else c.fail(det["boundary"], "boundary: expected digit, word, base64 or none, got '" + b + "'");
  }
  if (det["context"]) parseContext(c, det["context"], d);
  if (det["confidence"]) {
    const auto& cf = det["confidence"];
    c.onlyKeys(cf, {"base", "with_context"});
    if (cf["base"]) d.confidence = c.real(cf["base"], "confidence.base", 0, 1);
    if (!cf["with_context"]) d.confidence_with_context = std::max(d.confidence_with_context, d.confidence);
    if (cf["with_context"]) d.confidence_with_context = c.real(cf["with_context"], "confidence.with_context", 0, 1);
    if (d.confidence_with_context < d.confidence) c.fail(cf, "confidence.with_context is below confidence.base");
  }
  if (det["min_confidence"]) {
    d.min_confidence = c.real(det["min_confidence"], "min_confidence", 0, 1);
    // A floor no finding can reach is a mistake, not a way to switch a class off.
    const double best = d.context_keywords.empty() ? d.confidence : d.confidence_with_context;
    if (d.min_confidence > best)
      c.fail(det["min_confidence"], "min_confidence is above the highest confidence the class reports (" +
                                        std::string(d.context_keywords.empty() ? "confidence.base" : "with_context") +
                                        "): nothing would be reported");
  }
  if (det["min_count"]) d.min_count = static_cast<uint32_t>(c.uint(det["min_count"], "min_count", 1, 1000000));
  if (det["ignore"])
    for (const auto& v : c.strList(det["ignore"], "ignore")) d.ignore.insert(normaliseValue(d, v));
  if (root["exact_match"]) {
    const auto& em = root["exact_match"];
    c.onlyKeys(em, {"hashes", "key_file", "normalise"});
    if (!em["hashes"] || !em["key_file"]) c.fail(em, "exact_match needs 'hashes' and 'key_file'");
    d.has_exact_match = true;
    d.exact_match.hashes_file = resolvePath(c.str(em["hashes"], "hashes"), file);
    d.exact_match.key_file = resolvePath(c.str(em["key_file"], "key_file"), file);
    if (em["normalise"]) {
      std::string nm = c.str(em["normalise"], "normalise");
      if (nm == "digits") d.exact_match.normalise = ExactMatch::Normalise::kDigits;
      else if (nm == "lower") d.exact_match.normalise = ExactMatch::Normalise::kLower;
      else if (nm == "exact") d.exact_match.normalise = ExactMatch::Normalise::kExact;
      else c.fail(em["normalise"], "normalise: expected digits, lower or exact, got '" + nm + "'");
    }
  }
  if (root["policy"]) parsePolicy(c, root["policy"], d);
  return d;
}

}  // namespace

Result<Action> parseAction(std::string_view s) {
  if (s == "allow") return Action::kAllow;
  if (s == "alert") return Action::kAlert;
  if (s == "block") return Action::kBlock;
  if (s == "require-encryption") return Action::kRequireEncryption;
  if (s == "quarantine") return Action::kQuarantine;
  return makeError(Error::Code::kInvalidArgument,
                   "unknown action '" + std::string(s) + "' (allow, alert, block, require-encryption, quarantine)");
}

const char* actionName(Action a) {
  switch (a) {
    case Action::kAllow: return "allow";
    case Action::kAlert: return "alert";
    case Action::kBlock: return "block";
    case Action::kRequireEncryption: return "require-encryption";
    case Action::kQuarantine: return "quarantine";
  }
  return "?";
}

std::string normaliseValue(const DataClass& c, std::string_view value) {
  std::string out;
  switch (validatorInfo(c.validator).shape) {
    case ValueShape::kDigits:
      for (char ch : value)
        if (ch >= '0' && ch <= '9') out += ch;
      return out;
    case ValueShape::kIban:
      for (char ch : value)
        if (ch != ' ' && ch != '-') out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      return out;
    case ValueShape::kAny:
    case ValueShape::kToken: break;
  }
  if (c.has_exact_match) {
    switch (c.exact_match.normalise) {
      case ExactMatch::Normalise::kDigits:
        for (char ch : value)
          if (ch >= '0' && ch <= '9') out += ch;
        return out;
      case ExactMatch::Normalise::kLower:
        for (char ch : value) out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return out;
      case ExactMatch::Normalise::kExact: break;
    }
  }
  return std::string(value);
}

Result<DataClass> parseClass(const std::string& text, const std::string& fileName) {
  try {
    return parse(text, fileName);
  } catch (const ConfigError& e) {
    return makeError(Error::Code::kParse, e.message);
  } catch (const YAML::Exception& e) {
    return makeError(Error::Code::kParse, fileName + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Result<std::vector<DataClass>> loadClasses(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return makeError(Error::Code::kNotFound, dir + ": not a folder of data classes");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && (e.path().extension() == ".yaml" || e.path().extension() == ".yml"))
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<DataClass> out;
  std::map<std::string, std::string> seen;
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) return makeError(Error::Code::kIo, f + ":0: cannot open: " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    auto d = parseClass(ss.str(), f);
    if (!d) return d.error();
    auto [it, fresh] = seen.emplace(d->name, f);
    if (!fresh)
      return makeError(Error::Code::kParse, f + ":" + std::to_string(d->name_line) + ": class '" + d->name +
                                                "' is already defined in " + it->second);
    out.push_back(std::move(*d));
  }
  if (out.empty()) return makeError(Error::Code::kNotFound, dir + ": no data class files (*.yaml)");
  return out;
}

}  // namespace goldgate::datapolicy
