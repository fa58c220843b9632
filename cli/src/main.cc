// goldgatectl: the operator's CLI for goldgate-switch.
#include <google/protobuf/util/json_util.h>
#include <CLI/CLI.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "attest_cmd.h"
#include "classify.h"
#include "fleet_cmd.h"
#include "format.h"
#include "format_guest.h"
#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/control_client.h"
#include "goldgate/hostmon/client.h"
#include "kernel_profile_cmd.h"
#include "manifest_cmd.h"
#include "output.h"
#include "trace_cmd.h"

using namespace goldgate;

namespace {

using cli::show;

int call(const std::string& socket, const proto::Request& req, bool json,
         const std::function<std::string(const proto::Response&)>& render) {
  return show(dataplane::callSwitch(socket, req), json, render);
}

int callHostmon(const std::string& socket, const proto::HostmonRequest& req, bool json,
                const std::function<std::string(const proto::HostmonResponse&)>& render) {
  return show(hostmon::callHostmon(socket, req), json, render);
}

// Prints one record a line until the switch closes the stream (or the user interrupts).
int followAlerts(const std::string& socketPath, const proto::Request& req) {
  // No receive timeout: the stream stays open as long as the switch has alerts to send.
  auto conn = ipc::connectUnix(socketPath, 0, "goldgate-switch", "is the switch running? is --socket right?");
  if (!conn) {
    std::fprintf(stderr, "goldgatectl: %s\n", conn.error().message.c_str());
    return 1;
  }
  int fd = *conn;
  std::string bytes;
  req.SerializeToString(&bytes);
  if (!dataplane::writeFrame(fd, bytes)) {
    std::fprintf(stderr, "goldgatectl: send: %s\n", std::strerror(errno));
    return 1;
  }
  bool first = true;
  for (;;) {
    auto frame = dataplane::readFrame(fd);
    if (!frame) {
      if (first) std::fprintf(stderr, "goldgatectl: no answer: %s\n", frame.error().message.c_str());
      else std::fprintf(stderr, "goldgatectl: the switch closed the stream (%s)\n", frame.error().message.c_str());
      return 1;
    }
    proto::Response r;
    if (!r.ParseFromString(*frame)) {
      std::fprintf(stderr, "goldgatectl: malformed frame from the switch\n");
      return 1;
    }
    if (!r.ok()) {
      std::fprintf(stderr, "goldgatectl: %s\n", r.error().c_str());
      return 1;
    }
    if (first) std::fprintf(stderr, "goldgatectl: %s\n", r.message().c_str());
    else std::printf("%s\n", r.message().c_str());
    std::fflush(stdout);
    first = false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "goldgatectl: operate goldgate-switch (status, flows, rules, policy, quarantine) and goldgate-hostmon (vms); "
      "sign and verify manifests (manifest)"};
  app.require_subcommand(1);
  std::string socket = "/run/goldgate/switch.sock";
  bool json = false;
  app.add_option("-s,--socket", socket, "control socket of the switch")
      ->envname("GOLDGATE_SOCKET")
      ->capture_default_str();
  app.add_flag("--json", json, "print the raw response as JSON");

  std::string hostmonSocket = hostmon::kDefaultHostmonSocket;
  app.add_option("--hostmon-socket", hostmonSocket, "control socket of goldgate-hostmon")
      ->envname("GOLDGATE_HOSTMON_SOCKET")
      ->capture_default_str();

  auto* status = app.add_subcommand("status", "ports, counters and drop reasons");
  bool all = false;
  status->add_flag("-a,--all", all, "also list drop reasons that are zero");

  auto* flows = app.add_subcommand("flows", "tracked connections (filterable)");
  std::string fport, fip, fproto;
  uint32_t limit = 100;
  flows->add_option("--port", fport, "only flows of this port");
  flows->add_option("--ip", fip, "only flows with this address at either end");
  flows->add_option("--proto", fproto, "tcp, udp, icmp, icmpv6 or a number");
  flows->add_option("--limit", limit, "at most this many flows")->capture_default_str();

  auto* rules = app.add_subcommand("rules", "the rules in force, in priority order");
  bool hits = false;
  rules->add_flag("--hits", hits, "show how many new connections each rule decided");

  auto* policy = app.add_subcommand("policy", "policy files: reload into the switch or check offline");
  policy->require_subcommand(1);
  auto* reload = policy->add_subcommand(
      "reload", "reload the segment files (a file with an error is rejected; the running policy stays)");
  auto* check = policy->add_subcommand("check", "validate a configuration and its segment files without a switch");
  std::string checkConfig = "configs/goldgate.yaml";
  check->add_option("-c,--config", checkConfig, "switch configuration file")->capture_default_str();

  auto* alertsCmd = app.add_subcommand("alerts", "stream alert events as the switch writes them");
  bool follow = false;
  std::string alertFormat = "json";
  alertsCmd->add_flag("-f,--follow", follow, "keep streaming new events (required: history is in the alert file)")
      ->required();
  alertsCmd->add_option("--format", alertFormat, "json, ocsf, cef, leef or rfc5424")->capture_default_str();

  auto* quarantine =
      app.add_subcommand("quarantine", "move a VM (or VM port) into the quarantine segment, cutting its connections");
  std::string target;
  quarantine->add_option("vm", target, "VM name or port name")->required();
  auto* release = app.add_subcommand("release", "take a VM out of quarantine");
  release->add_option("vm", target, "VM name or port name")->required();

  auto* classify = app.add_subcommand(
      "classify", "find data classes in files, standard input or pcaps (JSON lines; exit 0 found, 1 nothing, 2 error)");
  cli::ClassifyOptions copts;
  classify->add_option("inputs", copts.inputs, "files or pcaps to read ('-' or nothing: standard input)");
  classify
      ->add_option("--classes", copts.classes_dir,
                   "folder of data class files (default: /etc/goldgate/datapolicy, else the source tree's "
                   "configs/datapolicy)")
      ->envname("GOLDGATE_DATAPOLICY");
  classify->add_option("--cache", copts.cache_dir, "folder for the compiled-database cache (none if empty)");
  classify->add_flag("--pcap", copts.pcap, "treat every input as a capture (found by its magic number otherwise)");
  classify->add_flag("--text", copts.text, "treat every input as bytes, even a capture");
  classify
      ->add_option("--max-decoded-mb", copts.max_decoded_mb,
                   "an input (or a flow direction) may decode to at most this many MiB")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  classify->add_option("--max-ratio", copts.max_ratio, "decoding may expand an input at most this many times (bombs)")
      ->capture_default_str()
      ->check(CLI::Range(2u, 1000000u));
  classify->add_option("--max-depth", copts.max_depth, "decoding layers nested at most (http.body > gzip > zip:… is 3)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 32u));
  classify->add_flag("--raw", copts.raw,
                     "no decoding (HTTP bodies, gzip, brotli, base64, multipart, ZIP and Office files, PDF): the "
                     "bytes as they are");
  classify->add_flag("--stats", copts.stats,
                     "print database facts (compile time, stream state size) on standard error");

  auto* datapolicyCmd = app.add_subcommand("datapolicy", "data class tools");
  datapolicyCmd->require_subcommand(1);
  auto* edm = datapolicyCmd->add_subcommand(
      "edm-build", "hash a CSV column of real identifiers for an exact-match class (only keyed hashes are written)");
  cli::EdmBuildOptions eopts;
  edm->add_option("--csv", eopts.csv, "CSV file (RFC 4180; the first row is the header)")->required();
  edm->add_option("--column", eopts.column, "column name, or its 1-based number")->required();
  edm->add_option("--key", eopts.key_file, "HMAC key file (at least 16 bytes)")->required();
  edm->add_option("--out", eopts.out, "hashes file to write (exact_match.hashes in the class)")->required();
  edm->add_option("--normalise", eopts.normalise, "digits, lower or exact (as exact_match.normalise)")
      ->capture_default_str();
  edm->add_flag("--new-key", eopts.new_key, "create the key file (32 random bytes, mode 0600) if it does not exist");

  auto* kprofile = app.add_subcommand("kernel-profile",
                                      "kernel profiles: what goldgate-hostmon needs to read a guest kernel's memory");
  kprofile->require_subcommand(1);
  cli::KernelProfileOptions kpopts;
  auto* kpBuild = kprofile->add_subcommand(
      "build", "build profiles from kernel images (the package's vmlinuz, or a vmlinux): BTF, kallsyms, relocations");
  kpBuild->add_option("images", kpopts.images, "vmlinuz or vmlinux files")->required()->check(CLI::ExistingFile);
  kpBuild->add_option("-o,--out", kpopts.out_dir, "folder to write profiles to (collect.kernel_profiles)")
      ->capture_default_str();
  kpBuild->add_flag("--json", kpopts.json, "one JSON line per profile written");
  auto* kpShow = kprofile->add_subcommand("show", "what profiles hold (files, or folders of them)");
  kpShow->add_option("files", kpopts.files, "profile files or folders")->required();
  kpShow->add_flag("--json", kpopts.json, "the profile itself");

  auto* vms = app.add_subcommand("vms", "the VMs goldgate-hostmon sees (name, state, UUID, NICs, segment)");
  auto* vmCmd = app.add_subcommand("vm", "one VM as goldgate-hostmon sees it");
  vmCmd->require_subcommand(1);
  auto* vmShow =
      vmCmd->add_subcommand("show", "everything hostmon knows about one VM: NICs, devices, labels, state, guest state");
  auto* portCmd = app.add_subcommand(
      "port", "VM identity of ports configured with identity: hostmon (normally set by goldgate-hostmon)");
  portCmd->require_subcommand(1);
  auto* portBind = portCmd->add_subcommand("bind", "say which VM is behind a port: the port opens in the VM's segment");
  auto* portUnbind =
      portCmd->add_subcommand("unbind", "no VM behind a port: it closes and its connections are cleared");
  std::vector<std::string> bindIps, bindLabels;
  std::string bindPort, bindVm, bindUuid, bindMac, bindSegment;
  portBind->add_option("port", bindPort, "port name")->required();
  portBind->add_option("--vm", bindVm, "VM name")->required();
  portBind->add_option("--uuid", bindUuid, "VM UUID");
  portBind->add_option("--mac", bindMac, "the VM NIC's MAC (bound source MAC)");
  portBind->add_option("--ip", bindIps, "the VM's address (bound source IP; repeatable)");
  portBind->add_option("--label", bindLabels, "KEY=VALUE label for segment membership (repeatable)");
  portBind->add_option("--segment", bindSegment, "the VM's segment (default: membership by the segment files)");
  portUnbind->add_option("port", bindPort, "port name")->required();

  std::string vmName;
  bool vmAll = false;
  vmShow->add_option("name", vmName, "VM name or UUID")->required();
  vmShow->add_flag("--processes", vmAll,
                   "list every guest process (full hashes and command lines) and every kernel module");
  for (auto* sub : {vms, vmShow}) {
    sub->add_flag("--json", json, "print the raw response as JSON");
    sub->add_option("--hostmon-socket", hostmonSocket, "control socket of goldgate-hostmon");
  }

  cli::TraceOptions topts;
  auto* traceCmd = cli::addTraceCommand(app, topts);
  traceCmd->add_flag("--json", json, "print each trace as JSON");

  cli::ManifestCommands mopts;
  cli::addManifestCommands(app, mopts);
  cli::FleetCommands fopts;
  cli::addFleetCommands(app, fopts);
  fopts.status->add_flag("--json", json, "each host's status as JSON");
  cli::AttestCommands aopts;
  cli::addAttestCommands(app, aopts, json, hostmonSocket);

  CLI11_PARSE(app, argc, argv);
  if (auto rc = cli::runManifestCommand(mopts, json)) return *rc;
  if (auto rc = cli::runFleetCommand(fopts, json)) return *rc;
  if (auto rc = cli::runAttestCommand(aopts, json, hostmonSocket)) return *rc;
  if (*classify) return cli::runClassify(copts);
  if (*kpBuild) return cli::runKernelProfileBuild(kpopts);
  if (*kpShow) return cli::runKernelProfileShow(kpopts);
  if (*edm) return cli::runEdmBuild(eopts);

  if (*vms) {
    proto::HostmonRequest hreq;
    hreq.mutable_list_vms();
    return callHostmon(hostmonSocket, hreq, json,
                       [](const proto::HostmonResponse& r) { return cli::formatVms(r.list_vms(), r.status()); });
  }
  if (*vmShow) {
    proto::HostmonRequest hreq;
    hreq.mutable_get_vm()->set_name_or_uuid(vmName);
    return callHostmon(hostmonSocket, hreq, json, [&](const proto::HostmonResponse& r) {
      return cli::formatVm(r.vm()) + (r.vm().has_guest() ? cli::formatGuest(r.vm().guest(), vmAll) : std::string());
    });
  }

  if (*traceCmd) return cli::runTrace(topts, socket, json);
  proto::Request req;
  if (*status) {
    req.mutable_status();
    return call(socket, req, json, [&](const proto::Response& r) { return cli::formatStatus(r.status(), all); });
  }
  if (*flows) {
    auto* f = req.mutable_flows();
    f->set_port(fport);
    if (!fip.empty() && !IpAddr::parse(fip)) {
      std::fprintf(stderr, "goldgatectl: --ip: '%s' is not an IPv4 or IPv6 address\n", fip.c_str());
      return 2;
    }
    f->set_ip(fip);
    auto protocol = cli::protocolNumber(fproto);
    if (!protocol) {
      std::fprintf(stderr, "goldgatectl: --proto: '%s' is not tcp, udp, icmp, icmpv6, sctp or a number\n",
                   fproto.c_str());
      return 2;
    }
    f->set_protocol(*protocol);
    f->set_limit(limit);
    return call(socket, req, json, [](const proto::Response& r) { return cli::formatFlows(r.flows()); });
  }
  if (*rules) {
    req.mutable_rules();
    return call(socket, req, json, [&](const proto::Response& r) { return cli::formatRules(r.rules(), hits); });
  }
  if (*reload) {
    req.mutable_reload();
    return call(socket, req, json, [](const proto::Response& r) { return r.message() + "\n"; });
  }
  if (*check) {
    auto sw = dataplane::loadSwitchConfig(checkConfig);
    if (!sw) {
      std::fprintf(stderr, "%s\n", sw.error().message.c_str());
      return 1;
    }
    auto segs = dataplane::loadSegments(dataplane::segmentsDirOf(*sw), *sw);
    if (!segs) {
      std::fprintf(stderr, "%s\n", segs.error().message.c_str());
      return 1;
    }
    std::printf("ok: %s and %zu segment files (%zu segments, %zu rules, %zu quarantine allowances)\n",
                checkConfig.c_str(), segs->files.size(), segs->segments.size(), segs->rules.size(),
                segs->quarantine_rules.size());
    return 0;
  }
  if (*alertsCmd) {
    req.mutable_follow()->set_format(alertFormat);
    return followAlerts(socket, req);
  }
  if (*portBind || *portUnbind) {
    auto* si = req.mutable_set_identities();
    si->set_source("goldgatectl");
    auto* id = si->add_ports();
    id->set_port(bindPort);
    if (*portBind) {
      id->set_vm(bindVm);
      id->set_uuid(bindUuid);
      id->set_mac(bindMac);
      id->set_segment(bindSegment);
      for (const auto& ip : bindIps) id->add_ips(ip);
      for (const auto& kv : bindLabels) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
          std::fprintf(stderr, "goldgatectl: --label: '%s' is not KEY=VALUE\n", kv.c_str());
          return 2;
        }
        (*id->mutable_labels())[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    auto resp = dataplane::callSwitch(socket, req);
    int rc = show(resp, json, std::function<std::string(const proto::Response&)>([](const proto::Response& r) {
                    return cli::formatIdentities(r.identities());
                  }));
    if (rc == 0)
      for (const auto& res : resp->identities().results())
        if (!res.ok()) rc = 1;
    return rc;
  }
  if (*quarantine || *release) {
    if (*quarantine) req.mutable_quarantine()->set_target(target);
    else req.mutable_release()->set_target(target);
    return call(socket, req, json, [](const proto::Response& r) { return r.message() + "\n"; });
  }
  return 2;
}
