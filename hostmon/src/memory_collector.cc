#include "memory_collector.h"

#include <openssl/evp.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "goldgate/alerts/alert_log.h"
#include "guest_paging.h"
#include "kernel_walk.h"
#include "parse_util.h"

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

}  // namespace

Result<uint64_t> findBanner(const MemoryPeekFn& peek, uint64_t start, uint64_t length) {
  std::vector<uint8_t> buf(kBanner.size() - 1 + kMaxPeek);
  size_t carry = 0;  // bytes kept from the previous piece, so that a banner split across two is found
  for (uint64_t off = 0; off < length;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kMaxPeek, length - off));
    if (auto r = peek(start + off, n, buf.data() + carry); !r)
      return makeError(Error::Code::kIo,
                       "reading guest memory at " + hexAddress(start + off) + ": " + r.error().message);
    std::string_view hay(reinterpret_cast<const char*>(buf.data()), carry + n);
    if (size_t at = hay.find(kBanner); at != std::string_view::npos) return start + off - carry + at;
    carry = std::min(hay.size(), kBanner.size() - 1);
    std::memmove(buf.data(), buf.data() + hay.size() - carry, carry);
    off += n;
  }
  return makeError(Error::Code::kNotFound,
                   "no \"Linux version \" banner in " + hexAddress(start) + " + " + sizeText(length));
}

Result<std::string> readBanner(const MemoryPeekFn& peek, uint64_t addr) {
  uint8_t buf[kMaxBanner];
  if (auto r = peek(addr, sizeof buf, buf); !r)
    return makeError(Error::Code::kIo, "reading guest memory at " + hexAddress(addr) + ": " + r.error().message);
  if (std::memcmp(buf, kBanner.data(), kBanner.size()) != 0)
    return makeError(Error::Code::kNotFound, "no banner at " + hexAddress(addr));
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
      return makeError(Error::Code::kIo,
                       "reading guest memory at " + hexAddress(start + off) + ": " + r.error().message);
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

CollectResult MemoryPeekCollector::failure(CollectResult res, const std::string& why) const {
  if (why.find(kDomainNotRunning) != std::string::npos) {
    res.skipped = true;  // not a reading that failed: there was nothing to read
    return res;
  }
  res.failed = true;
  res.status = "memory.error (" + why + ")";
  res.observations.push_back({"memory.error", why, source(), trust(), now(), now(), 1});
  return res;
}

void MemoryPeekCollector::learnGold(const CollectTarget& vm, Remembered& mem, MemoryView& v, CollectResult& res) {
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
                                "kernel text " + hexAddress(v.text_start) + " + " + sizeText(v.text_length) +
                                    ": sha256 " + v.text_sha256 + ", expected " + v.gold_sha256 + " (" + v.gold_source +
                                    ")",
                                source(), trust(), v.seen.observed_ns, v.seen.observed_ns, 1});
}

CollectResult MemoryPeekCollector::collectPhysical(const CollectTarget& vm, const GuestAccess& access) {
  CollectResult res;
  auto failed = [&](const std::string& why) { return failure(std::move(res), why); };
  if (!access.peek) return failed("no memory access for this VM");
  Remembered mem;
  {
    std::lock_guard<std::mutex> l(mu_);
    mem = vms_[vm.uuid];
  }
  MemoryView v;
  v.seen = {source(), trust(), 0};
  v.mode = "physical-range";
  v.access = access.peek_method;
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
           "the kernel banner is no longer at " + hexAddress(mem.banner_addr) +
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
  learnGold(vm, mem, v, res);
  {
    std::lock_guard<std::mutex> l(mu_);
    vms_[vm.uuid] = mem;
  }
  res.memory = std::move(v);
  res.status = "ok";
  return res;
}

CollectResult MemoryPeekCollector::collect(const CollectTarget& vm, const GuestAccess& access,
                                           const GuestState& latest) {
  // Without QEMU's monitor there are no registers, so no page tables: the physical range is all
  // that can be read (a VM reached through a driver that has no monitor, and the unit tests' fakes).
  if (opts_.physical_range || !access.monitor) return collectPhysical(vm, access);
  return collectIntrospect(vm, access, latest);
}

size_t MemoryPeekCollector::profileCount() {
  std::string why;
  profileFor("", why);
  std::lock_guard<std::mutex> l(profiles_mu_);
  return profiles_.size();
}

const KernelProfile* MemoryPeekCollector::profileFor(const std::string& banner, std::string& why) {
  std::lock_guard<std::mutex> l(profiles_mu_);
  if (auto it = profiles_.find(banner); it != profiles_.end()) return &it->second;
  const int64_t t = now();
  if (profiles_loaded_ns_ == 0 || t - profiles_loaded_ns_ > 10'000'000'000) {
    profiles_loaded_ns_ = t;
    auto loaded = loadKernelProfiles(opts_.profiles_dir);
    if (loaded) {
      profiles_ = std::move(*loaded);
      profiles_error_.clear();
    } else {
      profiles_error_ = loaded.error().message;
    }
  }
  if (auto it = profiles_.find(banner); it != profiles_.end()) return &it->second;
  why = profiles_error_.empty()
            ? std::to_string(profiles_.size()) + " profile(s) in " + opts_.profiles_dir +
                  ", none for this banner (build one: goldgatectl kernel-profile build VMLINUZ -o " +
                  opts_.profiles_dir + ")"
            : profiles_error_;
  return nullptr;
}

CollectResult MemoryPeekCollector::collectIntrospect(const CollectTarget& vm, const GuestAccess& access,
                                                     const GuestState& latest) {
  CollectResult res;
  const int64_t startNs = now();
  auto failed = [&](const std::string& why) { return failure(std::move(res), why); };
  if (!access.peek) return failed("no memory access for this VM");
  auto regText = access.monitor("info registers");
  if (!regText) return failed("QEMU monitor (info registers): " + regText.error().message);
  auto regs = parseInfoRegisters(*regText);
  if (!regs) return failed(regs.error().message);
  if (!regs->longMode())
    return failed("the vCPU is not in 64-bit mode yet (the guest is booting, or not x86-64 Linux)");
  const uint64_t ramTop = access.ram_top ? access.ram_top : uint64_t{4} << 30;
  Remembered mem;
  {
    std::lock_guard<std::mutex> l(mu_);
    mem = vms_[vm.uuid];
  }
  // The kernel's tables: CR3 as the vCPU has it, or its kernel half (page-table isolation).
  std::optional<GuestVirtualMemory> gvm;
  Result<KernelImage> image = makeError(Error::Code::kNotFound, "no paging root");
  for (uint64_t root : kernelRootCandidates(regs->cr3)) {
    gvm.emplace(access.peek, root, regs->levels(), ramTop);
    image = locateKernel(*gvm, 0);
    if (image) break;
  }
  if (!image) return failed("no kernel found in the guest's page tables: " + image.error().message);
  MemoryView v;
  v.seen = {source(), trust(), 0};
  v.mode = "introspection";
  v.access = access.peek_method;
  v.text_virt = image->text;
  // The banner names the profile: read where each known profile has it (one read each); else
  // searched for, to say which kernel has no profile.
  const KernelProfile* profile = nullptr;
  std::string why;
  auto bannerAt = [&](const KernelProfile& p) {
    std::string b(p.banner.size(), '\0');
    const uint64_t at = image->text + (p.symbol("linux_banner") - p.symbol("_text"));
    return gvm->read(at, b.size(), reinterpret_cast<uint8_t*>(b.data())) && b == p.banner;
  };
  if (mem.text_virt == image->text && !mem.banner.empty()) {
    profile = profileFor(mem.banner, why);
    if (profile && !bannerAt(*profile)) profile = nullptr;
  }
  if (!profile) {
    profileFor("", why);  // (re)load the folder if it is due
    std::vector<const KernelProfile*> all;
    {
      std::lock_guard<std::mutex> l(profiles_mu_);
      for (const auto& [b, p] : profiles_) all.push_back(&p);
    }
    for (const KernelProfile* p : all)
      if (bannerAt(*p)) profile = p;
  }
  if (!profile) {
    auto found = locateKernel(*gvm);
    v.banner = found && !found->banner_text.empty() ? found->banner_text : "";
    profileFor(v.banner, why);
    v.seen.observed_ns = now();
    v.problems.push_back("no kernel profile: " + why);
    v.partial = true;
    res.observations.push_back({"memory.unsupported_kernel",
                                "kernel \"" + (v.banner.empty() ? std::string("(no banner found)") : v.banner) +
                                    "\" cannot be introspected: " + why,
                                source(), trust(), v.seen.observed_ns, v.seen.observed_ns, 1});
    res.memory = std::move(v);
    res.status = "unsupported kernel";
    return res;
  }
  mem.banner = profile->banner;
  mem.text_virt = image->text;
  v.banner = profile->banner;
  v.profile = kernelProfileFileName(*profile);
  WalkTarget target;
  target.profile = profile;
  target.text = image->text;
  if (regs->has_idt) {
    target.idt_base = regs->idt_base;
    target.idt_limit = regs->idt_limit;
  }
  WalkLimits limits;
  const int64_t deadline = startNs + int64_t{opts_.budget_ms} * 1000000;
  limits.out_of_time = [&] { return now() > deadline; };
  const VirtualReadFn read = [&](uint64_t va, size_t n, uint8_t* out) { return gvm->read(va, n, out); };
  auto walk = walkKernel(read, target, limits);
  if (!walk) return failed(walk.error().message);
  v.kaslr_slide = walk->slide;
  v.processes = std::move(walk->processes);
  v.modules = std::move(walk->modules);
  v.syscalls = walk->integrity.syscalls;
  v.idt_gates = walk->integrity.idt_gates;
  v.syscall_hooks = std::move(walk->integrity.syscall_hooks);
  v.idt_hooks = std::move(walk->integrity.idt_hooks);
  v.partial = walk->partial;
  v.problems = std::move(walk->problems);
  v.reads = walk->reads;
  v.bytes = walk->bytes;
  v.text_start = image->text;
  v.text_length = walk->integrity.text_bytes;
  v.text_sha256 = walk->integrity.text_sha256;
  v.banner_addr = image->text + (profile->symbol("linux_banner") - profile->symbol("_text"));
  v.seen.observed_ns = now();
  if (!v.text_sha256.empty()) learnGold(vm, mem, v, res);
  for (const auto& [table, hooks] : {std::pair{"system-call table", &v.syscall_hooks}, {"IDT", &v.idt_hooks}})
    for (const auto& h : *hooks)
      res.observations.push_back({"kernel.hook",
                                  std::string(table) + " entry " + std::to_string(h.index) + " points to " +
                                      hexAddress(h.target) + " (" + h.where + "), not into kernel text",
                                  source(), trust(), v.seen.observed_ns, v.seen.observed_ns, 1});
  if (v.partial)
    for (const auto& p : v.problems)
      res.observations.push_back({"memory.partial", p, source(), trust(), v.seen.observed_ns, v.seen.observed_ns, 1});
  // Cross-view with the agent's latest listing (a partial pass is no evidence of absence).
  std::optional<ViewSnapshot> memSnap, agentSnap;
  if (!v.partial) memSnap = memorySnapshot(v, startNs, v.seen.observed_ns);
  // (Only when the agent's last poll is the one that gave this view: its duration bounds the listing.)
  if (latest.agent && latest.agent_status == "ok" && latest.agent->processes_seen.observed_ns > mem.last_agent_ns &&
      !latest.agent->truncated) {
    agentSnap = agentSnapshot(*latest.agent, latest.agent_cost.last_duration_ms);
    mem.last_agent_ns = latest.agent->processes_seen.observed_ns;
  }
  for (auto& o :
       crossView(mem.cross, memSnap ? &*memSnap : nullptr, agentSnap ? &*agentSnap : nullptr, v.seen.observed_ns))
    res.observations.push_back(std::move(o));
  // A process the agent's latest listing lacks (new since, or hidden from it): the scheduler asks
  // the agent sooner.
  // (Not for what runs under the agent itself: its probe, caught by a pass, is never in its listing.)
  if (memSnap && latest.agent && latest.agent_status == "ok") {
    std::set<int32_t> listed;
    for (const auto& p : latest.agent->processes) listed.insert(p.pid);
    std::map<int32_t, const KernelProcess*> byPid;
    for (const auto& p : v.processes) byPid[p.pid] = &p;
    for (const auto& p : v.processes)
      if (!listed.count(p.pid) && !underGuestAgent(byPid, p)) {
        res.agent_soon = true;
        break;
      }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    vms_[vm.uuid] = std::move(mem);
  }
  res.memory = std::move(v);
  res.status = "ok";
  return res;
}

}  // namespace goldgate::hostmon
