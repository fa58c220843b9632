// goldgatectl kernel-profile: build the profile hostmon reads a guest kernel's memory with, from
// the kernel package's own vmlinuz, and show what a profile holds.
#pragma once

#include <string>
#include <vector>

namespace goldgate::cli {

struct KernelProfileOptions {
  std::vector<std::string> images;  // build: vmlinuz or vmlinux files
  std::string out_dir = ".";        // build: where profiles are written
  std::vector<std::string> files;   // show: profile files or folders
  bool json = false;
};

/// Builds one profile per image into out_dir (atomically; an existing one for the same banner is
/// replaced). Prints one line per profile written. Exit code: 0 all written, 2 any image failed
/// (each failure named on standard error, the others still written).
int runKernelProfileBuild(const KernelProfileOptions& o);

/// Prints what each profile holds (banner, symbols, members, relocations). Exit 0, or 2 when a
/// file is not a valid profile.
int runKernelProfileShow(const KernelProfileOptions& o);

}  // namespace goldgate::cli
