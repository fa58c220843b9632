#include "attest_cmd.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "goldgate/attest/derive.h"
#include "goldgate/attest/manifest.h"
#include "goldgate/attest/verify.h"
#include "goldgate/dataplane/config.h"
#include "goldgate/hostmon/client.h"
#include "output.h"
#include "report.h"

namespace goldgate::cli {
namespace {

// Writes `text` to `path` through a temporary file and a rename: a reader never sees half a file.
// Without `replace` an existing `path` is kept (link(2) fails atomically on it); the text then stays
// in the temporary file, which the error names, so that a long learning run is not lost.
Result<void> writeAtomically(const std::string& path, const std::string& text, bool replace = true) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f || !(f << text) || !f.flush()) {
      std::remove(tmp.c_str());
      return makeError(Error::Code::kIo, tmp + ": cannot write: " + std::strerror(errno));
    }
  }
  if (!replace) {
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      return makeError(Error::Code::kIo, path + ": " + std::strerror(err) + " (the text is in " + tmp + ")");
    }
    std::remove(tmp.c_str());
    return {};
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return makeError(Error::Code::kIo, path + ": cannot rename " + tmp + " onto it: " + std::strerror(err));
  }
  return {};
}

int failWith(const std::string& msg, int rc = 1) {
  std::fprintf(stderr, "goldgatectl: %s\n", msg.c_str());
  return rc;
}

std::string hostName() {
  char h[256] = "?";
  ::gethostname(h, sizeof h - 1);
  return h;
}

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Who a release is recorded as done by when --by is not given: the user behind sudo, else $USER.
std::string defaultReleaser() {
  const char* u = std::getenv("SUDO_USER");
  if (!u) u = std::getenv("USER");
  return std::string("operator:") + (u ? u : "unknown");
}

int learn(const AttestCommands& o, bool json, const std::string& sock) {
  auto ms = parseDuration(o.duration);
  if (!ms) return failWith("--for: " + ms.error().message, 2);
  if (*ms < hostmon::kLearnMinMs || *ms > hostmon::kLearnMaxMs)
    return failWith("--for: " + o.duration + ": learning takes between 1s and 24h", 2);
  if (!o.out.empty() && !o.force && std::filesystem::exists(o.out))
    return failWith("--out: " + o.out + " exists (--force to replace it)", 2);
  std::fprintf(stderr, "goldgatectl: learning %s for %s (every observation hostmon makes in that time) …\n",
               o.vm.c_str(), o.duration.c_str());
  auto resp = hostmon::learn(sock, o.vm, *ms, o.app);
  if (!resp) return failWith("learning " + o.vm + ": " + resp.error().message);
  if (!o.out.empty()) {
    if (auto w = writeAtomically(o.out, resp->yaml(), o.force); !w) return failWith(w.error().message);
  } else if (!json) {
    std::cout << resp->yaml();
  }
  if (json) printJson(*resp);
  std::fprintf(stderr, "goldgatectl: %s\n", formatLearnSummary(*resp, o.out).c_str());
  std::fprintf(
      stderr,
      "goldgatectl: this is a draft: review it against the manifest in force (goldgatectl manifest diff ACTIVE DRAFT), "
      "set its responses, then sign it (goldgatectl manifest sign --key KEY FILE); nothing changes until a signed "
      "manifest is in place\n");
  return 0;
}

int manifests(bool json, const std::string& sock) {
  const int64_t now = nowNs() / 1000000000;
  return show(hostmon::listManifests(sock), json,
              std::function<std::string(const proto::ListManifestsResponse&)>(
                  [now](const proto::ListManifestsResponse& r) { return formatManifests(r, now); }));
}

int report(const AttestCommands& o, bool json, const std::string& sock) {
  auto vm = hostmon::getVm(sock, o.vm);
  if (!vm) return failWith("report on " + o.vm + ": " + vm.error().message);
  if (o.html.empty())
    return show(vm, json, std::function<std::string(const proto::VmRecord&)>([&](const proto::VmRecord& r) {
                  return formatReport(r, o.allProcesses);
                }));
  if (auto w = writeAtomically(o.html, formatReportHtml(*vm, hostName(), nowNs())); !w)
    return failWith(w.error().message);
  std::printf("%s\n", o.html.c_str());
  return 0;
}

int release(const AttestCommands& o, bool json, const std::string& sock) {
  auto resp = hostmon::release(sock, o.vm, o.by.empty() ? defaultReleaser() : o.by);
  if (!resp) return failWith("releasing " + o.vm + ": " + resp.error().message);
  int rc =
      show(resp, json, std::function<std::string(const proto::ReleaseResponse&)>([&](const proto::ReleaseResponse& r) {
             return formatRelease(o.vm, r);
           }));
  // An undo that failed leaves its response in force: the operator has to know from the exit code.
  for (const auto& a : resp->actions())
    if (a.state() == "failed") rc = 1;
  return rc;
}

int approve(const AttestCommands& o, bool json, const std::string& sock) {
  proto::HostmonRequest req;
  req.mutable_approve()->set_vm(o.vm);
  req.mutable_approve()->set_action_id(o.actionId);
  req.mutable_approve()->set_by(o.by.empty() ? defaultReleaser() : o.by);
  auto resp = hostmon::callHostmon(sock, req, 60000);
  int rc =
      show(resp, json, std::function<std::string(const proto::HostmonResponse&)>([&](const proto::HostmonResponse& r) {
             proto::ReleaseResponse done;
             *done.mutable_actions() = r.approve().actions();
             return formatRelease(o.vm, done);
           }));
  if (rc == 0)
    for (const auto& a : resp->approve().actions())
      if (a.state() == "failed") rc = 1;
  return rc;
}

int fromManifests(const AttestCommands& o) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(o.dir, ec))
    if (e.path().extension() == ".yaml" || e.path().extension() == ".yml") files.push_back(e.path().string());
  if (ec) return failWith(o.dir + ": " + ec.message(), 2);
  std::sort(files.begin(), files.end());
  if (o.pubs.empty() && !o.unsignedOk)
    return failWith("name the trusted signers (--pub KEY.pub) or say --unsigned to derive from unverified manifests",
                    2);
  attest::TrustPolicy trust;
  trust.threshold = o.threshold;
  for (const auto& p : o.pubs) {
    auto k = attest::PublicKey::load(p);
    if (!k) return failWith(k.error().message, 2);
    trust.keys.push_back(std::move(*k));
  }
  std::vector<proto::Manifest> ms;
  const int64_t now = nowNs() / 1000000000;
  for (const auto& f : files) {
    if (!o.pubs.empty()) {
      auto v = attest::verifyManifestFile(f, trust, now);
      if (!v) {
        std::fprintf(stderr, "goldgatectl: left out: %s\n", v.error().message.c_str());
        continue;
      }
      ms.push_back(std::move(v->manifest));
    } else {
      auto m = attest::loadManifestFile(f);
      if (!m) return failWith(m.error().message, 2);
      ms.push_back(std::move(*m));
    }
  }
  attest::DeriveOptions opts;
  opts.source = o.dir;
  if (!o.config.empty()) {
    auto sw = dataplane::loadSwitchConfig(o.config);
    if (!sw) return failWith(sw.error().message, 2);
    for (const auto& z : sw->zones)
      for (const auto& c : z.cidrs) opts.zones[z.name].push_back(c.toString());
  }
  auto d = attest::deriveSegments(ms, opts);
  if (!d) return failWith(d.error().message, 2);
  for (const auto& w : d->warnings) std::fprintf(stderr, "goldgatectl: warning: %s\n", w.c_str());
  if (o.out.empty()) std::cout << d->segments_yaml;
  else if (auto w = writeAtomically(o.out, d->segments_yaml); !w) return failWith(w.error().message);
  std::map<std::string, size_t> vms;
  for (const auto& m : ms) vms[m.app()] = static_cast<size_t>(std::max(1, m.applies_to().vms_size()));
  std::fprintf(stderr,
               "goldgatectl: %zu manifests -> %zu segments, %zu rules (%zu of them allow-log catch-alls, %zu "
               "guards)%s; a stateless "
               "per-address ACL for the same connections needs %zu rules\n",
               ms.size(), d->segments, d->rules, d->catch_alls, d->guards,
               o.out.empty() ? "" : (" in " + o.out).c_str(), attest::equivalentHandWrittenRules(ms, vms, opts));
  return 0;
}

}  // namespace

Result<uint64_t> parseDuration(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return makeError(Error::Code::kInvalidArgument,
                     "'" + text + "' " + why + " (a duration: 30s, 5m, 1h, 1h30m, 1500ms; units ms, s, m, h)");
  };
  if (text.empty()) return bad("is empty");
  const char* p = text.data();
  const char* end = text.data() + text.size();
  uint64_t total = 0;
  while (p != end) {
    uint64_t n = 0;
    auto [q, ec] = std::from_chars(p, end, n);
    if (ec == std::errc::result_out_of_range) return bad("is too long");
    if (ec != std::errc()) return bad("is not a duration");
    const char* u = q;
    while (q != end && std::isalpha(static_cast<unsigned char>(*q))) ++q;
    const std::string unit(u, q);
    uint64_t mult = 0;
    if (unit == "ms") mult = 1;
    else if (unit == "s" || (unit.empty() && q == end && p == text.data())) mult = 1000;  // a bare number: seconds
    else if (unit == "m") mult = 60000;
    else if (unit == "h") mult = 3600000;
    else if (unit.empty()) return bad(q == end ? "has a number without a unit" : "is not a duration");
    else return bad("has an unknown unit '" + unit + "'");
    if (n > (UINT64_MAX - total) / mult) return bad("is too long");
    total += n * mult;
    p = q;
  }
  if (total == 0) return bad("is zero");
  return total;
}

void addAttestCommands(CLI::App& app, AttestCommands& o, bool& json, std::string& hostmonSocket) {
  CLI::App* manifest = app.get_subcommand("manifest");
  CLI::App* vm = app.get_subcommand("vm");
  CLI::App* policy = app.get_subcommand("policy");
  o.learn = manifest->add_subcommand("learn",
                                     "record what a running VM does for a while (through goldgate-hostmon) and write a "
                                     "draft manifest to review and sign");
  o.learn->add_option("vm", o.vm, "VM name or UUID")->required();
  o.learn->add_option("--for", o.duration, "how long to learn: 30s, 5m, 1h, 1h30m (1s to 24h)")->required();
  o.learn->add_option("--app", o.app, "the draft's application name (default: the VM's gg:app, else its name)");
  o.learn->add_option("--out", o.out, "write the draft here (default: standard output)");
  o.learn->add_flag("--force", o.force, "replace --out if it exists");
  o.learn->add_flag("--json", json,
                    "print hostmon's answer (the draft as YAML and as a parsed manifest, with counts) as JSON");

  o.manifests = app.add_subcommand(
      "manifests", "the manifests goldgate-hostmon holds: accepted, expired or refused (and why), and their VMs");
  o.manifests->add_flag("--json", json, "print the list as JSON (proto field names)");

  o.report = app.add_subcommand("report",
                                "one VM against its manifest: expected and observed per category, red flags with their "
                                "evidence, response actions");
  o.report->add_option("vm", o.vm, "VM name or UUID")->required();
  o.report->add_flag("--json", json, "print the VM record (attestation and guest state) as JSON (proto field names)");
  o.report->add_flag(
      "--processes", o.allProcesses,
      "without a manifest: list every guest process (full hashes and command lines) and every kernel module");
  o.report->add_option(
      "--html", o.html,
      "write a self-contained HTML page to this file instead (replaced atomically) and print its path");

  o.release = vm->add_subcommand("release",
                                 "undo the responses in force on a VM (lift its quarantine, end hardening, resume it); "
                                 "exit 1 if one cannot be undone");
  o.release->add_option("vm", o.vm, "VM name or UUID")->required();
  o.release->add_option("--by", o.by,
                        "who releases it, for the record (default: operator:$SUDO_USER or operator:$USER)");
  o.release->add_flag("--json", json, "print what was undone as JSON (proto field names)");

  o.approve = vm->add_subcommand("approve", "run the responses that wait for an operator (a manifest's confirm: true)");
  o.approve->add_option("vm", o.vm, "VM name or UUID")->required();
  o.approve->add_option("--id", o.actionId,
                        "only this pending action (goldgatectl report VM lists them); default: all");
  o.approve->add_option("--by", o.by, "who approves, for the record (default: operator:$SUDO_USER or operator:$USER)");

  o.fromManifests = policy->add_subcommand(
      "from-manifests", "derive least-privilege segment rules from the manifests' declared connections");
  o.fromManifests->add_option("dir", o.dir, "folder of manifests")->capture_default_str();
  o.fromManifests->add_option("--pub", o.pubs,
                              "trusted signer's public key (repeatable): only manifests that verify are used");
  o.fromManifests->add_option("--threshold", o.threshold, "distinct trusted signatures a manifest needs")
      ->capture_default_str();
  o.fromManifests->add_flag("--unsigned", o.unsignedOk,
                            "use the manifests without checking their signatures (a draft policy)");
  o.fromManifests->add_option("--config", o.config, "the switch's goldgate.yaml, for zones named in manifests");
  o.fromManifests->add_option("--out", o.out, "write the segment file here (default: standard output)");

  o.approve->add_flag("--json", json, "print what was run as JSON (proto field names)");
  for (auto* sub : {o.learn, o.manifests, o.report, o.release, o.approve})
    sub->add_option("--hostmon-socket", hostmonSocket, "control socket of goldgate-hostmon");
}

std::optional<int> runAttestCommand(const AttestCommands& o, bool json, const std::string& hostmonSocket) {
  if (o.learn && *o.learn) return learn(o, json, hostmonSocket);
  if (o.manifests && *o.manifests) return manifests(json, hostmonSocket);
  if (o.report && *o.report) return report(o, json, hostmonSocket);
  if (o.release && *o.release) return release(o, json, hostmonSocket);
  if (o.approve && *o.approve) return approve(o, json, hostmonSocket);
  if (o.fromManifests && *o.fromManifests) return fromManifests(o);
  return std::nullopt;
}

}  // namespace goldgate::cli
