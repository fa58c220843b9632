// Data classes: what a security team tells Goldgate about its data, one YAML file a class
// (configs/datapolicy/<class>.yaml): detectors (Hyperscan patterns, a validator, context
// keywords, a minimum count, ignore lists, boundaries, or exact data match against keyed hashes)
// and the class's policy per source and destination zone.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "goldgate/common/result.h"
#include "goldgate/datapolicy/runs.h"
#include "goldgate/datapolicy/validators.h"

namespace goldgate::datapolicy {

struct Pattern {
  std::string expression;  // a regex, or the literal bytes
  bool literal = false;
  bool caseless = false;
  bool dotall = false;
  bool multiline = false;
  int line = 0;  // in the class file
};

// kBase64: a word boundary that base64's '+', '/' (and '=' after) do not make either: a token that
// is a piece of a longer base64 run (an attachment's line) is not a value of its own.
enum class Boundary { kNone, kDigit, kWord, kBase64 };

enum class Action { kAllow, kAlert, kBlock, kRequireEncryption, kQuarantine };
/// "allow", "alert", "block", "require-encryption", "quarantine".
Result<Action> parseAction(std::string_view s);
const char* actionName(Action a);

/// One policy rule: a finding of the class in a flow from zone `from` to zone `to` ("any"
/// matches every zone), at or above `min_confidence`, gets `action`. First match wins;
/// `default_action` when none matches.
struct PolicyRule {
  std::string from = "any";
  std::string to = "any";
  Action action = Action::kAlert;
  double min_confidence = 0;  // 0..1: below it the rule does not apply (the next one is tried)
  int line = 0;
};

struct ClassPolicy {
  Action default_action = Action::kAlert;
  std::vector<PolicyRule> rules;
  bool gap_fails_closed = false;  // an inspection gap blocks the flow (default for critical classes)
};

/// Exact data match: tokens shaped like `patterns` are normalised and looked up, as
/// HMAC-SHA-256 under `key_file`, among the hashes in `hashes_file` (built by
/// `goldgatectl datapolicy edm-build`); clear values never sit in the gateway.
struct ExactMatch {
  std::string hashes_file;
  std::string key_file;
  enum class Normalise { kDigits, kLower, kExact } normalise = Normalise::kExact;
};

/// Context keywords, negative keywords and explaining classes' keywords are looked for in the bytes
/// kept around a value when the value, its window and the longest keyword fit in this many bytes.
constexpr uint32_t kNearContextBytes = 128;

struct DataClass {
  std::string name;
  std::string description;
  uint32_t severity = 5;  // 0..10
  bool critical = false;
  std::vector<Pattern> patterns;  // Hyperscan
  struct Run {                    // run detectors (runs.h)
    RunSpec spec;
    int line = 0;
  };
  std::vector<Run> runs;
  Validator validator = Validator::kNone;
  double entropy_min = 0;
  uint32_t max_length = 64;  // longest value in bytes, separators included
  Boundary boundary = Boundary::kNone;
  std::vector<std::string> context_keywords;  // caseless literals
  uint32_t context_window = 64;               // bytes before or after the value
  bool context_required = false;              // without a keyword nearby the value is not reported
  // Whole words (caseless) that say the number after them is something else ("order", "invoice"):
  // one ending at most `negative_window` bytes before the value, nearer than any context keyword,
  // drops the value.
  std::vector<std::string> negative_keywords;
  uint32_t negative_window = 32;
  // Classes whose context keywords explain a value that also validates as theirs (an Aadhaar
  // number near "Aadhaar" is no card): nearer than any keyword of this class, they drop the value.
  std::vector<std::string> explained_by;
  int explained_by_line = 0;
  double confidence = 0.6;  // without context
  double confidence_with_context = 0.95;
  double min_confidence = 0;     // findings below it are not reported
  uint32_t min_count = 1;        // findings per flow direction before the class is reported
  std::set<std::string> ignore;  // normalised values never reported (published test values)
  bool has_exact_match = false;
  ExactMatch exact_match;
  ClassPolicy policy;
  std::string source_file;
  int name_line = 0;
};

/// Parses one class file. Errors: "file:line: reason" (unknown keys, bad values, a pattern
/// Hyperscan will not compile is caught later by the compiler with the same shape).
Result<DataClass> parseClass(const std::string& text, const std::string& fileName);

/// Loads every *.yaml in `dir`, sorted by name. Errors: the first bad file, or two classes with
/// one name.
Result<std::vector<DataClass>> loadClasses(const std::string& dir);

/// Normalises a value for ignore lists and exact match: digits only for numeric validators,
/// separators (space, '-') removed and upper-cased for IBAN, unchanged otherwise.
std::string normaliseValue(const DataClass& c, std::string_view value);

}  // namespace goldgate::datapolicy
