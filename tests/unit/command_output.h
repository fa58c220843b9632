// What a shell command writes on its standard output, for tests that take their inputs from real
// tools (gzip, Python's ssl). The command must succeed.
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

namespace goldgate::test {

inline std::string commandOutput(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  INFO(command);
  REQUIRE(pclose(p) == 0);
  return out;
}

}  // namespace goldgate::test
