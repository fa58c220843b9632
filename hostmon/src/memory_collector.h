// MemoryPeekCollector: the hypervisor's own reading of guest-physical memory (virDomainMemoryPeek),
// which the guest cannot forge: the kernel's "Linux version …" banner and the SHA-256 of a
// kernel-text region, checked against a gold hash. Everything it reports is "hypervisor-observed".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "collector.h"

namespace goldgate::hostmon {

struct MemoryCollectorOptions {
  uint64_t banner_start = 16ull << 20;  // guest-physical range searched for the banner
  uint64_t banner_length = 64ull << 20;
  uint64_t text_start = 0x1000000;  // kernel text (guests booted with nokaslr load it here)
  uint64_t text_length = 2ull << 20;
  std::map<std::string, std::string> gold_by_vm;        // VM name → SHA-256 hex of the text region
  std::map<std::string, std::string> gold_by_manifest;  // manifest label → SHA-256 hex
  std::function<int64_t()> clock;                       // wall clock, ns; empty: the system clock
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

 private:
  struct Remembered {
    uint64_t banner_addr = 0;  // 0: search again
    std::string learned_gold;
    std::string candidate;  // the last reading while learning: gold once a reading repeats it
  };
  int64_t now() const;
  MemoryCollectorOptions opts_;
  std::mutex mu_;  // forget() comes from the monitor thread
  std::map<std::string, Remembered> vms_;
};

}  // namespace goldgate::hostmon
