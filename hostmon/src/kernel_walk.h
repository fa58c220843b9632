// Reading the guest kernel's own data structures from guest memory, with a kernel profile
// (kernel_profile.h) for the layout: the task list (processes and their executables), the module
// list and the module kobjects (a module that unlinked itself from the list is still found there),
// the system-call table and the interrupt descriptor table (each entry must point into kernel
// text), and a hash of kernel text that KASLR does not change (its relocations undone).
//
// Everything read is written by the guest, so every pointer, length, list and string is hostile:
// pointers are checked to be kernel addresses before they are followed, every list has a length
// bound and cycle detection, strings have length bounds, path walks have depth bounds, nothing
// recurses, and a pass has a deadline. A list the guest changes under the walk (a torn read) is
// reported as such, and the caller retries or marks the view partial.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "goldgate/common/result.h"
#include "goldgate/hostmon/kernel_profile.h"

namespace goldgate::hostmon {

/// Reads `len` bytes of guest-virtual memory at `va`. Errors when any byte is not mapped or the
/// read fails.
using VirtualReadFn = std::function<Result<void>(uint64_t va, size_t len, uint8_t* out)>;

struct KernelProcess {
  int32_t pid = 0;             // the thread-group id (what user space calls the process id)
  int32_t ppid = 0;            // the real parent's thread-group id
  int64_t uid = -1;            // real uid; -1: could not be read
  std::string comm;            // task name (at most 15 characters)
  std::string exe;             // path of the executable ("" for kernel threads, "?" when it could not be read)
  uint64_t start_time_ns = 0;  // since boot (monotonic)
  bool kernel_thread = false;
  uint64_t task = 0;  // address of its task_struct
};

struct KernelModule {
  std::string name;
  uint64_t base = 0, size = 0;  // its core (text and data) mapping
  int32_t state = 0;            // 0 live, 1 coming, 2 going, 3 unformed
  bool in_list = false;         // found on the kernel's module list (what /proc/modules shows)
  bool in_sysfs = false;        // found through its kobject (what /sys/module shows)
  uint64_t address = 0;         // of its struct module
};

/// A table entry that points where it should not.
struct TableEntry {
  uint32_t index = 0;
  uint64_t target = 0;
  std::string where;  // "module NAME+0xOFF" or "outside kernel text and modules"
};

struct KernelIntegrity {
  std::string text_sha256;  // of [_text, _etext) with KASLR's relocations undone
  uint64_t text_bytes = 0;
  uint32_t syscalls = 0;  // entries checked
  std::vector<TableEntry> syscall_hooks;
  uint32_t idt_gates = 0;  // present gates checked
  std::vector<TableEntry> idt_hooks;
  uint64_t idt_base = 0;  // where the IDT was read (the IDTR, else idt_table)
};

struct KernelWalk {
  uint64_t slide = 0;                    // KASLR: running address minus link-time address
  std::vector<KernelProcess> processes;  // thread-group leaders, pid 0 (the idle task) excluded
  std::vector<KernelModule> modules;
  KernelIntegrity integrity;
  bool partial = false;               // a list could not be read whole (problems say which and why)
  std::vector<std::string> problems;  // each: what was not read, and why
  uint32_t torn_retries = 0;          // walks restarted because the guest changed a list under them
  uint64_t reads = 0, bytes = 0;      // memory reads the pass made, and their bytes
};

struct WalkLimits {
  size_t max_tasks = 65536;
  size_t max_modules = 4096;
  size_t max_path_components = 64;
  size_t max_path_bytes = 4096;
  size_t max_name_bytes = 255;
  uint32_t torn_retries = 2;          // restarts of a list walk the guest changed, before "partial"
  std::function<bool()> out_of_time;  // true once the pass's budget is spent (empty: no budget)
  bool hash_text = true;
};

/// What a walk is aimed at: the profile of the running kernel and where its text is (locateKernel).
struct WalkTarget {
  const KernelProfile* profile = nullptr;
  uint64_t text = 0;                 // running address of _text
  std::optional<uint64_t> idt_base;  // the IDTR (info registers), when the monitor gave it
  uint32_t idt_limit = 0xfff;
};

/// One full pass: processes, modules, integrity. Errors only when nothing can be read at all (the
/// task list head is unreadable: wrong profile or memory); every other failure makes the result
/// partial with the reason in `problems`. Not thread-safe per reader; any thread.
Result<KernelWalk> walkKernel(const VirtualReadFn& read, const WalkTarget& target, const WalkLimits& limits = {});

/// Hashes [_text, _etext) of `text` (bytes read from memory at running address `textVa`) after
/// undoing the profile's relocations for `slide`. Exposed for tests.
std::string relocatedTextHash(std::vector<uint8_t> text, const KernelProfile& p, uint64_t slide);

}  // namespace goldgate::hostmon
