/*
 * Global variables in several sections, for global_var (pahole 1.28's rules; see
 * docs/encoder.md). Which ones get a VAR is in the comments.
 */

struct counter {
	long hits;
	long misses;
};

struct empty {
};

/* .data: encoded, linkage global-alloc. */
int data_global = 42;
/* .data: encoded, linkage static (written below, so gcc keeps it in memory). */
static long data_static = 7;
/* .bss: encoded. */
struct counter bss_counters[4];
/* .bss, static: encoded. */
static char bss_buffer[64];
/* .rodata: encoded. */
const char rodata_banner[] = "kbtf";
/* A per-CPU variable as the kernel lays them out: encoded in .data..percpu. */
__attribute__((section(".data..percpu"))) struct counter percpu_counter;
/* A declaration only: skipped. */
extern int declared_elsewhere;
/* A declaration, then its definition (DW_AT_specification): encoded once. */
extern int declared_then_defined;
int declared_then_defined = 3;
/* Size 0: skipped. */
struct empty zero_sized;
/* Overrides the weak definition of globals-weak.c (in globals-ldr.o). */
long overridden = 2;
/* A name pahole filters out: skipped. */
int __UNIQUE_ID_kbtf_fixture = 1;

long globals_entry(long i)
{
	/* A function-local static: not at the top of the unit, skipped. */
	static long calls;

	calls++;
	data_static += i;
	overridden += i;
	bss_buffer[i & 63] = rodata_banner[i & 3];
	bss_counters[i & 3].hits++;
	percpu_counter.misses++;
	return data_global + data_static + calls + declared_elsewhere + declared_then_defined +
	       (long)&zero_sized + __UNIQUE_ID_kbtf_fixture + bss_buffer[0];
}
