#include "attest_cmd.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "goldgate/attest/derive.h"
#include "goldgate/attest/manifest.h"
#include "goldgate/attest/verify.h"
#include "goldgate/dataplane/config.h"
#include "goldgate/hostmon/client.h"
#include "format.h"
#include "output.h"
#include "report.h"
#include "text_table.h"

namespace goldgate::cli {
namespace {

// Writes `text` to `path` through a temporary file and a rename: a reader never sees half a file.
Result<void> writeAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f || !(f << text) || !f.flush()) return makeError(Error::Code::kIo, tmp + ": cannot write");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return makeError(Error::Code::kIo, path + ": cannot rename " + tmp + " onto it");
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
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int learn(const AttestCommands& o, bool json, const std::string& sock) {
  auto ms = parseDuration(o.duration);
  if (!ms) return failWith("--for: " + ms.error().message, 2);
  if (!o.out.empty() && !o.force && std::filesystem::exists(o.out))
    return failWith(o.out + " exists (--force to replace it)", 2);
  std::fprintf(stderr, "goldgatectl: learning %s for %s (every observation hostmon makes in that time) ...\n", o.vm.c_str(),
               o.duration.c_str());
  proto::HostmonRequest req;
  req.mutable_learn()->set_vm(o.vm);
  req.mutable_learn()->set_duration_ms(*ms);
  req.mutable_learn()->set_app(o.app);
  auto resp = hostmon::callHostmon(sock, req, static_cast<int>(std::min<uint64_t>(*ms + 30000, INT32_MAX)));
  if (json) return show(resp, true, std::function<std::string(const proto::HostmonResponse&)>());
  if (!resp) return failWith(resp.error().message);
  if (!resp->ok()) return failWith(resp->error());
  const auto& l = resp->learn();
  if (o.out.empty()) {
    std::cout << l.yaml();
  } else if (auto w = writeAtomically(o.out, l.yaml()); !w) {
    return failWith(w.error().message);
  }
  const auto& d = l.draft();
  std::fprintf(stderr,
               "goldgatectl: draft %s version %llu%s: %d executables, %d modules, %d listeners, %d inbound and %d outbound connections, "
               "%d data classes (from %u observations and %u flows)\n",
               d.app().c_str(), static_cast<unsigned long long>(d.version()), o.out.empty() ? "" : (" in " + o.out).c_str(),
               d.executables_size(), d.kernel().modules_size(), d.listeners_size(), d.inbound_size(), d.outbound_size(),
               d.data_classes_size(), l.observations(), l.flows());
  std::fprintf(stderr,
               "goldgatectl: review it (goldgatectl manifest diff ACTIVE DRAFT), set its responses, then sign it "
               "(goldgatectl manifest sign --key KEY FILE); nothing changes until a signed manifest is in place\n");
  return 0;
}

int manifests(bool json, const std::string& sock) {
  proto::HostmonRequest req;
  req.mutable_list_manifests();
  return show(hostmon::callHostmon(sock, req), json, std::function<std::string(const proto::HostmonResponse&)>([](const proto::HostmonResponse& r) {
                if (r.list_manifests().manifests().empty()) return std::string("no manifests (is attest.manifests set in hostmon's configuration?)\n");
                Table t({"FILE", "APP", "VERSION", "STATE", "EXPIRES", "SIGNERS", "VMS", "REASON"});
                for (const auto& m : r.list_manifests().manifests()) {
                  std::string signers, vms;
                  for (const auto& s : m.signers()) signers += (signers.empty() ? "" : ",") + s.substr(0, 8);
                  for (const auto& v : m.vms()) vms += (vms.empty() ? "" : ",") + v;
                  t.add({m.file(), m.app().empty() ? "-" : m.app(), m.version() ? std::to_string(m.version()) : "-",
                         m.accepted() ? "accepted" : "REFUSED", m.expires_unix() ? attest::formatTimestamp(m.expires_unix()) : "-",
                         signers.empty() ? "-" : signers, vms.empty() ? "-" : vms, m.accepted() ? "" : m.reason() + ": " + m.error()});
                }
                return t.str();
              }));
}

int report(const AttestCommands& o, bool json, const std::string& sock) {
  proto::HostmonRequest req;
  req.mutable_get_vm()->set_name_or_uuid(o.vm);
  auto resp = hostmon::callHostmon(sock, req);
  if (!o.html.empty()) {
    if (!resp) return failWith(resp.error().message);
    if (!resp->ok()) return failWith(resp->error());
    if (auto w = writeAtomically(o.html, formatReportHtml(resp->vm(), hostName(), nowNs())); !w) return failWith(w.error().message);
    std::printf("%s\n", o.html.c_str());
    return 0;
  }
  return show(resp, json, std::function<std::string(const proto::HostmonResponse&)>([](const proto::HostmonResponse& r) { return formatReport(r.vm()); }));
}

std::string operatorName(const std::string& by) {
  if (!by.empty()) return by;
  const char* u = std::getenv("SUDO_USER");
  if (!u) u = std::getenv("USER");
  return std::string("operator:") + (u ? u : "unknown");
}

std::string listActions(const std::string& vm, const google::protobuf::RepeatedPtrField<proto::ResponseAction>& actions,
                        const std::string& none) {
  if (actions.empty()) return vm + ": " + none + "\n";
  std::string out;
  for (const auto& a : actions)
    out += vm + ": " + a.action() + " " + a.state() + (a.detail().empty() ? "" : " (" + a.detail() + ")") + "\n";
  return out;
}

int release(const AttestCommands& o, bool json, const std::string& sock) {
  proto::HostmonRequest req;
  req.mutable_release()->set_vm(o.vm);
  req.mutable_release()->set_by(operatorName(o.by));
  return show(hostmon::callHostmon(sock, req, 15000), json,
              std::function<std::string(const proto::HostmonResponse&)>([&](const proto::HostmonResponse& r) {
                return listActions(o.vm, r.release().actions(), "no response in force");
              }));
}

int approve(const AttestCommands& o, bool json, const std::string& sock) {
  proto::HostmonRequest req;
  req.mutable_approve()->set_vm(o.vm);
  req.mutable_approve()->set_action_id(o.actionId);
  req.mutable_approve()->set_by(operatorName(o.by));
  return show(hostmon::callHostmon(sock, req, 60000), json,
              std::function<std::string(const proto::HostmonResponse&)>([&](const proto::HostmonResponse& r) {
                return listActions(o.vm, r.approve().actions(), "nothing was pending");
              }));
}

int fromManifests(const AttestCommands& o) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(o.dir, ec))
    if (e.path().extension() == ".yaml" || e.path().extension() == ".yml") files.push_back(e.path().string());
  if (ec) return failWith(o.dir + ": " + ec.message(), 2);
  std::sort(files.begin(), files.end());
  if (o.pubs.empty() && !o.unsignedOk)
    return failWith("name the trusted signers (--pub KEY.pub) or say --unsigned to derive from unverified manifests", 2);
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
               "goldgatectl: %zu manifests -> %zu segments, %zu rules (%zu of them allow-log catch-alls, %zu guards)%s; a stateless "
               "per-address ACL for the same connections needs %zu rules\n",
               ms.size(), d->segments, d->rules, d->catch_alls, d->guards, o.out.empty() ? "" : (" in " + o.out).c_str(),
               attest::equivalentHandWrittenRules(ms, vms, opts));
  return 0;
}

}  // namespace

Result<uint64_t> parseDuration(const std::string& text) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p == text.data()) return makeError(Error::Code::kInvalidArgument, "'" + text + "' is not a duration (30s, 5m, 1h, 1500ms)");
  std::string unit(p, text.data() + text.size());
  uint64_t mult = 0;
  if (unit == "ms") mult = 1;
  else if (unit == "s" || unit.empty()) mult = 1000;
  else if (unit == "m") mult = 60000;
  else if (unit == "h") mult = 3600000;
  else return makeError(Error::Code::kInvalidArgument, "'" + text + "': unknown unit '" + unit + "' (ms, s, m, h)");
  if (n == 0) return makeError(Error::Code::kInvalidArgument, "'" + text + "': a duration must be more than zero");
  if (n > UINT64_MAX / mult / 1000) return makeError(Error::Code::kInvalidArgument, "'" + text + "' is too long");
  return n * mult;
}

void addAttestCommands(CLI::App& app, AttestCommands& o, bool& json, std::string& hostmonSocket) {
  CLI::App* manifest = app.get_subcommand("manifest");
  CLI::App* vm = app.get_subcommand("vm");
  CLI::App* policy = app.get_subcommand("policy");
  o.learn = manifest->add_subcommand("learn", "record what a VM does for a while (through goldgate-hostmon) and write a draft manifest");
  o.learn->add_option("vm", o.vm, "VM name or UUID")->required();
  o.learn->add_option("--for", o.duration, "how long to learn: 30s, 5m, 1h")->required();
  o.learn->add_option("--app", o.app, "the draft's application name (default: the VM's gg:app, else its name)");
  o.learn->add_option("--out", o.out, "write the draft here (default: standard output)");
  o.learn->add_flag("--force", o.force, "replace --out if it exists");

  o.manifests = app.add_subcommand("manifests", "the manifests goldgate-hostmon holds: accepted or refused (and why), and their VMs");

  o.report = app.add_subcommand("report", "one VM against its manifest: expected and observed, red flags, actions");
  o.report->add_option("vm", o.vm, "VM name or UUID")->required();
  o.report->add_option("--html", o.html, "write a self-contained HTML page to this file instead");

  o.release = vm->add_subcommand("release", "undo the responses in force on a VM: lift its quarantine, end hardening, resume it");
  o.release->add_option("vm", o.vm, "VM name or UUID")->required();
  o.release->add_option("--by", o.by, "who releases it, for the record (default: operator:$USER)");

  o.approve = vm->add_subcommand("approve", "run the responses that wait for an operator (a manifest's confirm: true)");
  o.approve->add_option("vm", o.vm, "VM name or UUID")->required();
  o.approve->add_option("--id", o.actionId, "only this pending action (goldgatectl report VM lists them); default: all");
  o.approve->add_option("--by", o.by, "who approves, for the record (default: operator:$USER)");

  o.fromManifests = policy->add_subcommand("from-manifests", "derive least-privilege segment rules from the manifests' declared connections");
  o.fromManifests->add_option("dir", o.dir, "folder of manifests")->capture_default_str();
  o.fromManifests->add_option("--pub", o.pubs, "trusted signer's public key (repeatable): only manifests that verify are used");
  o.fromManifests->add_option("--threshold", o.threshold, "distinct trusted signatures a manifest needs")->capture_default_str();
  o.fromManifests->add_flag("--unsigned", o.unsignedOk, "use the manifests without checking their signatures (a draft policy)");
  o.fromManifests->add_option("--config", o.config, "the switch's goldgate.yaml, for zones named in manifests");
  o.fromManifests->add_option("--out", o.out, "write the segment file here (default: standard output)");

  for (auto* sub : {o.learn, o.manifests, o.report, o.release, o.approve}) {
    sub->add_flag("--json", json, "print the raw response as JSON");
    sub->add_option("--hostmon-socket", hostmonSocket, "control socket of goldgate-hostmon");
  }
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
