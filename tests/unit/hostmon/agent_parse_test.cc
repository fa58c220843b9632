// Contract tests of the guest-agent and probe-output parsers (hostmon/src/agent_parse.cc): real
// captured-style replies, then tables of hostile and broken inputs, each of which must give an
// error naming the problem (never a crash).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "agent_parse.h"
#include "agent_samples.h"

using namespace goldgate;
using namespace goldgate::hostmon;
using Catch::Matchers::Contains;

namespace {

struct Case {
  const char* name;
  std::string input;
  const char* expect;  // a part of the error message
};

// Each case must fail with kParse and a message containing its expected text.
template <typename Parse>
void expectErrors(const char* what, const std::vector<Case>& cases, Parse parse) {
  for (const auto& c : cases) {
    DYNAMIC_SECTION(what << ": " << c.name) {
      auto r = parse(c.input);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code == Error::Code::kParse);
      CHECK_THAT(r.error().message, Contains(c.expect));
    }
  }
}

}  // namespace

TEST_CASE("agent replies: os info, interfaces, exec", "[hostmon][agent]") {
  auto k = parseOsInfo(test::kOsInfoReply);
  REQUIRE(k.has_value());
  CHECK(k->release == "6.1.0-28-cloud-amd64");
  CHECK(k->version == "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)");
  CHECK(k->machine == "x86_64");
  CHECK(k->os_id == "debian");
  CHECK(k->os_name == "Debian GNU/Linux 12 (bookworm)");

  auto ifs = parseInterfaces(test::kInterfacesReply);
  REQUIRE(ifs.has_value());
  REQUIRE(ifs->size() == 2);
  CHECK((*ifs)[1].name == "eth0");
  CHECK((*ifs)[1].mac == "52:54:00:ab:cd:01");
  CHECK((*ifs)[1].addresses == std::vector<std::string>{"10.0.0.5/24", "fe80::5054:ff:feab:cd01/64"});
  CHECK((*ifs)[0].addresses == std::vector<std::string>{"127.0.0.1/8", "::1/128"});

  auto pid = parseExecStarted(R"j({"return": {"pid": 4711}})j");
  REQUIRE(pid.has_value());
  CHECK(*pid == 4711);

  auto running = parseExecStatus(test::execStatusReply(false));
  REQUIRE(running.has_value());
  CHECK_FALSE(running->exited);
  auto done = parseExecStatus(test::execStatusReply(true, "hello\n"));
  REQUIRE(done.has_value());
  CHECK(done->exited);
  CHECK(done->exit_code == 0);
  CHECK(done->out == "hello\n");
  auto cut = parseExecStatus(R"j({"return": {"exited": true, "signal": 9, "out-truncated": true}})j");
  REQUIRE(cut.has_value());
  CHECK(cut->signal == 9);
  CHECK(cut->out_truncated);
}

TEST_CASE("agent requests are the JSON the agent expects", "[hostmon][agent]") {
  auto j = nlohmann::json::parse(execRequest("echo 'hi' \"there\"\n"));
  CHECK(j["execute"] == "guest-exec");
  CHECK(j["arguments"]["path"] == "/bin/sh");
  CHECK(j["arguments"]["arg"][0] == "-c");
  CHECK(j["arguments"]["arg"][1] == "echo 'hi' \"there\"\n");
  CHECK(j["arguments"]["capture-output"] == true);
  CHECK(nlohmann::json::parse(execStatusRequest(12))["arguments"]["pid"] == 12);
  CHECK(agentRequest("guest-get-osinfo") == R"j({"execute":"guest-get-osinfo"})j");
}

TEST_CASE("an agent error reply is kIo with the agent's words", "[hostmon][agent]") {
  auto r = parseOsInfo(
      R"j({"error": {"class": "CommandNotFound", "desc": "The command guest-get-osinfo has not been found"}})j");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Error::Code::kIo);
  CHECK_THAT(r.error().message, Contains("has not been found"));
}

TEST_CASE("hostile agent replies give kParse errors", "[hostmon][agent]") {
  const std::vector<Case> cases = {
      {"not JSON", "Guest agent is not responding", "not JSON"},
      {"truncated", R"j({"return": {"kernel-release": "6.1)j", "not JSON"},
      {"array at the top", "[1, 2]", "not a JSON object"},
      {"neither return nor error", R"j({"id": 1})j", "neither"},
      {"return of the wrong type", R"j({"return": "x"})j", "not an object"},
      {"no kernel release", R"j({"return": {"kernel-release": 6}})j", "no kernel-release"},
      {"nested a thousand deep", std::string(1000, '[') + std::string(1000, ']'), "nested deeper"},
      {"nested 41 deep",
       R"j({"return": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})j",
       "nested deeper"},
  };
  expectErrors("os info", cases, [&](const std::string& in) { return parseOsInfo(in); });
  ProbeLimits small;
  small.max_reply_bytes = 64;
  auto big = parseOsInfo(test::kOsInfoReply, small);
  REQUIRE_FALSE(big.has_value());
  CHECK_THAT(big.error().message, Contains("exceeds the limit"));

  const std::vector<Case> interfaces = {
      {"return not an array", R"j({"return": {}})j", "not an array"},
      {"interface not an object", R"j({"return": [1]})j", "not an object"},
      {"no name", R"j({"return": [{"hardware-address": "52:54:00:00:00:01"}]})j", "without a name"},
      {"addresses not an array", R"j({"return": [{"name": "eth0", "ip-addresses": "10.0.0.1"}]})j", "not an array"},
      {"address not an object", R"j({"return": [{"name": "eth0", "ip-addresses": [7]}]})j", "not an object"},
  };
  expectErrors("interfaces", interfaces, [&](const std::string& in) { return parseInterfaces(in); });
  const std::vector<Case> exec = {
      {"no pid", R"j({"return": {}})j", "no pid"},
      {"negative pid", R"j({"return": {"pid": -3}})j", "no pid"},
      {"pid as a string", R"j({"return": {"pid": "12"}})j", "no pid"},
  };
  expectErrors("guest-exec", exec, [&](const std::string& in) { return parseExecStarted(in); });
  const std::vector<Case> status = {
      {"no exited", R"j({"return": {"exitcode": 0}})j", "no \"exited\""},
      {"out-data not a string", R"j({"return": {"exited": true, "out-data": 5}})j", "not a string"},
      {"out-data not base64", R"j({"return": {"exited": true, "out-data": "!!!!"}})j", "bad base64"},
      {"out-data of a bad length", R"j({"return": {"exited": true, "out-data": "aGVsbG8"}})j", "multiple of 4"},
  };
  expectErrors("guest-exec-status", status, [&](const std::string& in) { return parseExecStatus(in); });
}

TEST_CASE("base64 decoding is exact and bounded", "[hostmon][agent]") {
  for (std::string raw :
       {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("\0\xff\x10", 3)}) {
    auto d = decodeBase64(test::base64(raw), 100);
    REQUIRE(d.has_value());
    CHECK(*d == raw);
  }
  CHECK_FALSE(decodeBase64(test::base64(std::string(300, 'x')), 100).has_value());
  CHECK_FALSE(decodeBase64("a===", 100).has_value());
  CHECK_FALSE(decodeBase64("ab=c", 100).has_value());
}

TEST_CASE("/proc/modules and /proc/net tables", "[hostmon][agent]") {
  auto m =
      parseProcModules("virtio_net 61440 0 - Live 0x0000000000000000\nfailover 12288 1 net_failover, Live 0x0 (OE)\n");
  REQUIRE(m.has_value());
  REQUIRE(m->size() == 2);
  CHECK((*m)[0] == GuestModule{"virtio_net", 61440, 0, "Live", ""});
  CHECK((*m)[1] == GuestModule{"failover", 12288, 1, "Live", "(OE)"});

  auto t6 = parseProcNet(
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
      "tm->when retrnsmt   uid  "
      "timeout inode\n"
      "   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 "
      "00:00000000 00000000"
      "     0        0 9005 1 0000000000000000 100 0 0 10 0\n"
      "   1: 000080FE00000000FF00545001CDABFE:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 "
      "00:00000000 00000000"
      "     0        0 9006 1 0000000000000000 100 0 0 10 0\n",
      "tcp6");
  REQUIRE(t6.has_value());
  REQUIRE(t6->size() == 2);
  CHECK((*t6)[0].addr == "::1");
  CHECK((*t6)[0].port == 631);
  CHECK((*t6)[1].addr == "fe80::5054:ff:feab:cd01");

  const std::vector<Case> net = {
      {"too few fields", "   0: 00000000:0016 00000000:0000 0A\n", "too few fields"},
      {"no port", "   0: 00000000 00000000:0000 0A 0:0 0:0 0 0 0 9001\n", "without a port"},
      {"bad hex address", "   0: 0000ZZ00:0016 00000000:0000 0A 0:0 0:0 0 0 0 9001\n", "bad address"},
      {"short v4 address", "   0: 0000:0016 00000000:0000 0A 0:0 0:0 0 0 0 9001\n", "bad address"},
      {"port out of range", "   0: 00000000:10016 00000000:0000 0A 0:0 0:0 0 0 0 9001\n", "bad port"},
      {"inode not a number", "   0: 00000000:0016 00000000:0000 0A 0:0 0:0 0 0 0 x9001\n", "bad port"},
      {"over-long line", std::string(70000, 'x'), "longer than"},
  };
  expectErrors("tcp", net, [&](const std::string& in) { return parseProcNet(in, "tcp"); });
  CHECK_FALSE(parseProcNet("", "sctp").has_value());
  const std::vector<Case> mods = {
      {"too few fields", "virtio_net 61440 0 -\n", "expected NAME SIZE"},
      {"size not a number", "virtio_net big 0 - Live 0x0\n", "expected NAME SIZE"},
  };
  expectErrors("modules", mods, [&](const std::string& in) { return parseProcModules(in); });
  ProbeLimits two;
  two.max_modules = 2;
  auto many = parseProcModules("a 1 0 - Live 0\nb 1 0 - Live 0\nc 1 0 - Live 0\n", two);
  REQUIRE_FALSE(many.has_value());
  CHECK_THAT(many.error().message, Contains("more than 2 modules"));
}

TEST_CASE("probe output: processes, listeners, modules, kernel command line", "[hostmon][agent]") {
  auto r = parseProbeOutput(test::probeOutput(), test::kNonce);
  REQUIRE(r.has_value());
  CHECK_FALSE(r->truncated);
  CHECK(r->notes.empty());
  CHECK(r->kernel_cmdline == "console=ttyS0 nokaslr gg.ip=10.0.0.5/24");
  CHECK(r->modules.size() == 2);
  // The script (412) and its child (414) are left out; 413 had exited.
  std::vector<int32_t> pids;
  for (const auto& p : r->processes) pids.push_back(p.pid);
  CHECK(pids == std::vector<int32_t>{1, 2, 380, 395, 401});
  const GuestProcess& init = r->processes[0];
  CHECK(init == GuestProcess{1, 0, 0, "root", "init", "/bin/busybox", test::hash64('a'), "/bin/busybox sh /init"});
  const GuestProcess& kthread = r->processes[1];
  CHECK(kthread.exe.empty());
  CHECK(kthread.sha256.empty());
  CHECK(kthread.cmdline.empty());
  const GuestProcess& app = r->processes[4];
  CHECK(app == GuestProcess{401, 395, 1000, "app", "my app", "/tmp/my app (deleted)", test::hash64('d'),
                            "/tmp/my app --listen 127.0.0.1:8080"});
  REQUIRE(r->listeners.size() == 5);
  CHECK(r->listeners[0] == GuestListener{"tcp", "0.0.0.0", 22, 9001, 395});
  CHECK(r->listeners[1] == GuestListener{"tcp", "127.0.0.1", 8080, 9002, 401});
  CHECK(r->listeners[2] == GuestListener{"tcp6", "::", 80, 9003, -1});
  CHECK(r->listeners[3] == GuestListener{"tcp6", "::1", 631, 9005, -1});
  CHECK(r->listeners[4] == GuestListener{"udp", "0.0.0.0", 68, 9004, -1});
}

TEST_CASE("the probe script is plain sh and never holds its own section marker", "[hostmon][agent]") {
  std::string s = probeScript(test::kNonce);
  CHECK(s.find(std::string("@@gg-") + test::kNonce) == std::string::npos);
  CHECK_THAT(s, Contains("head -c 2048 /proc/[0-9]*/cmdline"));
  CHECK_THAT(s, Contains("sha256sum"));
  CHECK_THAT(s, Contains("s end"));
}

TEST_CASE("hostile probe output", "[hostmon][agent]") {
  const std::string m = std::string("@@gg-") + test::kNonce + " ";
  const std::string good = test::probeOutput();
  const std::vector<Case> cases = {
      {"empty", "", "no \"self\" section"},
      {"other nonce", "@@gg-zzzzzzzzzzzzzzzz self\n1\n", "no \"self\" section"},
      {"self not a number", m + "self\nx\n" + m + "end\n", "bad \"self\""},
      {"cut before the end marker", good.substr(0, good.find(m + "sha256")), "before its end marker"},
      {"over-long status line", m + "self\n9\n" + m + "status\n" + std::string(70000, 'a') + "\n" + m + "end\n",
       "longer than"},
      {"bad module line", m + "self\n9\n" + m + "files\n/proc/modules:x\n" + m + "end\n", "expected NAME SIZE"},
      {"bad tcp row", m + "self\n9\n" + m + "files\n/proc/net/tcp:   0: zz\n" + m + "end\n", "too few fields"},
  };
  expectErrors("probe", cases, [&](const std::string& in) { return parseProbeOutput(in, test::kNonce); });
  SECTION("output the agent cut is reported as truncated when allowed") {
    auto r = parseProbeOutput(good.substr(0, good.find(m + "sha256")), test::kNonce, {}, true);
    REQUIRE(r.has_value());
    CHECK(r->truncated);
    CHECK(r->processes.size() == 5);
  }
  SECTION("a forged cmdline header makes the pid's command line ambiguous, not believed") {
    std::string forged = good;
    std::string at = "\n==> /proc/395/cmdline <==\n";
    forged.insert(forged.find(at), "\n==> /proc/401/cmdline <==\nsshd: innocent");
    auto r = parseProbeOutput(forged, test::kNonce);
    REQUIRE(r.has_value());
    REQUIRE(r->notes.size() == 1);
    CHECK_THAT(r->notes[0], Contains("pid 401"));
    CHECK(r->processes[4].cmdline.empty());
  }
  SECTION("a process whose arguments forge a section marker cannot, without the nonce") {
    std::string forged = good;
    forged.insert(forged.find("\n==> /proc/2/cmdline"),
                  "\n@@gg-guessed0000000 sha256\n" + test::hash64('e') + "  /proc/1/exe");
    auto r = parseProbeOutput(forged, test::kNonce);
    REQUIRE(r.has_value());
    CHECK(r->processes[0].sha256 == test::hash64('a'));
  }
  SECTION("the process bound") {
    ProbeLimits lim;
    lim.max_processes = 3;
    auto r = parseProbeOutput(good, test::kNonce, lim);
    REQUIRE(r.has_value());
    CHECK(r->truncated);
    CHECK(r->processes.size() <= 3);
  }
  SECTION("a bad nonce is refused") { CHECK_FALSE(parseProbeOutput(good, "short").has_value()); }
}

TEST_CASE("probe: executables are hashed again only when their identity is new", "[hostmon][agent]") {
  // The script names the known identities and hashes only the rest.
  std::string s = probeScript(test::kNonce, {}, {"2049:131:1982256:1795720000", "bad id; rm -rf /"});
  CHECK_THAT(s, Contains("k='2049:131:1982256:1795720000'"));
  CHECK_THAT(s, !Contains("rm -rf"));  // only digits and colons pass
  CHECK_THAT(s, Contains("stat -L -c '%n %d:%i:%s:%Z'"));

  // Output: busybox (pid 1) and qemu-ga (380) were hashed this time; dropbear (395) was not,
  // its identity is known; the deleted file (401) is neither hashed nor known.
  const std::string m = "@@gg-" + std::string(test::kNonce) + " ";
  std::string out = test::probeOutput();
  std::string stat = m +
                     "stat\n/proc/1/exe 2049:131:1982256:1795720000\n/proc/380/exe 2049:140:1008896:1795720001\n"
                     "/proc/395/exe 2049:150:300000:1795720002\n/proc/401/exe 2049:160:5000:1795720003\n";
  out.insert(out.find(m + "sha256"), stat);
  size_t a = out.find(test::hash64('c') + "  /proc/395/exe\n");
  out.erase(a, test::hash64('c').size() + 16);
  a = out.find(test::hash64('d') + "  /proc/401/exe\n");
  out.erase(a, test::hash64('d').size() + 16);
  std::map<std::string, std::string> known{{"2049:150:300000:1795720002", test::hash64('e')}};
  auto r = parseProbeOutput(out, test::kNonce, {}, false, &known);
  REQUIRE(r);
  auto hashOf = [&](int32_t pid) {
    for (const auto& p : r->processes)
      if (p.pid == pid) return p.sha256;
    return std::string("?");
  };
  CHECK(hashOf(1) == test::hash64('a'));
  CHECK(hashOf(395) == test::hash64('e'));  // from the known identity
  CHECK(hashOf(401).empty());               // neither: no hash rather than a wrong one
  CHECK(r->hashes_by_identity.size() == 2);
  CHECK(r->hashes_by_identity.at("2049:140:1008896:1795720001") == test::hash64('b'));
}

TEST_CASE("an agent error with an empty description still says what happened", "[hostmon]") {
  auto r = parseOsInfo(R"({"error":{"class": ""}})", ProbeLimits{});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "agent error (no description)");
}
