// Manifest YAML → validated proto::Manifest. Every failure names file:line (yamlcfg::Ctx).
#include <google/protobuf/stubs/common.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <set>

#include "goldgate/attest/manifest.h"
#include "goldgate/attest/responses.h"
#include "goldgate/common/net_types.h"
#include "goldgate/common/yaml_ctx.h"

namespace goldgate::attest {
namespace {

using yamlcfg::ConfigError;
using yamlcfg::Ctx;

// Bounds on every list. YAML aliases let a small file name one list many times over; with these
// bounds the work a file can cause stays small whatever it holds.
constexpr size_t kMaxExecutables = 4096;
constexpr size_t kMaxModules = 4096;
constexpr size_t kMaxListeners = 1024;
constexpr size_t kMaxConnections = 1024;
constexpr size_t kMaxDataClasses = 256;
constexpr size_t kMaxSmallList = 256;  // users, args, vms, uuids, labels, ports, peers
constexpr size_t kMaxText = 4096;      // any one string

// The deviation kinds of proto/manifest.proto (the response actions: responses.h).
constexpr std::array<std::string_view, 17> kResponseKinds = {
    "unknown_executable",    "executable_hash", "executable_user", "executable_args", "unexpected_module",
    "module_hash",           "kernel_release",  "kernel_cmdline",  "kernel_text",     "unexpected_listener",
    "unexpected_connection", "data_class",      "disagreement",    "agent_silent",    "manifest_rejected",
    "kernel_hook",           "memory_view"};

template <size_t N>
std::string joinNames(const std::array<std::string_view, N>& names) {
  std::string out;
  for (auto n : names) out += std::string(out.empty() ? "" : ", ") + std::string(n);
  return out;
}

bool isNameChar(char ch, bool upper) {
  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
         (upper && ch >= 'A' && ch <= 'Z');
}

bool isName(std::string_view s, bool upper) {
  return !s.empty() && s.size() <= 128 &&
         std::all_of(s.begin(), s.end(), [&](char ch) { return isNameChar(ch, upper); });
}

bool isHex(char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'); }

std::string lower(std::string s) {
  for (char& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

bool isUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !isHex(s[i])) return false;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(const std::string& file) : c_(file) {}

  proto::Manifest run(std::string_view text) {
    // Protobuf refuses to serialize a string field that is not UTF-8, and the manifest travels as
    // protobuf (hostmon's API): the file is checked with protobuf's own rule before anything else.
    size_t valid = static_cast<size_t>(google::protobuf::internal::UTF8SpnStructurallyValid(text));
    if (valid < text.size())
      c_.failAt(static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(valid), '\n')) + 1,
                "not UTF-8 text (byte " + std::to_string(valid + 1) + ")");
    YAML::Node root = yamlcfg::loadYaml(std::string(text), c_.file());
    if (!root || root.IsNull())
      c_.failAt(1, "empty manifest (expected 'schema: 1', 'app', 'version', 'expires', 'applies_to')");
    keys(root, {"schema", "app", "description", "version", "issued", "expires", "applies_to", "executables", "kernel",
                "listeners", "connections", "data_classes", "responses"});
    for (const char* k : {"schema", "app", "version", "expires", "applies_to"})
      if (!root[k]) c_.fail(root, std::string("missing '") + k + "'");
    proto::Manifest m;
    uint64_t schema = c_.uint(root["schema"], "schema", 0, UINT32_MAX);
    if (schema != 1) c_.fail(root["schema"], "schema: " + std::to_string(schema) + " is not supported (expected 1)");
    m.set_schema(1);
    std::string app = text1(root["app"], "app");
    if (!isName(app, false))
      c_.fail(root["app"], "app: '" + app + "' is not a name (a-z, 0-9, '.', '_', '-'; at most 128)");
    m.set_app(app);
    if (root["description"]) m.set_description(text1(root["description"], "description", true));
    m.set_version(c_.uint(root["version"], "version", 1, UINT64_MAX));
    m.set_expires_unix(timestamp(root["expires"], "expires"));
    if (root["issued"]) {
      m.set_issued_unix(timestamp(root["issued"], "issued"));
      if (m.issued_unix() >= m.expires_unix()) c_.fail(root["expires"], "expires: not after issued");
    }
    selector(root["applies_to"], m.mutable_applies_to());
    if (auto n = root["executables"]) executables(n, m);
    // The kernel section is always present in the message (as in the written YAML), so that a
    // manifest and its round trip compare equal.
    auto* k = m.mutable_kernel();
    if (auto n = root["kernel"]) kernel(n, k);
    if (auto n = root["listeners"]) listeners(n, m);
    if (auto n = root["connections"]) {
      keys(n, {"inbound", "outbound"});
      if (n["inbound"]) connections(n["inbound"], true, m);
      if (n["outbound"]) connections(n["outbound"], false, m);
    }
    if (auto n = root["data_classes"]) dataClasses(n, m);
    if (auto n = root["responses"]) responses(n, m);
    if (m.default_actions_size() == 0) m.add_default_actions("alert");
    return m;
  }

 private:
  // onlyKeys, and a key given twice is refused too: YAML readers differ on which copy wins.
  void keys(const YAML::Node& n, std::initializer_list<const char*> allowed) const {
    c_.onlyKeys(n, allowed);
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it)
      if (!seen.insert(it->first.Scalar()).second) c_.fail(it->first, "'" + it->first.Scalar() + "' is given twice");
  }

  std::string text1(const YAML::Node& n, const std::string& what, bool emptyOk = false) const {
    std::string s = c_.str(n, what.c_str());
    if (s.empty() && !emptyOk) c_.fail(n, what + ": empty");
    if (s.size() > kMaxText) c_.fail(n, what + ": longer than " + std::to_string(kMaxText) + " characters");
    if (s.find('\0') != std::string::npos) c_.fail(n, what + ": contains a NUL character");
    return s;
  }

  // The items of a list (a lone scalar or mapping counts as a list of one when `single`).
  std::vector<YAML::Node> items(const YAML::Node& n, const std::string& what, size_t max, bool single = true) const {
    std::vector<YAML::Node> out;
    if (n.IsSequence()) {
      if (n.size() > max) c_.fail(n, what + ": more than " + std::to_string(max) + " entries");
      for (const auto& e : n) out.push_back(e);
    } else if (single && (n.IsScalar() || n.IsMap())) {
      out.push_back(n);
    } else {
      c_.fail(n, what + ": expected a list");
    }
    return out;
  }

  std::vector<std::string> strings(const YAML::Node& n, const std::string& what) const {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& e : items(n, what, kMaxSmallList)) {
      std::string s = text1(e, what);
      if (!seen.insert(s).second) c_.fail(e, what + ": '" + s + "' is listed twice");
      out.push_back(std::move(s));
    }
    return out;
  }

  std::string sha256(const YAML::Node& n, const std::string& what) const {
    std::string h = c_.str(n, what.c_str());
    if (h.size() != 64 || !std::all_of(h.begin(), h.end(), isHex))
      c_.fail(n, what + ": expected 64 hex digits (a SHA-256)");
    return lower(std::move(h));
  }

  std::string absPath(const YAML::Node& n, const std::string& what) const {
    std::string p = text1(n, what);
    if (p[0] != '/') c_.fail(n, what + ": '" + p + "' is not an absolute path");
    return p;
  }

  int64_t timestamp(const YAML::Node& n, const std::string& what) const {
    auto t = parseTimestamp(c_.str(n, what.c_str()));
    if (!t) c_.fail(n, what + ": " + t.error().message);
    return *t;
  }

  void selector(const YAML::Node& n, proto::ManifestSelector* s) const {
    keys(n, {"vms", "labels", "uuids"});
    if (n["vms"])
      for (auto& v : strings(n["vms"], "applies_to.vms")) s->add_vms(v);
    if (auto u = n["uuids"]) {
      for (const auto& e : items(u, "applies_to.uuids", kMaxSmallList)) {
        std::string id = lower(c_.str(e, "applies_to.uuids"));
        if (!isUuid(id)) c_.fail(e, "applies_to.uuids: '" + id + "' is not a UUID (8-4-4-4-12 hex digits)");
        s->add_uuids(id);
      }
    }
    if (auto l = n["labels"]) {
      if (!l.IsMap()) c_.fail(l, "applies_to.labels: expected a mapping of label: value");
      if (l.size() > kMaxSmallList)
        c_.fail(l, "applies_to.labels: more than " + std::to_string(kMaxSmallList) + " labels");
      for (auto it = l.begin(); it != l.end(); ++it) {
        std::string k = text1(it->first, "applies_to.labels");
        if (s->labels().count(k)) c_.fail(it->first, "applies_to.labels: '" + k + "' is given twice");
        (*s->mutable_labels())[k] = text1(it->second, "applies_to.labels." + k, true);
      }
    }
    if (s->vms_size() == 0 && s->uuids_size() == 0 && s->labels_size() == 0)
      c_.fail(n, "applies_to: selects no VM (give vms, uuids or labels)");
  }

  void executables(const YAML::Node& n, proto::Manifest& m) const {
    std::map<std::string, int> lines;
    for (const auto& e : items(n, "executables", kMaxExecutables, false)) {
      keys(e, {"path", "sha256", "users", "args"});
      if (!e["path"]) c_.fail(e, "executables: missing 'path'");
      auto* x = m.add_executables();
      x->set_path(absPath(e["path"], "executables.path"));
      auto [it, fresh] = lines.emplace(x->path(), Ctx::lineOf(e));
      if (!fresh)
        c_.fail(e["path"],
                "executables: " + x->path() + " is listed twice (first at line " + std::to_string(it->second) + ")");
      if (e["sha256"]) x->set_sha256(sha256(e["sha256"], "executables.sha256"));
      if (e["users"])
        for (auto& u : strings(e["users"], "executables.users")) x->add_users(u);
      if (e["args"])
        for (auto& a : strings(e["args"], "executables.args")) x->add_args(a);
    }
  }

  void kernel(const YAML::Node& n, proto::ManifestKernel* k) const {
    keys(n, {"release", "cmdline_sha256", "text_sha256", "modules", "memory_view"});
    if (n["memory_view"]) {
      const std::string v = c_.str(n["memory_view"], "kernel.memory_view");
      if (v != "required" && v != "optional")
        c_.fail(n["memory_view"], "kernel.memory_view: '" + v + "' (expected required or optional)");
      k->set_memory_view_required(v == "required");
    }
    if (n["release"]) k->set_release(text1(n["release"], "kernel.release"));
    if (n["cmdline_sha256"]) k->set_cmdline_sha256(sha256(n["cmdline_sha256"], "kernel.cmdline_sha256"));
    if (n["text_sha256"]) k->set_text_sha256(sha256(n["text_sha256"], "kernel.text_sha256"));
    const YAML::Node mods = n["modules"];
    if (!mods) return;
    if (mods.IsScalar()) {
      if (mods.Scalar() != "any") c_.fail(mods, "kernel.modules: expected a list of modules or 'any'");
      k->set_any_module(true);
      return;
    }
    std::set<std::string> seen;
    for (const auto& e : items(mods, "kernel.modules", kMaxModules, false)) {
      auto* mod = k->add_modules();
      const YAML::Node name = e.IsMap() ? e["name"] : e;
      if (e.IsMap()) {
        keys(e, {"name", "sha256"});
        if (!name) c_.fail(e, "kernel.modules: missing 'name'");
        if (e["sha256"]) mod->set_sha256(sha256(e["sha256"], "kernel.modules.sha256"));
      }
      mod->set_name(c_.str(name, "kernel.modules"));
      if (!isName(mod->name(), true)) c_.fail(name, "kernel.modules: '" + mod->name() + "' is not a module name");
      if (!seen.insert(mod->name()).second) c_.fail(name, "kernel.modules: '" + mod->name() + "' is listed twice");
    }
  }

  std::string proto(const YAML::Node& n, const std::string& what, std::initializer_list<const char*> allowed) const {
    std::string p = c_.str(n, what.c_str());
    std::string list;
    for (const char* a : allowed) {
      if (p == a) return p;
      list += std::string(list.empty() ? "" : ", ") + a;
    }
    c_.fail(n, what + ": '" + p + "' is not one of: " + list);
  }

  uint32_t port(const YAML::Node& n, std::string_view s, const std::string& what) const {
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 1 || v > 65535)
      c_.fail(n, what + ": '" + std::string(s) + "' is not a port (1-65535)");
    return v;
  }

  void listeners(const YAML::Node& n, proto::Manifest& m) const {
    std::set<std::string> seen;
    for (const auto& e : items(n, "listeners", kMaxListeners, false)) {
      keys(e, {"proto", "port", "process"});
      for (const char* k : {"proto", "port"})
        if (!e[k]) c_.fail(e, std::string("listeners: missing '") + k + "'");
      auto* l = m.add_listeners();
      l->set_proto(proto(e["proto"], "listeners.proto", {"tcp", "udp"}));
      l->set_port(port(e["port"], c_.str(e["port"], "listeners.port"), "listeners.port"));
      if (e["process"]) l->set_process(absPath(e["process"], "listeners.process"));
      if (!seen.insert(l->proto() + "/" + std::to_string(l->port()) + " " + l->process()).second)
        c_.fail(e, "listeners: " + l->proto() + "/" + std::to_string(l->port()) + " is listed twice");
    }
  }

  void peer(const YAML::Node& n, const std::string& what, proto::ManifestPeer* p) const {
    if (n.IsScalar() && n.Scalar() == "any") {
      p->set_any(true);
      return;
    }
    keys(n, {"segment", "app", "zone", "cidr", "any"});
    if (n.size() != 1) c_.fail(n, what + ": give exactly one of segment, app, zone, cidr, any");
    if (n["segment"]) p->set_segment(text1(n["segment"], what + ".segment"));
    if (n["zone"]) p->set_zone(text1(n["zone"], what + ".zone"));
    if (auto a = n["app"]) {
      p->set_app(c_.str(a, (what + ".app").c_str()));
      if (!isName(p->app(), false)) c_.fail(a, what + ".app: '" + p->app() + "' is not an application name");
    }
    if (auto a = n["cidr"]) {
      std::string text = c_.str(a, (what + ".cidr").c_str());
      auto cidr = Cidr::parse(text);
      if (!cidr)
        c_.fail(a, what + ".cidr: '" + text + "' is not an IPv4 or IPv6 address or prefix (with no host bits set)");
      p->set_cidr(cidr->toString());
    }
    if (n["any"] && !c_.boolean(n["any"], (what + ".any").c_str()))
      c_.fail(n["any"], what + ".any: false selects nothing");
    if (n["any"]) p->set_any(true);
  }

  void ports(const YAML::Node& n, proto::ManifestConnection* cn) const {
    for (const auto& e : items(n, "ports", kMaxSmallList)) {
      std::string s = c_.str(e, "ports");
      auto* r = cn->add_ports();
      auto dash = s.find('-');
      r->set_first(port(e, std::string_view(s).substr(0, dash), "ports"));
      r->set_last(dash == std::string::npos ? r->first() : port(e, std::string_view(s).substr(dash + 1), "ports"));
      if (r->last() < r->first()) c_.fail(e, "ports: '" + s + "' is an empty range");
    }
  }

  void connections(const YAML::Node& n, bool inbound, proto::Manifest& m) {
    const char* dir = inbound ? "inbound" : "outbound";
    const char* side = inbound ? "from" : "to";
    for (const auto& e : items(n, std::string("connections.") + dir, kMaxConnections, false)) {
      keys(e, {"name", side, "proto", "ports"});
      for (const char* k : {side, "proto"})
        if (!e[k]) c_.fail(e, std::string(dir) + ": missing '" + k + "'");
      auto* cn = inbound ? m.add_inbound() : m.add_outbound();
      if (auto nm = e["name"]) {
        cn->set_name(c_.str(nm, "name"));
        if (!isName(cn->name(), true))
          c_.fail(nm, std::string(dir) + ".name: '" + cn->name() + "' is not a name (letters, digits, '.', '_', '-')");
        auto [it, fresh] = connectionNames_.emplace(cn->name(), Ctx::lineOf(nm));
        if (!fresh)
          c_.fail(nm, std::string(dir) + ".name: '" + cn->name() + "' is used twice (first at line " +
                          std::to_string(it->second) + ")");
      }
      peer(e[side], std::string(dir) + "." + side, cn->mutable_peer());
      cn->set_proto(proto(e["proto"], std::string(dir) + ".proto", {"tcp", "udp", "icmp", "any"}));
      if (auto p = e["ports"]) {
        if (cn->proto() != "tcp" && cn->proto() != "udp")
          c_.fail(p, std::string(dir) + ".ports: only tcp and udp have ports");
        ports(p, cn);
      }
    }
  }

  void dataClasses(const YAML::Node& n, proto::Manifest& m) const {
    std::set<std::string> seen;
    for (const auto& e : items(n, "data_classes", kMaxDataClasses, false)) {
      keys(e, {"class", "to"});
      if (!e["class"]) c_.fail(e, "data_classes: missing 'class'");
      auto* d = m.add_data_classes();
      d->set_class_name(c_.str(e["class"], "data_classes.class"));
      if (!isName(d->class_name(), false))
        c_.fail(e["class"], "data_classes.class: '" + d->class_name() + "' is not a class name");
      if (!seen.insert(d->class_name()).second)
        c_.fail(e["class"], "data_classes: '" + d->class_name() + "' is listed twice");
      if (auto to = e["to"])
        for (const auto& p : items(to, "data_classes.to", kMaxSmallList)) peer(p, "data_classes.to", d->add_to());
    }
  }

  void responses(const YAML::Node& n, proto::Manifest& m) const {
    if (!n.IsMap()) c_.fail(n, "responses: expected a mapping of deviation kind: actions");
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string kind = c_.str(it->first, "responses");
      bool known =
          kind == "default" || std::find(kResponseKinds.begin(), kResponseKinds.end(), kind) != kResponseKinds.end();
      if (!known)
        c_.fail(it->first,
                "responses: unknown kind '" + kind + "' (expected one of: " + joinNames(kResponseKinds) + ", default)");
      if (!seen.insert(kind).second) c_.fail(it->first, "responses: '" + kind + "' is given twice");
      bool block = kind == "unexpected_connection";
      std::vector<std::string> actions;
      // KIND: action | [actions] | {actions: action or [actions], confirm: bool}
      YAML::Node list = it->second;
      bool confirm = false;
      if (list.IsMap()) {
        if (kind == "default") c_.fail(list, "responses.default: a list of actions only (confirm is set per kind)");
        c_.onlyKeys(list, {"actions", "confirm"});
        if (!list["actions"]) c_.fail(list, "responses." + kind + ": missing 'actions'");
        if (list["confirm"]) confirm = c_.boolean(list["confirm"], ("responses." + kind + ".confirm").c_str());
        list = list["actions"];
      }
      for (const auto& a : items(list, "responses." + kind, kMaxSmallList)) {
        std::string act = c_.str(a, ("responses." + kind).c_str());
        bool ok = (block && act == "block") || findResponseAction(act);
        if (!ok)
          c_.fail(a, "responses." + kind + ": unknown action '" + act + "' (expected one of: " + responseActionNames() +
                         (block ? ", block" : "") + ")");
        if (std::find(actions.begin(), actions.end(), act) != actions.end())
          c_.fail(a, "responses." + kind + ": '" + act + "' is listed twice");
        actions.push_back(act);
      }
      if (actions.empty()) c_.fail(it->second, "responses." + kind + ": no action (alert is the least)");
      if (kind == "default") {
        for (auto& a : actions) m.add_default_actions(a);
        continue;
      }
      auto* r = m.add_responses();
      r->set_kind(kind);
      r->set_confirm(confirm);
      for (auto& a : actions) r->add_actions(a);
    }
  }

  Ctx c_;
  std::map<std::string, int> connectionNames_;  // inbound and outbound share one namespace
};

}  // namespace

bool isAppName(std::string_view name) { return isName(name, false); }

Result<proto::Manifest> parseManifest(std::string_view yaml, const std::string& file) {
  try {
    Parser p(file);
    return p.run(yaml);
  } catch (const ConfigError& e) {
    return makeError(Error::Code::kParse, e.message);
  } catch (const YAML::Exception& e) {
    // Any other yaml-cpp failure (an invalid node reached through an odd document) still names a line.
    return makeError(Error::Code::kParse, file + ":" + std::to_string(std::max(e.mark.line + 1, 1)) + ": " + e.msg);
  }
}

}  // namespace goldgate::attest
