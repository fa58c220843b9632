// MemoryPeekCollector: the hypervisor's own reading of guest memory, which the guest cannot forge.
// By default it introspects the guest kernel: the vCPU's registers from QEMU's monitor give the
// page tables, the kernel is found in them (KASLR on), its banner picks a kernel profile
// (kernel_profile.h), and the kernel's task list, module lists, system-call table, IDT and text
// are read (kernel_walk.h); the result is compared with the guest agent's view (cross_view.h).
// With collect.kernel_text configured it does what it did before profiles: the banner and the
// SHA-256 of a physical range. Everything it reports is "hypervisor-observed".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "collector.h"
#include "cross_view.h"
#include "goldgate/hostmon/kernel_profile.h"

namespace goldgate::hostmon {

struct MemoryCollectorOptions {
  uint64_t banner_start = 16ull << 20;  // guest-physical range searched for the banner
  uint64_t banner_length = 64ull << 20;
  uint64_t text_start = 0x1000000;  // kernel text (guests booted with nokaslr load it here)
  uint64_t text_length = 2ull << 20;
  std::map<std::string, std::string> gold_by_vm;        // VM name → SHA-256 hex of the text region
  std::map<std::string, std::string> gold_by_manifest;  // manifest label → SHA-256 hex
  std::function<int64_t()> clock;                       // wall clock, ns; empty: the system clock
  // Introspection (the default) or the physical range above (collect.kernel_text set).
  bool physical_range = false;
  std::string profiles_dir = "/var/lib/goldgate/kernel-profiles";  // collect.kernel_profiles
  uint32_t budget_ms = 5000;  // collect.memory_budget_ms: one pass's deadline (then it is partial)
};

/// The largest read virDomainMemoryPeek accepts in one call.
inline constexpr size_t kMaxPeek = 64u << 10;

/// Searches [start, start + length) for "Linux version " in reads of at most kMaxPeek bytes and
/// returns the address of the first hit, or an error (kNotFound: not in the range; kIo: a read
/// failed). Any thread.
Result<uint64_t> findBanner(const MemoryPeekFn& peek, uint64_t start, uint64_t length);

/// The banner string at `addr` (up to 512 bytes, ended by NUL or newline; non-printable bytes
/// become '?'). Errors: the read failed, or no "Linux version " at `addr`.
Result<std::string> readBanner(const MemoryPeekFn& peek, uint64_t addr);

/// SHA-256 (lower-case hex) of [start, start + length), read in kMaxPeek pieces.
Result<std::string> hashRegion(const MemoryPeekFn& peek, uint64_t start, uint64_t length);

/// The kernel release in a banner: the word after "Linux version ".
std::string bannerRelease(const std::string& banner);

class MemoryPeekCollector : public Collector {
 public:
  explicit MemoryPeekCollector(MemoryCollectorOptions opts);
  const char* source() const override { return "memory-peek"; }
  Trust trust() const override { return Trust::kHypervisorObserved; }
  /// Finds the banner (at the remembered address after the first hit, so that later polls read
  /// one piece), hashes the text region and compares it with the gold hash: configured for the VM
  /// by name, else for its manifest label, else learned after the VM started: the first value that
  /// two consecutive readings agree on (a booting kernel decompresses itself and patches its own
  /// text, so an early reading is not yet the running kernel; until then gold_source is "learning"). Observations:
  /// kernel.text_changed on a mismatch, memory.error when reading fails.
  CollectResult collect(const CollectTarget& vm, const GuestAccess& access, const GuestState& latest) override;
  /// Forgets the banner address and a learned gold hash (the VM restarted: relearn).
  void forget(const std::string& uuid) override;

  /// The profiles loaded (by banner), for status and tests.
  size_t profileCount();

 private:
  struct Remembered {
    uint64_t banner_addr = 0;  // 0: search again
    std::string learned_gold;
    std::string candidate;  // the last reading while learning: gold once a reading repeats it
    std::string banner;     // introspection: this boot's banner and where its text is
    uint64_t text_virt = 0;
    CrossViewHistory cross;
    int64_t last_agent_ns = 0;  // the agent view already given to cross-view
  };
  CollectResult collectPhysical(const CollectTarget& vm, const GuestAccess& access);
  CollectResult collectIntrospect(const CollectTarget& vm, const GuestAccess& access, const GuestState& latest);
  // The profile for `banner`, reading the folder again (at most every 10 s) when none matches.
  const KernelProfile* profileFor(const std::string& banner, std::string& why);
  void learnGold(const CollectTarget& vm, Remembered& mem, MemoryView& v, CollectResult& res);
  // `res` as a failed poll (memory.error), or skipped when the domain turned out not to run.
  CollectResult failure(CollectResult res, const std::string& why) const;
  int64_t now() const;
  std::mutex profiles_mu_;
  std::map<std::string, KernelProfile> profiles_;
  std::string profiles_error_;
  int64_t profiles_loaded_ns_ = 0;
  MemoryCollectorOptions opts_;
  std::mutex mu_;  // forget() comes from the monitor thread
  std::map<std::string, Remembered> vms_;
};

}  // namespace goldgate::hostmon
