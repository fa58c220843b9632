// The policy in force and how a new one comes into force: compiled off the packet path,
// published by an atomic pointer swap, the old one freed after an RCU grace period. Also what a
// policy is compiled from besides the segments: the quarantine (and its file) and the data classes.
// Internal to dataplane/; owned by SwitchImpl, used on the control thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "alert.pb.h"
#include "goldgate/common/result.h"
#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/policy.h"
#include "goldgate/datapolicy/engine.h"

struct rte_rcu_qsbr;

namespace goldgate::dataplane {

class Publisher {
 public:
  /// Raises an alert event with its aggregation key (AlertLog::raise).
  using Raise = std::function<void(proto::AlertEvent ev, const std::string& key)>;

  /// `sw` is read at every publish (ports and their identities change): it must outlive this.
  /// `raise` announces each version published.
  Publisher(const SwitchConfig& sw, Raise raise);
  /// retire().
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  /// Sets up the RCU variable for `readers` workers (one thread id each). Errors: no memory for
  /// it. Main thread, after the EAL, before the first publish.
  Result<void> initRcu(uint32_t readers);
  /// The RCU variable the workers report their quiescent states to.
  rte_rcu_qsbr* qsbr() const { return qsbr_; }
  /// Waits until every worker has passed a quiescent point: none still holds what was read
  /// before the call. Control thread (or whoever replaces what workers read).
  void synchronize() const;

  /// The pointer the workers read the policy in force from.
  std::atomic<const CompiledPolicy*>* slot() { return &policy_; }
  /// The policy in force (null before the first publish). Any thread; only the control thread
  /// may keep using it across a publish.
  const CompiledPolicy* policy() const { return policy_.load(std::memory_order_acquire); }
  /// The version of the policy in force (0 before the first publish).
  uint64_t generation() const { return generation_; }

  /// Compiles `segs` with the ports of the configuration, `quarantined` and the data classes in
  /// force into the next version, puts it in force, frees the old one after a grace period and
  /// raises "policy version N in force: `why`". Hit counters carry over. Errors: the policy or
  /// its inspection plan does not compile (the version in force stays). Control thread (the
  /// main thread at start-up).
  Result<void> publish(const SegmentsConfig& segs, const std::set<std::string>& quarantined, const std::string& why);

  /// Frees the policy in force and the RCU variable. After the workers are gone; once.
  void retire();

  /// Loads and compiles the data classes of `inspection.classes_dir` (or the cache). Errors:
  /// the class files, or Hyperscan refusing a pattern. Does not change the classes in force.
  Result<std::shared_ptr<const datapolicy::Classifier>> loadClassifier() const;
  /// The data classes in force (null when inspection is off).
  const std::shared_ptr<const datapolicy::Classifier>& classifier() const { return classifier_; }
  /// The data classes the next publish compiles with.
  void setClassifier(std::shared_ptr<const datapolicy::Classifier> c) { classifier_ = std::move(c); }

  /// The VM ports and VMs (quarantineKeyOfVm) in quarantine, as the quarantine file says.
  const std::set<std::string>& quarantined() const { return quarantined_; }
  /// Takes `q` as the quarantine in force (once published and saved).
  void setQuarantined(std::set<std::string> q) { quarantined_ = std::move(q); }
  /// Reads `quarantine_file` into quarantined(); a file that does not exist is an empty one.
  /// Names no VM port has are kept, and said on stderr. Errors: a file that cannot be read or
  /// holds something other than names (`file:line`): the switch must not start then. Main thread.
  Result<void> loadQuarantine();
  /// Replaces `quarantine_file` durably with `ports`. Errors: the file cannot be written.
  Result<void> saveQuarantine(const std::set<std::string>& ports) const;

 private:
  const SwitchConfig& sw_;
  Raise raise_;
  std::atomic<const CompiledPolicy*> policy_{nullptr};
  uint64_t generation_ = 0;
  uint32_t readers_ = 0;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::shared_ptr<const datapolicy::Classifier> classifier_;
  std::set<std::string> quarantined_;
};

}  // namespace goldgate::dataplane
