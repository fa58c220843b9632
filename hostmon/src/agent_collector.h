// QemuAgentCollector: kernel, modules, processes, listening sockets and interface addresses from
// the QEMU guest agent (guest-get-osinfo, guest-network-get-interfaces, and one guest-exec of the
// probe script per poll). Everything it reports is "guest-reported".
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "agent_parse.h"
#include "collector.h"

namespace goldgate::hostmon {

struct AgentCollectorOptions {
  int timeout_s = 5;                  // every agent command
  uint32_t exec_deadline_ms = 30000;  // the probe script must have exited by then
  uint32_t exec_poll_ms = 100;        // first wait between guest-exec-status calls (doubles up to 1 s)
  ProbeLimits limits;
  std::function<int64_t()> clock;          // wall clock, ns; empty: the system clock
  std::function<void(uint32_t ms)> sleep;  // empty: std::this_thread::sleep_for
  std::function<std::string()> nonce;      // empty: 16 random alphanumerics
  // Executables are hashed again only when their identity (device, inode, size, ctime) is new,
  // and all of them every this many polls of a VM (1: every poll).
  uint32_t rehash_every = 30;
};

class QemuAgentCollector : public Collector {
 public:
  explicit QemuAgentCollector(AgentCollectorOptions opts);
  const char* source() const override { return "qemu-agent"; }
  Trust trust() const override { return Trust::kGuestReported; }
  /// Observations on failure: agent.silent (no answer, or the probe did not finish in time),
  /// agent.error (an error reply), agent.malformed (a reply that does not parse), each with the
  /// reason. A failing part keeps that group's previous value (and its older timestamp). A domain
  /// found not running skips the poll (CollectResult::skipped).
  CollectResult collect(const CollectTarget& vm, const GuestAccess& access, const GuestState& latest) override;
  /// Ends the wait for a running probe (its result is dropped).
  void cancel() override { cancelled_ = true; }
  /// Forgets the VM's executable hashes (it restarted or went away).
  void forget(const std::string& uuid) override;

 private:
  CollectResult collectWith(const CollectTarget& vm, const GuestAccess& access, const GuestState& latest);
  int64_t now() const;
  AgentCollectorOptions opts_;
  std::atomic<bool> cancelled_{false};
  struct Hashes {
    std::map<std::string, std::string> by_identity;  // "dev:inode:size:ctime" -> SHA-256
    uint32_t polls = 0;
  };
  std::mutex mu_;                         // forget() comes from the monitor thread
  std::map<std::string, Hashes> hashes_;  // by VM UUID
};

}  // namespace goldgate::hostmon
