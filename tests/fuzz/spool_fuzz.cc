// Fuzz target: a sink's on-disk spool read back after a crash or disk damage. Whatever the file
// holds, opening it must not crash; it keeps a clean prefix of records, and what it keeps survives
// an append, a confirm and a reopen intact: the same payloads in the same order, under the same
// sequences unless the reopen numbered them afresh (a damaged file's sequences near the limit, which
// an append can carry past the point where open renumbers), and then still in increasing order.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "goldgate/alerts/spool.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = "/tmp/goldgate-spool-fuzz-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::filesystem::remove(dir + "/cursor");
  {
    std::ofstream f(dir + "/spool", std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  std::vector<goldgate::alerts::Spool::Record> before, after;
  {
    auto s = goldgate::alerts::Spool::open(dir, 1 << 20);
    if (!s) return 0;
    (*s)->peek(0, 1 << 20, before);
    if (!(*s)->append("appended", 3)) abort();
    if (!before.empty()) (*s)->confirm(before.front().seq);  // the first one was delivered
  }
  auto s = goldgate::alerts::Spool::open(dir, 1 << 20);
  if (!s) abort();
  if ((*s)->tornOnOpen() != 0) abort();  // what it wrote itself always reads back clean
  (*s)->peek(0, 1 << 20, after);
  // after = before minus its first record, plus the appended one (unless the bound dropped some).
  if (after.empty() || after.back().payload != "appended") abort();
  size_t kept = before.empty() ? 0 : before.size() - 1;
  if (after.size() != kept + 1) abort();
  for (size_t i = 0; i < kept; ++i) {
    if (after[i].payload != before[i + 1].payload) abort();
    if (!(*s)->renumberedOnOpen() && after[i].seq != before[i + 1].seq) abort();
    if (i > 0 && after[i].seq <= after[i - 1].seq) abort();
  }
  return 0;
}
