#include "agent_collector.h"

#include <algorithm>
#include <random>
#include <thread>

#include "goldgate/alerts/alert_log.h"

namespace goldgate::hostmon {
namespace {

std::string randomNonce() {
  static const char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s(16, 'x');
  for (char& c : s) c = kAlnum[rng() % (sizeof kAlnum - 1)];
  return s;
}

// The observation kind for a failed agent call or reply.
const char* failureKind(const Error& e) {
  switch (e.code) {
    case Error::Code::kIo: return "agent.silent";
    case Error::Code::kParse: return "agent.malformed";
    default: return "agent.error";
  }
}

}  // namespace

QemuAgentCollector::QemuAgentCollector(AgentCollectorOptions opts) : opts_(std::move(opts)) {}

int64_t QemuAgentCollector::now() const {
  if (opts_.clock) return opts_.clock();
  return alerts::nowNs();
}

CollectResult QemuAgentCollector::collect(const CollectTarget& vm, const GuestAccess& guest, const GuestState& latest) {
  // A domain that turns out not to be running (it stopped, or libvirtd is restarting) ends the
  // poll without a verdict: that is not the agent's silence.
  bool notRunning = false;
  GuestAccess access = guest;
  if (guest.agent)
    access.agent = [&guest, &notRunning](const std::string& req, int t) -> Result<std::string> {
      if (notRunning) return makeError(Error::Code::kNotFound, kDomainNotRunning);
      auto r = guest.agent(req, t);
      if (!r && r.error().code == Error::Code::kNotFound) notRunning = true;
      return r;
    };
  CollectResult res = collectWith(vm, access, latest);
  if (notRunning) return CollectResult{.skipped = true};
  return res;
}

void QemuAgentCollector::forget(const std::string& uuid) {
  std::lock_guard<std::mutex> l(mu_);
  hashes_.erase(uuid);
}

CollectResult QemuAgentCollector::collectWith(const CollectTarget& vm, const GuestAccess& access,
                                              const GuestState& latest) {
  CollectResult res;
  AgentView view = latest.agent.value_or(AgentView{});
  std::vector<std::string> problems;
  auto fail = [&](const char* what, const Error& e) {
    Observation o;
    o.kind = failureKind(e);
    o.detail = std::string(what) + ": " + e.message;
    o.source = source();
    o.trust = trust();
    o.first_ns = o.last_ns = now();
    res.observations.push_back(o);
    problems.push_back(o.kind + " (" + o.detail + ")");
  };
  // A parser's kIo means the agent replied {"error": …}: an answer, not silence (agent.error).
  auto asReply = [](Error e) {
    if (e.code == Error::Code::kIo) e.code = Error::Code::kInvalidArgument;
    return e;
  };
  auto stamp = [&](Provenance& p) {
    p.source = source();
    p.trust = trust();
    p.observed_ns = now();
  };
  if (!access.agent) {
    fail("guest agent", makeError(Error::Code::kIo, "no agent access for this VM"));
    res.failed = true;
    res.status = problems.front();
    return res;
  }
  const int t = opts_.timeout_s;
  bool learnt = false;

  // 1. OS and kernel. A silent agent here ends the poll: the other commands would only wait
  //    out their own timeouts.
  auto os = access.agent(agentRequest("guest-get-osinfo"), t);
  if (!os) {
    fail("guest-get-osinfo", os.error());
    res.failed = true;
    res.status = problems.front();
    return res;
  }
  if (auto k = parseOsInfo(*os, opts_.limits); !k) {
    fail("guest-get-osinfo", asReply(k.error()));
  } else {
    std::string cmdline = view.kernel.cmdline;  // comes from the probe, below
    view.kernel = std::move(*k);
    view.kernel.cmdline = cmdline;
    stamp(view.kernel.seen);
    learnt = true;
  }

  // 2. Interface addresses (MAC → IPs).
  auto ifs = access.agent(agentRequest("guest-network-get-interfaces"), t);
  if (!ifs) {
    fail("guest-network-get-interfaces", ifs.error());
  } else if (auto l = parseInterfaces(*ifs, opts_.limits); !l) {
    fail("guest-network-get-interfaces", asReply(l.error()));
  } else {
    view.interfaces = std::move(*l);
    stamp(view.interfaces_seen);
    learnt = true;
  }

  // 3. The probe script: one guest-exec, then guest-exec-status until it exits.
  const std::string nonce = opts_.nonce ? opts_.nonce() : randomNonce();
  Hashes known;
  {
    std::lock_guard<std::mutex> l(mu_);
    Hashes& h = hashes_[vm.uuid];
    if (opts_.rehash_every <= 1 || h.polls++ % opts_.rehash_every == 0) h.by_identity.clear();
    known = h;
  }
  std::vector<std::string> knownIds;
  for (const auto& [id, hash] : known.by_identity) knownIds.push_back(id);
  auto started = access.agent(execRequest(probeScript(nonce, opts_.limits, knownIds)), t);
  auto pid = started ? parseExecStarted(*started, opts_.limits) : Result<int64_t>(started.error());
  if (!pid) {
    fail("guest-exec", started ? asReply(pid.error()) : pid.error());
  } else {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.exec_deadline_ms);
    uint32_t wait = std::max<uint32_t>(opts_.exec_poll_ms, 1);
    std::optional<ExecStatus> done;
    while (true) {
      auto st = access.agent(execStatusRequest(*pid), t);
      if (!st) {
        fail("guest-exec-status", st.error());
        break;
      }
      auto s = parseExecStatus(*st, opts_.limits);
      if (!s) {
        fail("guest-exec-status", asReply(s.error()));
        break;
      }
      if (s->exited) {
        done = std::move(*s);
        break;
      }
      if (cancelled_) {
        fail("probe", makeError(Error::Code::kInvalidArgument, "cancelled (hostmon is stopping)"));
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        fail("probe", makeError(Error::Code::kIo, "still running after " + std::to_string(opts_.exec_deadline_ms) +
                                                      " ms (pid " + std::to_string(*pid) + " in the guest)"));
        break;
      }
      if (opts_.sleep) opts_.sleep(wait);
      else std::this_thread::sleep_for(std::chrono::milliseconds(wait));
      wait = std::min<uint32_t>(wait * 2, 1000);
    }
    if (done) {
      auto probe = parseProbeOutput(done->out, nonce, opts_.limits, done->out_truncated, &known.by_identity);
      if (!probe) {
        fail("probe output", probe.error());
      } else {
        {
          std::lock_guard<std::mutex> l(mu_);
          auto& h = hashes_[vm.uuid].by_identity;
          if (h.size() + probe->hashes_by_identity.size() > opts_.limits.max_processes) h.clear();  // bounded
          h.insert(probe->hashes_by_identity.begin(), probe->hashes_by_identity.end());
        }
        view.kernel.cmdline = probe->kernel_cmdline;
        view.modules = std::move(probe->modules);
        view.processes = std::move(probe->processes);
        view.listeners = std::move(probe->listeners);
        view.sockets = std::move(probe->sockets);
        view.truncated = probe->truncated;
        stamp(view.modules_seen);
        view.processes_seen = view.listeners_seen = view.modules_seen;
        learnt = true;
        for (const auto& n : probe->notes) {
          Observation o{"agent.oddity", n, source(), trust(), now(), now(), 1};
          res.observations.push_back(o);
        }
      }
    }
  }
  res.failed = !learnt;
  if (learnt) res.agent = std::move(view);
  res.status = problems.empty() ? "ok" : problems.front();
  return res;
}

}  // namespace goldgate::hostmon
