#include "goldgate/fleet/agent.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "goldgate/attest/manifest.h"
#include "goldgate/common/files.h"
#include "goldgate/common/yaml_ctx.h"
#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/control_client.h"

namespace goldgate::fleet {
namespace fs = std::filesystem;

namespace {

int64_t nowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Result<void> fsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return makeError(Error::Code::kIo, dir + ": cannot open to sync");
  ::fsync(fd);
  ::close(fd);
  return {};
}

std::string versionName(uint64_t v) { return std::to_string(v); }

}  // namespace

// ---------------------------------------------------------------- configuration

Result<AgentConfig> loadAgentConfig(const std::string& path) {
  auto text = readFileLimited(path, 1 << 20);
  if (!text) return text.error();
  AgentConfig c;
  c.source_file = path;
  yamlcfg::Ctx ctx(path);
  try {
    YAML::Node root = YAML::Load(*text);
    if (!root || !root.IsMap()) ctx.failAt(1, "expected a mapping");
    ctx.onlyKeys(root, {"host", "etcd", "prefix", "trust", "state_dir", "switch", "lease_ttl_s", "report_interval_ms",
                        "keep_versions", "alerts"});
    if (!root["host"]) ctx.failAt(1, "missing 'host' (this host's name in the fleet)");
    c.host = ctx.str(root["host"], "host");
    if (c.host.empty() || c.host.size() > 63 ||
        c.host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos)
      ctx.fail(root["host"], "host: 1-63 characters of a-z, 0-9, '-' and '.'");
    const auto& e = root["etcd"];
    if (!e) ctx.failAt(1, "missing 'etcd' (endpoints, ca, cert, key)");
    ctx.onlyKeys(e, {"endpoints", "ca", "cert", "key", "user", "password_file", "timeout_ms"});
    c.etcd.endpoints = ctx.strList(e["endpoints"], "etcd.endpoints");
    if (c.etcd.endpoints.empty()) ctx.fail(e, "etcd.endpoints: at least one");
    if (e["ca"]) c.etcd.ca = ctx.str(e["ca"], "etcd.ca");
    if (e["cert"]) c.etcd.cert = ctx.str(e["cert"], "etcd.cert");
    if (e["key"]) c.etcd.key = ctx.str(e["key"], "etcd.key");
    if (e["user"]) c.etcd.user = ctx.str(e["user"], "etcd.user");
    if (e["password_file"]) c.etcd.password_file = ctx.str(e["password_file"], "etcd.password_file");
    if (!c.etcd.user.empty() && c.etcd.password_file.empty()) ctx.fail(e, "etcd.user needs etcd.password_file");
    if (e["timeout_ms"]) c.etcd.timeout_ms = static_cast<int>(ctx.uint(e["timeout_ms"], "etcd.timeout_ms", 100, 60000));
    if (root["prefix"]) c.prefix = ctx.str(root["prefix"], "prefix");
    if (c.prefix.empty() || c.prefix.front() != '/' || c.prefix.back() == '/')
      ctx.fail(root["prefix"], "prefix: starts with '/' and does not end with one");
    const auto& t = root["trust"];
    if (!t) ctx.failAt(1, "missing 'trust' (the keys a policy bundle must be signed by)");
    ctx.onlyKeys(t, {"keys", "threshold"});
    for (const auto& k : ctx.strList(t["keys"], "trust.keys")) {
      auto pk = attest::PublicKey::load(k);
      if (!pk) ctx.fail(t["keys"], "trust.keys: " + pk.error().message);
      c.trust.keys.push_back(*pk);
    }
    if (c.trust.keys.empty()) ctx.fail(t, "trust.keys: at least one");
    if (t["threshold"])
      c.trust.threshold = static_cast<unsigned>(ctx.uint(t["threshold"], "trust.threshold", 1, c.trust.keys.size()));
    if (root["state_dir"]) c.state_dir = ctx.str(root["state_dir"], "state_dir");
    if (const auto& s = root["switch"]) {
      ctx.onlyKeys(s, {"socket", "config"});
      if (s["socket"]) c.switch_socket = ctx.str(s["socket"], "switch.socket");
      if (s["config"]) c.switch_config = ctx.str(s["config"], "switch.config");
    }
    if (root["lease_ttl_s"])
      c.lease_ttl_s = static_cast<uint32_t>(ctx.uint(root["lease_ttl_s"], "lease_ttl_s", 2, 600));
    if (root["report_interval_ms"])
      c.report_interval_ms =
          static_cast<uint32_t>(ctx.uint(root["report_interval_ms"], "report_interval_ms", 100, 60000));
    if (c.report_interval_ms >= c.lease_ttl_s * 1000u)
      ctx.failAt(1, "report_interval_ms must be shorter than lease_ttl_s (the report renews the lease)");
    if (root["keep_versions"])
      c.keep_versions = static_cast<uint32_t>(ctx.uint(root["keep_versions"], "keep_versions", 1, 100));
    if (const auto& a = root["alerts"]) {
      ctx.onlyKeys(a, {"file"});
      if (a["file"]) c.alert_file = ctx.str(a["file"], "alerts.file");
    }
  } catch (const yamlcfg::ConfigError& e) {
    return makeError(Error::Code::kParse, e.message);
  } catch (const YAML::Exception& e) {
    return makeError(Error::Code::kParse, path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return c;
}

// ---------------------------------------------------------------- last-known-good

Result<LastKnownGood> LastKnownGood::open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir + "/versions", ec);
  if (ec) return makeError(Error::Code::kIo, dir + "/versions: " + ec.message());
  LastKnownGood l;
  l.dir_ = dir;
  const fs::path link = dir + "/current";
  if (fs::is_symlink(link, ec)) {
    const std::string target = fs::read_symlink(link, ec).generic_string();
    const std::string head = "versions/";
    if (!ec && target.rfind(head, 0) == 0 && target.size() > head.size() &&
        target.find_first_not_of("0123456789", head.size()) == std::string::npos)
      l.version_ = std::stoull(target.substr(head.size()));
    else return makeError(Error::Code::kIo, link.string() + ": not a link to versions/N (" + target + ")");
  }
  return l;
}

Result<std::string> LastKnownGood::envelope() const {
  if (!version_) return std::string();
  return readFileLimited(dir_ + "/versions/" + versionName(version_) + ".envelope.json", kMaxBundleBytes * 2);
}

Result<std::string> LastKnownGood::stage(const proto::PolicyBundle& b, const std::string& envelopeJson) {
  const std::string final = dir_ + "/versions/" + versionName(b.version());
  const std::string tmp = final + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::remove_all(final, ec);
  for (const auto& f : b.files()) {
    const fs::path p = fs::path(tmp) / f.path();
    fs::create_directories(p.parent_path(), ec);
    if (ec) return makeError(Error::Code::kIo, p.parent_path().string() + ": " + ec.message());
    if (auto r = writeFileSynced(p.string(), f.content(), 0640, O_TRUNC); !r) return r.error();
  }
  if (auto r = replaceFileDurably(final + ".envelope.json", envelopeJson, 0640); !r) return r.error();
  fs::rename(tmp, final, ec);
  if (ec) return makeError(Error::Code::kIo, final + ": " + ec.message());
  if (auto r = fsyncDir(dir_ + "/versions"); !r) return r.error();
  return final;
}

Result<uint64_t> LastKnownGood::activate(uint64_t v) {
  const std::string link = dir_ + "/current", tmp = dir_ + "/current.tmp";
  ::unlink(tmp.c_str());
  if (::symlink(("versions/" + versionName(v)).c_str(), tmp.c_str()) != 0)
    return makeError(Error::Code::kIo, tmp + ": cannot create the link");
  if (::rename(tmp.c_str(), link.c_str()) != 0) return makeError(Error::Code::kIo, link + ": cannot replace the link");
  if (auto r = fsyncDir(dir_); !r) return r.error();
  const uint64_t old = version_;
  version_ = v;
  return old;
}

void LastKnownGood::prune(uint32_t keep) {
  std::vector<uint64_t> versions;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_ + "/versions", ec)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && !n.empty() && n.find_first_not_of("0123456789") == std::string::npos)
      versions.push_back(std::stoull(n));
  }
  std::sort(versions.rbegin(), versions.rend());
  uint32_t kept = 0;
  for (uint64_t v : versions) {
    if (v == version_) continue;
    if (v < version_ && kept < keep) {
      ++kept;
      continue;
    }
    if (v > version_) continue;  // staged and not in force (a refused apply): removed with the next stage
    fs::remove_all(dir_ + "/versions/" + versionName(v), ec);
    fs::remove(dir_ + "/versions/" + versionName(v) + ".envelope.json", ec);
  }
}

// ---------------------------------------------------------------- the agent

FleetAgent::FleetAgent(AgentConfig cfg, Log log, Alert alert, LastKnownGood lkg, std::unique_ptr<EtcdClient> etcd)
    : cfg_(std::move(cfg)),
      log_(std::move(log)),
      alert_(std::move(alert)),
      lkg_(std::move(lkg)),
      etcd_(std::move(etcd)) {}

Result<std::unique_ptr<FleetAgent>> FleetAgent::create(AgentConfig cfg, Log log, Alert alert) {
  auto lkg = LastKnownGood::open(cfg.state_dir);
  if (!lkg) return lkg.error();
  auto etcd = EtcdClient::create(cfg.etcd);
  if (!etcd) return etcd.error();
  auto a = std::unique_ptr<FleetAgent>(
      new FleetAgent(std::move(cfg), std::move(log), std::move(alert), std::move(*lkg), std::move(*etcd)));
  a->status_.set_host(a->cfg_.host);
  a->status_.set_applied_version(a->lkg_.version());
  // What is in force was verified when it was stored; it is checked again (a damaged or edited
  // last-known-good is said), but kept in force either way: the host does not drop its policy.
  if (a->lkg_.version()) {
    auto env = a->lkg_.envelope();
    auto v = env ? verifyBundle(*env, a->cfg_.trust, 0, a->lkg_.version(), 0, "last-known-good") : attest::Rejection{};
    if (!env || !v)
      a->log_("WARNING: the last-known-good (version " + std::to_string(a->lkg_.version()) +
              ") does not verify: " + (env ? v.error().message : env.error().message) + "; it stays in force");
    a->log_("starting on the last-known-good, version " + std::to_string(a->lkg_.version()));
  } else {
    a->log_("no last-known-good yet: waiting for the fleet's first bundle");
  }
  return a;
}

Result<int64_t> FleetAgent::sync() {
  auto r = etcd_->get(cfg_.prefix + "/policy/bundles/", true, 1, true);
  if (!r) return r.error();
  if (!r->kvs.empty()) consider(r->kvs.front().key, r->kvs.front().value);
  return r->revision;
}

void FleetAgent::consider(const std::string& key, const std::string& envelopeJson) {
  const uint64_t v = versionOfBundleKey(cfg_.prefix, key);
  if (!v || v == lkg_.version() || refused_.count(v)) return;
  auto ok = verifyBundle(envelopeJson, cfg_.trust, nowUnix(), v, lkg_.version(), key);
  std::string why;
  if (!ok) why = ok.error().message;
  else if (auto a = apply(*ok, envelopeJson); !a) why = key + ": not applied: " + a.error().message;
  if (why.empty()) return;
  refused_.insert(v);
  status_.set_refused_version(v);
  status_.set_refused_reason(why);
  log_("refused: " + why + "; version " + std::to_string(lkg_.version()) + " stays in force");
  alert_("fleet.bundle_refused", why + " (version " + std::to_string(lkg_.version()) + " stays in force)");
  report(true);
}

Result<void> FleetAgent::apply(const VerifiedBundle& v, const std::string& envelopeJson) {
  const uint64_t version = v.bundle.version();
  auto staged = lkg_.stage(v.bundle, envelopeJson);
  if (!staged) return staged.error();
  // The segment files are checked against this host's switch before they are put in force.
  if (!cfg_.switch_config.empty()) {
    auto sw = dataplane::loadSwitchConfig(cfg_.switch_config);
    if (!sw) return sw.error();
    auto segs = dataplane::loadSegments(*staged + "/segments", *sw);
    if (!segs) return segs.error();
  }
  auto old = lkg_.activate(version);
  if (!old) return old.error();
  if (!cfg_.switch_socket.empty()) {
    proto::Request req;
    req.mutable_reload();
    auto r = dataplane::callSwitch(cfg_.switch_socket, req, 10000);
    if (r && !r->ok()) {
      // The switch keeps its policy: the last-known-good goes back to what it runs.
      if (*old) (void)lkg_.activate(*old);
      return makeError(Error::Code::kInvalidArgument, "the switch refused it: " + r->error());
    }
    if (!r)
      log_("the switch did not answer the reload (" + r.error().message + "): it reads the policy when it starts");
  }
  lkg_.prune(cfg_.keep_versions);
  status_.set_applied_version(version);
  status_.set_applied_at(attest::formatTimestamp(nowUnix()));
  std::string signers;
  for (const auto& s : v.signers) signers += (signers.empty() ? "" : ", ") + s;
  const std::string msg = "policy bundle version " + std::to_string(version) + " in force (" +
                          std::to_string(v.bundle.files_size()) + " files, signed by " + signers + ")";
  log_(msg);
  alert_("fleet.bundle_applied", msg);
  report(true);
  return {};
}

void FleetAgent::switchHealth() {
  if (cfg_.switch_socket.empty()) return;
  proto::Request req;
  req.mutable_status();
  auto r = dataplane::callSwitch(cfg_.switch_socket, req, 2000);
  status_.set_switch_up(r && r->ok());
  status_.set_switch_policy_version(r && r->ok() ? r->status().policy_version() : 0);
}

void FleetAgent::report(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now < next_report_) return;
  next_report_ = now + std::chrono::milliseconds(cfg_.report_interval_ms);
  auto unreachable = [&](const Error& e) {
    status_.set_state("etcd-unreachable");
    if (reachable_) {
      reachable_ = false;
      log_("the fleet store cannot be reached (" + e.message + "); version " + std::to_string(lkg_.version()) +
           " stays in force");
      alert_("fleet.store_unreachable", e.message);
    }
  };
  if (lease_) {
    auto ttl = etcd_->leaseKeepAlive(lease_);
    if (!ttl) return unreachable(ttl.error());
    if (*ttl <= 0) lease_ = 0;  // it expired (a partition longer than its TTL): a new one
  }
  if (!lease_) {
    auto l = etcd_->leaseGrant(cfg_.lease_ttl_s);
    if (!l) return unreachable(l.error());
    lease_ = *l;
  }
  switchHealth();
  status_.set_state(status_.refused_version() > status_.applied_version() ? "refused" : "converged");
  status_.set_updated(attest::formatTimestamp(nowUnix()));
  status_.set_etcd_revision(static_cast<uint64_t>(revision_));
  std::string json;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(status_, &json, o);
  auto put = etcd_->put(cfg_.prefix + "/hosts/" + cfg_.host + "/status", json, lease_);
  if (!put) return unreachable(put.error());
  if (!reachable_) log_("the fleet store is reachable again");
  reachable_ = true;
}

void FleetAgent::run(const std::atomic<bool>& stop) {
  bool needSync = true;
  auto pause = [&](int ms) {
    for (int i = 0; i < ms / 50 && !stop.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  while (!stop.load()) {
    report(false);
    if (needSync) {
      auto r = sync();
      if (!r) {
        report(true);  // says the store is away (once), and keeps trying
        pause(1000);
        continue;
      }
      revision_ = std::max(revision_, *r);
      needSync = false;
    }
    auto w = etcd_->watch(cfg_.prefix + "/policy/", revision_ + 1, 1000, &stop);
    if (!w) {
      needSync = true;  // whatever happened meanwhile is read again, from the top
      pause(500);
      continue;
    }
    if (w->compacted) {
      log_("the store compacted past revision " + std::to_string(revision_) + ": reading the policy again");
      needSync = true;
      continue;
    }
    for (const auto& ev : w->events) {
      revision_ = std::max(revision_, ev.mod_revision);
      if (!ev.deleted) consider(ev.key, ev.value);
    }
    if (w->events.empty()) revision_ = std::max(revision_, w->revision);
  }
}

}  // namespace goldgate::fleet
