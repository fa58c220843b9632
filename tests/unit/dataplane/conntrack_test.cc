// Unit tests of connection tracking (dataplane/src/conntrack.cc): the pure state machines and flow
// keys, and the rte_hash-backed FlowTable, which must fail closed when full. Runs in
// unit_dpdk_tests (the EAL is up).
#include <catch2/catch.hpp>

#include <rte_log.h>
#include <rte_memory.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "goldgate/dataplane/conntrack.h"

using namespace goldgate::dataplane;

namespace Catch {
template <>
struct StringMaker<FlowState> {
  static std::string convert(FlowState s) { return flowStateName(s); }
};
}  // namespace Catch

namespace {

Flow newFlow(uint8_t protocol) {
  Flow f{};
  f.state = initialState(protocol);
  return f;
}

}  // namespace

TEST_CASE("initialState by protocol", "[conntrack]") {
  CHECK(initialState(6) == FlowState::kTcpSynSent);
  CHECK(initialState(17) == FlowState::kUdpSingle);
  CHECK(initialState(1) == FlowState::kIcmp);
  CHECK(initialState(58) == FlowState::kIcmp);
  CHECK(initialState(47) == FlowState::kOther);
  CHECK(initialState(132) == FlowState::kOther);
}

TEST_CASE("TCP state machine: handshake, close, reset", "[conntrack]") {
  Flow f = newFlow(6);
  trackPacket(f, 0, 6, kTcpSyn);
  CHECK(f.state == FlowState::kTcpSynSent);
  trackPacket(f, 0, 6, kTcpSyn);  // retransmitted SYN
  CHECK(f.state == FlowState::kTcpSynSent);

  SECTION("full handshake and orderly close") {
    trackPacket(f, 1, 6, kTcpSyn | kTcpAck);
    CHECK(f.state == FlowState::kTcpSynRecv);
    trackPacket(f, 1, 6, kTcpAck);  // responder's ACK does not complete the handshake
    CHECK(f.state == FlowState::kTcpSynRecv);
    trackPacket(f, 0, 6, kTcpAck);
    CHECK(f.state == FlowState::kTcpEstablished);
    trackPacket(f, 0, 6, kTcpAck | kTcpPsh);
    trackPacket(f, 1, 6, kTcpAck);
    CHECK(f.state == FlowState::kTcpEstablished);

    trackPacket(f, 0, 6, kTcpFin | kTcpAck);
    CHECK(f.state == FlowState::kTcpFinWait);
    CHECK(f.fin_seen == 1);
    CHECK_FALSE(tcpReusable(f));
    trackPacket(f, 1, 6, kTcpAck);
    CHECK(f.state == FlowState::kTcpFinWait);
    trackPacket(f, 1, 6, kTcpFin | kTcpAck);
    CHECK(f.state == FlowState::kTcpClosing);
    CHECK(f.fin_seen == 3);
    CHECK(tcpReusable(f));
    trackPacket(f, 0, 6, kTcpAck);  // last ACK
    CHECK(f.state == FlowState::kTcpClosing);
  }
  SECTION("the responder may close first") {
    trackPacket(f, 1, 6, kTcpSyn | kTcpAck);
    trackPacket(f, 0, 6, kTcpAck);
    trackPacket(f, 1, 6, kTcpFin | kTcpAck);
    CHECK(f.state == FlowState::kTcpFinWait);
    CHECK(f.fin_seen == 2);
    trackPacket(f, 1, 6, kTcpFin | kTcpAck);  // retransmitted FIN: still one side
    CHECK(f.state == FlowState::kTcpFinWait);
    trackPacket(f, 0, 6, kTcpFin | kTcpAck);
    CHECK(f.state == FlowState::kTcpClosing);
  }
  SECTION("SYN+ACK from the originator does not advance") {
    trackPacket(f, 0, 6, kTcpSyn | kTcpAck);
    CHECK(f.state == FlowState::kTcpSynSent);
  }
  SECTION("an ACK before the SYN+ACK does not establish") {
    trackPacket(f, 0, 6, kTcpAck);
    CHECK(f.state == FlowState::kTcpSynSent);
  }
  SECTION("RST closes from any state, either side") {
    Flow a = f;
    trackPacket(a, 1, 6, kTcpRst | kTcpAck);  // connection refused
    CHECK(a.state == FlowState::kTcpClosed);
    CHECK(tcpReusable(a));

    Flow b = f;
    trackPacket(b, 1, 6, kTcpSyn | kTcpAck);
    trackPacket(b, 0, 6, kTcpAck);
    REQUIRE(b.state == FlowState::kTcpEstablished);
    trackPacket(b, 0, 6, kTcpRst);
    CHECK(b.state == FlowState::kTcpClosed);

    Flow c = f;
    trackPacket(c, 0, 6, kTcpFin);
    REQUIRE(c.state == FlowState::kTcpFinWait);
    trackPacket(c, 1, 6, kTcpRst | kTcpFin);
    CHECK(c.state == FlowState::kTcpClosed);
  }
}

TEST_CASE("UDP: single until the first reply, then both", "[conntrack]") {
  Flow f = newFlow(17);
  trackPacket(f, 0, 17, 0);
  trackPacket(f, 0, 17, 0xff);  // flags mean nothing outside TCP
  CHECK(f.state == FlowState::kUdpSingle);
  trackPacket(f, 1, 17, 0);
  CHECK(f.state == FlowState::kUdpBoth);
  trackPacket(f, 0, 17, 0);
  CHECK(f.state == FlowState::kUdpBoth);
}

TEST_CASE("ICMP and other protocols keep their state", "[conntrack]") {
  Flow icmp = newFlow(1);
  trackPacket(icmp, 1, 1, kTcpRst);
  CHECK(icmp.state == FlowState::kIcmp);
  Flow gre = newFlow(47);
  trackPacket(gre, 1, 47, kTcpFin);
  CHECK(gre.state == FlowState::kOther);
}

TEST_CASE("tcpOpens: only a SYN without ACK or RST opens a connection", "[conntrack]") {
  CHECK(tcpOpens(kTcpSyn));
  CHECK(tcpOpens(kTcpSyn | kTcpPsh));
  CHECK_FALSE(tcpOpens(kTcpSyn | kTcpAck));
  CHECK_FALSE(tcpOpens(kTcpSyn | kTcpRst));
  CHECK_FALSE(tcpOpens(kTcpAck));
  CHECK_FALSE(tcpOpens(kTcpRst));
  CHECK_FALSE(tcpOpens(kTcpFin | kTcpAck));
  CHECK_FALSE(tcpOpens(0));
}

TEST_CASE("tcpReusable: closed and closing flows only", "[conntrack]") {
  Flow f{};
  for (FlowState s : {FlowState::kTcpSynSent, FlowState::kTcpSynRecv, FlowState::kTcpEstablished,
                      FlowState::kTcpFinWait, FlowState::kUdpSingle}) {
    f.state = s;
    CHECK_FALSE(tcpReusable(f));
  }
  f.state = FlowState::kTcpClosing;
  CHECK(tcpReusable(f));
  f.state = FlowState::kTcpClosed;
  CHECK(tcpReusable(f));
}

TEST_CASE("TimeoutTicks::fromConfig maps each state to its timeout", "[conntrack]") {
  Timeouts t;
  t.tcp_syn = 1;
  t.tcp_established = 2;
  t.tcp_closing = 3;
  t.tcp_closed = 4;
  t.udp_single = 5;
  t.udp_both = 6;
  t.icmp = 7;
  t.other = 8;
  const uint64_t hz = 1000;
  TimeoutTicks k = TimeoutTicks::fromConfig(t, hz);
  auto of = [&](FlowState s) { return k.by_state[static_cast<int>(s)]; };
  CHECK(of(FlowState::kFree) == 0);
  CHECK(of(FlowState::kTcpSynSent) == 1000);
  CHECK(of(FlowState::kTcpSynRecv) == 1000);
  CHECK(of(FlowState::kTcpEstablished) == 2000);
  CHECK(of(FlowState::kTcpFinWait) == 3000);
  CHECK(of(FlowState::kTcpClosing) == 3000);
  CHECK(of(FlowState::kTcpClosed) == 4000);
  CHECK(of(FlowState::kUdpSingle) == 5000);
  CHECK(of(FlowState::kUdpBoth) == 6000);
  CHECK(of(FlowState::kIcmp) == 7000);
  CHECK(of(FlowState::kOther) == 8000);
}

TEST_CASE("flowStateName names every state", "[conntrack]") {
  std::set<std::string> names;
  for (int s = 0; s <= static_cast<int>(FlowState::kOther); ++s) names.insert(flowStateName(static_cast<FlowState>(s)));
  CHECK(names.size() == static_cast<size_t>(FlowState::kOther) + 1);
  CHECK(names.count("?") == 0);
  CHECK(std::string(flowStateName(FlowState::kTcpEstablished)) == "ESTABLISHED");
}

namespace {

// Parser output for one direction of a connection.
PacketMeta meta(uint8_t family, const uint8_t* src, const uint8_t* dst, uint16_t sport, uint16_t dport, uint8_t proto) {
  PacketMeta m{};
  m.family = family;
  m.src_ip = src;
  m.dst_ip = dst;
  m.sport = sport;
  m.dport = dport;
  m.protocol = proto;
  return m;
}

}  // namespace

TEST_CASE("makeFlowKey gives both directions one key", "[conntrack]") {
  const uint8_t lo[4] = {10, 0, 0, 1}, hi[4] = {10, 0, 0, 2};
  FlowKey fwd, rev;
  SECTION("IPv4: lower address is side A") {
    bool fwdA = makeFlowKey(meta(4, lo, hi, 40000, 443, 6), &fwd);
    bool revA = makeFlowKey(meta(4, hi, lo, 443, 40000, 6), &rev);
    CHECK(fwdA);
    CHECK_FALSE(revA);
    CHECK(std::memcmp(&fwd, &rev, sizeof fwd) == 0);
    CHECK(std::memcmp(fwd.addr_a, lo, 4) == 0);
    CHECK(std::memcmp(fwd.addr_b, hi, 4) == 0);
    CHECK(fwd.port_a == 40000);
    CHECK(fwd.port_b == 443);
    CHECK(fwd.protocol == 6);
    CHECK(fwd.family == 4);
    // Bytes past the IPv4 addresses and the padding are zero: keys hash and compare as raw bytes.
    FlowKey expected;
    std::memset(&expected, 0, sizeof expected);
    std::memcpy(expected.addr_a, lo, 4);
    std::memcpy(expected.addr_b, hi, 4);
    expected.port_a = 40000;
    expected.port_b = 443;
    expected.protocol = 6;
    expected.family = 4;
    CHECK(std::memcmp(&fwd, &expected, sizeof fwd) == 0);
  }
  SECTION("higher address sending first is side B") {
    bool fwdA = makeFlowKey(meta(4, hi, lo, 53, 5353, 17), &fwd);
    bool revA = makeFlowKey(meta(4, lo, hi, 5353, 53, 17), &rev);
    CHECK_FALSE(fwdA);
    CHECK(revA);
    CHECK(std::memcmp(&fwd, &rev, sizeof fwd) == 0);
    CHECK(fwd.port_a == 5353);
  }
  SECTION("same address: the lower port is side A") {
    bool fwdA = makeFlowKey(meta(4, lo, lo, 6000, 80, 6), &fwd);
    bool revA = makeFlowKey(meta(4, lo, lo, 80, 6000, 6), &rev);
    CHECK_FALSE(fwdA);
    CHECK(revA);
    CHECK(std::memcmp(&fwd, &rev, sizeof fwd) == 0);
    CHECK(fwd.port_a == 80);
  }
  SECTION("IPv6 compares all 16 bytes") {
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8}, b6[16] = {0x20, 0x01, 0x0d, 0xb8};
    a6[15] = 9;
    b6[14] = 1;  // b6 > a6 only past the first 8 bytes
    bool fwdA = makeFlowKey(meta(6, b6, a6, 1, 2, 17), &fwd);
    bool revA = makeFlowKey(meta(6, a6, b6, 2, 1, 17), &rev);
    CHECK_FALSE(fwdA);
    CHECK(revA);
    CHECK(std::memcmp(&fwd, &rev, sizeof fwd) == 0);
    CHECK(std::memcmp(fwd.addr_a, a6, 16) == 0);
    CHECK(fwd.family == 6);
  }
  SECTION("protocol and ports make different keys") {
    makeFlowKey(meta(4, lo, hi, 1000, 53, 17), &fwd);
    makeFlowKey(meta(4, lo, hi, 1000, 53, 6), &rev);
    CHECK(std::memcmp(&fwd, &rev, sizeof fwd) != 0);
    makeFlowKey(meta(4, lo, hi, 1001, 53, 17), &rev);
    CHECK(std::memcmp(&fwd, &rev, sizeof fwd) != 0);
  }
}

TEST_CASE("flowKeyHash: IPv4 hashes the bytes in use, IPv6 the whole key", "[conntrack]") {
  const uint8_t lo[4] = {10, 0, 0, 1}, hi[4] = {10, 0, 0, 2};
  FlowKey k;
  makeFlowKey(meta(4, lo, hi, 40000, 443, 6), &k);
  const uint32_t seed = 0x9e3779b9;
  const uint32_t h = flowKeyHash(&k, sizeof k, seed);

  // Bytes an IPv4 key does not use do not enter its hash...
  FlowKey dirty = k;
  std::memset(dirty.addr_a + 4, 0xaa, 12);
  std::memset(dirty.addr_b + 4, 0x55, 12);
  CHECK(flowKeyHash(&dirty, sizeof dirty, seed) == h);

  // ...every field it does use does (CRC-32C: a change within 32 bits always shows).
  FlowKey other = k;
  other.addr_b[3] ^= 1;
  CHECK(flowKeyHash(&other, sizeof other, seed) != h);
  other = k;
  other.addr_a[0] ^= 0x80;
  CHECK(flowKeyHash(&other, sizeof other, seed) != h);
  other = k;
  other.port_a ^= 1;
  CHECK(flowKeyHash(&other, sizeof other, seed) != h);
  other = k;
  other.port_b ^= 0x8000;
  CHECK(flowKeyHash(&other, sizeof other, seed) != h);
  other = k;
  other.protocol = 17;
  CHECK(flowKeyHash(&other, sizeof other, seed) != h);
  CHECK(flowKeyHash(&k, sizeof k, seed + 1) != h);

  uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8}, b6[16] = {0x20, 0x01, 0x0d, 0xb8};
  b6[15] = 2;
  FlowKey k6;
  makeFlowKey(meta(6, a6, b6, 1, 2, 17), &k6);
  const uint32_t h6 = flowKeyHash(&k6, sizeof k6, seed);
  FlowKey o6 = k6;
  o6.addr_b[15] ^= 1;  // a byte an IPv4 key would not use
  CHECK(flowKeyHash(&o6, sizeof o6, seed) != h6);
  o6 = k6;
  o6.addr_a[8] ^= 1;
  CHECK(flowKeyHash(&o6, sizeof o6, seed) != h6);
}

// ---------------------------------------------------------------------------------------------
// FlowTable (rte_hash).

namespace {

std::string uniqueName(const char* base) {
  static int n = 0;
  return std::string(base) + std::to_string(n++);
}

FlowKey keyOf(uint32_t i) {
  FlowKey k{};
  const uint8_t a[4] = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
  const uint8_t b[4] = {192, 0, 2, 1};
  std::memcpy(k.addr_a, a, 4);
  std::memcpy(k.addr_b, b, 4);
  k.port_a = static_cast<uint16_t>(1024 + i);
  k.port_b = 443;
  k.protocol = 6;
  k.family = 4;
  return k;
}

// Inserts as the worker does: a fresh slot (created_tsc 0) is claimed by setting created_tsc.
int32_t admit(FlowTable& t, const FlowKey& k, uint64_t now = 1) {
  int32_t pos = t.insert(k);
  if (pos >= 0 && t.at(pos).created_tsc == 0) {
    t.at(pos).created_tsc = now;
    t.at(pos).state = FlowState::kTcpSynSent;
  }
  return pos;
}

std::unique_ptr<FlowTable> makeTable(uint32_t capacity) {
  auto t = FlowTable::create(uniqueName("ut_flows_"), capacity, SOCKET_ID_ANY);
  INFO((t.has_value() ? std::string() : t.error().message));
  REQUIRE(t.has_value());
  return std::move(*t);
}

}  // namespace

TEST_CASE("FlowTable: insert, bulk lookup, remove", "[conntrack][flow_table]") {
  auto t = makeTable(1024);
  CHECK(t->capacity() == 1024);
  CHECK(t->count() == 0);

  std::vector<FlowKey> keys;
  std::vector<int32_t> pos;
  for (uint32_t i = 0; i < 40; ++i) {
    keys.push_back(keyOf(i));
    int32_t p = admit(*t, keys.back());
    REQUIRE(p >= 0);
    pos.push_back(p);
  }
  CHECK(t->count() == 40);
  CHECK(std::set<int32_t>(pos.begin(), pos.end()).size() == 40);  // one slot per flow

  // Inserting a known key returns its slot and does not count it twice.
  CHECK(admit(*t, keys[7]) == pos[7]);
  CHECK(t->count() == 40);

  // Bulk lookup: 32 known keys and one unknown in a single call.
  std::vector<const void*> ptrs;
  for (uint32_t i = 0; i < 32; ++i) ptrs.push_back(&keys[i]);
  FlowKey unknown = keyOf(999);
  ptrs.push_back(&unknown);
  int32_t found[64];
  t->lookupBulk(ptrs.data(), static_cast<uint32_t>(ptrs.size()), found);
  for (uint32_t i = 0; i < 32; ++i) CHECK(found[i] == pos[i]);
  CHECK(found[32] < 0);

  // Flow records live at their slot.
  t->at(pos[3]).packets[0] = 77;
  CHECK(t->at(pos[3]).packets[0] == 77);

  t->remove(pos[3]);
  CHECK(t->count() == 39);
  CHECK(t->at(pos[3]).created_tsc == 0);  // record wiped
  CHECK(t->at(pos[3]).packets[0] == 0);
  const void* one = &keys[3];
  int32_t again;
  t->lookupBulk(&one, 1, &again);
  CHECK(again < 0);

  // The removed key can come back as a fresh flow.
  int32_t p = admit(*t, keys[3]);
  REQUIRE(p >= 0);
  CHECK(t->count() == 40);
  CHECK(t->at(p).packets[0] == 0);
}

TEST_CASE("FlowTable: next visits every flow once, then resets the iterator", "[conntrack][flow_table]") {
  auto t = makeTable(256);
  for (uint32_t i = 0; i < 100; ++i) REQUIRE(admit(*t, keyOf(i)) >= 0);
  t->remove(t->insert(keyOf(5)));  // insert of a tracked key finds its position
  std::set<int32_t> inserted;
  for (uint32_t i = 0; i < 100; ++i)
    if (i != 5) inserted.insert(t->insert(keyOf(i)));
  REQUIRE(t->count() == 99);
  REQUIRE(inserted.size() == 99);

  uint32_t iter = 0;
  const FlowKey* key = nullptr;
  std::set<int32_t> seen;
  std::set<uint16_t> ports;
  int32_t p;
  while ((p = t->next(&iter, &key)) >= 0) {
    CHECK(seen.insert(p).second);
    REQUIRE(key != nullptr);
    ports.insert(key->port_a);
  }
  CHECK(iter == 0);
  CHECK(seen == inserted);
  CHECK(ports.size() == 99);
  CHECK(ports.count(1024 + 5) == 0);

  // A second walk starts from the beginning again.
  int walked = 0;
  while (t->next(&iter, &key) >= 0) ++walked;
  CHECK(walked == 99);
}

TEST_CASE("FlowTable: IPv4 and IPv6 keys side by side", "[conntrack][flow_table]") {
  auto t = makeTable(256);
  std::vector<FlowKey> keys;
  for (uint32_t i = 0; i < 50; ++i) {
    keys.push_back(keyOf(i));
    FlowKey k6{};
    k6.addr_a[0] = 0x20;
    k6.addr_a[1] = 0x01;
    k6.addr_a[15] = static_cast<uint8_t>(i);
    k6.addr_b[0] = 0xfe;
    k6.addr_b[1] = 0x80;
    k6.port_a = static_cast<uint16_t>(1024 + i);  // same ports as the IPv4 key i
    k6.port_b = 443;
    k6.protocol = 6;
    k6.family = 6;
    keys.push_back(k6);
  }
  std::set<int32_t> pos;
  for (const auto& k : keys) pos.insert(admit(*t, k));
  CHECK(pos.size() == keys.size());
  CHECK(*pos.begin() >= 0);  // no insert failed
  CHECK(t->count() == keys.size());
  for (size_t base = 0; base < keys.size(); base += 50) {
    const void* ptrs[50];
    int32_t found[50];
    for (size_t i = 0; i < 50; ++i) ptrs[i] = &keys[base + i];
    t->lookupBulk(ptrs, 50, found);
    for (size_t i = 0; i < 50; ++i) {
      INFO("key " << base + i);
      CHECK(found[i] == t->insert(keys[base + i]));
    }
  }
}

TEST_CASE("FlowTable: fails closed when full", "[conntrack][flow_table]") {
  auto t = makeTable(64);
  std::vector<int32_t> pos;
  for (uint32_t i = 0; i < 64; ++i) {
    int32_t p = admit(*t, keyOf(i));
    INFO("key " << i);
    REQUIRE(p >= 0);
    pos.push_back(p);
  }
  CHECK(t->count() == 64);

  // A 65th connection is refused...
  CHECK(t->insert(keyOf(64)) == -ENOSPC);
  CHECK(t->insert(keyOf(1000)) == -ENOSPC);
  CHECK(t->count() == 64);

  // ...while the tracked ones still insert (find) and look up.
  for (uint32_t i = 0; i < 64; ++i) CHECK(t->insert(keyOf(i)) == pos[i]);
  std::vector<FlowKey> keys;
  for (uint32_t i = 0; i < 64; ++i) keys.push_back(keyOf(i));
  for (uint32_t base = 0; base < 64; base += 32) {
    const void* ptrs[32];
    int32_t found[32];
    for (uint32_t i = 0; i < 32; ++i) ptrs[i] = &keys[base + i];
    t->lookupBulk(ptrs, 32, found);
    for (uint32_t i = 0; i < 32; ++i) CHECK(found[i] == pos[base + i]);
  }

  // Removing flows makes room for exactly that many new ones.
  t->remove(pos[10]);
  t->remove(pos[20]);
  CHECK(t->count() == 62);
  CHECK(admit(*t, keyOf(64)) >= 0);
  CHECK(t->count() == 63);
  CHECK(admit(*t, keyOf(65)) >= 0);
  CHECK(t->count() == 64);
  CHECK(t->insert(keyOf(66)) == -ENOSPC);
  CHECK(t->count() == 64);

  // Emptying the table brings the count back to zero and every slot is usable again.
  uint32_t iter = 0;
  const FlowKey* key;
  int32_t p;
  std::vector<int32_t> all;
  while ((p = t->next(&iter, &key)) >= 0) all.push_back(p);
  CHECK(all.size() == 64);
  for (int32_t q : all) t->remove(q);
  CHECK(t->count() == 0);
  for (uint32_t i = 100; i < 164; ++i) CHECK(admit(*t, keyOf(i)) >= 0);
  CHECK(t->count() == 64);
  CHECK(t->insert(keyOf(200)) == -ENOSPC);
}

TEST_CASE("FlowTable::create reports a name clash", "[conntrack][flow_table]") {
  const std::string name = uniqueName("ut_clash_");
  auto a = FlowTable::create(name, 64, SOCKET_ID_ANY);
  REQUIRE(a.has_value());
  // DPDK logs the clash at error level; it is the expected outcome here.
  const uint32_t level = rte_log_get_global_level();
  rte_log_set_global_level(RTE_LOG_EMERG);
  auto b = FlowTable::create(name, 64, SOCKET_ID_ANY);
  rte_log_set_global_level(level);
  REQUIRE_FALSE(b.has_value());
  CHECK_THAT(b.error().message, Catch::Matchers::Contains(name));
}
