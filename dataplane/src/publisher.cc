// Publishing policies under RCU, and the quarantine file (publisher.h).
#include "publisher.h"

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "goldgate/alerts/kinds.h"
#include "goldgate/common/files.h"
#include "inspect.h"

namespace goldgate::dataplane {
namespace {
// A line per quarantined VM or port: far more than a host has.
constexpr size_t kMaxQuarantineFileBytes = 4u << 20;
}  // namespace

Publisher::Publisher(const SwitchConfig& sw, Raise raise) : sw_(sw), raise_(std::move(raise)) {}

Publisher::~Publisher() { retire(); }

Result<void> Publisher::initRcu(uint32_t readers) {
  readers_ = readers;
  size_t qsz = rte_rcu_qsbr_get_memsize(readers);
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("gg_qsbr", qsz, RTE_CACHE_LINE_SIZE));
  if (!qsbr_ || rte_rcu_qsbr_init(qsbr_, readers) != 0) return makeError(Error::Code::kResource, "cannot set up RCU");
  return {};
}

void Publisher::synchronize() const { rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID); }

Result<void> Publisher::publish(const SegmentsConfig& segs, const std::set<std::string>& quarantined,
                                const std::string& why) {
  auto pol = CompiledPolicy::compile(sw_, segs, quarantined, generation_ + 1, readers_);
  if (!pol) return pol.error();
  if (classifier_) {
    auto plan = InspectPlan::build(sw_, **pol, classifier_);
    if (!plan) return plan.error();
    (*pol)->setInspectPlan(std::move(*plan));
  }
  ++generation_;
  if (const CompiledPolicy* cur = policy_.load(std::memory_order_acquire)) (*pol)->inheritHits(*cur);
  const CompiledPolicy* old = policy_.exchange(pol->release(), std::memory_order_acq_rel);
  // Wait until every worker has passed a quiescent point: none can still hold `old`.
  if (old) {
    synchronize();
    delete old;
  }
  proto::AlertEvent ev;
  alerts::setKind(ev, alerts::Kind::kPolicyPublish);
  ev.set_action("publish");
  ev.set_policy_version(generation_);
  ev.set_message("policy version " + std::to_string(generation_) + " in force: " + why);
  raise_(ev, ev.kind() + "." + std::to_string(generation_));
  return {};
}

void Publisher::retire() {
  delete policy_.exchange(nullptr);
  if (qsbr_) rte_free(qsbr_);
  qsbr_ = nullptr;
}

Result<std::shared_ptr<const datapolicy::Classifier>> Publisher::loadClassifier() const {
  auto classes = datapolicy::loadClasses(sw_.inspection.classes_dir);
  if (!classes) return classes.error();
  return datapolicy::Classifier::build(std::move(*classes), {sw_.inspection.cache_dir});
}

Result<void> Publisher::loadQuarantine() {
  // Only a file that does not exist means nobody is in quarantine. One that cannot be read
  // (permissions, a folder in its place, an I/O error) stops the switch: starting would release
  // every VM it holds.
  auto text = readFileLimited(sw_.quarantine_file, kMaxQuarantineFileBytes);
  if (!text) {
    if (text.error().code == Error::Code::kNotFound) return {};
    return makeError(Error::Code::kIo,
                     "quarantine_file: " + text.error().message +
                         " (the switch does not start without the quarantine state; fix or remove the file)");
  }
  std::istringstream in(*text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    const bool printable = std::all_of(line.begin(), line.end(), [](char ch) { return ch > ' ' && ch < 127; });
    if (!printable || line.size() > 256)
      return makeError(
          Error::Code::kParse,
          sw_.quarantine_file + ":" + std::to_string(n) +
              ": not a port or VM name (the file is damaged; the switch does not start without the quarantine state)");
    bool known = line.rfind(kQuarantineVmPrefix, 0) == 0 ||  // a VM's, whichever port it comes to
                 std::any_of(sw_.ports.begin(), sw_.ports.end(),
                             [&](const PortConfig& p) { return p.name == line && traits(p.role).vm_side; });
    if (!known) {
      // Keep it in the set (and the file): the port may come back with the next configuration.
      std::fprintf(stderr, "goldgate-switch: %s:%d: quarantined port '%s' is not a VM port of %s\n",
                   sw_.quarantine_file.c_str(), n, line.c_str(), sw_.source_file.c_str());
    }
    quarantined_.insert(line);
  }
  if (!quarantined_.empty())
    std::fprintf(stderr, "goldgate-switch: %zu port(s) stay in quarantine (from %s)\n", quarantined_.size(),
                 sw_.quarantine_file.c_str());
  return {};
}

Result<void> Publisher::saveQuarantine(const std::set<std::string>& ports) const {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(sw_.quarantine_file).parent_path(), ec);
  std::string text = "# Ports in quarantine, kept across restarts of goldgate-switch. Use goldgatectl release.\n";
  for (const auto& p : ports) text += p + "\n";
  return replaceFileDurably(sw_.quarantine_file, text, 0644);
}

}  // namespace goldgate::dataplane
