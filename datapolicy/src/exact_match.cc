#include "goldgate/datapolicy/exact_match.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <vector>

#include "goldgate/datapolicy/engine.h"

namespace goldgate::datapolicy {
namespace {

// Splits CSV text into rows of fields (RFC 4180). Returns false with the line of the problem.
bool parseCsv(const std::string& text, std::vector<std::pair<int, std::vector<std::string>>>& rows, int& badLine) {
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  int line = 1, rowLine = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"') {
      if (!field.empty()) {
        badLine = line;
        return false;  // a quote inside an unquoted field
      }
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) {
        row.push_back(std::move(field));
        rows.emplace_back(rowLine, std::move(row));
      }
      row.clear();
      field.clear();
      any = false;
      rowLine = ++line;
    } else {
      field += c;
      any = true;
    }
  }
  if (quoted) {
    badLine = rowLine;
    return false;  // an unterminated quote
  }
  if (any || !field.empty()) {
    row.push_back(std::move(field));
    rows.emplace_back(rowLine, std::move(row));
  }
  return true;
}

std::string hex(const std::string& raw) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) out += d[c >> 4], out += d[c & 15];
  return out;
}

}  // namespace

Result<ExactMatchBuild> buildExactMatch(const std::string& csv, const std::string& name, const std::string& column,
                                        ExactMatch::Normalise normalise, const std::string& key) {
  if (key.size() < 16) return makeError(Error::Code::kInvalidArgument, "a key needs at least 16 bytes");
  std::vector<std::pair<int, std::vector<std::string>>> rows;
  int bad = 0;
  if (!parseCsv(csv, rows, bad))
    return makeError(Error::Code::kParse, name + ":" + std::to_string(bad) + ": malformed CSV quoting");
  if (rows.empty()) return makeError(Error::Code::kParse, name + ":1: empty CSV (a header row is expected)");
  const auto& header = rows[0].second;
  size_t col = header.size();
  unsigned n = 0;
  auto [p, ec] = std::from_chars(column.data(), column.data() + column.size(), n);
  if (ec == std::errc() && p == column.data() + column.size() && n >= 1) {
    col = n - 1;
  } else {
    auto it = std::find(header.begin(), header.end(), column);
    if (it != header.end()) col = static_cast<size_t>(it - header.begin());
  }
  if (col >= header.size()) {
    std::string known;
    for (const auto& h : header) known += (known.empty() ? "" : ", ") + h;
    return makeError(Error::Code::kInvalidArgument, name + ":1: no column '" + column + "' (header: " + known + ")");
  }
  DataClass d;
  d.has_exact_match = true;
  d.exact_match.normalise = normalise;
  ExactMatchBuild out;
  std::set<std::string> hashes;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& [line, fields] = rows[r];
    ++out.rows;
    if (fields.size() != header.size())
      return makeError(Error::Code::kParse, name + ":" + std::to_string(line) + ": " + std::to_string(fields.size()) +
                                                " fields, the header has " + std::to_string(header.size()));
    std::string v = normaliseValue(d, fields[col]);
    if (v.empty()) {
      ++out.empty;
      continue;
    }
    if (!hashes.insert(hex(exactMatchHash(key, v))).second) ++out.duplicates;
  }
  out.values = hashes.size();
  out.hashes = "goldgate-edm 1\n";
  for (const auto& h : hashes) out.hashes += h + "\n";
  return out;
}

}  // namespace goldgate::datapolicy
