// Table-driven bad-input files: each starts with a line
//     # expect: <line>: <part of the message>
// naming the line the parser's error must point at and a part of its text.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "goldgate/common/result.h"

namespace goldgate::test {

inline std::string readText(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Expectation {
  int line = 0;
  std::string text;
};

/// Reads "# expect: <line>: <text>" from the first line of `text`.
inline std::optional<Expectation> expectationOf(const std::string& text) {
  const std::string tag = "# expect: ";
  if (text.compare(0, tag.size(), tag) != 0) return std::nullopt;
  std::string first = text.substr(tag.size(), text.find('\n') - tag.size());
  auto colon = first.find(": ");
  if (colon == std::string::npos) return std::nullopt;
  Expectation e;
  e.line = std::stoi(first.substr(0, colon));
  e.text = first.substr(colon + 2);
  if (e.line <= 0 || e.text.empty()) return std::nullopt;
  return e;
}

/// The entries of `dir`, sorted by name.
inline std::vector<std::filesystem::path> sortedEntries(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// Parses every .yaml file in `dir` with `parse(text, fileName)` (returning a Result) and checks
/// that it fails with kParse and "<file>:<line>: " followed by a message containing the expected
/// text. Returns how many files it checked.
template <typename Parse>
int checkBadFiles(const std::filesystem::path& dir, Parse parse) {
  int cases = 0;
  for (const auto& path : sortedEntries(dir)) {
    if (path.extension() != ".yaml") continue;
    const std::string name = path.filename().string();
    DYNAMIC_SECTION(name) {
      std::string text = readText(path);
      auto expect = expectationOf(text);
      if (!expect) FAIL("the file lacks a '# expect: <line>: <text>' first line");
      auto r = parse(text, name);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code == Error::Code::kParse);
      CHECK_THAT(r.error().message, Catch::Matchers::StartsWith(name + ":" + std::to_string(expect->line) + ": "));
      CHECK_THAT(r.error().message, Catch::Matchers::Contains(expect->text));
    }
    ++cases;
  }
  return cases;
}

}  // namespace goldgate::test
