#include "memory_collector.h"

#include <openssl/evp.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "goldgate/alerts/alert_log.h"

namespace goldgate::hostmon {
namespace {

constexpr std::string_view kBanner = "Linux version ";
constexpr size_t kMaxBanner = 512;

std::string hexOf(const unsigned char* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 15];
  }
  return s;
}

std::string sizeText(uint64_t n) {
  if (n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n % (1u << 10) == 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " bytes";
}

std::string addrText(uint64_t a) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(a));
  return buf;
}

}  // namespace

Result<uint64_t> findBanner(const MemoryPeekFn& peek, uint64_t start, uint64_t length) {
  std::vector<uint8_t> buf(kBanner.size() - 1 + kMaxPeek);
  size_t carry = 0;  // bytes kept from the previous piece, so that a banner split across two is found
  for (uint64_t off = 0; off < length;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kMaxPeek, length - off));
    if (auto r = peek(start + off, n, buf.data() + carry); !r)
      return makeError(Error::Code::kIo, "reading guest memory at " + addrText(start + off) + ": " + r.error().message);
    std::string_view hay(reinterpret_cast<const char*>(buf.data()), carry + n);
    if (size_t at = hay.find(kBanner); at != std::string_view::npos) return start + off - carry + at;
    carry = std::min(hay.size(), kBanner.size() - 1);
    std::memmove(buf.data(), buf.data() + hay.size() - carry, carry);
    off += n;
  }
  return makeError(Error::Code::kNotFound,
                   "no \"Linux version \" banner in " + addrText(start) + " + " + sizeText(length));
}

Result<std::string> readBanner(const MemoryPeekFn& peek, uint64_t addr) {
  uint8_t buf[kMaxBanner];
  if (auto r = peek(addr, sizeof buf, buf); !r)
    return makeError(Error::Code::kIo, "reading guest memory at " + addrText(addr) + ": " + r.error().message);
  if (std::memcmp(buf, kBanner.data(), kBanner.size()) != 0)
    return makeError(Error::Code::kNotFound, "no banner at " + addrText(addr));
  std::string s;
  for (uint8_t c : buf) {
    if (c == 0 || c == '\n') break;
    s += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  }
  return s;
}

Result<std::string> hashRegion(const MemoryPeekFn& peek, uint64_t start, uint64_t length) {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return makeError(Error::Code::kInternal, "SHA-256 unavailable");
  std::vector<uint8_t> buf(kMaxPeek);
  for (uint64_t off = 0; off < length;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kMaxPeek, length - off));
    if (auto r = peek(start + off, n, buf.data()); !r)
      return makeError(Error::Code::kIo, "reading guest memory at " + addrText(start + off) + ": " + r.error().message);
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
    off += n;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return hexOf(md, len);
}

std::string bannerRelease(const std::string& banner) {
  if (banner.compare(0, kBanner.size(), kBanner) != 0) return {};
  size_t s = kBanner.size();
  return banner.substr(s, banner.find(' ', s) - s);
}

MemoryPeekCollector::MemoryPeekCollector(MemoryCollectorOptions opts) : opts_(std::move(opts)) {}

int64_t MemoryPeekCollector::now() const {
  if (opts_.clock) return opts_.clock();
  return alerts::nowNs();
}

void MemoryPeekCollector::forget(const std::string& uuid) {
  std::lock_guard<std::mutex> l(mu_);
  vms_.erase(uuid);
}

CollectResult MemoryPeekCollector::collect(const CollectTarget& vm, const GuestAccess& access, const GuestState&) {
  CollectResult res;
  auto failed = [&](const std::string& why) {
    if (why.find(kDomainNotRunning) != std::string::npos) {
      res.skipped = true;  // not a reading that failed: there was nothing to read
      return res;
    }
    res.failed = true;
    res.status = "memory.error (" + why + ")";
    res.observations.push_back({"memory.error", why, source(), trust(), now(), now(), 1});
    return res;
  };
  if (!access.peek) return failed("no memory access for this VM");
  Remembered mem;
  {
    std::lock_guard<std::mutex> l(mu_);
    mem = vms_[vm.uuid];
  }
  MemoryView v;
  v.seen = {source(), trust(), 0};
  // The banner: searched for once per boot (many reads), then read where it was found (one read).
  // Gone from there, it is not searched for again until the VM restarts: this boot's kernel put it
  // in its read-only data, so it moving means that data changed or another kernel runs (kexec),
  // and a banner found elsewhere now could be one the guest wrote.
  if (mem.banner_addr) {
    auto banner = readBanner(access.peek, mem.banner_addr);
    if (banner) {
      v.banner = *banner;
    } else if (banner.error().code == Error::Code::kIo) {
      return failed(banner.error().message);
    } else {
      res.observations.push_back(
          {"kernel.banner_changed",
           "the kernel banner is no longer at " + addrText(mem.banner_addr) +
               ", where this boot's kernel had it: its read-only data changed, or another kernel runs "
               "without a restart of the VM",
           source(), trust(), now(), now(), 1});
    }
  } else {
    auto at = findBanner(access.peek, opts_.banner_start, opts_.banner_length);
    if (!at) return failed(at.error().message);
    auto banner = readBanner(access.peek, *at);
    if (!banner) return failed(banner.error().message);
    mem.banner_addr = *at;
    v.banner = *banner;
  }
  v.banner_addr = mem.banner_addr;
  v.text_start = opts_.text_start;
  v.text_length = opts_.text_length;
  auto hash = hashRegion(access.peek, opts_.text_start, opts_.text_length);
  if (!hash) return failed(hash.error().message);
  v.text_sha256 = *hash;
  v.seen.observed_ns = now();
  if (auto g = opts_.gold_by_vm.find(vm.name); g != opts_.gold_by_vm.end()) {
    v.gold_sha256 = g->second;
    v.gold_source = "config:vm";
  } else if (auto m = opts_.gold_by_manifest.find(vm.manifest);
             !vm.manifest.empty() && m != opts_.gold_by_manifest.end()) {
    v.gold_sha256 = m->second;
    v.gold_source = "config:manifest";
  } else {
    if (mem.learned_gold.empty()) {
      if (mem.candidate == v.text_sha256) mem.learned_gold = v.text_sha256;
      else mem.candidate = v.text_sha256;
    }
    v.gold_sha256 = mem.learned_gold;
    v.gold_source = mem.learned_gold.empty() ? "learning" : "learned";
  }
  v.match = v.gold_sha256 == v.text_sha256;
  if (!v.match && v.gold_source != "learning")
    res.observations.push_back({"kernel.text_changed",
                                "kernel text " + addrText(v.text_start) + " + " + sizeText(v.text_length) +
                                    ": sha256 " + v.text_sha256 + ", expected " + v.gold_sha256 + " (" + v.gold_source +
                                    ")",
                                source(), trust(), v.seen.observed_ns, v.seen.observed_ns, 1});
  {
    std::lock_guard<std::mutex> l(mu_);
    vms_[vm.uuid] = mem;
  }
  res.memory = std::move(v);
  res.status = "ok";
  return res;
}

}  // namespace goldgate::hostmon
