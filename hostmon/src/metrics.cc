#include "metrics.h"

#include "goldgate/common/metrics_http.h"

#include <array>
#include <limits>
#include <map>

namespace goldgate::hostmon {
using metrics::counter;
using metrics::family;
using metrics::gauge;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

HostmonMetrics::HostmonMetrics(const Inventory& inv, const GuestStateStore& store,
                               std::function<proto::VmAttestation(const std::string&)> attestation)
    : inv_(inv), store_(store), attestation_(std::move(attestation)) {}

std::vector<MetricFamily> HostmonMetrics::Collect() const {
  const auto vms = inv_.snapshot();
  std::map<std::string, uint64_t> byState;
  for (VmState s : {VmState::kRunning, VmState::kPaused, VmState::kShutoff, VmState::kCrashed}) byState[vmStateName(s)];
  struct PerCollector {
    uint64_t polls = 0, failures = 0, cpu_us = 0, sum_ms = 0;
    std::array<uint64_t, std::size(PollCost::kPollBucketsMs) + 1> counts{};
  };
  std::map<std::string, PerCollector> polls{{"agent", {}}, {"memory", {}}};
  std::map<std::string, uint64_t> flags, responses, observations;
  uint64_t memoryProcesses = 0, hiddenModules = 0, hooks = 0;
  for (const auto& r : vms) {
    ++byState[vmStateName(r.state)];
    if (auto s = store_.find(r.info.uuid)) {
      for (auto [name, cost] : {std::pair{"agent", &s->agent_cost}, {"memory", &s->memory_cost}}) {
        PerCollector& p = polls[name];
        p.polls += cost->polls;
        p.failures += cost->failures;
        p.cpu_us += cost->total_cpu_us;
        p.sum_ms += cost->duration_sum_ms;
        for (size_t i = 0; i < p.counts.size(); ++i) p.counts[i] += cost->duration_counts[i];
      }
      if (s->memory) {
        memoryProcesses += s->memory->processes.size();
        for (const auto& m : s->memory->modules) hiddenModules += !m.in_list;
        hooks += s->memory->syscall_hooks.size() + s->memory->idt_hooks.size();
      }
    }
    if (attestation_) {
      const auto a = attestation_(r.info.uuid);
      for (const auto& f : a.red_flags()) flags[f.kind()] += f.count();
      for (const auto& x : a.actions()) ++responses[x.action() + "|" + x.state()];
    }
  }
  std::vector<MetricFamily> out;
  auto vmsF = family("goldgate_hostmon_vms", "VMs hostmon knows, by libvirt state", MetricType::Gauge);
  for (const auto& [state, n] : byState) vmsF.metric.push_back(gauge(static_cast<double>(n), {{"state", state}}));
  out.push_back(std::move(vmsF));
  auto pollsF = family("goldgate_hostmon_polls_total", "guest-state polls made, by collector", MetricType::Counter);
  auto failF = family("goldgate_hostmon_poll_failures_total",
                      "polls that learnt nothing (agent silent or erring, memory unreadable): non-zero and rising "
                      "means a guest hostmon cannot see",
                      MetricType::Counter);
  auto cpuF = family("goldgate_hostmon_poll_cpu_seconds_total", "CPU of hostmon's polling threads, by collector",
                     MetricType::Counter);
  auto durF =
      family("goldgate_hostmon_poll_duration_seconds", "wall time of one poll, by collector", MetricType::Histogram);
  for (const auto& [name, p] : polls) {
    pollsF.metric.push_back(counter(static_cast<double>(p.polls), {{"collector", name}}));
    failF.metric.push_back(counter(static_cast<double>(p.failures), {{"collector", name}}));
    cpuF.metric.push_back(counter(p.cpu_us / 1e6, {{"collector", name}}));
    ClientMetric h;
    h.label = {{"collector", name}};
    uint64_t cumulative = 0;
    for (size_t i = 0; i < p.counts.size(); ++i) {
      cumulative += p.counts[i];
      ClientMetric::Bucket b;
      b.cumulative_count = cumulative;
      b.upper_bound = i < std::size(PollCost::kPollBucketsMs) ? PollCost::kPollBucketsMs[i] / 1e3
                                                              : std::numeric_limits<double>::infinity();
      h.histogram.bucket.push_back(b);
    }
    h.histogram.sample_count = cumulative;
    h.histogram.sample_sum = p.sum_ms / 1e3;
    durF.metric.push_back(std::move(h));
  }
  for (auto* f : {&pollsF, &failF, &cpuF, &durF}) out.push_back(std::move(*f));
  auto flagsF =
      family("goldgate_hostmon_red_flags_total",
             "red flags raised (occurrences), by deviation kind, for the VMs hostmon knows", MetricType::Counter);
  for (const auto& [kind, n] : flags) flagsF.metric.push_back(counter(static_cast<double>(n), {{"kind", kind}}));
  out.push_back(std::move(flagsF));
  auto respF = family("goldgate_hostmon_responses_total",
                      "response actions taken, by action and outcome (done, failed, pending)", MetricType::Counter);
  for (const auto& [key, n] : responses) {
    const size_t bar = key.find('|');
    respF.metric.push_back(
        counter(static_cast<double>(n), {{"action", key.substr(0, bar)}, {"state", key.substr(bar + 1)}}));
  }
  out.push_back(std::move(respF));
  auto memF =
      family("goldgate_hostmon_memory_view_processes", "processes read from guest memory, all VMs", MetricType::Gauge);
  memF.metric.push_back(gauge(static_cast<double>(memoryProcesses), {}));
  out.push_back(std::move(memF));
  auto hidF = family("goldgate_hostmon_memory_view_unlisted_modules",
                     "modules in guest memory that are off their kernel's module list (non-zero: a hiding module)",
                     MetricType::Gauge);
  hidF.metric.push_back(gauge(static_cast<double>(hiddenModules), {}));
  out.push_back(std::move(hidF));
  auto hookF = family("goldgate_hostmon_kernel_hooks",
                      "system-call table and IDT entries outside kernel text, all VMs (non-zero: a hooked kernel)",
                      MetricType::Gauge);
  hookF.metric.push_back(gauge(static_cast<double>(hooks), {}));
  out.push_back(std::move(hookF));
  return out;
}

}  // namespace goldgate::hostmon
