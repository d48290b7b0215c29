// The seccomp filter every sandboxed job runs under, as the classic BPF program bwrap loads with
// `--seccomp FD` (an array of struct sock_filter). It denies the system calls a data job has no use
// for and that a hostile one would use to break out of or outlast its sandbox:
//   - ptrace and cross-process memory access: no tampering with the sandbox's own init;
//   - new namespaces (unshare, setns, clone with CLONE_NEW*; clone3 answers ENOSYS so libc falls
//     back to clone, whose flags can be checked): no nested user namespace with a fresh capability set;
//   - mounting, io_uring (a second path to the kernel that seccomp cannot see into), keyrings, bpf,
//     perf, userfaultfd, kernel modules, kexec, reboot, swap, acct, quotactl, syslog, handle-based opens;
//   - System V shared memory, whose segments outlive every process and so escape the memory watchdog.
// Everything else is allowed: the sandbox's mounts, namespaces and limits do the rest.
// Syscall numbers are the kernel's, per architecture; an architecture without a table gets no filter
// (sandboxProblem says so) and a foreign ABI on a known one (x32, i386 on x86_64) is killed.

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;

const RET_KILL_PROCESS = 0x80000000;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;

// Offsets in struct seccomp_data: nr, arch, then args[0] (low 32 bits on little-endian machines).
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0_LOW = 16;

/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. */
const CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

const DENIED = [
  "ptrace",
  "process_vm_readv",
  "process_vm_writev",
  "kcmp",
  "unshare",
  "setns",
  "mount",
  "umount2",
  "pivot_root",
  "open_tree",
  "move_mount",
  "fsopen",
  "fsconfig",
  "fsmount",
  "fspick",
  "mount_setattr",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  "keyctl",
  "add_key",
  "request_key",
  "bpf",
  "perf_event_open",
  "userfaultfd",
  "init_module",
  "finit_module",
  "delete_module",
  "kexec_load",
  "kexec_file_load",
  "reboot",
  "swapon",
  "swapoff",
  "acct",
  "quotactl",
  "syslog",
  "name_to_handle_at",
  "open_by_handle_at",
  "shmget",
] as const;
type Syscall = (typeof DENIED)[number] | "clone" | "clone3";

interface ArchTable {
  audit: number;
  /** Numbers at or above this belong to another ABI on the same architecture (x32): killed. */
  foreignFrom?: number;
  nr: Record<Syscall, number>;
}

const TABLES: Partial<Record<string, ArchTable>> = {
  x64: {
    audit: 0xc000003e,
    foreignFrom: 0x40000000,
    nr: {
      ptrace: 101,
      process_vm_readv: 310,
      process_vm_writev: 311,
      kcmp: 312,
      unshare: 272,
      setns: 308,
      clone: 56,
      clone3: 435,
      mount: 165,
      umount2: 166,
      pivot_root: 155,
      open_tree: 428,
      move_mount: 429,
      fsopen: 430,
      fsconfig: 431,
      fsmount: 432,
      fspick: 433,
      mount_setattr: 442,
      io_uring_setup: 425,
      io_uring_enter: 426,
      io_uring_register: 427,
      keyctl: 250,
      add_key: 248,
      request_key: 249,
      bpf: 321,
      perf_event_open: 298,
      userfaultfd: 323,
      init_module: 175,
      finit_module: 313,
      delete_module: 176,
      kexec_load: 246,
      kexec_file_load: 320,
      reboot: 169,
      swapon: 167,
      swapoff: 168,
      acct: 163,
      quotactl: 179,
      syslog: 103,
      name_to_handle_at: 303,
      open_by_handle_at: 304,
      shmget: 29,
    },
  },
  arm64: {
    audit: 0xc00000b7,
    nr: {
      ptrace: 117,
      process_vm_readv: 270,
      process_vm_writev: 271,
      kcmp: 272,
      unshare: 97,
      setns: 268,
      clone: 220,
      clone3: 435,
      mount: 40,
      umount2: 39,
      pivot_root: 41,
      open_tree: 428,
      move_mount: 429,
      fsopen: 430,
      fsconfig: 431,
      fsmount: 432,
      fspick: 433,
      mount_setattr: 442,
      io_uring_setup: 425,
      io_uring_enter: 426,
      io_uring_register: 427,
      keyctl: 219,
      add_key: 217,
      request_key: 218,
      bpf: 280,
      perf_event_open: 241,
      userfaultfd: 282,
      init_module: 105,
      finit_module: 273,
      delete_module: 106,
      kexec_load: 104,
      kexec_file_load: 294,
      reboot: 142,
      swapon: 224,
      swapoff: 225,
      acct: 89,
      quotactl: 60,
      syslog: 116,
      name_to_handle_at: 264,
      open_by_handle_at: 265,
      shmget: 194,
    },
  },
};

type Insn = { code: number; k: number; jt?: string; jf?: string; label?: string };

/** The filter for this machine's architecture, ready to hand to bwrap; undefined where there is no table. */
export function seccompProgram(arch: string = process.arch): Buffer | undefined {
  const table = TABLES[arch];
  if (!table) return undefined;
  const prog: Insn[] = [
    { code: BPF_LD_W_ABS, k: OFFSET_ARCH },
    { code: BPF_JEQ_K, k: table.audit, jf: "kill" },
    { code: BPF_LD_W_ABS, k: OFFSET_NR },
    ...(table.foreignFrom === undefined ? [] : [{ code: BPF_JGE_K, k: table.foreignFrom, jt: "kill" }]),
    ...DENIED.map((name): Insn => ({ code: BPF_JEQ_K, k: table.nr[name], jt: "eperm" })),
    { code: BPF_JEQ_K, k: table.nr.clone3, jt: "enosys" },
    { code: BPF_JEQ_K, k: table.nr.clone, jf: "allow" },
    { code: BPF_LD_W_ABS, k: OFFSET_ARG0_LOW },
    { code: BPF_JSET_K, k: CLONE_NEW_ANY, jt: "eperm", jf: "allow" },
    { code: BPF_RET_K, k: RET_ALLOW, label: "allow" },
    { code: BPF_RET_K, k: RET_ERRNO | EPERM, label: "eperm" },
    { code: BPF_RET_K, k: RET_ERRNO | ENOSYS, label: "enosys" },
    { code: BPF_RET_K, k: RET_KILL_PROCESS, label: "kill" },
  ];
  const at = new Map(prog.flatMap((insn, index) => (insn.label ? [[insn.label, index] as const] : [])));
  // Jumps are relative to the next instruction and at most 255 ahead.
  const offset = (from: number, label: string | undefined) => {
    if (label === undefined) return 0;
    const distance = at.get(label)! - from - 1;
    if (distance < 0 || distance > 255) throw new Error(`seccomp program: jump to ${label} out of range`);
    return distance;
  };
  const buffer = Buffer.alloc(prog.length * 8);
  prog.forEach((insn, index) => {
    buffer.writeUInt16LE(insn.code, index * 8);
    buffer.writeUInt8(offset(index, insn.jt), index * 8 + 2);
    buffer.writeUInt8(offset(index, insn.jf), index * 8 + 3);
    buffer.writeUInt32LE(insn.k >>> 0, index * 8 + 4);
  });
  return buffer;
}
