// The event catalog (goldgate/alerts/kinds.h): its rows and lookups, and the documents held to it:
// docs/alerts.md lists every alert kind with its default severity and nothing else,
// docs/hostmon.md every inventory event, and proto/alert.proto's `kind` comment points to the
// catalog and quotes only names it has.
#include <catch2/catch.hpp>

#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "alert.pb.h"
#include "expect_table.h"
#include "goldgate/alerts/kinds.h"

using namespace goldgate;
using namespace goldgate::alerts;

namespace {

std::string repoFile(const char* rel) { return test::readText(std::filesystem::path(GOLDGATE_SOURCE_DIR) / rel); }

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// The rows of every Markdown table whose header line is `header`, each as its cells.
std::vector<std::vector<std::string>> tableRows(const std::string& doc, const std::string& header) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(doc);
  std::string line;
  bool inTable = false;
  while (std::getline(in, line)) {
    if (line == header) {
      inTable = true;
      std::getline(in, line);  // the |---| line
      continue;
    }
    if (!inTable) continue;
    if (line.empty() || line[0] != '|') {
      inTable = false;
      continue;
    }
    std::vector<std::string> cells;
    std::string cell;
    // Cells split at '|' outside backticks (a code span may hold one).
    bool code = false;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '`') code = !code;
      if (line[i] == '|' && !code) {
        cells.push_back(trim(cell));
        cell.clear();
      } else {
        cell += line[i];
      }
    }
    rows.push_back(cells);
  }
  return rows;
}

// The code spans of a cell: "`spoof.mac`, `spoof.ip`" -> {spoof.mac, spoof.ip}.
std::vector<std::string> codeSpans(const std::string& cell) {
  std::vector<std::string> out;
  for (size_t a = cell.find('`'); a != std::string::npos; a = cell.find('`', a + 1)) {
    size_t b = cell.find('`', a + 1);
    if (b == std::string::npos) break;
    out.push_back(cell.substr(a + 1, b - a - 1));
    a = b;
  }
  return out;
}

// The first whole number in `s`, or -1.
int firstNumber(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i)
    if (std::isdigit(static_cast<unsigned char>(s[i]))) {
      size_t end = i;
      while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
      return std::stoi(s.substr(i, end - i));
    }
  return -1;
}

}  // namespace

TEST_CASE("every kind has one well-formed row, in enum order", "[alerts][kinds]") {
  std::set<std::string> names;
  for (size_t i = 0; i < std::size(kKinds); ++i) {
    const KindInfo& k = kKinds[i];
    INFO(k.name);
    CHECK(static_cast<size_t>(k.id) == i);
    CHECK(&info(k.id) == &k);
    CHECK(names.insert(std::string(k.name)).second);
    CHECK(!k.doc.empty());
    CHECK(k.severity <= 10);
    CHECK(k.family() == (k.name.back() == '.'));
    if (k.channel == Channel::kInventory) CHECK(k.severity == 0);
    // Names are lower case with '.' and '_' only: they are MSGIDs, CEF and LEEF event ids, filter keys.
    for (char c : k.name) CHECK((std::islower(static_cast<unsigned char>(c)) || c == '.' || c == '_'));
  }
  CHECK(names.size() == static_cast<size_t>(Kind::kCount));
}

TEST_CASE("findKind resolves exact names, family members and nothing else", "[alerts][kinds]") {
  for (const auto& k : kKinds)
    if (!k.family()) {
      INFO(k.name);
      REQUIRE(findKind(k.name) != nullptr);
      CHECK(findKind(k.name)->id == k.id);
    }
  CHECK(findKind("data.payment-card")->id == Kind::kData);
  // An attest.<finding> with a row of its own is that row; any other is the family's.
  CHECK(findKind("attest.kernel_text")->id == Kind::kRedFlagKernelText);
  CHECK(findKind("attest.agent.silent")->id == Kind::kAttestAgentSilent);
  CHECK(findKind("attest.something_new")->id == Kind::kAttest);
  CHECK(findKind("data.") == nullptr);  // a family's prefix alone names nothing
  CHECK(findKind("policy.deny.more") == nullptr);
  CHECK(findKind("policy") == nullptr);
  CHECK(findKind("") == nullptr);
}

TEST_CASE("wireName and setKind give the name and the row's severity", "[alerts][kinds]") {
  CHECK(wireName(Kind::kPolicyDeny) == "policy.deny");
  CHECK(wireName(Kind::kPolicyDeny, "ignored") == "policy.deny");
  CHECK(wireName(Kind::kData, "email") == "data.email");
  CHECK(docName(info(Kind::kData)) == "data.<class>");
  CHECK(docName(info(Kind::kVmStarted)) == "vm.started");

  proto::AlertEvent ev;
  setKind(ev, Kind::kQuarantine);
  CHECK(ev.kind() == "quarantine");
  CHECK(ev.severity() == 8);
  setKind(ev, Kind::kData, "email");
  CHECK(ev.kind() == "data.email");
  CHECK(ev.severity() == 5);
  // A family member with a row of its own takes that row's severity.
  setKind(ev, Kind::kAttest, "kernel_text");
  CHECK(ev.kind() == "attest.kernel_text");
  CHECK(ev.severity() == 10);
  setKind(ev, Kind::kAttest, "something_new");
  CHECK(ev.severity() == info(Kind::kAttest).severity);
}

TEST_CASE("docs/alerts.md lists every alert kind with its severity, and no other", "[alerts][kinds]") {
  const auto rows = tableRows(repoFile("docs/alerts.md"), "| kind | severity | raised when |");
  REQUIRE(!rows.empty());
  std::map<std::string, const std::vector<std::string>*> documented;
  for (const auto& r : rows) {
    REQUIRE(r.size() >= 3);
    const auto names = codeSpans(r[0]);
    INFO(r[0]);
    CHECK(names.size() == 1);  // one kind a line, so that its severity is its own
    if (names.size() == 1) CHECK(documented.emplace(names[0], &r).second);
  }
  for (const auto& k : kKinds) {
    if (k.channel != Channel::kAlert) continue;
    const std::string name = docName(k);
    auto it = documented.find(name);
    if (it == documented.end()) {
      FAIL_CHECK(name << ": in the catalog, not in a kinds table of docs/alerts.md");
      continue;
    }
    // The severity cell starts with the default; what differs follows it ("5 (7 if it blocked …)").
    const std::string& cell = (*it->second)[1];
    INFO(name << ": docs/alerts.md says \"" << cell << "\", the catalog " << int{k.severity});
    CHECK(firstNumber(cell) == k.severity);
    documented.erase(it);
  }
  for (const auto& [name, row] : documented)
    FAIL_CHECK(name << ": in docs/alerts.md, not in the catalog (goldgate/alerts/kinds.h)");
}

TEST_CASE("docs/hostmon.md lists every inventory event, and no other", "[alerts][kinds]") {
  std::set<std::string> documented;
  for (const auto& r : tableRows(repoFile("docs/hostmon.md"), "| event | when |"))
    for (const auto& n : codeSpans(r.at(0))) documented.insert(n);
  std::set<std::string> catalog;
  for (const auto& k : kKinds)
    if (k.channel == Channel::kInventory) catalog.insert(docName(k));
  CHECK(documented == catalog);
}

TEST_CASE("proto/alert.proto's kind comment points to the catalog and quotes only its names", "[alerts][kinds]") {
  std::istringstream in(repoFile("proto/alert.proto"));
  std::string line, comment;
  while (std::getline(in, line))
    if (line.find("string kind = 8;") != std::string::npos) comment = line.substr(line.find("//"));
  REQUIRE(!comment.empty());
  CHECK(comment.find("alerts/include/goldgate/alerts/kinds.h") != std::string::npos);
  std::set<std::string> docNames;
  for (const auto& k : kKinds)
    if (k.channel == Channel::kAlert) docNames.insert(docName(k));
  for (size_t a = comment.find('"'); a != std::string::npos; a = comment.find('"', a + 1)) {
    size_t b = comment.find('"', a + 1);
    REQUIRE(b != std::string::npos);
    const std::string quoted = comment.substr(a + 1, b - a - 1);
    INFO(quoted);
    const KindInfo* k = findKind(quoted);
    CHECK((docNames.count(quoted) || (k && !k->family() && k->channel == Channel::kAlert)));
    a = b;
  }
}
