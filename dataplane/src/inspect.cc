#include "inspect.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "goldgate/dataplane/policy.h"

namespace goldgate::dataplane {

using DataAction = datapolicy::Action;

// ------------------------------------------------------------------------------------ the plan

uint8_t InspectPlan::zoneOf(uint8_t family, const uint8_t* addr) const {
  IpAddr ip = IpAddr::fromBytes(family, addr);
  int best = -1;
  uint8_t zone = 0;
  for (size_t z = 0; z < zones.size(); ++z)
    for (const auto& c : zones[z].cidrs)
      if (c.addr.family == family && c.contains(ip) && static_cast<int>(c.length) > best) {
        best = c.length;
        zone = static_cast<uint8_t>(z + 1);
      }
  return zone;
}

const std::string& InspectPlan::zoneName(uint8_t z) const {
  static const std::string none = "(none)";
  return z == 0 || z > zones.size() ? none : zones[z - 1].name;
}

bool InspectPlan::zoneMatches(const std::string& name, uint8_t z) const {
  if (name == "any") return true;
  const bool trusted = z > 0 && z <= zones.size() && zones[z - 1].trusted;
  if (name == "trusted") return trusted;
  if (name == "untrusted") return !trusted;
  return z > 0 && z <= zones.size() && name == zones[z - 1].name;
}

namespace {
// A server name against a rule's entry: the same name, or "*.domain" for any name under domain
// (not the domain itself), both without regard to case.
bool serverNameMatches(std::string_view pattern, std::string_view name) {
  auto eq = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    const std::string_view suffix = pattern.substr(1);  // ".domain"
    return name.size() > suffix.size() && eq(name.substr(name.size() - suffix.size()), suffix);
  }
  return eq(pattern, name);
}
}  // namespace

UnreadableRule::Action InspectPlan::unreadableAction(Unreadable what, uint8_t src, uint8_t dst,
                                                     std::string_view serverName, bool* matched, int* line) const {
  for (const auto& r : unreadable) {
    if (!(r.content & (1u << static_cast<int>(what))) || !zoneMatches(r.from, src) || !zoneMatches(r.to, dst)) continue;
    if (!r.server_names.empty() &&
        std::none_of(r.server_names.begin(), r.server_names.end(),
                     [&](const std::string& p) { return !serverName.empty() && serverNameMatches(p, serverName); }))
      continue;
    *matched = true;
    *line = r.line;
    return r.action;
  }
  *matched = false;
  *line = 0;
  return UnreadableRule::Action::kAllow;
}

Result<std::shared_ptr<const InspectPlan>> InspectPlan::build(
    const SwitchConfig& sw, const CompiledPolicy& pol, std::shared_ptr<const datapolicy::Classifier> classifier) {
  auto plan = std::make_shared<InspectPlan>();
  plan->cls = std::move(classifier);
  plan->zones = sw.zones;
  plan->hold_bytes = sw.inspection.hold_bytes;
  const DecodeConfig& dc = sw.inspection.decode;
  plan->decode = dc.enabled;
  plan->decode_limits.max_depth = dc.depth;
  plan->decode_limits.max_output = dc.max_output;
  plan->decode_limits.max_ratio = dc.max_ratio;
  plan->decode_limits.max_memory = dc.memory;
  plan->decode_memory_total = dc.memory_total;
  plan->unreadable = sw.inspection.unreadable;
  const uint32_t Z = plan->zoneCount();
  const auto& classes = plan->cls->classes();
  if (Z > 255) return makeError(Error::Code::kInvalidArgument, sw.source_file + ": at most 254 zones");
  auto known = [&](const std::string& name) {
    if (name == "any" || name == "trusted" || name == "untrusted") return true;
    return std::any_of(sw.zones.begin(), sw.zones.end(), [&](const ZoneConfig& z) { return z.name == name; });
  };
  auto matches = [&](const std::string& name, uint32_t z) { return plan->zoneMatches(name, static_cast<uint8_t>(z)); };
  for (const auto& c : classes)
    for (const auto& r : c.policy.rules)
      for (const auto* name : {&r.from, &r.to})
        if (!known(*name))
          return makeError(Error::Code::kInvalidArgument, c.source_file + ":" + std::to_string(r.line) + ": zone '" +
                                                              *name + "' is not defined in " + sw.source_file +
                                                              " (zones)");
  for (const auto& r : plan->unreadable)
    for (const auto* name : {&r.from, &r.to})
      if (!known(*name))
        return makeError(Error::Code::kInvalidArgument, sw.source_file + ":" + std::to_string(r.line) +
                                                            ": inspection.unreadable: zone '" + *name +
                                                            "' is not defined (zones)");
  plan->gap_fails_closed.assign(Z * Z, 0);
  plan->blocks_any.assign(Z * Z, 0);
  // One table of actions per confidence band of a class: rules with a min_confidence split the
  // confidences a finding may have into bands (below the lowest floor, between floors, above).
  plan->floors.resize(classes.size());
  plan->action_base.resize(classes.size());
  size_t total = 0;
  for (uint32_t ci = 0; ci < classes.size(); ++ci) {
    auto& f = plan->floors[ci];
    for (const auto& r : classes[ci].policy.rules)
      if (r.min_confidence > 0) f.push_back(r.min_confidence);
    std::sort(f.begin(), f.end());
    f.erase(std::unique(f.begin(), f.end()), f.end());
    plan->action_base[ci] = total;
    total += (f.size() + 1) * Z * Z;
  }
  plan->action.assign(total, 0);
  for (uint32_t ci = 0; ci < classes.size(); ++ci) {
    const auto& c = classes[ci];
    const auto& f = plan->floors[ci];
    for (size_t band = 0; band <= f.size(); ++band) {
      const double confidence = band == 0 ? 0.0 : f[band - 1];
      for (uint32_t s = 0; s < Z; ++s)
        for (uint32_t d = 0; d < Z; ++d) {
          DataAction a = c.policy.default_action;
          for (const auto& r : c.policy.rules) {
            if (matches(r.from, s) && matches(r.to, d) && r.min_confidence <= confidence) {
              a = r.action;
              break;
            }
          }
          plan->action[plan->action_base[ci] + (band * Z + s) * Z + d] = static_cast<uint8_t>(a);
          // A gap or a probe may carry any confidence: every band counts.
          if (c.policy.gap_fails_closed && a != DataAction::kAllow) plan->gap_fails_closed[s * Z + d] = 1;
          if (a == DataAction::kBlock || a == DataAction::kQuarantine || a == DataAction::kRequireEncryption)
            plan->blocks_any[s * Z + d] = 1;
        }
    }
  }
  for (uint32_t p = 0; p < pol.portCount(); ++p) {
    const PortBinding& b = pol.port(static_cast<uint16_t>(p));
    int64_t limit = sw.inspection.default_limit;
    const std::string& seg = pol.segmentName(pol.portSegment(static_cast<uint16_t>(p)));
    // A hardened twin (hostmon's APP.hardened, a response) keeps its segment's setting unless it
    // has its own: hardening a VM must not take it out of inspection.
    auto it = sw.inspection.segments.find(seg);
    constexpr std::string_view kTwin = ".hardened";
    if (it == sw.inspection.segments.end() && seg.size() > kTwin.size() &&
        seg.compare(seg.size() - kTwin.size(), kTwin.size(), kTwin) == 0)
      it = sw.inspection.segments.find(seg.substr(0, seg.size() - kTwin.size()));
    if (it != sw.inspection.segments.end()) limit = it->second;
    if (auto it = sw.inspection.ports.find(b.name); it != sw.inspection.ports.end()) limit = it->second;
    plan->port_limit.push_back(limit);
    plan->port_is_uplink.push_back(traits(b.role).outside);
    plan->port_is_tunnel.push_back(b.role == PortRole::kTunnel);
  }
  return std::shared_ptr<const InspectPlan>(plan);
}

// ------------------------------------------------------------------------------------ per flow

// Content decoding of one direction: the decoder, the leaf it is in (scanned as a stream of its
// own), the findings in leaves with their paths, and what could not be read.
struct Inspector::Decoding : datapolicy::ContentDecoder::Sink {
  datapolicy::ContentDecoder dec;
  datapolicy::StreamState leaf;
  datapolicy::Scanner* sc;
  const datapolicy::Classifier* cls;
  std::string path;  // of the open leaf
  std::vector<datapolicy::Finding> found;
  std::vector<std::string> paths;  // per finding in `found`
  struct Note {
    datapolicy::Unreadable why;
    std::string path, detail;
  };
  std::vector<Note> notes;
  uint64_t* decoded;  // the inspector's count of decoded bytes scanned

  datapolicy::DecodeMemory* mem;

  // This state counts in the worker's decoder memory too (not against its bound: it is what any
  // inspected direction with payload holds).
  Decoding(const datapolicy::DecodeLimits& lim, datapolicy::DecodeMemory* m, datapolicy::DecodeMemory* port,
           datapolicy::Scanner* s, const datapolicy::Classifier* c, uint64_t* count)
      : dec(lim, m, port), sc(s), cls(c), decoded(count), mem(m) {
    mem->used += self();
    mem->peak = std::max(mem->peak, mem->used);
  }
  ~Decoding() override {
    std::vector<datapolicy::Finding> ignore;
    if (leaf.open) sc->close(leaf, ignore);
    mem->used -= self();
  }
  static size_t self() { return sizeof(Decoding) + datapolicy::ContentDecoder::kStateBytes; }
  void begin(std::string_view p) override {
    path = p;
    sc->open(leaf, cls);
  }
  void bytes(const uint8_t* d, size_t n) override {
    sc->scan(leaf, d, n, found);
    paths.resize(found.size(), path);
    *decoded += n;
  }
  void end() override {
    sc->close(leaf, found);
    paths.resize(found.size(), path);
  }
  void unreadable(datapolicy::Unreadable why, std::string_view p, std::string_view detail) override {
    if (notes.size() < 8) notes.push_back({why, std::string(p), std::string(detail)});
  }
};

struct Inspector::Dir : datapolicy::TcpReassembler::Sink {
  datapolicy::StreamState st;
  datapolicy::TcpReassembler reasm;
  datapolicy::Scanner* sc = nullptr;
  std::vector<datapolicy::Finding>* out = nullptr;
  uint64_t seen = 0;
  int64_t limit = 0;
  bool done = false;
  bool gap_seen = false;
  // Content decoding: on when the plan says so (made at the first payload byte).
  const datapolicy::DecodeLimits* decode_limits = nullptr;
  datapolicy::DecodeMemory* decode_memory = nullptr;
  datapolicy::DecodeMemory* decode_port = nullptr;  // the VM port's half of it
  uint64_t* decoded = nullptr;
  std::unique_ptr<Decoding> decoding;

  // Segments held: enough for the byte bound filled with small segments of 256 bytes.
  explicit Dir(uint32_t hold) : reasm(datapolicy::ReassemblyLimits{hold, std::max<uint32_t>(64, hold / 256)}) {}
  void bytes(const uint8_t* d, size_t n) override {
    if (done) return;
    size_t take = n;
    if (limit > 0 && seen + n > static_cast<uint64_t>(limit))
      take = static_cast<size_t>(static_cast<uint64_t>(limit) - seen);
    sc->scan(st, d, take, *out);
    if (decode_limits && take) {
      if (!decoding)
        decoding = std::make_unique<Decoding>(*decode_limits, decode_memory, decode_port, sc, st.cls, decoded);
      decoding->dec.feed(d, take, *decoding);
    }
    seen += take;
    if (limit > 0 && seen >= static_cast<uint64_t>(limit)) {
      done = true;  // the first N bytes are inspected; the rest passes unread, by configuration
      sc->close(st, *out);
      if (decoding) decoding->dec.finish(*decoding);
    }
  }
  void gap(uint64_t n) override {
    gap_seen = true;
    if (!done) sc->skip(st, n, *out);
    if (decoding) decoding->dec.gap(*decoding);  // the gap itself is reported; decoding ends quietly
  }
};

struct Inspector::Ctx {
  std::shared_ptr<const InspectPlan> plan;  // the flow keeps the plan (and database) it started with
  Dir dir[2];
  TcpNormalizer norm;        // TCP: what each receiver takes (tcp_normalizer.h)
  uint8_t zone[2] = {0, 0};  // originator's zone, responder's zone
  bool encrypted = false;    // the flow crosses a peer gateway's tunnel (ESP)
  bool gap_reported[2] = {false, false};
  bool opaque_judged = false;               // TLS or SSH seen and judged once for the flow
  uint8_t unreadable_reported[2] = {0, 0};  // per direction: categories already reported
  uint16_t owner = 0;                       // the VM side's port: its share of contexts and held bytes
  explicit Ctx(uint32_t hold) : dir{Dir(hold), Dir(hold)} {}
};

Inspector::Inspector(uint32_t flowCapacity, uint32_t maxFlows, uint64_t holdTotal)
    : ctx_(flowCapacity + 1, nullptr),
      blocked_(flowCapacity + 1, FlowMark::kInspected),
      seen_(flowCapacity + 1, 0),
      max_flows_(maxFlows ? maxFlows : flowCapacity),
      hold_total_(holdTotal),
      max_flows_port_(std::max<uint32_t>(1, max_flows_ / 2)),
      hold_port_(holdTotal / 2) {}

void Inspector::unhold(const Ctx& c, uint64_t bytes) {
  held_ -= bytes;
  port_held_[c.owner] -= bytes;
}

Inspector::~Inspector() {
  for (auto* c : ctx_) delete c;
}

void Inspector::prefetch(int32_t pos, int dir) const {
  const Ctx* c = ctx_[static_cast<size_t>(pos)];
  if (!c) return;
  const auto* d = reinterpret_cast<const char*>(&c->dir[dir]);
  for (size_t off = 0; off < sizeof(Dir); off += 64) __builtin_prefetch(d + off);
}

bool Inspector::blocked(int32_t pos) const {
  const auto b = blocked_[static_cast<size_t>(pos)];
  return b == FlowMark::kBlocked || b == FlowMark::kGapBlocked;
}

void Inspector::release(int32_t pos) {
  auto& c = ctx_[static_cast<size_t>(pos)];
  if (c) {
    std::vector<datapolicy::Finding> ignore;
    for (auto& d : c->dir) {
      unhold(*c, d.reasm.heldBytes());
      if (d.st.open) d.sc->close(d.st, ignore);
    }
    --port_active_[c->owner];
    delete c;
    c = nullptr;
    --active_;
    // A classifier (and its Hyperscan database) replaced by a reload is let go once no flow of this
    // worker, and no plan in force, holds it any more: only adopted_ does then.
    if (adopted_.size() > 1) std::erase_if(adopted_, [](const auto& a) { return a.use_count() == 1; });
  }
  blocked_[static_cast<size_t>(pos)] = FlowMark::kInspected;
  seen_[static_cast<size_t>(pos)] = 0;
}

datapolicy::Scanner* Inspector::scannerFor(const datapolicy::Classifier& c) {
  for (const auto& a : adopted_)
    if (a.get() == &c) return scanner_.get();
  return nullptr;
}

Inspector::Verdict Inspector::packet(const std::shared_ptr<const InspectPlan>& planPtr, int32_t pos,
                                     const uint8_t* origAddr, const uint8_t* respAddr, uint8_t family, uint8_t protocol,
                                     int dir, uint16_t origPort, uint16_t respPort, const uint8_t* payload, size_t len,
                                     const TcpSegment* tcp, std::vector<InspectEvent>& events, DropReason* why) {
  (void)protocol;  // TCP is told by `tcp`; UDP and ICMP echo carry datagrams
  const size_t p = static_cast<size_t>(pos);
  if (blocked_[p] == FlowMark::kBlocked) return kBlock;
  if (blocked_[p] == FlowMark::kGapBlocked) return kGapBlock;
  if (blocked_[p] == FlowMark::kNotInspected) return kPass;
  const InspectPlan& plan = *planPtr;
  const bool syn = tcp && (tcp->flags & kTcpSyn);
  Ctx* c = ctx_[p];
  if (!c) {
    if (len == 0 && !syn) return kPass;
    // The VM side's port decides the limit (an uplink port has none of its own), and whose share
    // of contexts and held bytes the flow takes.
    const uint16_t owner = plan.port_is_uplink[origPort] ? respPort : origPort;
    const int64_t limit = plan.port_limit[owner];
    if (!plan.inspects(origPort, respPort)) {
      blocked_[p] = FlowMark::kNotInspected;
      return kPass;
    }
    uint8_t zo = plan.zoneOf(family, origAddr), zr = plan.zoneOf(family, respAddr);
    if (active_ >= max_flows_ || port_active_[owner] >= max_flows_port_) {
      // No room to follow this flow (in all, or in its port's half: one VM cannot take every
      // context): the class policy decides as for any gap.
      bool closed =
          plan.gap_fails_closed[zo * plan.zoneCount() + zr] || plan.gap_fails_closed[zr * plan.zoneCount() + zo];
      InspectEvent e{};
      e.kind = InspectEvent::kOverload;
      e.action = closed ? kEventBlocks : kEventReports;
      e.zone_src = zo;
      e.zone_dst = zr;
      events.push_back(e);
      blocked_[p] = closed ? FlowMark::kGapBlocked : FlowMark::kNotInspected;
      return closed ? kGapBlock : kPass;
    }
    if (!scanner_) {
      auto sc = datapolicy::Scanner::create(plan.cls);
      if (!sc) return kPass;
      scanner_ = std::move(*sc);
      adopted_.push_back(plan.cls);
    } else if (!scannerFor(*plan.cls)) {
      std::erase_if(adopted_, [](const auto& a) { return a.use_count() == 1; });
      if (!scanner_->adopt(*plan.cls)) return kPass;
      adopted_.push_back(plan.cls);
    }
    c = new Ctx(plan.hold_bytes);
    c->plan = planPtr;
    c->zone[0] = zo;
    c->zone[1] = zr;
    c->encrypted = plan.port_is_tunnel[origPort] || plan.port_is_tunnel[respPort];
    c->owner = owner;
    decode_mem_.limit = plan.decode_memory_total;
    decode_port_[owner].limit = plan.decode_memory_total / 2;
    for (auto& d : c->dir) {
      d.sc = scanner_.get();
      d.limit = limit;
      scanner_->open(d.st, plan.cls.get());
      if (plan.decode) {
        d.decode_limits = &c->plan->decode_limits;
        d.decode_memory = &decode_mem_;
        d.decode_port = &decode_port_[owner];
        d.decoded = &decoded_;
      }
    }
    ctx_[p] = c;
    active_peak_ = std::max(active_peak_, ++active_);
    ++port_active_[owner];
  }
  const InspectPlan& fp = *c->plan;
  const uint32_t Z = fp.zoneCount();
  Dir& d = c->dir[dir];
  std::vector<datapolicy::Finding> found;
  d.out = &found;
  const uint8_t zs = c->zone[dir], zd = c->zone[dir ^ 1];
  bool reset = false;
  if (tcp) {
    // The normaliser first: a segment its receiver would discard never reaches reassembly.
    const auto n = c->norm.segment(dir, *tcp, d.reasm.started(), d.reasm.nextSeq());
    if (n.drop != DropReason::kNone) {
      *why = n.drop;
      return kDrop;
    }
    reset = n.reset;
    if (n.deliver && !d.done) {
      // Two versions of the same bytes: receivers resolve overlaps differently, so there is no
      // single stream to inspect. The connection is cut.
      if (d.reasm.conflicts(tcp->seq, payload, len)) {
        InspectEvent e{};
        e.kind = InspectEvent::kEvasion;
        e.action = kEventBlocks;
        e.dir = static_cast<uint8_t>(dir);
        e.zone_src = zs;
        e.zone_dst = zd;
        events.push_back(e);
        blocked_[p] = FlowMark::kGapBlocked;
        return kGapBlock;
      }
      // Out of order and no room to hold it: dropped (the sender sends it again), never skipped.
      // The room: what the worker may still hold, and what the flow's port may (half of it).
      const uint64_t ph = port_held_[c->owner];
      const uint64_t room =
          std::min(hold_total_ > held_ ? hold_total_ - held_ : 0, hold_port_ > ph ? hold_port_ - ph : 0);
      if (d.reasm.wouldOverflow(tcp->seq, len, room)) {
        *why = DropReason::kTcpHoldFull;
        return kDrop;
      }
      const uint64_t before = d.reasm.heldBytes();
      d.reasm.segment(tcp->seq, syn, payload, len, d);
      held_ = held_ - before + d.reasm.heldBytes();
      port_held_[c->owner] = port_held_[c->owner] - before + d.reasm.heldBytes();
    } else if (syn) {
      d.reasm.segment(tcp->seq, true, nullptr, 0, d);
    }
  } else if (len) {
    d.bytes(payload, len);
  }
  auto endDirection = [&](Dir& x) {
    if (x.done) return;
    // The direction ends: what is still held can never be completed (a gap), and the stream is
    // closed so that values at its very end, and values waiting for context, are decided now.
    unhold(*c, x.reasm.heldBytes());
    x.reasm.finish(x);
    x.done = true;
    x.sc->close(x.st, found);
    if (x.decoding) x.decoding->dec.finish(*x.decoding);
  };
  if (reset) {
    // An acceptable RST: both receivers drop what they have not taken in order, and nothing more
    // is delivered. What was delivered was judged packet by packet (the probe below), so the
    // streams are closed without a verdict of their own.
    struct Discard : datapolicy::TcpReassembler::Sink {
      void bytes(const uint8_t*, size_t) override {}
      void gap(uint64_t) override {}
    } discard;
    std::vector<datapolicy::Finding> ignore;
    for (auto& x : c->dir) {
      if (x.done) continue;
      unhold(*c, x.reasm.heldBytes());
      x.reasm.finish(discard);
      x.done = true;
      x.sc->close(x.st, ignore);
      if (x.decoding) {
        x.decoding->dec.gap(*x.decoding);
        x.decoding->found.clear();
        x.decoding->paths.clear();
      }
    }
  } else if (tcp && c->norm.finished(dir, d.reasm.nextSeq())) {
    endDirection(d);  // its FIN is reached in order: nothing more can be delivered
  }
  bytes_ += len;
  Verdict v = kPass;
  auto event = [&](InspectEvent::Kind kind) -> InspectEvent& {
    InspectEvent& e = events.emplace_back();
    e = InspectEvent{};
    e.kind = kind;
    e.dir = static_cast<uint8_t>(dir);
    e.zone_src = zs;
    e.zone_dst = zd;
    return e;
  };
  // `paths`: per finding, the decoding it was found through (null: the flow's own bytes).
  auto judge = [&](const std::vector<datapolicy::Finding>& fs, bool blockingOnly,
                   const std::vector<std::string>* paths) {
    for (size_t i = 0; i < fs.size(); ++i) {
      const auto& f = fs[i];
      DataAction a = fp.actionFor(f.class_index, f.confidence, zs, zd);
      const bool blocks = a == DataAction::kBlock || a == DataAction::kQuarantine ||
                          (a == DataAction::kRequireEncryption && !c->encrypted);
      if (blockingOnly && !blocks) continue;
      seen_[p] |= 1ull << std::min<uint32_t>(f.class_index, 63);
      // Encryption required and provided: the switch carries this flow in ESP.
      if (a == DataAction::kAllow || (a == DataAction::kRequireEncryption && c->encrypted)) continue;
      InspectEvent& e = event(InspectEvent::kFinding);
      e.action = static_cast<uint8_t>(a);
      e.class_index = f.class_index;
      e.confidence_pct = static_cast<uint32_t>(f.confidence * 100 + 0.5);
      e.count = f.count;
      e.offset = f.offset;
      std::snprintf(e.masked, sizeof e.masked, "%s", f.masked.c_str());
      std::snprintf(e.class_name, sizeof e.class_name, "%s", fp.cls->classes()[f.class_index].name.c_str());
      if (paths && i < paths->size()) std::snprintf(e.path, sizeof e.path, "%s", (*paths)[i].c_str());
      if (blocks) v = kBlock;
    }
  };
  judge(found, false, nullptr);
  Decoding* dd = d.decoding.get();
  if (dd && !dd->found.empty()) {
    judge(dd->found, false, &dd->paths);
    dd->found.clear();
    dd->paths.clear();
  }
  // A value this packet completes is decided on this packet, not on the byte (or FIN) after it:
  // where a class blocks between these zones and the stream ends in something the end of the
  // stream would complete, the stream is probed as if it ended here (a decoded leaf too).
  if (v == kPass && !d.done && len && fp.blocks_any[zs * Z + zd]) {
    std::vector<datapolicy::Finding> early;
    if (datapolicy::Scanner::mayComplete(d.st)) {
      d.sc->probe(d.st, early);
      judge(early, true, nullptr);
    }
    if (v == kPass && dd && dd->leaf.open && datapolicy::Scanner::mayComplete(dd->leaf)) {
      early.clear();
      d.sc->probe(dd->leaf, early);
      const std::vector<std::string> paths(early.size(), dd->path);
      judge(early, true, &paths);
    }
  }
  // Content that could not be read: each category once a direction, as its rule (or the default)
  // says: opaque content passes unless a rule reports or blocks it; what could not be decoded is
  // a gap, blocked where a class blocks between the zones.
  auto unreadableVerdict = [&](Unreadable what, std::string_view sni, InspectEvent::Kind* kind, uint8_t* action) {
    bool matched;
    int line;
    const auto ra = fp.unreadableAction(what, zs, zd, sni, &matched, &line);
    const bool decoding = what == Unreadable::kDecodeFailed || what == Unreadable::kOverBudget;
    *kind = decoding ? InspectEvent::kGap : InspectEvent::kOpaque;
    if (!matched) {
      if (!decoding) return false;
      // Blocked where a class blocks between these zones (block, quarantine, require-encryption):
      // a large compressed transfer inside a zone is reported, not cut, at the decoding bound.
      *action = fp.blocks_any[zs * Z + zd] ? kEventBlocks : kEventReports;
      return true;
    }
    if (ra == UnreadableRule::Action::kAllow) return false;
    *action = ra == UnreadableRule::Action::kBlock ? kEventBlocks : kEventReports;
    return true;
  };
  if (dd && !c->opaque_judged &&
      (dd->dec.opaque() == datapolicy::Opaque::kTls || dd->dec.opaque() == datapolicy::Opaque::kSsh)) {
    c->opaque_judged = true;
    const Unreadable what = dd->dec.opaque() == datapolicy::Opaque::kTls ? Unreadable::kTls : Unreadable::kSsh;
    const datapolicy::TlsClientHello* hello = dd->dec.tlsHello();
    InspectEvent::Kind kind;
    uint8_t action;
    if (unreadableVerdict(what, hello ? std::string_view(hello->sni) : std::string_view(), &kind, &action)) {
      InspectEvent& e = event(kind);
      e.action = action;
      e.category = static_cast<uint8_t>(static_cast<int>(what) + 1);
      if (hello) {
        std::snprintf(e.class_name, sizeof e.class_name, "%s", hello->sni.c_str());
        std::snprintf(e.masked, sizeof e.masked, "%s", datapolicy::ja4Fingerprint(*hello).c_str());
        e.tls_version = hello->maxVersion();
        std::string alpn;
        for (const auto& a : hello->alpn) alpn += (alpn.empty() ? "" : ",") + a;
        std::snprintf(e.alpn, sizeof e.alpn, "%s", alpn.c_str());
      }
      if (action == kEventBlocks && v == kPass) v = kGapBlock;
    }
  }
  if (dd && !dd->notes.empty()) {
    for (const auto& n : dd->notes) {
      const Unreadable what =
          n.why == datapolicy::Unreadable::kEncrypted || n.why == datapolicy::Unreadable::kHighEntropy
              ? Unreadable::kEncrypted
          : datapolicy::isBudget(n.why) ? Unreadable::kOverBudget
                                        : Unreadable::kDecodeFailed;
      const uint8_t bit = static_cast<uint8_t>(1u << static_cast<int>(what));
      if (c->unreadable_reported[dir] & bit) continue;
      c->unreadable_reported[dir] |= bit;
      InspectEvent::Kind kind;
      uint8_t action;
      if (!unreadableVerdict(what, {}, &kind, &action)) continue;
      InspectEvent& e = event(kind);
      e.action = action;
      e.category = static_cast<uint8_t>(static_cast<int>(what) + 1);
      e.reason = static_cast<uint8_t>(static_cast<int>(n.why) + 1);
      std::snprintf(e.path, sizeof e.path, "%s", n.path.c_str());
      std::snprintf(e.detail, sizeof e.detail, "%s", n.detail.c_str());
      if (action == kEventBlocks && v == kPass) v = kGapBlock;
    }
    dd->notes.clear();
  }
  if (d.gap_seen && !c->gap_reported[dir]) {
    c->gap_reported[dir] = true;
    const bool closed = fp.gap_fails_closed[zs * Z + zd];
    InspectEvent e{};
    e.kind = InspectEvent::kGap;
    e.action = closed ? kEventBlocks : kEventReports;
    e.dir = static_cast<uint8_t>(dir);
    e.zone_src = zs;
    e.zone_dst = zd;
    events.push_back(e);
    if (v == kPass && closed) v = kGapBlock;
  }
  if (v != kPass) blocked_[p] = v == kBlock ? FlowMark::kBlocked : FlowMark::kGapBlocked;
  return v;
}

}  // namespace goldgate::dataplane
