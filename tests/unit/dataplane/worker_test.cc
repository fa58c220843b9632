// Unit tests of the forwarding worker (dataplane/src/worker.*) driven through ring ports
// (rte_eth_from_rings): packets are put on a port's receive ring, the worker polls once, and what
// it sent is taken from the other ports' transmit rings. The passes (parse, look up, admit,
// forward, follow fragments) are exercised here packet by packet, without pcap files or a switch
// process. Runs in unit_dpdk_tests.
#include <catch2/catch.hpp>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/policy.h"
#include "worker.h"

using namespace goldgate;
using namespace goldgate::dataplane;

namespace {

const char* kSwitch = R"(
ports:
  - {name: web1, devargs: a, vm: web-1, mac: "02:00:00:00:00:01", ips: [10.0.0.1]}
  - {name: db1, devargs: b, vm: db-1, mac: "02:00:00:00:00:02", ips: [10.0.1.1]}
)";
const char* kSegments = R"(
segments:
  - {name: web, members: {vms: [web-1]}}
  - {name: db, members: {vms: [db-1]}}
rules:
  - {name: web-to-db, from: web, to: db, proto: tcp, ports: 5432, action: allow}
  - {name: dns, from: web, to: db, proto: udp, ports: 53, action: allow}
)";
constexpr uint16_t kWeb = 0, kDb = 1;
const uint8_t kMacWeb[6] = {2, 0, 0, 0, 0, 1}, kMacDb[6] = {2, 0, 0, 0, 0, 2};
const uint8_t kIpWeb[4] = {10, 0, 0, 1}, kIpDb[4] = {10, 0, 1, 1};

// Two ring ports, a compiled policy and one worker in secure mode, polled from the test's thread.
struct Bench {
  rte_mempool* pool = nullptr;
  rte_ring* rx[2] = {};
  rte_ring* tx[2] = {};
  std::vector<uint16_t> ports;
  std::unique_ptr<CompiledPolicy> policy;
  std::atomic<const CompiledPolicy*> current{nullptr};
  std::atomic<bool> stop{false};
  rte_rcu_qsbr* qsbr = nullptr;
  rte_ring* alerts = nullptr;
  WorkerShared shared;
  std::unique_ptr<Worker> worker;

  Bench() {
    static int instance = 0;
    const std::string tag = std::to_string(++instance);
    pool = rte_pktmbuf_pool_create(("wt_pool" + tag).c_str(), 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    REQUIRE(pool);
    for (int p = 0; p < 2; ++p) {
      const std::string n = "wt" + tag + "_" + std::to_string(p);
      rx[p] = rte_ring_create((n + "rx").c_str(), 256, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
      tx[p] = rte_ring_create((n + "tx").c_str(), 256, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
      REQUIRE((rx[p] && tx[p]));
      const int id = rte_eth_from_rings(("net_ring_" + n).c_str(), &rx[p], 1, &tx[p], 1, SOCKET_ID_ANY);
      REQUIRE(id >= 0);
      const auto port = static_cast<uint16_t>(id);
      rte_eth_conf conf{};
      REQUIRE(rte_eth_dev_configure(port, 1, 1, &conf) == 0);
      REQUIRE(rte_eth_rx_queue_setup(port, 0, 256, rte_eth_dev_socket_id(port), nullptr, pool) == 0);
      REQUIRE(rte_eth_tx_queue_setup(port, 0, 256, rte_eth_dev_socket_id(port), nullptr) == 0);
      REQUIRE(rte_eth_dev_start(port) == 0);
      ports.push_back(port);
    }
    auto sw = parseSwitchConfig(kSwitch, "goldgate.yaml");
    REQUIRE(sw.has_value());
    auto segs = parseSegments({{"policy.yaml", kSegments}}, *sw);
    REQUIRE(segs.has_value());
    static uint64_t generation = 5000;
    auto compiled = CompiledPolicy::compile(*sw, *segs, {}, ++generation, 1);
    REQUIRE(compiled.has_value());
    policy = std::move(*compiled);
    current.store(policy.get());
    qsbr = static_cast<rte_rcu_qsbr*>(std::calloc(1, rte_rcu_qsbr_get_memsize(1)));
    REQUIRE(rte_rcu_qsbr_init(qsbr, 1) == 0);
    alerts = rte_ring_create_elem(("wt_alerts" + tag).c_str(), sizeof(AlertRecord), 1024, SOCKET_ID_ANY,
                                  RING_F_SP_ENQ | RING_F_SC_DEQ);
    REQUIRE(alerts);
    shared.policy = &current;
    shared.qsbr = qsbr;
    shared.stop = &stop;
    shared.ports = ports;
    shared.tsc_hz = rte_get_tsc_hz();
    shared.timeouts = TimeoutTicks::fromConfig(sw->timeouts, shared.tsc_hz);
    shared.pool = pool;
    auto flows = FlowTable::create("wt_flows" + tag, 1024, SOCKET_ID_ANY);
    REQUIRE(flows.has_value());
    worker = std::make_unique<Worker>(0, 0, &shared, std::move(*flows), alerts);
    worker->attach();
  }
  ~Bench() {
    worker->detach();
    worker.reset();
    for (uint16_t id : ports) {
      rte_eth_dev_stop(id);
      rte_eth_dev_close(id);
    }
    for (int p = 0; p < 2; ++p) {
      drain(p);
      rte_ring_free(rx[p]);
      rte_ring_free(tx[p]);
    }
    rte_ring_free(alerts);
    std::free(qsbr);
    rte_mempool_free(pool);
  }

  // Frames put on `port`'s receive ring, one poll of the worker.
  void receive(uint16_t port, const std::vector<std::vector<uint8_t>>& frames) {
    for (const auto& f : frames) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      REQUIRE(m);
      std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
      REQUIRE(rte_ring_enqueue(rx[port], m) == 0);
    }
    worker->poll();
  }
  // What the worker sent on `port`, in order.
  std::vector<std::vector<uint8_t>> sent(int port) {
    std::vector<std::vector<uint8_t>> out;
    void* obj;
    while (rte_ring_dequeue(tx[port], &obj) == 0) {
      auto* m = static_cast<rte_mbuf*>(obj);
      const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
      out.emplace_back(d, d + rte_pktmbuf_data_len(m));
      rte_pktmbuf_free(m);
    }
    return out;
  }
  void drain(int port) {
    sent(port);
    void* obj;
    while (rte_ring_dequeue(rx[port], &obj) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
  }
  uint64_t drops(DropReason r) { return worker->stats().drops[static_cast<int>(r)].load(); }
};

// An Ethernet + IPv4 frame around `l4` (protocol `proto`), checksums computed as a sender's stack
// would. `frag`: the IPv4 flags and fragment offset field.
std::vector<uint8_t> ipv4(const uint8_t* srcMac, const uint8_t* dstMac, const uint8_t* src, const uint8_t* dst,
                          uint8_t proto, std::vector<uint8_t> l4, uint16_t frag = 0, uint16_t id = 1,
                          bool l4Checksum = true) {
  std::vector<uint8_t> f(14 + 20 + l4.size());
  std::memcpy(&f[0], dstMac, 6);
  std::memcpy(&f[6], srcMac, 6);
  f[12] = 0x08;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(&f[14]);
  ip->version_ihl = 0x45;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(20 + l4.size()));
  ip->packet_id = rte_cpu_to_be_16(id);
  ip->fragment_offset = rte_cpu_to_be_16(frag);
  ip->time_to_live = 64;
  ip->next_proto_id = proto;
  std::memcpy(&ip->src_addr, src, 4);
  std::memcpy(&ip->dst_addr, dst, 4);
  std::memcpy(&f[34], l4.data(), l4.size());
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  if (l4Checksum && proto == 6) reinterpret_cast<rte_tcp_hdr*>(&f[34])->cksum = rte_ipv4_udptcp_cksum(ip, &f[34]);
  if (l4Checksum && proto == 17)
    reinterpret_cast<rte_udp_hdr*>(&f[34])->dgram_cksum = rte_ipv4_udptcp_cksum(ip, &f[34]);
  return f;
}

std::vector<uint8_t> tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
                         size_t payload = 0) {
  std::vector<uint8_t> t(20 + payload, 'x');
  auto* h = reinterpret_cast<rte_tcp_hdr*>(t.data());
  h->src_port = rte_cpu_to_be_16(sport);
  h->dst_port = rte_cpu_to_be_16(dport);
  h->sent_seq = rte_cpu_to_be_32(seq);
  h->recv_ack = rte_cpu_to_be_32(ack);
  h->data_off = 5 << 4;
  h->tcp_flags = flags;
  h->rx_win = rte_cpu_to_be_16(65535);
  h->cksum = 0;
  h->tcp_urp = 0;
  return t;
}

std::vector<uint8_t> udp(uint16_t sport, uint16_t dport, size_t payload) {
  std::vector<uint8_t> u(8 + payload, 'q');
  auto* h = reinterpret_cast<rte_udp_hdr*>(u.data());
  h->src_port = rte_cpu_to_be_16(sport);
  h->dst_port = rte_cpu_to_be_16(dport);
  h->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(u.size()));
  h->dgram_cksum = 0;
  return u;
}

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kSynAck = 0x12;

std::vector<uint8_t> webToDb(std::vector<uint8_t> l4, uint8_t proto = 6) {
  return ipv4(kMacWeb, kMacDb, kIpWeb, kIpDb, proto, std::move(l4));
}
std::vector<uint8_t> dbToWeb(std::vector<uint8_t> l4, uint8_t proto = 6) {
  return ipv4(kMacDb, kMacWeb, kIpDb, kIpWeb, proto, std::move(l4));
}

}  // namespace

TEST_CASE("Worker: an allowed connection is admitted, its replies pass, its flow is tracked", "[worker]") {
  Bench b;
  b.receive(kWeb, {webToDb(tcp(40000, 5432, kSyn, 100, 0))});
  auto out = b.sent(kDb);
  REQUIRE(out.size() == 1);
  CHECK(b.worker->flows().count() == 1);
  CHECK(b.worker->stats().flows_created.load() == 1);
  b.receive(kDb, {dbToWeb(tcp(5432, 40000, kSynAck, 900, 101))});
  CHECK(b.sent(kWeb).size() == 1);
  b.receive(kWeb, {webToDb(tcp(40000, 5432, kAck, 101, 901))});
  CHECK(b.sent(kDb).size() == 1);
  CHECK(b.worker->flows().count() == 1);
  CHECK(b.worker->stats().ports[kWeb].rx_packets.load() == 2);
  CHECK(b.worker->stats().ports[kDb].tx_packets.load() == 2);
}

TEST_CASE("Worker: what the policy does not allow is dropped under its reason", "[worker]") {
  Bench b;
  SECTION("a port the rules do not open") {
    b.receive(kWeb, {webToDb(tcp(40000, 22, kSyn, 1, 0))});
    CHECK(b.drops(DropReason::kPolicyDeny) == 1);
  }
  SECTION("the other direction: db may not open a connection to web") {
    b.receive(kDb, {dbToWeb(tcp(5432, 40000, kSyn, 1, 0))});
    CHECK(b.drops(DropReason::kPolicyDeny) == 1);
  }
  SECTION("a TCP segment that opens nothing, without a connection") {
    b.receive(kWeb, {webToDb(tcp(40000, 5432, kAck, 1, 1))});
    CHECK(b.drops(DropReason::kTcpNoFlow) == 1);
  }
  SECTION("a bad TCP checksum, before any state changes") {
    auto f = webToDb(tcp(40000, 5432, kSyn, 1, 0));
    f[34 + 16] ^= 0x55;
    b.receive(kWeb, {f});
    CHECK(b.drops(DropReason::kBadL4Checksum) == 1);
    CHECK(b.worker->flows().count() == 0);
  }
  SECTION("a source address the port does not own") {
    const uint8_t other[4] = {10, 0, 0, 9};
    b.receive(kWeb, {ipv4(kMacWeb, kMacDb, other, kIpDb, 6, tcp(40000, 5432, kSyn, 1, 0))});
    CHECK(b.drops(DropReason::kSpoofedIp) == 1);
  }
  CHECK(b.sent(kDb).empty());
  CHECK(b.sent(kWeb).empty());
  CHECK(b.worker->flows().count() == 0);
}

TEST_CASE("Worker: packets of one new connection in one burst make one flow and all pass, in order", "[worker]") {
  Bench b;
  b.receive(kWeb, {webToDb(udp(5000, 53, 10), 17), webToDb(udp(5000, 53, 20), 17), webToDb(udp(5000, 53, 30), 17)});
  auto out = b.sent(kDb);
  REQUIRE(out.size() == 3);
  CHECK(out[0].size() < out[1].size());
  CHECK(out[1].size() < out[2].size());
  CHECK(b.worker->flows().count() == 1);
  CHECK(b.worker->stats().flows_created.load() == 1);
}

TEST_CASE("Worker: a later fragment follows its first fragment's verdict", "[worker]") {
  Bench b;
  // A UDP datagram in two fragments: 8 + 16 bytes, then 16 more at offset 24.
  auto first = udp(5000, 53, 40);
  std::vector<uint8_t> head(first.begin(), first.begin() + 24), tail(first.begin() + 24, first.end());
  auto f1 = ipv4(kMacWeb, kMacDb, kIpWeb, kIpDb, 17, head, 0x2000, 77, false);
  auto f2 = ipv4(kMacWeb, kMacDb, kIpWeb, kIpDb, 17, tail, 24 / 8, 77, false);
  SECTION("first, then later: both pass") {
    b.receive(kWeb, {f1});
    b.receive(kWeb, {f2});
    CHECK(b.sent(kDb).size() == 2);
  }
  SECTION("both in one burst: the later one follows the first admitted in the same burst") {
    b.receive(kWeb, {f1, f2});
    CHECK(b.sent(kDb).size() == 2);
  }
  SECTION("later before first: dropped (its first fragment was not admitted)") {
    b.receive(kWeb, {f2});
    CHECK(b.sent(kDb).empty());
    CHECK(b.drops(DropReason::kFragmentNoFlow) == 1);
  }
  SECTION("a denied datagram's later fragment is dropped too") {
    auto denied = udp(5000, 54, 40);
    std::vector<uint8_t> h(denied.begin(), denied.begin() + 24), t(denied.begin() + 24, denied.end());
    b.receive(kWeb, {ipv4(kMacWeb, kMacDb, kIpWeb, kIpDb, 17, h, 0x2000, 78, false),
                     ipv4(kMacWeb, kMacDb, kIpWeb, kIpDb, 17, t, 24 / 8, 78, false)});
    CHECK(b.sent(kDb).empty());
    CHECK(b.drops(DropReason::kPolicyDeny) == 1);
    CHECK(b.drops(DropReason::kFragmentNoFlow) == 1);
  }
}

TEST_CASE("Worker: a policy that no longer allows a connection cuts it at its next packet", "[worker]") {
  Bench b;
  b.receive(kWeb, {webToDb(udp(5000, 53, 10), 17)});
  REQUIRE(b.sent(kDb).size() == 1);
  auto sw = parseSwitchConfig(kSwitch, "goldgate.yaml");
  auto segs = parseSegments({{"policy.yaml", R"(
segments:
  - {name: web, members: {vms: [web-1]}}
  - {name: db, members: {vms: [db-1]}}
rules:
  - {name: web-to-db, from: web, to: db, proto: tcp, ports: 5432, action: allow}
)"}},
                            *sw);
  REQUIRE(segs.has_value());
  auto next = CompiledPolicy::compile(*sw, *segs, {}, 9'000'000, 1);
  REQUIRE(next.has_value());
  b.current.store(next->get());
  b.receive(kWeb, {webToDb(udp(5000, 53, 10), 17)});
  CHECK(b.sent(kDb).empty());
  CHECK(b.drops(DropReason::kFlowCut) == 1);
  CHECK(b.worker->stats().flows_cut.load() == 1);
  CHECK(b.worker->flows().count() == 0);
  b.current.store(b.policy.get());
}

namespace {

// Asks the worker through its mailbox (served at the end of a poll).
void ask(Bench& b, Mailbox::Cmd cmd) {
  Mailbox& mb = b.worker->mailbox();
  mb.cmd = cmd;
  mb.state.store(Mailbox::State::kRequested);
  b.worker->poll();
  REQUIRE(mb.state.load() == Mailbox::State::kDone);
  mb.state.store(Mailbox::State::kIdle);
}

// What goldgatectl trace --capture shows of one packet, without the numbers of the run (policy
// version, worker, age): the verdict, the reason, the rule and each step.
std::string captureOne(Bench& b, uint16_t port, const std::vector<uint8_t>& frame, TraceFilter filter = {}) {
  filter.port = port;
  b.worker->mailbox().trace_filter = filter;
  b.worker->mailbox().trace_count = 1;
  ask(b, Mailbox::Cmd::kTraceArm);
  b.receive(port, {frame});
  std::vector<TraceRecord> recs;
  recs.reserve(Worker::kTraceMax);
  b.worker->mailbox().trace_out = &recs;
  ask(b, Mailbox::Cmd::kTraceCollect);
  b.worker->mailbox().trace_out = nullptr;
  b.drain(kWeb);
  b.drain(kDb);
  if (recs.size() != 1) return "(" + std::to_string(recs.size()) + " records)\n";
  CHECK(b.worker->mailbox().matched == 0);  // the capture ends once it has its packet
  const proto::TraceResult t = renderTrace(recs[0], *b.policy, "captured");
  std::string s = t.packet() + "\n  verdict " + t.verdict();
  if (!t.reason().empty()) s += " (" + t.reason() + ")";
  for (const auto& p : t.out_ports()) s += " to " + p;
  if (t.has_rule()) s += ", rule " + t.rule().name() + " at " + t.rule().file() + ":" + std::to_string(t.rule().line());
  s += "\n";
  for (const auto& st : t.steps()) s += "  " + st.step() + " | " + st.result() + " | " + st.detail() + "\n";
  return s;
}

}  // namespace

TEST_CASE("Worker: a capture records each packet's decisions as the worker takes them (golden)", "[worker][trace]") {
  Bench b;
  std::vector<std::pair<std::string, std::string>> cases;
  auto add = [&](const std::string& name, uint16_t port, const std::vector<uint8_t>& f) {
    cases.emplace_back(name, captureOne(b, port, f));
  };
  add("new connection, allowed", kWeb, webToDb(tcp(40000, 5432, kSyn, 100, 0)));
  add("reply of a tracked connection", kDb, dbToWeb(tcp(5432, 40000, kSynAck, 900, 101)));
  add("tracked connection", kWeb, webToDb(tcp(40000, 5432, kAck, 101, 901)));
  add("default deny", kWeb, webToDb(tcp(40001, 22, kSyn, 100, 0)));
  add("tcp without a connection", kWeb, webToDb(tcp(40002, 5432, kAck, 100, 1)));
  add("spoofed source address", kWeb,
      ipv4(kMacWeb, kMacDb, std::vector<uint8_t>{10, 0, 0, 9}.data(), kIpDb, 6, tcp(40003, 5432, kSyn, 1, 0)));
  const uint8_t otherMac[6] = {2, 0, 0, 0, 0, 9};
  add("spoofed source MAC", kWeb, ipv4(otherMac, kMacDb, kIpWeb, kIpDb, 6, tcp(40004, 5432, kSyn, 1, 0)));
  auto badSum = webToDb(tcp(40005, 5432, kSyn, 1, 0));
  badSum[24] ^= 0xff;  // the IPv4 header checksum
  add("bad IP checksum", kWeb, badSum);
  auto truncated = webToDb(tcp(40006, 5432, kSyn, 1, 0));
  truncated.resize(30);
  add("truncated", kWeb, truncated);
  const uint8_t mcast[6] = {1, 0, 0x5e, 0, 0, 1};
  add("IP to a multicast MAC", kWeb, ipv4(kMacWeb, mcast, kIpWeb, kIpDb, 17, udp(5000, 53, 4)));
  add("later fragment without its first", kWeb,
      ipv4(kMacWeb, kMacDb, kIpWeb, kIpDb, 17, udp(5000, 53, 16), 0x0002, 77));
  auto tagged = webToDb(tcp(40007, 5432, kSyn, 1, 0));
  tagged.insert(tagged.begin() + 12, {0x81, 0x00, 0x00, 0x0a});
  add("tagged frame from a VM", kWeb, tagged);
  // Only what the filter takes is recorded: a UDP filter lets the TCP packet pass unrecorded.
  TraceFilter udpOnly;
  udpOnly.protocol = 17;
  CHECK(captureOne(b, kWeb, webToDb(tcp(40008, 5432, kSyn, 1, 0)), udpOnly) == "(0 records)\n");
  add("allowed UDP", kWeb, webToDb(udp(5353, 53, 8), 17));

  std::string got;
  for (const auto& [name, text] : cases) got += "== " + name + "\n" + text;
  const std::string path = std::string(GOLDGATE_TEST_DATA_DIR) + "/trace/captured.golden";
  if (std::getenv("GOLDGATE_UPDATE_GOLDEN")) {
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f);
    std::fputs(got.c_str(), f);
    std::fclose(f);
  }
  FILE* f = std::fopen(path.c_str(), "r");
  REQUIRE(f);
  std::string want;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) want.append(buf, n);
  std::fclose(f);
  CHECK(got == want);
}
