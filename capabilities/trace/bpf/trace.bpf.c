// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// customs trace: follows a process tree and reports the system calls that
// exercise capabilities, each with the user stack that made it.
//
// x86_64 system call numbers, argument registers and user stacks (stacks
// walked by their frame pointers). Every program is a BTF-typed tracepoint
// (tp_btf): task_struct, pt_regs and linux_binprm are read directly, at the
// offsets of the running kernel.

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

struct linux_binprm {
	const char *filename;
} __attribute__((preserve_access_index));

// The registers a system call's arguments are in (x86_64).
struct pt_regs {
	unsigned long bp;
	unsigned long ip;
	unsigned long sp;
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long r10;
	unsigned long r8;
	unsigned long r9;
} __attribute__((preserve_access_index));

#define MAX_STR 256
#define MAX_ADDR 128
#define MAX_ARGV 4
#define ARG_STR 64
#define MAX_FRAMES 64
#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

struct event {
	__u64 ts;
	__u32 pid;
	__u32 tid;
	__s64 nr;
	__u32 gen;
	__u32 nframes;
	__u64 stack;
	__u64 argh;
	__u32 addrlen;
	__u32 pad;
	__u64 args[6];
	__u64 ips[MAX_FRAMES];
	char str[MAX_STR];
	char str2[MAX_STR];
	__u8 addr[MAX_ADDR];
	char argv[MAX_ARGV][ARG_STR];
};

// watch[0] is the thread whose next child process is followed: the one
// customs starts the command from. A thread, not customs' whole process:
// customs' other goroutines may start programs of their own meanwhile,
// and customs itself must never be followed.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} watch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

// A call is known by the process, its exec generation, the hash of its
// user stack, the system call and, for quiet[] only, the hash of its
// arguments (0: any arguments).
struct call_key {
	__u32 tgid;
	__u32 gen;
	__u64 stack;
	__s64 nr;
	__u64 argh;
};

// quiet holds the calls customs has seen enough of: the kernel counts them
// and hands nothing over. customs adds the counts when the command ends.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct call_key);
	__type(value, __u64);
} quiet SEC(".maps");

// scratch is where an event is put together before it is known whether
// customs needs to see it: the BPF stack is too small for one.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

// enforce[0] set: a reported event whose (stack, system call) is not in
// allowed stops the process (SIGSTOP) until customs has decided on it.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} enforce SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); // allocated as used: loading stays quick
	__uint(max_entries, 65536);
	__type(key, struct call_key);
	__type(value, __u8);
} allowed SEC(".maps");

// drops counts events the ring buffer had no room for.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

// syscalls holds the thread groups followed, each with the set of system
// calls it made.
struct syscall_set {
	__u64 bits[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); // allocated as used: loading stays quick
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct syscall_set);
} syscalls SEC(".maps");

// tasks marks each followed thread, in the thread itself: finding it costs
// a pointer or two, where a hash lookup on every system call of every
// process cost far more. It holds the system calls this thread has added
// to its process's set (the set is only written when one is new), and the
// process's exec generation: the same stack in the next program is another
// call.
struct task_state {
	__u64 bits[8];
	__u32 gen;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} tasks SEC(".maps");

// cur remembers, on each CPU, the task it last saw make a system call and
// what the task storage said of it: a hit costs two loads where the storage
// costs two helper calls. The task is known by its pt_regs, which sit at a
// fixed place in its kernel stack; a stack is reused only after its task
// has ended, and any change to what cur holds (a followed task forks,
// execs or exits; customs attaches) bumps epoch, which empties every CPU's
// cur.
struct cur {
	__u64 regs;
	__u64 epoch;
	__u32 followed;
	__u32 tgid;
	__u32 pid;
	__u32 gen;
	__u64 bits[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cur);
} current SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} epoch SEC(".maps");

static __always_inline void bump_epoch(void)
{
	__u32 z = 0;
	__u64 *ep = bpf_map_lookup_elem(&epoch, &z);
	if (ep)
		__sync_fetch_and_add(ep, 1);
}

// Pseudo system call numbers for process events.
#define EV_FORK -1
#define EV_EXEC -2

// reserve takes room for an event in the ring buffer, counting the events
// there is no room for.
static __always_inline struct event *reserve(void)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u32 z = 0;
		__u64 *n = bpf_map_lookup_elem(&drops, &z);
		if (n)
			__sync_fetch_and_add(n, 1);
	}
	return e;
}

// wakeup: when enforcing, customs must see each event at once (the process
// waits for its decision); otherwise it polls, and the ring buffer does
// not wake it for every event.
static __always_inline __u64 wakeup(void)
{
	__u32 z = 0;
	__u32 *mode = bpf_map_lookup_elem(&enforce, &z);
	return (mode && *mode) ? 0 : BPF_RB_NO_WAKEUP;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	struct task_state *ps = bpf_task_storage_get(&tasks, parent, 0, 0);
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	if (ptgid == ctgid) {
		// A new thread of a process: followed if the process is.
		if (ps) {
			struct task_state *cs = bpf_task_storage_get(&tasks, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (cs)
				cs->gen = ps->gen;
			bump_epoch();
		}
		return 0;
	}
	__u32 ptid = parent->pid;
	__u32 k = 0;
	__u32 *w = bpf_map_lookup_elem(&watch, &k);
	if (ps || (w && *w != 0 && *w == ptid)) {
		struct syscall_set none = {};
		bpf_map_update_elem(&syscalls, &ctgid, &none, BPF_ANY);
		bpf_task_storage_get(&tasks, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		bump_epoch();
		struct event *e = reserve();
		if (!e)
			return 0;
		e->ts = bpf_ktime_get_boot_ns();
		e->pid = ctgid;
		e->tid = ptgid;
		e->nr = EV_FORK;
		e->nframes = 0;
		e->str[0] = 0;
		bpf_ringbuf_submit(e, wakeup());
	}
	return 0;
}

// on_exec reports the program a traced process now runs. The thread that
// execs is the process's only thread from here on.
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
	struct task_state *st = bpf_task_storage_get(&tasks, p, 0, 0);
	if (!st)
		return 0;
	st->gen++;
	bump_epoch();
	struct event *e = reserve();
	if (!e)
		return 0;
	e->ts = bpf_ktime_get_boot_ns();
	e->pid = p->tgid;
	e->tid = p->pid;
	e->nr = EV_EXEC;
	e->gen = st->gen;
	e->nframes = 0;
	bpf_probe_read_kernel_str(e->str, sizeof(e->str), bprm->filename);
	bpf_ringbuf_submit(e, wakeup());
	return 0;
}

// on_exit: a followed task's kernel stack, and so its pt_regs, may go to
// the next task started.
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	if (bpf_task_storage_get(&tasks, p, 0, 0))
		bump_epoch();
	return 0;
}

// walk is a user stack walk in progress: bpf_loop calls walk_frame once a
// frame (one loop body for the verifier instead of MAX_FRAMES). Frames are
// read from a window of the stack copied in one read: a Go stack's frames
// lie next to each other, and a helper call for each frame cost more than
// copying two kilobytes once.
#define WIN 2048
struct stack_window {
	__u8 b[WIN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stack_window);
} window SEC(".maps");

struct walk {
	__u64 pc, fp, h;
	__u64 base, lim; // the window holds lim bytes from base
	__u32 n;
};

static long walk_frame(__u64 i, void *ctx)
{
	struct walk *w = ctx;
	__u32 z = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &z);
	struct stack_window *win = bpf_map_lookup_elem(&window, &z);
	if (!e || !win)
		return 1;
	e->ips[i & (MAX_FRAMES - 1)] = w->pc;
	w->h = (w->h ^ w->pc) * FNV_PRIME;
	w->n = i + 1;
	if (!w->fp)
		return 1;
	if (w->fp < w->base || w->fp + 16 > w->base + w->lim) {
		// Past the window: the next one starts at this frame. Near the
		// end of a mapping only the frame itself may be readable.
		w->base = w->fp;
		w->lim = WIN;
		if (bpf_probe_read_user(win->b, WIN, (void *)w->fp)) {
			w->lim = 16;
			if (bpf_probe_read_user(win->b, 16, (void *)w->fp))
				return 1;
		}
	}
	__u64 off = w->fp - w->base;
	if (off > WIN - 16)
		return 1;
	__u64 next_fp = *(__u64 *)&win->b[off];
	__u64 ret = *(__u64 *)&win->b[off + 8];
	if (!ret || next_fp == w->fp)
		return 1; // the outermost frame, or not a frame chain
	w->pc = ret;
	w->fp = next_fp;
	return 0;
}

// walk_stack walks the user stack from pc and its frame pointer fp into
// the scratch event: its frames, their number and their hash. A global
// function: the verifier checks it once, not once for every way of
// reaching it.
__noinline int walk_stack(__u64 pc, __u64 fp)
{
	struct walk w = {.pc = pc, .fp = fp, .h = FNV_BASIS};
	bpf_loop(MAX_FRAMES, walk_frame, &w, 0);
	__u32 z = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &z);
	if (!e)
		return 0;
	e->nframes = w.n;
	e->stack = w.h;
	return 0;
}

// hashing is a hash (FNV-1a, a word at a time) of n bytes of the scratch
// event from offset off in progress; bpf_loop calls hash_word once a word.
// The tail of a buffer past n may hold an earlier event's bytes: it is
// masked off.
struct hashing {
	__u64 h;
	long n;
	__u64 off;
};

static long hash_word(__u64 i, void *ctx)
{
	struct hashing *x = ctx;
	long rem = x->n - (long)i * 8;
	if (rem <= 0 || i >= MAX_STR / 8)
		return 1;
	__u32 z = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &z);
	if (!e)
		return 1;
	__u64 at = x->off + i * 8;
	if (at > sizeof(*e) - 8)
		return 1;
	__u64 w = *(__u64 *)((char *)e + at);
	if (rem < 8)
		w &= (1ULL << (rem * 8)) - 1;
	x->h = (x->h ^ w) * FNV_PRIME;
	return 0;
}

static __always_inline __u64 hash_field(__u64 h, __u64 off, long n)
{
	struct hashing x = {.h = h, .n = n, .off = off};
	if (n > 0)
		bpf_loop(MAX_STR / 8, hash_word, &x, 0);
	return x.h;
}

// What is reported, by x86_64 system call number.
#define NR_mmap 9
#define NR_mprotect 10
#define NR_open 2
#define NR_connect 42
#define NR_accept 43
#define NR_bind 49
#define NR_listen 50
#define NR_execve 59
#define NR_rename 82
#define NR_creat 85
#define NR_unlink 87
#define NR_chmod 90
#define NR_fchmod 91
#define NR_chown 92
#define NR_ptrace 101
#define NR_setuid 105
#define NR_setgid 106
#define NR_capset 126
#define NR_mount 165
#define NR_init_module 175
#define NR_openat 257
#define NR_fchownat 260
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_fchmodat 268
#define NR_accept4 288
#define NR_finit_module 313
#define NR_renameat2 316
#define NR_memfd_create 319
#define NR_bpf 321
#define NR_execveat 322

#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_TRUNC 01000
#define PROT_EXEC 4

// on_syscall reports a system call of a traced process: into its set of
// system calls, and, for those that exercise a capability, as an event.
static __always_inline int on_syscall(struct pt_regs *regs, long nr)
{
	__u32 z = 0;
	struct cur *c = bpf_map_lookup_elem(&current, &z);
	__u64 *ep = bpf_map_lookup_elem(&epoch, &z);
	if (!c || !ep)
		return 0;
	if (c->regs != (__u64)regs || c->epoch != *ep) {
		// The epoch is read before the storage: a bump in between
		// empties this entry again.
		c->epoch = *ep;
		c->regs = (__u64)regs;
		struct task_struct *task = bpf_get_current_task_btf();
		struct task_state *st = bpf_task_storage_get(&tasks, task, 0, 0);
		c->followed = st != 0;
		if (!st)
			return 0;
		c->tgid = task->tgid;
		c->pid = task->pid;
		c->gen = st->gen;
		for (int i = 0; i < 8; i++)
			c->bits[i] = st->bits[i];
	}
	if (!c->followed)
		return 0; // not followed
	__u32 tgid = c->tgid;
	if (nr >= 0 && nr < 512) {
		// Only a system call new to this thread touches the process's
		// set: its threads on other CPUs share it, and a locked write on
		// every system call would bounce its cache line.
		__u64 bit = 1ULL << (nr & 63);
		if (!(c->bits[(nr >> 6) & 7] & bit)) {
			c->bits[(nr >> 6) & 7] |= bit;
			struct task_state *st = bpf_task_storage_get(&tasks, bpf_get_current_task_btf(), 0, 0);
			if (st)
				st->bits[(nr >> 6) & 7] |= bit;
			struct syscall_set *set = bpf_map_lookup_elem(&syscalls, &tgid);
			if (set)
				__sync_fetch_and_or(&set->bits[(nr >> 6) & 7], bit);
		}
	}

	int path = -1, path2 = -1, sockaddr = -1;
	switch (nr) {
	case NR_execve:
	case NR_open:
	case NR_creat:
	case NR_unlink:
	case NR_chmod:
	case NR_chown:
		path = 0;
		break;
	case NR_execveat:
	case NR_unlinkat:
	case NR_fchmodat:
	case NR_fchownat:
		path = 1;
		break;
	case NR_openat:
		path = 1;
		break;
	case NR_rename:
		path = 0;
		path2 = 1;
		break;
	case NR_renameat:
	case NR_renameat2:
		path = 1;
		path2 = 3;
		break;
	case NR_connect:
	case NR_bind:
		sockaddr = 1;
		break;
	case NR_memfd_create:
		path = 0;
		break;
	case NR_accept:
	case NR_accept4:
	case NR_listen:
	case NR_fchmod:
	case NR_ptrace:
	case NR_setuid:
	case NR_setgid:
	case NR_capset:
	case NR_mount:
	case NR_init_module:
	case NR_finit_module:
	case NR_bpf:
		break;
	case NR_mmap:
		// Executable anonymous memory (checked below): mapping a file
		// (a library) is what every dynamic loader does.
	case NR_mprotect:
		break;
	default:
		return 0;
	}
	unsigned long args[6];
	args[0] = regs->di;
	args[1] = regs->si;
	args[2] = regs->dx;
	args[3] = regs->r10;
	args[4] = regs->r8;
	args[5] = regs->r9;
	if (nr == NR_mmap && (!(args[2] & PROT_EXEC) || (int)args[4] != -1))
		return 0;
	if (nr == NR_mprotect && !(args[2] & PROT_EXEC))
		return 0;
	// Only opens that can change a file.
	if (nr == NR_open && !(args[1] & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)))
		return 0;
	if (nr == NR_openat && !(args[2] & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)))
		return 0;

	struct event *e = bpf_map_lookup_elem(&scratch, &z);
	if (!e)
		return 0;
	e->pid = tgid;
	e->tid = c->pid;
	e->nr = nr;
	for (int i = 0; i < 6; i++)
		e->args[i] = args[i];
	e->gen = c->gen;

	// The user stack, by its frame pointers (Go keeps them on amd64), and
	// its hash: the call's identity.
	walk_stack(regs->ip, regs->bp);

	// A call customs has seen enough of, whatever its arguments, is only
	// counted.
	struct call_key key = {.tgid = tgid, .gen = e->gen, .stack = e->stack, .nr = nr, .argh = 0};
	__u64 *count = bpf_map_lookup_elem(&quiet, &key);
	if (count) {
		*count += 1; // this CPU's count
		return 0;
	}

	e->ts = bpf_ktime_get_boot_ns();
	e->str[0] = 0;
	e->str2[0] = 0;
	e->addrlen = 0;
	for (int i = 0; i < MAX_ARGV; i++)
		e->argv[i][0] = 0;
	__u64 ah = FNV_BASIS;
	if (nr == NR_open)
		ah = (ah ^ args[1]) * FNV_PRIME;
	if (nr == NR_openat)
		ah = (ah ^ args[2]) * FNV_PRIME;
	if (path >= 0 && path < 6) {
		long len = bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[path]);
		ah = hash_field(ah, __builtin_offsetof(struct event, str), len);
	}
	if (path2 >= 0 && path2 < 6) {
		long len = bpf_probe_read_user_str(e->str2, sizeof(e->str2), (void *)e->args[path2]);
		ah = hash_field(ah ^ 0xff, __builtin_offsetof(struct event, str2), len);
	}
	if (sockaddr >= 0) {
		// Bounded for the verifier: every sockaddr but the longest
		// unix paths fits in 127 bytes.
		__u32 len = args[2];
		if (len > MAX_ADDR - 1)
			len = MAX_ADDR - 1;
		len &= MAX_ADDR - 1;
		if (len > 0 && bpf_probe_read_user(e->addr, len, (void *)args[1]) == 0)
			e->addrlen = len;
		ah = hash_field(ah, __builtin_offsetof(struct event, addr), e->addrlen);
	}
	if (nr == NR_execve || nr == NR_execveat) {
		const char *const *argv = (const char *const *)(nr == NR_execve ? e->args[1] : e->args[2]);
		for (int i = 0; i < MAX_ARGV; i++) {
			const char *p = 0;
			if (bpf_probe_read_user(&p, sizeof(p), &argv[i]) || !p)
				break;
			bpf_probe_read_user_str(e->argv[i], ARG_STR, p);
		}
	}
	// The same call with the same arguments, once decided, is only
	// counted too (never 0: that is "any arguments").
	key.argh = ah | 1;
	e->argh = key.argh;
	count = bpf_map_lookup_elem(&quiet, &key);
	if (count) {
		*count += 1; // this CPU's count
		return 0;
	}

	struct event *out = reserve();
	if (!out)
		return 0;
	// The process is paused before customs can see the event: were the
	// SIGSTOP sent after, customs' SIGCONT for it could come first and the
	// process would stay stopped for good.
	__u32 *mode = bpf_map_lookup_elem(&enforce, &z);
	if (mode && *mode) {
		key.argh = 0;
		if (!bpf_map_lookup_elem(&allowed, &key))
			bpf_send_signal(19); // SIGSTOP: the process does not run on until customs decides
	}
	bpf_probe_read_kernel(out, sizeof(*out), e);
	bpf_ringbuf_submit(out, wakeup());
	return 0;
}

// The BTF-typed raw tracepoint: the registers are read directly, where a
// perf-event tracepoint copies every system call's arguments first.
SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long nr)
{
	return on_syscall(regs, nr);
}
