"""Open vSwitch with DPDK as a side-by-side peer for the benchmark: started by us with its own run,
log and database folders, on our hugetlbfs, one PMD core, two `type=dpdk` ports over the same
pcap devices as goldgate-switch; stopped by PID afterwards.

Used by run.py (`make bench`); needs Debian's openvswitch-switch-dpdk (bench set-up installs it).
"""
import os
import re
import shutil
import signal
import subprocess
import time

VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def available():
    return os.path.exists(VSWITCHD) and shutil.which("ovsdb-server") and shutil.which("ovs-vsctl")


class Ovs:
    def __init__(self, work, huge, pmd_core=1, socket_mem=1024):
        self.dir = os.path.join(work, "ovs")
        os.makedirs(self.dir, exist_ok=True)
        self.huge = huge
        self.pmd_core = pmd_core
        self.socket_mem = socket_mem
        self.db_sock = os.path.join(self.dir, "db.sock")
        self.ctl = os.path.join(self.dir, "vswitchd.ctl")
        self.env = dict(os.environ, OVS_RUNDIR=self.dir, OVS_LOGDIR=self.dir, OVS_DBDIR=self.dir,
                        OVS_SYSCONFDIR=self.dir, OVS_PKGDATADIR="/usr/share/openvswitch")
        self.pids = []

    def _run(self, *cmd, check=True):
        p = subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed: %s%s" % (" ".join(cmd), p.stdout, p.stderr))
        return p.stdout

    def vsctl(self, *args):
        return self._run("ovs-vsctl", "--db=unix:" + self.db_sock, "--timeout=60", *args)

    def appctl(self, *args):
        return self._run("ovs-appctl", "-t", self.ctl, *args)

    def ofctl(self, *args):
        return self._run("ovs-ofctl", "-O", "OpenFlow13", *args)

    def start(self, port_devargs):
        db = os.path.join(self.dir, "conf.db")
        self._run("ovsdb-tool", "create", db, SCHEMA)
        # Daemons on core 0 so their helper threads stay off the PMD core.
        self._run("taskset", "-c", "0", "ovsdb-server", db, "--remote=punix:" + self.db_sock,
                  "--pidfile=" + os.path.join(self.dir, "ovsdb.pid"), "--unixctl=" + os.path.join(self.dir, "ovsdb.ctl"),
                  "--log-file=" + os.path.join(self.dir, "ovsdb.log"), "--detach")
        self.pids.append(os.path.join(self.dir, "ovsdb.pid"))
        self.vsctl("--no-wait", "init")
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                   "other_config:dpdk-socket-mem=%d" % self.socket_mem,
                   "other_config:dpdk-hugepage-dir=" + self.huge,
                   'other_config:dpdk-extra="--no-pci --file-prefix ggovs --no-telemetry"',
                   "other_config:dpdk-lcore-mask=0x1",
                   "other_config:pmd-cpu-mask=0x%x" % (1 << self.pmd_core))
        self._run("taskset", "-c", "0", VSWITCHD, "unix:" + self.db_sock,
                  "--pidfile=" + os.path.join(self.dir, "vswitchd.pid"), "--unixctl=" + self.ctl,
                  "--log-file=" + os.path.join(self.dir, "vswitchd.log"), "--detach")
        self.pids.append(os.path.join(self.dir, "vswitchd.pid"))
        self.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev",
                   "protocols=OpenFlow13")
        for i, devargs in enumerate(port_devargs):
            self.vsctl("add-port", "br0", "p%d" % i, "--", "set", "Interface", "p%d" % i, "type=dpdk",
                       "options:dpdk-devargs=%s" % devargs, "ofport_request=%d" % (i + 1))
        time.sleep(1)

    def set_flows(self, lines):
        path = os.path.join(self.dir, "flows.txt")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.ofctl("del-flows", "br0")
        self.ofctl("add-flows", "br0", path)
        # Datapath flows cached from the previous rules would still be used: flush them, and the
        # connection table, so every case starts from nothing.
        self.appctl("dpctl/del-flows")
        self.appctl("dpctl/flush-conntrack")

    def tx_packets(self):
        # Live counters from the datapath (the Interface statistics column is refreshed only every
        # few seconds).
        out = self.ofctl("dump-ports", "br0")
        return sum(int(x) for x in re.findall(r"tx pkts=(\d+)", out))

    def measure(self, warmup, duration):
        """Mpps transmitted on both output ports over `duration` after `warmup`, and OVS's own
        processing cycles per packet from pmd-stats-show over the same interval."""
        time.sleep(warmup)
        self.appctl("dpif-netdev/pmd-stats-clear")
        t0, n0 = time.monotonic(), self.tx_packets()
        time.sleep(duration)
        t1, n1 = time.monotonic(), self.tx_packets()
        stats = self.appctl("dpif-netdev/pmd-stats-show")
        m = re.search(r"avg processing cycles per packet:\s*([\d.]+)", stats)
        cycles = float(m.group(1)) if m else float("nan")
        return (n1 - n0) / (t1 - t0) / 1e6, cycles, stats

    def stop(self):
        for pidfile in reversed(self.pids):
            try:
                pid = int(open(pidfile).read().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        self.pids = []
