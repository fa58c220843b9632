#include "kernel_profile_cmd.h"

#include <sys/stat.h>

#include <cstdio>
#include <iostream>

#include "goldgate/common/files.h"
#include "goldgate/hostmon/kernel_profile.h"

namespace goldgate::cli {
namespace {

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

void describe(const hostmon::KernelProfile& p, const std::string& where) {
  std::cout << where << "\n  banner:      " << p.banner << "\n  release:     " << p.release
            << "\n  built from:  " << p.source << " (sha256 " << p.source_sha256.substr(0, 16) << "…)"
            << "\n  kallsyms:    " << p.kallsyms_count << " symbols; kept " << p.symbols.size() << ", "
            << p.members.size() << " structure members"
            << "\n  text:        " << hex(p.symbol("_text")) << " .. " << hex(p.symbol("_etext")) << " ("
            << (p.symbol("_etext") - p.symbol("_text")) << " bytes; relocations: " << p.text_relocs32.size()
            << " 32-bit, " << p.text_relocs32_inverse.size() << " inverse, " << p.text_relocs64.size() << " 64-bit)"
            << "\n  syscalls:    " << p.syscall_count << " entries in sys_call_table\n";
}

}  // namespace

int runKernelProfileBuild(const KernelProfileOptions& o) {
  struct stat st {};
  if (::stat(o.out_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::cerr << "goldgatectl kernel-profile build: " << o.out_dir << ": not a folder\n";
    return 2;
  }
  int rc = 0;
  for (const auto& image : o.images) {
    auto p = hostmon::buildKernelProfileFromFile(image);
    if (!p) {
      std::cerr << "goldgatectl kernel-profile build: " << p.error().message << "\n";
      rc = 2;
      continue;
    }
    const std::string path = o.out_dir + "/" + hostmon::kernelProfileFileName(*p);
    if (auto w = replaceFileDurably(path, hostmon::kernelProfileToJson(*p), 0644); !w) {
      std::cerr << "goldgatectl kernel-profile build: " << path << ": " << w.error().message << "\n";
      rc = 2;
      continue;
    }
    if (o.json) {
      std::cout << "{\"file\":\"" << path << "\",\"release\":\"" << p->release << "\"}\n";
    } else {
      describe(*p, "wrote " + path);
    }
  }
  return rc;
}

int runKernelProfileShow(const KernelProfileOptions& o) {
  int rc = 0;
  for (const auto& f : o.files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      auto all = hostmon::loadKernelProfiles(f);
      if (!all) {
        std::cerr << "goldgatectl kernel-profile show: " << all.error().message << "\n";
        rc = 2;
        continue;
      }
      for (const auto& [banner, p] : *all) describe(p, f + "/" + hostmon::kernelProfileFileName(p));
      continue;
    }
    auto text = readFileLimited(f, 64u << 20);
    if (!text) {
      std::cerr << "goldgatectl kernel-profile show: " << f << ": " << text.error().message << "\n";
      rc = 2;
      continue;
    }
    auto p = hostmon::kernelProfileFromJson(*text, f);
    if (!p) {
      std::cerr << "goldgatectl kernel-profile show: " << p.error().message << "\n";
      rc = 2;
      continue;
    }
    if (o.json) std::cout << hostmon::kernelProfileToJson(*p);
    else describe(*p, f);
  }
  return rc;
}

}  // namespace goldgate::cli
