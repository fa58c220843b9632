#include "fleet_cmd.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "fleet.pb.h"
#include "goldgate/attest/dsse.h"
#include "goldgate/attest/keys.h"
#include "goldgate/attest/manifest.h"
#include "goldgate/fleet/bundle.h"
#include "goldgate/fleet/etcd.h"
#include "output.h"
#include "text_table.h"

namespace goldgate::cli {
namespace {

int64_t nowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int fail(int code, const std::string& why) {
  std::fprintf(stderr, "goldgatectl: fleet: %s\n", why.c_str());
  return code;
}

Result<std::unique_ptr<fleet::EtcdClient>> connect(const FleetCommands& o) {
  fleet::EtcdOptions e;
  for (const auto& list : o.endpoints) {
    std::stringstream ss(list);
    for (std::string ep; std::getline(ss, ep, ',');)
      if (!ep.empty()) e.endpoints.push_back(ep);
  }
  if (e.endpoints.empty())
    return makeError(Error::Code::kInvalidArgument, "no etcd endpoint (--etcd or GOLDGATE_ETCD_ENDPOINTS)");
  e.ca = o.ca;
  e.cert = o.cert;
  e.key = o.key;
  e.user = o.user;
  e.password_file = o.password_file;
  return fleet::EtcdClient::create(std::move(e));
}

// Seconds in "90d", "12h", "30m" or "3600s".
std::optional<int64_t> durationOf(const std::string& s) {
  if (s.size() < 2 || s.find_first_not_of("0123456789", 0) != s.size() - 1) return std::nullopt;
  const int64_t n = std::stoll(s.substr(0, s.size() - 1));
  switch (s.back()) {
    case 's': return n;
    case 'm': return n * 60;
    case 'h': return n * 3600;
    case 'd': return n * 86400;
  }
  return std::nullopt;
}

struct Latest {
  uint64_t version = 0;
  proto::PolicyBundle bundle;
  std::vector<std::string> signers;  // key ids named in the envelope (not verified here)
};

// The newest bundle in the store (version 0: none). Its signatures are the hosts' business; what
// an operator diffs against is what the store holds.
Result<Latest> latest(fleet::EtcdClient& etcd, const std::string& prefix) {
  auto r = etcd.get(prefix + "/policy/bundles/", true, 1, true);
  if (!r) return r.error();
  Latest out;
  if (r->kvs.empty()) return out;
  out.version = fleet::versionOfBundleKey(prefix, r->kvs.front().key);
  auto env = attest::parseEnvelope(r->kvs.front().value);
  if (!env) return makeError(Error::Code::kParse, r->kvs.front().key + ": " + env.error().message);
  auto b = fleet::bundleFromJson(env->payload());
  if (!b) return makeError(Error::Code::kParse, r->kvs.front().key + ": " + b.error().message);
  out.bundle = std::move(*b);
  for (const auto& s : env->signatures()) out.signers.push_back(s.keyid());
  return out;
}

std::string diffText(const fleet::BundleDiff& d) {
  std::string out;
  for (const auto& p : d.added) out += "  added    " + p + "\n";
  for (const auto& p : d.changed) out += "  changed  " + p + "\n";
  for (const auto& p : d.removed) out += "  removed  " + p + "\n";
  return out.empty() ? "  no change\n" : out;
}

int publish(const FleetCommands& o, fleet::EtcdClient& etcd, proto::PolicyBundle b, uint64_t expectLatest) {
  std::vector<attest::PrivateKey> keys;
  for (const auto& k : o.keys) {
    auto pk = attest::PrivateKey::load(k);
    if (!pk) return fail(2, pk.error().message);
    keys.push_back(std::move(*pk));
  }
  if (keys.empty()) return fail(2, "--key: the admin key(s) to sign with");
  const auto secs = durationOf(o.expires);
  if (!secs || *secs <= 0) return fail(2, "--expires: '" + o.expires + "' is not a duration such as 90d, 12h, 30m");
  b.set_version(expectLatest + 1);
  b.set_created(attest::formatTimestamp(nowUnix()));
  b.set_expires_unix(nowUnix() + *secs);
  b.set_comment(o.message);
  std::vector<const attest::PrivateKey*> ptrs;
  for (const auto& k : keys) ptrs.push_back(&k);
  auto env = fleet::signBundle(b, ptrs);
  if (!env) return fail(2, env.error().message);
  const std::string key = fleet::bundleKey(o.prefix, b.version());
  auto created = etcd.create(key, *env);
  if (!created) return fail(1, created.error().message);
  if (!*created) return fail(3, "version " + std::to_string(b.version()) + " was pushed meanwhile; run it again");
  std::printf("pushed version %llu (%d files, %zu signature%s) to %s\n", static_cast<unsigned long long>(b.version()),
              b.files_size(), keys.size(), keys.size() == 1 ? "" : "s", key.c_str());
  return 0;
}

}  // namespace

void addFleetCommands(CLI::App& app, FleetCommands& o) {
  auto* f = app.add_subcommand("fleet", "the fleet's signed policy in etcd: push, diff, history, rollback, status");
  f->require_subcommand(1);
  auto etcdOptions = [&](CLI::App* s) {
    s->add_option("--etcd", o.endpoints, "etcd endpoints, https://HOST:PORT (comma-separated or repeated)")
        ->envname("GOLDGATE_ETCD_ENDPOINTS");
    s->add_option("--etcd-ca", o.ca, "the etcd cluster's CA (PEM)")->envname("GOLDGATE_ETCD_CA");
    s->add_option("--etcd-cert", o.cert, "this client's certificate (PEM)")->envname("GOLDGATE_ETCD_CERT");
    s->add_option("--etcd-key", o.key, "this client's key (PEM)")->envname("GOLDGATE_ETCD_KEY");
    s->add_option("--etcd-user", o.user, "etcd user (the admin's)")->envname("GOLDGATE_ETCD_USER");
    s->add_option("--etcd-password-file", o.password_file, "its password, in a file of mode 0600")
        ->envname("GOLDGATE_ETCD_PASSWORD_FILE");
    s->add_option("--prefix", o.prefix, "the fleet's key prefix")->capture_default_str();
  };
  o.push = f->add_subcommand("push", "publish a policy folder as the next signed version");
  o.push->add_option("dir", o.dir, "policy folder: segments/, datapolicy/, manifests/, zones.yaml")->required();
  o.diff = f->add_subcommand("diff", "what a push of the folder would change against the newest version");
  o.diff->add_option("dir", o.dir, "policy folder")->required();
  o.history = f->add_subcommand("history", "every version in the store, with who signed it");
  o.rollback = f->add_subcommand("rollback", "republish an old version's files as a new version");
  o.rollback->add_option("--to", o.to, "the version whose files to republish")->required();
  o.status = f->add_subcommand("status", "each host: alive, version applied, lag, switch, refusals");
  for (auto* s : {o.push, o.rollback}) {
    s->add_option("--key", o.keys, "admin signing key (repeat for a threshold)")->required();
    s->add_option("-m,--message", o.message, "what this version is");
    s->add_option("--expires", o.expires, "hosts refuse it after this long (90d, 12h, 30m)")->capture_default_str();
  }
  for (auto* s : {o.push, o.diff, o.history, o.rollback, o.status}) etcdOptions(s);
}

std::optional<int> runFleetCommand(const FleetCommands& o, bool json) {
  if (!(o.push && (*o.push || *o.diff || *o.history || *o.rollback || *o.status))) return std::nullopt;
  auto etcd = connect(o);
  if (!etcd) return fail(2, etcd.error().message);
  auto& e = **etcd;
  if (*o.push || *o.diff) {
    auto b = fleet::readPolicyFolder(o.dir);
    if (!b) return fail(2, b.error().message);
    auto now = latest(e, o.prefix);
    if (!now) return fail(1, now.error().message);
    const auto d = fleet::diffBundles(now->bundle, *b);
    if (*o.diff) {
      std::printf("against version %llu:\n%s", static_cast<unsigned long long>(now->version), diffText(d).c_str());
      return 0;
    }
    if (d.empty() && now->version)
      std::fprintf(stderr,
                   "goldgatectl: fleet: the folder is version %llu's files: pushing it again as a new version\n",
                   static_cast<unsigned long long>(now->version));
    return publish(o, e, std::move(*b), now->version);
  }
  if (*o.rollback) {
    auto old = e.get(fleet::bundleKey(o.prefix, o.to));
    if (!old) return fail(1, old.error().message);
    if (old->kvs.empty()) return fail(2, "no version " + std::to_string(o.to) + " in the store (fleet history)");
    auto env = attest::parseEnvelope(old->kvs.front().value);
    if (!env) return fail(1, "version " + std::to_string(o.to) + ": " + env.error().message);
    auto b = fleet::bundleFromJson(env->payload());
    if (!b) return fail(1, "version " + std::to_string(o.to) + ": " + b.error().message);
    auto now = latest(e, o.prefix);
    if (!now) return fail(1, now.error().message);
    b->set_rollback_of(o.to);
    return publish(o, e, std::move(*b), now->version);
  }
  if (*o.history) {
    auto all = e.get(o.prefix + "/policy/bundles/", true);
    if (!all) return fail(1, all.error().message);
    Table t({"VERSION", "CREATED", "EXPIRES", "FILES", "SIGNED BY", "MESSAGE"});
    for (const auto& kv : all->kvs) {
      auto env = attest::parseEnvelope(kv.value);
      auto b = env ? fleet::bundleFromJson(env->payload()) : Result<proto::PolicyBundle>(env.error());
      std::string signers;
      if (env)
        for (const auto& s : env->signatures()) signers += (signers.empty() ? "" : ",") + s.keyid().substr(0, 8);
      if (!b) {
        t.add({std::to_string(fleet::versionOfBundleKey(o.prefix, kv.key)), "-", "-", "-", "-", "(not a bundle)"});
        continue;
      }
      std::string msg = b->comment();
      if (b->rollback_of()) msg = "rollback to " + std::to_string(b->rollback_of()) + (msg.empty() ? "" : ": " + msg);
      t.add({std::to_string(b->version()), b->created(), attest::formatTimestamp(b->expires_unix()),
             std::to_string(b->files_size()), signers.empty() ? "-" : signers, msg});
    }
    std::cout << t.str();
    return 0;
  }
  // status
  auto hosts = e.get(o.prefix + "/hosts/", true);
  if (!hosts) return fail(1, hosts.error().message);
  auto now = latest(e, o.prefix);
  if (!now) return fail(1, now.error().message);
  std::vector<proto::HostStatus> st;
  for (const auto& kv : hosts->kvs) {
    if (kv.key.size() < 7 || kv.key.compare(kv.key.size() - 7, 7, "/status") != 0) continue;
    proto::HostStatus h;
    if (!google::protobuf::util::JsonStringToMessage(kv.value, &h).ok()) continue;
    st.push_back(std::move(h));
  }
  if (json) {
    for (const auto& h : st) printJson(h);
    return 0;
  }
  Table t({"HOST", "ALIVE", "APPLIED", "LAG", "STATE", "SWITCH", "REFUSED", "UPDATED"});
  for (const auto& h : st) {
    const uint64_t lag = now->version > h.applied_version() ? now->version - h.applied_version() : 0;
    t.add({h.host(), "yes", std::to_string(h.applied_version()), std::to_string(lag), h.state(),
           h.switch_up() ? "up (policy " + std::to_string(h.switch_policy_version()) + ")" : "-",
           h.refused_version() ? std::to_string(h.refused_version()) + ": " + h.refused_reason() : "-", h.updated()});
  }
  std::cout << t.str();
  std::printf("newest version in the store: %llu; %zu hosts alive (a host whose lease expired is not listed)\n",
              static_cast<unsigned long long>(now->version), st.size());
  return 0;
}

}  // namespace goldgate::cli
