// Catch2 entry point of the unit tests. Built twice: as unit_core_tests (no DPDK), and with
// GOLDGATE_UNIT_WITH_EAL as unit_dpdk_tests, whose tests use rte_acl and rte_hash and so need DPDK's
// EAL. The EAL is brought up once per process, without hugepages, PCI or shared configuration, under
// a file prefix of its own so that parallel runs do not meet.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#ifdef GOLDGATE_UNIT_WITH_EAL
#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#endif

#ifdef GOLDGATE_UNIT_WITH_EAL
namespace {
// DPDK leaves its runtime folder behind; it is removed at exit, after DPDK's own exit handlers
// (registered during rte_eal_init) have deleted the telemetry socket inside it.
std::string runtimeDir;
void removeRuntimeDir() {
  if (!runtimeDir.empty()) rmdir(runtimeDir.c_str());
}
}  // namespace
#endif

int main(int argc, char** argv) {
#ifdef GOLDGATE_UNIT_WITH_EAL
  std::vector<std::string> args = {
      "unit", "--no-huge", "-m",          "256",     "--no-shconf",   "--no-pci",
      "-l",   "0",         "--log-level", "*:error", "--file-prefix", "unit-" + std::to_string(getpid())};
  std::vector<char*> eal;
  for (auto& a : args) eal.push_back(a.data());
  std::atexit(removeRuntimeDir);  // before rte_eal_init, so that it runs after DPDK's handlers
  // rte_eal_init permutes its argv: hand it a copy, Catch gets the real one.
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) {
    std::fprintf(stderr, "unit_dpdk_tests: rte_eal_init failed: %s\n", rte_strerror(rte_errno));
    return 2;
  }
  runtimeDir = rte_eal_get_runtime_dir();
  int rc = Catch::Session().run(argc, argv);
  rte_eal_cleanup();
  return rc;
#else
  return Catch::Session().run(argc, argv);
#endif
}
