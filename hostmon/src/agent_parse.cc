#include "agent_parse.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "parse_util.h"

namespace goldgate::hostmon {
namespace {

using nlohmann::json;

Error malformed(std::string why) { return makeError(Error::Code::kParse, std::move(why)); }

// The "return" member of an agent reply, or the error the reply stands for.
Result<json> agentReturn(std::string_view reply, const ProbeLimits& lim) {
  if (reply.size() > lim.max_reply_bytes)
    return malformed("reply of " + std::to_string(reply.size()) + " bytes exceeds the limit of " +
                     std::to_string(lim.max_reply_bytes));
  if (!jsonDepthWithin(reply, lim.max_json_depth))
    return malformed("reply nested deeper than " + std::to_string(lim.max_json_depth));
  json j = json::parse(reply.begin(), reply.end(), nullptr, false);
  if (j.is_discarded()) return malformed("reply is not JSON");
  if (!j.is_object()) return malformed("reply is not a JSON object");
  if (auto e = j.find("error"); e != j.end()) {
    std::string desc = "agent error";
    if (e->is_object()) {
      if (auto d = e->find("desc"); d != e->end() && d->is_string()) desc = d->get<std::string>();
      else if (auto c = e->find("class"); c != e->end() && c->is_string()) desc = c->get<std::string>();
    }
    // The guest chooses the text: an empty one still says what happened.
    if (desc.empty()) desc = "agent error (no description)";
    return makeError(Error::Code::kIo, desc);
  }
  auto r = j.find("return");
  if (r == j.end()) return malformed("reply has neither \"return\" nor \"error\"");
  return json(std::move(*r));
}

// Typed member access that never throws: a missing member or another type gives the fallback.
std::string strOf(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool intOf(const json& o, const char* key, int64_t& out) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number_integer()) return false;
  out = it->get<int64_t>();
  return true;
}

bool boolOf(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_boolean() && it->get<bool>();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Splits text into lines (a final line without '\n' counts). Fails on an over-long line.
Result<std::vector<std::string_view>> linesOf(std::string_view text, size_t maxLine) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  size_t lineNo = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    ++lineNo;
    if (end - pos > maxLine)
      return malformed("line " + std::to_string(lineNo) + " is longer than " + std::to_string(maxLine) + " bytes");
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::vector<std::string_view> fieldsOf(std::string_view line) {
  std::vector<std::string_view> f;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t s = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > s) f.push_back(line.substr(s, i - s));
  }
  return f;
}

template <typename T>
bool number(std::string_view s, T& v, int base = 10) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  return ec == std::errc() && p == s.data() + s.size();
}

// "0100007F" as the guest's kernel prints a __be32 with %08X on a little-endian machine.
bool hexWordLe(std::string_view h, uint8_t out[4]) {
  uint32_t v = 0;
  if (h.size() != 8 || !number(h, v, 16)) return false;
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
  return true;
}

bool decodeAddr(std::string_view hex, bool v6, std::string& out) {
  if (!v6) {
    uint8_t b[4];
    if (!hexWordLe(hex, b)) return false;
    out = std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." + std::to_string(b[3]);
    return true;
  }
  if (hex.size() != 32) return false;
  uint8_t b[16];
  for (int w = 0; w < 4; ++w)
    if (!hexWordLe(hex.substr(static_cast<size_t>(w) * 8, 8), b + w * 4)) return false;
  // Shortest form per RFC 5952: the longest run (≥ 2) of zero groups becomes "::".
  uint16_t g[8];
  for (int i = 0; i < 8; ++i) g[i] = static_cast<uint16_t>(b[2 * i] << 8 | b[2 * i + 1]);
  int best = -1, bestLen = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > bestLen && j - i >= 2) best = i, bestLen = j - i;
    i = j;
  }
  char buf[8];
  out.clear();
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", g[i]);
    out += buf;
  }
  return true;
}

bool validNonce(std::string_view n) {
  return n.size() >= 8 && n.size() <= 32 &&
         std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

// A pid in "/proc/123/…" at the start of `s` (after any prefix up to "/proc/").
bool procPid(std::string_view s, int32_t& pid) {
  if (s.rfind("/proc/", 0) != 0) return false;
  s.remove_prefix(6);
  size_t slash = s.find('/');
  return slash != std::string_view::npos && number(s.substr(0, slash), pid) && pid > 0;
}

}  // namespace

std::string agentRequest(std::string_view command) { return json{{"execute", std::string(command)}}.dump(); }

std::string execRequest(const std::string& script) {
  return json{{"execute", "guest-exec"},
              {"arguments", {{"path", "/bin/sh"}, {"arg", json::array({"-c", script})}, {"capture-output", true}}}}
      .dump();
}

std::string execStatusRequest(int64_t pid) {
  return json{{"execute", "guest-exec-status"}, {"arguments", {{"pid", pid}}}}.dump();
}

Result<GuestKernel> parseOsInfo(std::string_view reply, const ProbeLimits& lim) {
  auto r = agentReturn(reply, lim);
  if (!r) return r.error();
  if (!r->is_object()) return malformed("guest-get-osinfo: \"return\" is not an object");
  GuestKernel k;
  k.release = strOf(*r, "kernel-release");
  k.version = strOf(*r, "kernel-version");
  k.machine = strOf(*r, "machine");
  k.os_id = strOf(*r, "id");
  k.os_name = strOf(*r, "pretty-name");
  if (k.os_name.empty()) k.os_name = strOf(*r, "name");
  if (k.release.empty()) return malformed("guest-get-osinfo: no kernel-release");
  return k;
}

Result<std::vector<GuestInterface>> parseInterfaces(std::string_view reply, const ProbeLimits& lim) {
  auto r = agentReturn(reply, lim);
  if (!r) return r.error();
  if (!r->is_array()) return malformed("guest-network-get-interfaces: \"return\" is not an array");
  if (r->size() > lim.max_interfaces)
    return malformed("guest-network-get-interfaces: more than " + std::to_string(lim.max_interfaces) + " interfaces");
  std::vector<GuestInterface> out;
  for (const auto& i : *r) {
    if (!i.is_object()) return malformed("guest-network-get-interfaces: an interface is not an object");
    GuestInterface g;
    g.name = strOf(i, "name");
    if (g.name.empty()) return malformed("guest-network-get-interfaces: an interface without a name");
    g.mac = lower(strOf(i, "hardware-address"));
    if (auto a = i.find("ip-addresses"); a != i.end()) {
      if (!a->is_array())
        return malformed("guest-network-get-interfaces: ip-addresses of " + g.name + " is not an array");
      for (const auto& ip : *a) {
        if (!ip.is_object())
          return malformed("guest-network-get-interfaces: an address of " + g.name + " is not an object");
        std::string addr = strOf(ip, "ip-address");
        if (addr.empty()) continue;
        int64_t prefix = -1;
        if (intOf(ip, "prefix", prefix) && prefix >= 0 && prefix <= 128) addr += "/" + std::to_string(prefix);
        if (g.addresses.size() < 64) g.addresses.push_back(std::move(addr));
      }
    }
    out.push_back(std::move(g));
  }
  return out;
}

Result<int64_t> parseExecStarted(std::string_view reply, const ProbeLimits& lim) {
  auto r = agentReturn(reply, lim);
  if (!r) return r.error();
  int64_t pid = 0;
  if (!r->is_object() || !intOf(*r, "pid", pid) || pid <= 0) return malformed("guest-exec: no pid in the reply");
  return pid;
}

Result<ExecStatus> parseExecStatus(std::string_view reply, const ProbeLimits& lim) {
  auto r = agentReturn(reply, lim);
  if (!r) return r.error();
  if (!r->is_object()) return malformed("guest-exec-status: \"return\" is not an object");
  auto ex = r->find("exited");
  if (ex == r->end() || !ex->is_boolean()) return malformed("guest-exec-status: no \"exited\"");
  ExecStatus s;
  s.exited = ex->get<bool>();
  int64_t v = 0;
  if (intOf(*r, "exitcode", v)) s.exit_code = static_cast<int>(std::clamp<int64_t>(v, -1, 255));
  if (intOf(*r, "signal", v)) s.signal = static_cast<int>(std::clamp<int64_t>(v, 0, 255));
  s.out_truncated = boolOf(*r, "out-truncated");
  for (auto [key, dst] : {std::pair{"out-data", &s.out}, std::pair{"err-data", &s.err}}) {
    auto d = r->find(key);
    if (d == r->end()) continue;
    if (!d->is_string()) return malformed(std::string("guest-exec-status: ") + key + " is not a string");
    auto dec = decodeBase64(d->get_ref<const std::string&>(), lim.max_output_bytes);
    if (!dec) return malformed(std::string("guest-exec-status: ") + key + ": " + dec.error().message);
    *dst = std::move(*dec);
  }
  return s;
}

Result<std::vector<GuestModule>> parseProcModules(std::string_view text, const ProbeLimits& lim) {
  auto lines = linesOf(text, lim.max_line);
  if (!lines) return lines.error();
  std::vector<GuestModule> out;
  size_t n = 0;
  for (auto line : *lines) {
    ++n;
    auto f = fieldsOf(line);
    if (f.empty()) continue;
    if (out.size() >= lim.max_modules) return malformed("more than " + std::to_string(lim.max_modules) + " modules");
    GuestModule m;
    if (f.size() < 5 || !number(f[1], m.size) || !number(f[2], m.refcount))
      return malformed("/proc/modules line " + std::to_string(n) + ": expected NAME SIZE REFCOUNT DEPS STATE …");
    m.name = std::string(f[0]);
    m.state = std::string(f[4]);
    if (f.size() >= 7 && f[6].front() == '(') m.taint = std::string(f[6]);
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<GuestListener>> parseProcNet(std::string_view text, std::string_view proto, const ProbeLimits& lim,
                                                std::vector<GuestListener>* others) {
  bool v6 = proto == "tcp6" || proto == "udp6";
  bool tcp = proto == "tcp" || proto == "tcp6";
  if (!tcp && proto != "udp" && proto != "udp6")
    return makeError(Error::Code::kInvalidArgument, "unknown table " + std::string(proto));
  auto lines = linesOf(text, lim.max_line);
  if (!lines) return lines.error();
  std::vector<GuestListener> out;
  size_t n = 0;
  for (auto line : *lines) {
    ++n;
    auto f = fieldsOf(line);
    if (f.empty() || f[0] == "sl") continue;  // the header
    if (n > lim.max_listeners * 4) return malformed("/proc/net/" + std::string(proto) + ": too many rows");
    auto bad = [&](const char* why) {
      return malformed("/proc/net/" + std::string(proto) + " line " + std::to_string(n) + ": " + why);
    };
    if (f.size() < 10) return bad("too few fields");
    auto lc = f[1].find(':'), rc = f[2].find(':');
    if (lc == std::string_view::npos || rc == std::string_view::npos) return bad("an address without a port");
    uint16_t lport = 0, rport = 0;
    unsigned st = 0;
    GuestListener l;
    if (!number(f[1].substr(lc + 1), lport, 16) || !number(f[2].substr(rc + 1), rport, 16) || !number(f[3], st, 16) ||
        !number(f[9], l.inode))
      return bad("bad port, state or inode");
    std::string laddr, raddr;
    if (!decodeAddr(f[1].substr(0, lc), v6, laddr) || !decodeAddr(f[2].substr(0, rc), v6, raddr))
      return bad("bad address");
    bool listening = tcp ? st == 0x0A : (st == 0x07 && rport == 0 && lport != 0);
    if (!listening) {
      // Connected sockets: only their local side matters (a port the guest has open).
      if (others && lport != 0 && others->size() < lim.max_listeners) {
        GuestListener o;
        o.proto = std::string(proto);
        o.addr = std::move(laddr);
        o.port = lport;
        o.inode = l.inode;
        others->push_back(std::move(o));
      }
      continue;
    }
    if (out.size() >= lim.max_listeners)
      return malformed("/proc/net/" + std::string(proto) + ": too many listening sockets");
    l.proto = std::string(proto);
    l.addr = std::move(laddr);
    l.port = lport;
    out.push_back(std::move(l));
  }
  return out;
}

std::string probeScript(std::string_view nonce, const ProbeLimits& lim, const std::vector<std::string>& known) {
  // Spawns, in all: ls (exe), grep (status), head (cmdline), ls | grep (fds), grep (files),
  // awk + sha256sum (hashes). Everything else is shell built-ins. The processes the script
  // starts show up in what it reads; the host drops them by their ancestry (PPid chains to $$).
  std::string s;
  s += "m=@@gg-; t=" + std::string(nonce) + "\n";
  s += "s() { echo \"$m$t $1\"; }\n";
  s += "s self; echo $$\n";
  s += "s exe; e=$(ls -l /proc/[0-9]*/exe 2>/dev/null); echo \"$e\"\n";
  s += "s status; grep -H -E '^(Name|PPid|Uid):' /proc/[0-9]*/status 2>/dev/null\n";
  s += "s cmdline; head -c " + std::to_string(lim.max_cmdline) + " /proc/[0-9]*/cmdline 2>/dev/null; echo\n";
  s += "s fd; ls -l /proc/[0-9]*/fd/ 2>/dev/null | grep -e '^/proc/' -e 'socket:\\['\n";
  s += "s files; grep -H '' /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 /proc/modules /proc/cmdline "
       "/etc/passwd 2>/dev/null\n";
  // One /proc/PID/exe per distinct executable (the lowest pid other than the script's: its
  // children are gone by now; /proc/PID/exe reads even a deleted executable), its identity
  // (device, inode, size, ctime: a binary rewritten in place gets a new ctime, which no guest
  // user can set back), and one sha256sum over those whose identity the host does not know.
  std::string k;
  for (const auto& id : known)
    if (!id.empty() && id.size() < 96 &&
        std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || c == ':'; }))
      k += (k.empty() ? "" : " ") + id;
  s += "x=$(echo \"$e\" | awk -v self=$$ '{ i = index($0, \" -> \"); if (!i) next; "
       "p = substr($0, i + 4); l = substr($0, 1, i - 1); j = index(l, \"/proc/\"); if (!j) next; "
       "n = substr(l, j + 6) + 0; if (n <= 0 || n == self) next; if (!(p in b) || n < b[p]) b[p] = n } "
       "END { for (p in b) print \"/proc/\" b[p] \"/exe\" }')\n";
  s += "s stat; st=$(stat -L -c '%n %d:%i:%s:%Z' $x 2>/dev/null); echo \"$st\"\n";
  s += "s sha256; k='" + k +
       "'; h=$(echo \"$st\" | awk -v k=\"$k\" 'BEGIN { n = split(k, a, \" \"); "
       "for (i = 1; i <= n; i++) K[a[i]] = 1 } NF == 2 && !($2 in K) { print $1 }'); [ -n \"$h\" ] && sha256sum $h "
       "2>/dev/null\n";
  s += "s end\n";
  return s;
}

namespace {

struct Sections {
  int32_t self = 0;
  std::map<std::string, std::string_view> text;  // name → body (between its marker and the next)
  bool ended = false;
};

Result<Sections> splitSections(std::string_view out, std::string_view nonce) {
  const std::string mark = "@@gg-" + std::string(nonce) + " ";
  Sections s;
  std::string current;
  size_t bodyStart = 0;
  size_t pos = 0;
  auto close = [&](size_t end) {
    if (!current.empty() && !s.text.count(current)) s.text[current] = out.substr(bodyStart, end - bodyStart);
  };
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    size_t end = nl == std::string_view::npos ? out.size() : nl;
    std::string_view line = out.substr(pos, end - pos);
    if (line.size() > mark.size() && line.compare(0, mark.size(), mark) == 0) {
      close(pos);
      current = std::string(line.substr(mark.size()));
      bodyStart = end + 1 > out.size() ? out.size() : end + 1;
      if (current == "end") {
        s.ended = true;
        current.clear();
        break;
      }
    }
    pos = end + 1;
  }
  if (!s.ended) close(out.size());
  auto self = s.text.find("self");
  if (self == s.text.end()) return malformed("probe output: no \"self\" section (did the script run?)");
  std::string_view sv = self->second;
  while (!sv.empty() && (sv.back() == '\n' || sv.back() == ' ')) sv.remove_suffix(1);
  if (!number(sv, s.self) || s.self <= 0) return malformed("probe output: bad \"self\" section");
  return s;
}

}  // namespace

Result<ProbeResult> parseProbeOutput(std::string_view out, std::string_view nonce, const ProbeLimits& lim,
                                     bool allowTruncated, const std::map<std::string, std::string>* known) {
  if (!validNonce(nonce)) return makeError(Error::Code::kInvalidArgument, "bad probe nonce");
  if (out.size() > lim.max_output_bytes)
    return malformed("probe output of " + std::to_string(out.size()) + " bytes exceeds " +
                     std::to_string(lim.max_output_bytes));
  auto sec = splitSections(out, nonce);
  if (!sec) return sec.error();
  ProbeResult res;
  if (!sec->ended) {
    if (!allowTruncated) return malformed("probe output ends before its end marker");
    res.truncated = true;
  }
  auto body = [&](const char* name) -> std::string_view {
    auto it = sec->text.find(name);
    return it == sec->text.end() ? std::string_view() : it->second;
  };

  // status: the live processes and their parents, names and uids.
  std::map<int32_t, GuestProcess> procs;
  {
    auto lines = linesOf(body("status"), lim.max_line);
    if (!lines) return makeError(Error::Code::kParse, "probe status section: " + lines.error().message);
    for (auto line : *lines) {
      int32_t pid = 0;
      size_t colon = line.find(":");
      if (!procPid(line, pid) || colon == std::string_view::npos) continue;
      std::string_view rest = line.substr(colon + 1);
      auto it = procs.find(pid);
      if (it == procs.end()) {
        if (procs.size() >= lim.max_processes) {
          res.truncated = true;
          continue;
        }
        it = procs.emplace(pid, GuestProcess{}).first;
        it->second.pid = pid;
      }
      size_t vc = rest.find(':');
      if (vc == std::string_view::npos) continue;
      std::string_view key = rest.substr(0, vc), value = rest.substr(vc + 1);
      auto f = fieldsOf(value);
      if (key == "Name") {
        while (!value.empty() && (value.front() == '\t' || value.front() == ' ')) value.remove_prefix(1);
        it->second.name = std::string(value.substr(0, 64));
      } else if (key == "PPid" && !f.empty()) {
        number(f[0], it->second.ppid);
      } else if (key == "Uid" && !f.empty()) {
        number(f[0], it->second.uid);
      }
    }
  }
  // The script and everything it started: descendants of `self` by PPid.
  {
    std::set<int32_t> mine{sec->self};
    for (bool grew = true; grew;) {
      grew = false;
      for (const auto& [pid, p] : procs)
        if (!mine.count(pid) && mine.count(p.ppid)) grew = mine.insert(pid).second || grew;
    }
    for (int32_t pid : mine) procs.erase(pid);
  }
  // exe: "lrwxrwxrwx 1 root root 0 … /proc/PID/exe -> /path", for every pid ls saw (the
  // script's children included: the sha256 section may name one of them).
  std::map<int32_t, std::string> exeOf;
  {
    auto lines = linesOf(body("exe"), lim.max_line);
    if (!lines) return makeError(Error::Code::kParse, "probe exe section: " + lines.error().message);
    for (auto line : *lines) {
      size_t arrow = line.find(" -> ");
      size_t at = line.find(" /proc/");
      int32_t pid = 0;
      if (arrow == std::string_view::npos || at == std::string_view::npos || at > arrow ||
          !procPid(line.substr(at + 1), pid))
        continue;
      if (exeOf.size() >= lim.max_processes * 2) break;
      exeOf[pid] = std::string(line.substr(arrow + 4));
    }
    for (auto& [pid, p] : procs)
      if (auto it = exeOf.find(pid); it != exeOf.end()) p.exe = it->second;
  }
  // cmdline: head's "==> /proc/PID/cmdline <==" headers, arguments NUL-separated. An argument
  // may itself contain a forged header; a pid seen twice is therefore reported, not believed.
  {
    std::string_view c = body("cmdline");
    std::map<int32_t, std::string> cmd;
    std::set<int32_t> twice;
    const std::string_view open = "==> ", shut = " <==";
    size_t pos = 0;
    while (pos < c.size()) {
      size_t h = c.find(open, pos);
      if (h == std::string_view::npos) break;
      if (h != 0 && c[h - 1] != '\n') {
        pos = h + open.size();
        continue;
      }
      size_t he = c.find('\n', h);
      if (he == std::string_view::npos) break;
      std::string_view header = c.substr(h + open.size(), he - h - open.size());
      int32_t pid = 0;
      bool ok =
          header.size() > shut.size() && header.substr(header.size() - shut.size()) == shut && procPid(header, pid);
      size_t next = he + 1;
      size_t f = c.find("\n==> /proc/", next);
      size_t bodyEnd = f == std::string_view::npos ? c.size() : f;
      if (ok) {
        std::string_view raw = c.substr(next, bodyEnd - next);
        if (raw.size() > lim.max_cmdline) raw = raw.substr(0, lim.max_cmdline);
        std::string text(raw);
        while (!text.empty() && (text.back() == '\0' || text.back() == '\n')) text.pop_back();
        std::replace(text.begin(), text.end(), '\0', ' ');
        if (cmd.count(pid)) twice.insert(pid);
        cmd[pid] = std::move(text);
      }
      pos = bodyEnd;
    }
    for (auto& [pid, text] : cmd) {
      auto it = procs.find(pid);
      if (it == procs.end()) continue;
      if (twice.count(pid)) {
        res.notes.push_back("pid " + std::to_string(pid) + ": command line ambiguous (a header appears twice)");
        continue;
      }
      it->second.cmdline = std::move(text);
    }
  }
  // files: "FILE:line" for the socket tables, modules, the kernel command line and passwd.
  std::map<int64_t, std::string> users;
  {
    auto lines = linesOf(body("files"), lim.max_line);
    if (!lines) return makeError(Error::Code::kParse, "probe files section: " + lines.error().message);
    std::map<std::string, std::string> tables;
    std::string modules;
    for (auto line : *lines) {
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view file = line.substr(0, colon), rest = line.substr(colon + 1);
      if (file == "/proc/cmdline") {
        res.kernel_cmdline = std::string(rest);
      } else if (file == "/proc/modules") {
        modules.append(rest).push_back('\n');
      } else if (file.rfind("/proc/net/", 0) == 0) {
        std::string t(file.substr(10));
        if (t == "tcp" || t == "tcp6" || t == "udp" || t == "udp6") tables[t].append(rest).push_back('\n');
      } else if (file == "/etc/passwd") {
        // name:x:uid:…
        size_t a = rest.find(':'), b = a == std::string_view::npos ? a : rest.find(':', a + 1);
        size_t c2 = b == std::string_view::npos ? b : rest.find(':', b + 1);
        int64_t uid = 0;
        if (c2 != std::string_view::npos && number(rest.substr(b + 1, c2 - b - 1), uid) && !users.count(uid))
          users[uid] = std::string(rest.substr(0, std::min<size_t>(a, 64)));
      }
    }
    auto mods = parseProcModules(modules, lim);
    if (!mods) return makeError(Error::Code::kParse, "probe: " + mods.error().message);
    res.modules = std::move(*mods);
    for (const char* t : {"tcp", "tcp6", "udp", "udp6"}) {
      auto l = parseProcNet(tables[t], t, lim, &res.sockets);
      if (!l) return makeError(Error::Code::kParse, "probe: " + l.error().message);
      res.listeners.insert(res.listeners.end(), l->begin(), l->end());
    }
  }
  // fd: "/proc/PID/fd/:" headers, then "… N -> socket:[INODE]".
  {
    auto lines = linesOf(body("fd"), lim.max_line);
    if (!lines) return makeError(Error::Code::kParse, "probe fd section: " + lines.error().message);
    std::map<uint64_t, int32_t> owner;
    int32_t pid = 0;
    for (auto line : *lines) {
      int32_t p = 0;
      if (!line.empty() && line.back() == ':' && procPid(line, p)) {
        pid = p;
        continue;
      }
      size_t s = line.find("socket:[");
      if (s == std::string_view::npos || pid <= 0 || !procs.count(pid)) continue;
      size_t e = line.find(']', s);
      uint64_t inode = 0;
      if (e != std::string_view::npos && number(line.substr(s + 8, e - s - 8), inode) && !owner.count(inode))
        owner[inode] = pid;
    }
    for (auto& l : res.listeners)
      if (auto it = owner.find(l.inode); it != owner.end()) l.pid = it->second;
  }
  // sha256: "HASH  /proc/PID/exe", one per distinct executable; every process running that
  // executable gets the hash.
  {
    auto lines = linesOf(body("sha256"), lim.max_line);
    if (!lines) return makeError(Error::Code::kParse, "probe sha256 section: " + lines.error().message);
    std::map<int32_t, std::string> byPid;
    for (auto line : *lines) {
      auto f = fieldsOf(line);
      int32_t pid = 0;
      if (f.size() != 2 || f[0].size() != 64 || !procPid(f[1], pid)) continue;
      if (!std::all_of(f[0].begin(), f[0].end(),
                       [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; }))
        continue;
      byPid[pid] = lower(std::string(f[0]));
    }
    // stat: "/proc/PID/exe DEV:INODE:SIZE:CTIME" per distinct executable. Those hashed now teach
    // the caller their identity; the others take the hash the caller knows for theirs.
    if (auto st = linesOf(body("stat"), lim.max_line)) {
      for (auto line : *st) {
        auto f = fieldsOf(line);
        int32_t pid = 0;
        if (f.size() != 2 || f[1].size() > 96 || !procPid(f[0], pid)) continue;
        std::string id(f[1]);
        if (auto h = byPid.find(pid); h != byPid.end()) {
          if (res.hashes_by_identity.size() < lim.max_processes) res.hashes_by_identity[id] = h->second;
        } else if (known) {
          if (auto k = known->find(id); k != known->end()) byPid[pid] = k->second;
        }
      }
    }
    // The hashed pid may be a script child that is gone from `procs`: go through its executable.
    std::map<std::string, std::string> byExe;
    for (const auto& [pid, hash] : byPid)
      if (auto e = exeOf.find(pid); e != exeOf.end()) byExe[e->second] = hash;
    for (auto& [pid, p] : procs)
      if (auto h = byExe.find(p.exe); !p.exe.empty() && h != byExe.end()) p.sha256 = h->second;
  }
  for (auto& [pid, p] : procs) {
    if (p.uid >= 0)
      if (auto u = users.find(p.uid); u != users.end()) p.user = u->second;
    res.processes.push_back(std::move(p));
  }
  return res;
}

}  // namespace goldgate::hostmon
