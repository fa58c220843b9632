// goldgatectl classify: the switch's classification engine over files, standard input or pcaps
// (TCP flows reassembled as in the switch: retransmissions trimmed, reordering held, gaps
// reported), with the switch's content decoding (HTTP bodies, compression, base64, multipart, ZIP
// and Office files, PDF; datapolicy/decode.h) within its budgets. One JSON object per finding on
// standard output, with the path it was found through; exit status like grep.
#include "classify.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "goldgate/alerts/render.h"
#include "goldgate/common/endian.h"
#include "goldgate/common/net_types.h"
#include "goldgate/dataplane/fragments.h"
#include "goldgate/dataplane/packet.h"
#include "goldgate/datapolicy/decode.h"
#include "goldgate/datapolicy/engine.h"
#include "goldgate/datapolicy/exact_match.h"
#include "goldgate/datapolicy/reassembly.h"

namespace goldgate::cli {
namespace {

using datapolicy::Finding;
using datapolicy::Scanner;
using datapolicy::StreamState;

struct Printer {
  const datapolicy::Classifier& cls;
  uint64_t findings = 0;
  void print(const Finding& f, const std::string& extra) {
    ++findings;
    char conf[16];
    std::snprintf(conf, sizeof conf, "%.2f", f.confidence);
    std::printf("{\"class\":\"%s\",\"confidence\":%s,\"masked\":\"%s\",\"offset\":%" PRIu64 "%s}\n",
                alerts::jsonEscape(cls.classes()[f.class_index].name).c_str(), conf,
                alerts::jsonEscape(f.masked).c_str(), f.offset, extra.c_str());
  }
};

// What a byte stream carries, decoded (ContentDecoder): each leaf scanned as a stream of its own,
// its findings printed with `extra` and the path; what cannot be read is said on standard error
// (an error, but for high-entropy content, which is only noted).
class Decoded : public datapolicy::ContentDecoder::Sink {
 public:
  Decoded(const datapolicy::DecodeLimits& lim, Scanner& sc, Printer& pr, std::string name)
      : dec_(lim, &mem_), sc_(sc), pr_(pr), name_(std::move(name)) {}
  ~Decoded() override {
    std::vector<Finding> ignore;
    if (leaf_.open) sc_.close(leaf_, ignore);
  }
  void feed(const uint8_t* d, size_t n) { dec_.feed(d, n, *this); }
  void gap() { dec_.gap(*this); }
  void finish() { dec_.finish(*this); }
  void setExtra(std::string extra) { extra_ = std::move(extra); }
  bool ok() const { return ok_; }

  void begin(std::string_view path) override {
    path_ = path;
    sc_.open(leaf_);
  }
  void bytes(const uint8_t* d, size_t n) override {
    sc_.scan(leaf_, d, n, out_);
    print();
  }
  void end() override {
    sc_.close(leaf_, out_);
    print();
  }
  void unreadable(datapolicy::Unreadable why, std::string_view path, std::string_view detail) override {
    // High-entropy content (an image, an unknown compressed form) is noted; the rest is an error.
    if (why != datapolicy::Unreadable::kHighEntropy) ok_ = false;
    std::fprintf(stderr, "goldgatectl: classify: %s: %.*s: %.*s (%s%s)\n", name_.c_str(), static_cast<int>(path.size()),
                 path.data(), static_cast<int>(detail.size()), detail.data(), datapolicy::unreadableName(why),
                 datapolicy::isBudget(why) ? "; decoding stopped, what follows is not inspected" : "");
  }

 private:
  void print() {
    for (const auto& f : out_) pr_.print(f, extra_ + ",\"path\":\"" + alerts::jsonEscape(path_) + "\"");
    out_.clear();
  }
  datapolicy::DecodeMemory mem_;
  datapolicy::ContentDecoder dec_;
  Scanner& sc_;
  Printer& pr_;
  std::string name_, extra_, path_;
  StreamState leaf_;
  std::vector<Finding> out_;
  bool ok_ = true;
};

// A file or standard input: its bytes as they are, and what they carry decoded (unless `lim` is
// null). A stream that cannot be decoded whole is an error naming why, after the findings before it.
bool scanFd(int fd, const std::string& name, Scanner& sc, Printer& pr, const datapolicy::DecodeLimits* lim) {
  StreamState st;
  sc.open(st);
  std::vector<Finding> out;
  const std::string extra = ",\"file\":\"" + alerts::jsonEscape(name) + "\"";
  std::unique_ptr<Decoded> dec;
  if (lim) {
    dec = std::make_unique<Decoded>(*lim, sc, pr, name);
    dec->setExtra(extra);
  }
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::fprintf(stderr, "goldgatectl: classify: %s: %s\n", name.c_str(), std::strerror(errno));
      return false;
    }
    if (n == 0) break;
    sc.scan(st, buf.data(), static_cast<size_t>(n), out);
    for (const auto& f : out) pr.print(f, extra);
    out.clear();
    if (dec) dec->feed(buf.data(), static_cast<size_t>(n));
  }
  sc.close(st, out);
  for (const auto& f : out) pr.print(f, extra);
  if (dec) dec->finish();
  return !dec || dec->ok();
}

// One direction of a flow in a capture.
struct Direction : datapolicy::TcpReassembler::Sink {
  StreamState st;
  datapolicy::TcpReassembler reasm;
  Scanner* sc = nullptr;
  std::vector<Finding>* out = nullptr;
  std::unique_ptr<Decoded> dec;  // null: decoding off
  uint64_t gaps = 0;
  bool finished = false;
  void bytes(const uint8_t* d, size_t n) override {
    sc->scan(st, d, n, *out);
    if (dec) dec->feed(d, n);
  }
  void gap(uint64_t n) override {
    ++gaps;
    sc->skip(st, n, *out);
    if (dec) dec->gap();
  }
};

struct Flow {
  std::string src, dst;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  Direction dir[2];  // 0: from the originator (first packet or SYN sender)
};

using FlowKey = std::tuple<std::string, std::string, uint16_t, uint16_t, uint8_t>;

std::string ipText(uint8_t family, const uint8_t* p) { return IpAddr::fromBytes(family, p).toString(); }

bool scanPcap(const std::string& path, Scanner& sc, Printer& pr, const datapolicy::DecodeLimits* lim) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path.c_str(), err);
  if (!pc) {
    std::fprintf(stderr, "goldgatectl: classify: %s: %s\n", path.c_str(), err);
    return false;
  }
  if (pcap_datalink(pc) != DLT_EN10MB) {
    std::fprintf(stderr, "goldgatectl: classify: %s: link type %d is not Ethernet\n", path.c_str(), pcap_datalink(pc));
    pcap_close(pc);
    return false;
  }
  std::map<FlowKey, std::unique_ptr<Flow>> flows;
  std::vector<Flow*> order;
  std::vector<Finding> out;
  uint64_t packets = 0, skipped = 0;
  auto extraOf = [](const Flow& f, int d) {
    const char* dirName = d == 0 ? "orig" : "reply";
    return ",\"flow\":{\"src\":\"" + (d == 0 ? f.src : f.dst) + "\",\"dst\":\"" + (d == 0 ? f.dst : f.src) +
           "\",\"sport\":" + std::to_string(d == 0 ? f.sport : f.dport) +
           ",\"dport\":" + std::to_string(d == 0 ? f.dport : f.sport) + ",\"proto\":\"" +
           (f.proto == 6 ? "tcp" : "udp") + "\"},\"direction\":\"" + dirName + "\"";
  };
  auto flush = [&](Flow& f, int d) {
    const std::string extra = extraOf(f, d);
    for (const auto& x : out) pr.print(x, extra);
    out.clear();
  };
  // One TCP or UDP packet (or a fragmented datagram, gathered whole) from its L4 header on.
  auto onL4 = [&](const dataplane::PacketMeta& m, const uint8_t* l4, size_t l4len) {
    size_t hdr = m.protocol == 6 ? (l4len >= 20 ? static_cast<size_t>((l4[12] >> 4) * 4) : 20) : 8;
    if (hdr > l4len || (m.protocol == 6 && hdr < 20)) {
      ++skipped;
      return;
    }
    const uint8_t* payload = l4 + hdr;
    size_t plen = l4len - hdr;
    std::string s = ipText(m.family, m.src_ip), t = ipText(m.family, m.dst_ip);
    FlowKey fwd{s, t, m.sport, m.dport, m.protocol}, rev{t, s, m.dport, m.sport, m.protocol};
    Flow* f = nullptr;
    int d = 0;
    if (auto it = flows.find(fwd); it != flows.end()) {
      f = it->second.get();
    } else if (auto jt = flows.find(rev); jt != flows.end()) {
      f = jt->second.get();
      d = 1;
    } else {
      // A SYN+ACK seen first means the other side originated.
      bool synAck = m.protocol == 6 && (m.tcp_flags & dataplane::kTcpSyn) && (m.tcp_flags & dataplane::kTcpAck);
      auto nf = std::make_unique<Flow>();
      nf->src = synAck ? t : s;
      nf->dst = synAck ? s : t;
      nf->sport = synAck ? m.dport : m.sport;
      nf->dport = synAck ? m.sport : m.dport;
      nf->proto = m.protocol;
      for (int k = 0; k < 2; ++k) {
        auto& dd = nf->dir[k];
        dd.sc = &sc;
        dd.out = &out;
        sc.open(dd.st);
        if (lim) {
          dd.dec = std::make_unique<Decoded>(*lim, sc, pr, path);
          dd.dec->setExtra(extraOf(*nf, k));
        }
      }
      d = synAck ? 1 : 0;
      f = nf.get();
      order.push_back(f);
      flows.emplace(synAck ? rev : fwd, std::move(nf));
    }
    Direction& dir = f->dir[d];
    if (m.protocol == 6) {
      uint32_t seq = loadBe32(l4 + 4);
      // (after a FIN, bytes before it may still arrive, reordered: the direction ends at capture end)
      if (!dir.finished) dir.reasm.segment(seq, m.tcp_flags & dataplane::kTcpSyn, payload, plen, dir);
    } else if (plen > 0) {
      dir.bytes(payload, plen);
    }
    flush(*f, d);
  };
  // Fragmented datagrams, gathered as the switch does (dataplane/fragments.h), by (addresses,
  // protocol, IP id); within a bound on the bytes held.
  constexpr size_t kFragHold = 256u << 20;
  std::map<std::tuple<std::string, uint8_t, uint32_t>, dataplane::FragmentGather> frags;
  size_t fragHeld = 0;
  uint64_t fragRefused = 0;
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
    ++packets;
    dataplane::PacketMeta m{};
    if (h->caplen < h->len || dataplane::parsePacket(data, h->caplen, &m) != dataplane::DropReason::kNone ||
        m.family == 0 || (m.protocol != 6 && m.protocol != 17)) {
      ++skipped;
      continue;
    }
    const size_t l3end = m.l3_offset + m.l3_length;
    const size_t l4len = l3end > m.l4_offset ? l3end - m.l4_offset : 0;
    const bool fragment =
        (m.flags & dataplane::kFlagFragment) && ((m.flags & dataplane::kFlagMoreFragments) || m.frag_offset != 0);
    if (!fragment) {
      onL4(m, data + m.l4_offset, l4len);
      continue;
    }
    auto key = std::make_tuple(std::string(reinterpret_cast<const char*>(m.src_ip), m.family == 4 ? 4 : 16) +
                                   std::string(reinterpret_cast<const char*>(m.dst_ip), m.family == 4 ? 4 : 16),
                               m.protocol, m.frag_id);
    auto& g = frags[key];
    const size_t before = g.heldBytes();
    if (fragHeld + l4len > kFragHold) g.giveUp();
    if (!g.add(uint32_t{m.frag_offset} * 8, data + m.l4_offset, static_cast<uint32_t>(l4len),
               !(m.flags & dataplane::kFlagMoreFragments)))
      ++fragRefused;
    fragHeld = fragHeld - before + g.heldBytes();
    if (!g.complete()) continue;
    fragHeld -= g.heldBytes();
    const std::string whole = g.take();
    frags.erase(key);
    if (!dataplane::datagramL4(whole, m)) {  // the datagram's L4 header, from its first fragment
      ++skipped;
      continue;
    }
    onL4(m, reinterpret_cast<const uint8_t*>(whole.data()), whole.size());
  }
  if (rc == -1) {
    std::fprintf(stderr, "goldgatectl: classify: %s: %s\n", path.c_str(), pcap_geterr(pc));
    pcap_close(pc);
    return false;
  }
  pcap_close(pc);
  for (Flow* f : order)
    for (int d = 0; d < 2; ++d) {
      Direction& dir = f->dir[d];
      if (f->proto == 6) dir.reasm.finish(dir);
      sc.close(dir.st, out);
      flush(*f, d);
      if (dir.dec) dir.dec->finish();
      if (dir.gaps)
        std::fprintf(stderr,
                     "goldgatectl: classify: %s: %s:%u -> %s:%u: inspection gap (%" PRIu64 " bytes never seen)\n",
                     path.c_str(), d == 0 ? f->src.c_str() : f->dst.c_str(), d == 0 ? f->sport : f->dport,
                     d == 0 ? f->dst.c_str() : f->src.c_str(), d == 0 ? f->dport : f->sport, dir.reasm.gapBytes());
    }
  if (skipped)
    std::fprintf(stderr,
                 "goldgatectl: classify: %s: %" PRIu64 " of %" PRIu64
                 " packets not inspected (not TCP/UDP over IP, or malformed)\n",
                 path.c_str(), skipped, packets);
  if (!frags.empty() || fragRefused)
    std::fprintf(stderr,
                 "goldgatectl: classify: %s: %zu fragmented datagrams not inspected (incomplete at the capture's end, "
                 "or with overlapping fragments); %" PRIu64 " fragments refused\n",
                 path.c_str(), frags.size(), fragRefused);
  return true;
}

bool isPcap(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char m[4] = {};
  in.read(reinterpret_cast<char*>(m), 4);
  uint32_t v = m[0] | (m[1] << 8) | (m[2] << 16) | (static_cast<uint32_t>(m[3]) << 24);
  return v == 0xa1b2c3d4 || v == 0xd4c3b2a1 || v == 0xa1b23c4d || v == 0x4d3cb2a1 || v == 0x0a0d0d0a;
}

}  // namespace

std::string defaultClassesDir() {
  std::error_code ec;
  for (const char* dir : {"/etc/goldgate/datapolicy", GOLDGATE_SOURCE_DIR "/configs/datapolicy"})
    if (std::filesystem::is_directory(dir, ec)) return dir;
  return {};
}

int runClassify(const ClassifyOptions& o) {
  std::string dir = o.classes_dir.empty() ? defaultClassesDir() : o.classes_dir;
  if (dir.empty()) {
    std::fprintf(stderr,
                 "goldgatectl: classify: no data classes: neither /etc/goldgate/datapolicy (installed) nor "
                 "%s/configs/datapolicy (the source tree) is a folder; give --classes DIR\n",
                 GOLDGATE_SOURCE_DIR);
    return 2;
  }
  auto classes = datapolicy::loadClasses(dir);
  if (!classes) {
    std::fprintf(stderr, "goldgatectl: classify: %s\n", classes.error().message.c_str());
    return 2;
  }
  auto cls = datapolicy::Classifier::build(std::move(*classes), {o.cache_dir});
  if (!cls) {
    std::fprintf(stderr, "goldgatectl: classify: %s\n", cls.error().message.c_str());
    return 2;
  }
  if (o.stats)
    std::fprintf(stderr,
                 "goldgatectl: classify: %zu classes, database %s in %.3f s, stream state a flow direction: %zu bytes "
                 "(Hyperscan %zu, scanner %zu; TCP reassembly adds %zu)\n",
                 (*cls)->classes().size(), (*cls)->fromCache() ? "loaded from the cache" : "compiled",
                 (*cls)->compileSeconds(), (*cls)->streamStateBytes(), (*cls)->hsStreamBytes(),
                 (*cls)->streamStateBytes() - (*cls)->hsStreamBytes(), sizeof(datapolicy::TcpReassembler));
  auto sc = Scanner::create(*cls);
  if (!sc) {
    std::fprintf(stderr, "goldgatectl: classify: %s\n", sc.error().message.c_str());
    return 2;
  }
  Printer pr{**cls};
  datapolicy::DecodeLimits limits;
  limits.max_output = o.max_decoded_mb << 20;
  limits.max_ratio = o.max_ratio;
  limits.max_depth = o.max_depth;
  limits.max_memory = 64u << 20;  // one input at a time: room for deep archives
  const datapolicy::DecodeLimits* lim = o.raw ? nullptr : &limits;
  bool ok = true;
  std::vector<std::string> inputs = o.inputs.empty() ? std::vector<std::string>{"-"} : o.inputs;
  for (const auto& in : inputs) {
    if (in == "-") {
      ok = scanFd(0, "-", **sc, pr, lim) && ok;
    } else if (o.pcap || (!o.text && isPcap(in))) {
      ok = scanPcap(in, **sc, pr, lim) && ok;
    } else {
      int fd = ::open(in.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        std::fprintf(stderr, "goldgatectl: classify: %s: %s\n", in.c_str(), std::strerror(errno));
        ok = false;
        continue;
      }
      ok = scanFd(fd, in, **sc, pr, lim) && ok;
      ::close(fd);
    }
  }
  std::fflush(stdout);
  if (!ok) return 2;
  return pr.findings > 0 ? 0 : 1;
}

int runEdmBuild(const EdmBuildOptions& o) {
  auto fail = [](const std::string& why) {
    std::fprintf(stderr, "goldgatectl: datapolicy edm-build: %s\n", why.c_str());
    return 2;
  };
  datapolicy::ExactMatch::Normalise norm;
  if (o.normalise == "digits") norm = datapolicy::ExactMatch::Normalise::kDigits;
  else if (o.normalise == "lower") norm = datapolicy::ExactMatch::Normalise::kLower;
  else if (o.normalise == "exact") norm = datapolicy::ExactMatch::Normalise::kExact;
  else return fail("--normalise: expected digits, lower or exact, got '" + o.normalise + "'");
  std::string key;
  {
    std::ifstream in(o.key_file, std::ios::binary);
    if (in) {
      key.assign(std::istreambuf_iterator<char>(in), {});
    } else if (o.new_key) {
      unsigned char buf[32];
      if (RAND_bytes(buf, sizeof buf) != 1) return fail("cannot draw a random key");
      int fd = ::open(o.key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0 || ::write(fd, buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) {
        if (fd >= 0) ::close(fd);
        return fail(o.key_file + ": cannot write the key: " + std::strerror(errno));
      }
      ::close(fd);
      key.assign(reinterpret_cast<char*>(buf), sizeof buf);
      std::fprintf(stderr,
                   "goldgatectl: datapolicy edm-build: new key in %s (mode 0600); keep it with the hashes' class\n",
                   o.key_file.c_str());
    } else {
      return fail(o.key_file + ": cannot read the key: " + std::strerror(errno) + " (--new-key creates one)");
    }
  }
  std::ifstream in(o.csv, std::ios::binary);
  if (!in) return fail(o.csv + ": cannot open: " + std::strerror(errno));
  std::string csv((std::istreambuf_iterator<char>(in)), {});
  auto built = datapolicy::buildExactMatch(csv, o.csv, o.column, norm, key);
  if (!built) return fail(built.error().message);
  std::string tmp = o.out + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << built->hashes;
    if (!out) return fail(tmp + ": cannot write");
  }
  if (std::rename(tmp.c_str(), o.out.c_str()) != 0) return fail(o.out + ": cannot write: " + std::strerror(errno));
  std::fprintf(stderr,
               "goldgatectl: datapolicy edm-build: %s: %" PRIu64 " rows, %" PRIu64 " distinct values hashed, %" PRIu64
               " duplicates, %" PRIu64 " empty -> %s\n",
               o.csv.c_str(), built->rows, built->values, built->duplicates, built->empty, o.out.c_str());
  return 0;
}

}  // namespace goldgate::cli
