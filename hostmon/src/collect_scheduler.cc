#include "collect_scheduler.h"

#include <sys/resource.h>

#include <algorithm>

#include "goldgate/alerts/kinds.h"
#include "memory_collector.h"

namespace goldgate::hostmon {
namespace {

uint64_t threadCpuUs() {
  rusage ru{};
  if (getrusage(RUSAGE_THREAD, &ru) != 0) return 0;
  auto us = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1000000u + static_cast<uint64_t>(t.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

bool isRunning(VmState s) { return s == VmState::kRunning || s == VmState::kBlocked; }

CollectTarget targetOf(const VmRecord& r) {
  return {r.info.uuid, r.info.name, r.info.labels.manifest, r.info.labels.segment, boundAddresses(r.info)};
}

bool wants(CollectKind kind, const VmRecord& r) {
  return isRunning(r.state) && (kind == CollectKind::kMemory || r.info.has_agent_channel);
}

}  // namespace

CollectScheduler::CollectScheduler(CollectOptions opts, const Inventory& inv, GuestStateStore& store,
                                   std::unique_ptr<Collector> agent, std::unique_ptr<Collector> memory,
                                   AccessOpener open, AlertFn alert)
    : opts_(opts),
      inv_(inv),
      store_(store),
      agent_(std::move(agent)),
      memory_(std::move(memory)),
      open_(std::move(open)),
      alert_(std::move(alert)) {}

CollectScheduler::~CollectScheduler() { stop(); }

void CollectScheduler::start() {
  if (!opts_.enabled) return;
  for (CollectKind k : {CollectKind::kAgent, CollectKind::kMemory})
    if (collector(k)) {
      {
        std::lock_guard<std::mutex> l(mu_);
        ++running_;
      }
      threads_[static_cast<int>(k)] = std::thread([this, k] {
        loop(k);
        std::lock_guard<std::mutex> l(mu_);
        --running_;
        cv_.notify_all();
      });
    }
}

bool CollectScheduler::stop(int timeoutMs) {
  for (Collector* c : {agent_.get(), memory_.get()})
    if (c) c->cancel();
  {
    std::unique_lock<std::mutex> l(mu_);
    stop_ = true;
    cv_.notify_all();
    auto done = [&] { return running_ == 0; };
    if (timeoutMs < 0) cv_.wait(l, done);
    else if (!cv_.wait_for(l, std::chrono::milliseconds(timeoutMs), done)) return false;
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  return true;
}

uint32_t CollectScheduler::alertSeverity(const std::string& kind) {
  // An observation with a row of its own in the event catalog (attest.<kind>) is alerted at that
  // row's severity; the others (memory.error, agent.oddity) are recorded, not alerted.
  const alerts::KindInfo* row = alerts::findKind(alerts::wireName(alerts::Kind::kAttest, kind));
  return row && !row->family() ? row->severity : 0;
}

void CollectScheduler::onEvent(const InventoryEvent& e) {
  const auto now = std::chrono::steady_clock::now();
  using alerts::Kind;
  bool restart = e.is(Kind::kVmStarted) || e.is(Kind::kVmRebooted);
  bool gone = e.is(Kind::kVmStopped) || e.is(Kind::kVmUndefined);
  // What was learnt (banner address, gold hash) belongs to one boot of the VM.
  if (restart || gone)
    for (Collector* c : {agent_.get(), memory_.get()})
      if (c) c->forget(e.uuid);
  if (e.is(Kind::kVmUndefined)) store_.erase(e.uuid);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (restart) boots_[e.uuid] = Boot{now, false};
    if (e.is(Kind::kVmAgentConnected)) boots_[e.uuid].agent_seen = true;
    if (gone) boots_.erase(e.uuid);
    if (e.is(Kind::kVmAgentConnected) || restart) {
      due_[0][e.uuid] = Due{now, 0};
      if (restart) due_[1][e.uuid] = Due{now, 0};
    } else if (gone) {
      due_[0].erase(e.uuid);
      due_[1].erase(e.uuid);
    }
  }
  cv_.notify_all();
}

void CollectScheduler::loop(CollectKind kind) {
  auto& due = due_[static_cast<int>(kind)];
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    // VMs appear and disappear through the inventory; events only make things happen sooner.
    l.unlock();
    auto vms = inv_.snapshot();
    l.lock();
    const auto now = std::chrono::steady_clock::now();
    std::map<std::string, Due> next;
    for (const auto& r : vms)
      if (wants(kind, r) && (kind != CollectKind::kAgent || agentDue(r, now))) {
        auto it = due.find(r.info.uuid);
        next[r.info.uuid] = it == due.end() ? Due{now, 0} : it->second;
      }
    due.swap(next);
    // The most overdue VM first.
    std::string pick;
    auto pickAt = now;
    auto soonest = now + std::chrono::seconds(1);  // look at the inventory again at least this often
    for (const auto& [uuid, d] : due) {
      if (d.at <= pickAt) {
        pick = uuid;
        pickAt = d.at;
      }
      soonest = std::min(soonest, d.at);
    }
    if (pick.empty()) {
      cv_.wait_until(l, soonest);
      continue;
    }
    // Scheduled from now, not from the poll's end, would let a slow poll run back to back; from
    // the end it is (interval is the quiet time between polls).
    l.unlock();
    bool polled = pollNow(pick, kind);
    std::optional<GuestState> st = store_.find(pick);
    l.lock();
    auto it = due.find(pick);
    if (it == due.end()) continue;
    uint32_t wait = interval(kind);
    if (polled && kind == CollectKind::kAgent && st && st->agent_status.rfind("agent.silent", 0) == 0) {
      // A silent agent costs a full timeout per poll: back off, up to the configured maximum.
      it->second.silent = std::min<uint32_t>(it->second.silent + 1, 16);
      uint64_t w = uint64_t{wait} << std::min<uint32_t>(it->second.silent, 10);
      wait = static_cast<uint32_t>(std::min<uint64_t>(w, std::max(opts_.agent_backoff_max_ms, wait)));
    } else {
      it->second.silent = 0;
    }
    // A memory pass that saw a process the agent's listing lacks brings the next agent poll
    // forward, by half an interval at most (so a guest that starts processes all the time costs at
    // most twice the agent polls): cross-view then has its listing between two passes sooner.
    if (polled && kind == CollectKind::kMemory && st && st->agent_soon)
      if (auto a = due_[static_cast<int>(CollectKind::kAgent)].find(pick);
          a != due_[static_cast<int>(CollectKind::kAgent)].end()) {
        const auto now = std::chrono::steady_clock::now();
        const auto sooner = std::max(now, a->second.at - std::chrono::milliseconds(interval(CollectKind::kAgent) / 2));
        if (sooner < a->second.at && a->second.silent == 0) {
          a->second.at = sooner;
          cv_.notify_all();
        }
      }
    // A fresh agent listing is followed by a memory pass at once: cross-view judges a listing only
    // between two passes, and a pass right after each listing gives it its second one.
    if (polled && kind == CollectKind::kAgent && st && st->agent_status == "ok")
      if (auto m = due_[static_cast<int>(CollectKind::kMemory)].find(pick);
          m != due_[static_cast<int>(CollectKind::kMemory)].end()) {
        m->second.at = std::chrono::steady_clock::now();
        cv_.notify_all();
      }
    it->second.at = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
  }
}

bool CollectScheduler::agentDue(const VmRecord& r, std::chrono::steady_clock::time_point now) {
  // A VM first met here (no start event seen) has its grace counted from now.
  auto it = boots_.try_emplace(r.info.uuid, Boot{now, r.agent_connected}).first;
  if (r.agent_connected) it->second.agent_seen = true;
  return it->second.agent_seen || now - it->second.started >= std::chrono::seconds(opts_.agent_boot_grace_s);
}

bool CollectScheduler::pollNow(const std::string& uuid, CollectKind kind) {
  Collector* c = collector(kind);
  if (!c) return false;
  auto rec = inv_.find(uuid);
  if (!rec) return false;
  CollectTarget vm = targetOf(*rec);
  // A libvirt that is away (restarting) skips the poll: nothing is learnt, nothing is wrong.
  auto access = open_ ? open_(uuid) : Result<GuestAccess>(makeError(Error::Code::kIo, "no access"));
  if (!access) return false;
  GuestState latest = store_.find(uuid).value_or(GuestState{});
  const uint64_t cpu0 = threadCpuUs();
  const auto t0 = std::chrono::steady_clock::now();
  CollectResult r = c->collect(vm, *access, latest);
  if (r.skipped) return false;
  const uint64_t cpu = threadCpuUs() - cpu0;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  apply(vm, kind, std::move(r), static_cast<uint32_t>(std::max<int64_t>(ms, 0)), cpu);
  return true;
}

void CollectScheduler::apply(const CollectTarget& vm, CollectKind kind, CollectResult&& r, uint32_t durationMs,
                             uint64_t cpuUs) {
  std::vector<Observation> toAlert;
  const bool freshAgent = r.agent.has_value();
  store_.update(vm.uuid, vm.name, [&](GuestState& s) {
    PollCost& cost = kind == CollectKind::kAgent ? s.agent_cost : s.memory_cost;
    ++cost.polls;
    if (r.failed) ++cost.failures;
    cost.last_duration_ms = durationMs;
    cost.addDuration(durationMs);
    cost.last_cpu_us = cpuUs;
    cost.total_cpu_us += cpuUs;
    if (kind == CollectKind::kAgent) {
      s.agent_status = r.status;
      if (r.agent) s.agent = std::move(r.agent);
    } else {
      s.memory_status = r.status;
      if (!r.failed) s.agent_soon = r.agent_soon;
      if (r.memory) s.memory = std::move(r.memory);
    }
    // The two views of the kernel must name the same release; a difference means one of them
    // is wrong (a guest reporting another kernel than it runs, or a changed kernel). Checked on
    // memory polls only, so that one standing difference is one observation stream.
    if (kind == CollectKind::kMemory && s.agent && s.memory && !s.agent->kernel.release.empty() &&
        !s.memory->banner.empty()) {
      std::string mem = bannerRelease(s.memory->banner);
      if (mem != s.agent->kernel.release) {
        int64_t t = std::max(s.agent->kernel.seen.observed_ns, s.memory->seen.observed_ns);
        r.observations.push_back({"disagreement.kernel_release",
                                  "guest agent reports " + s.agent->kernel.release + ", memory holds " + mem,
                                  "memory-peek+qemu-agent", Trust::kHypervisorObserved, t, t, 1});
      }
    }
    // The agent's addresses against the host's binding: the binding decides what the switch
    // passes; an address only the guest claims is a disagreement (a changed address, or a lie).
    if (kind == CollectKind::kAgent && freshAgent && s.agent)
      for (auto& o : addressDisagreements(vm.addresses, *s.agent)) r.observations.push_back(std::move(o));
    std::vector<std::string>& standing = kind == CollectKind::kAgent ? s.standing_agent : s.standing_memory;
    std::vector<std::string> now;
    if (kind == CollectKind::kAgent) {
      bool silent = std::any_of(r.observations.begin(), r.observations.end(),
                                [](const Observation& o) { return o.kind == "agent.silent"; });
      s.silent_streak = silent ? s.silent_streak + 1 : 0;
    }
    for (const auto& o : r.observations) {
      s.record(o);
      if (o.kind == "agent.silent") {
        // Its detail names whichever call went unanswered: one condition, alerted when confirmed.
        if (s.silent_streak == 2) toAlert.push_back(o);
        continue;
      }
      std::string key = o.kind + "|" + o.detail;
      if (alertSeverity(o.kind) > 0 && std::find(standing.begin(), standing.end(), key) == standing.end())
        toAlert.push_back(o);
      now.push_back(std::move(key));
    }
    standing.swap(now);
  });
  if (alert_)
    for (const auto& o : toAlert) alert_(vm, o);
  if (after_apply_) after_apply_(vm.uuid);
}

}  // namespace goldgate::hostmon
