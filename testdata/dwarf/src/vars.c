/* kbtf DWARF fixture: variables: per-CPU-like (section .data..percpu, which pahole 1.24 turns
 * into VAR and DATASEC), ordinary globals, statics, thread-locals, and BTF tag attributes.
 * Built by `cargo xtask fixtures` (see docs/testing.md for the builds and flags). */

#define __percpu_var __attribute__((section(".data..percpu")))

struct counters {
	unsigned long hits;
	unsigned long misses;
};

/* Per-CPU-like variables, as the kernel's DEFINE_PER_CPU places them. */
__percpu_var struct counters pcpu_counters;
__percpu_var int pcpu_int = 1;
__percpu_var static long pcpu_static;
__percpu_var char pcpu_array[32];

/* Ordinary variables: pahole 1.24 emits no VAR for them (only for per-CPU ones). */
int g_int = 5;
const char *g_name = "kbtf";
static int s_counter;
__thread int t_local;
extern int ext_declared;

/* BTF tag attributes: clang turns them into DECL_TAG and TYPE_TAG; gcc 12 does not know
 * them (it would warn and drop them), so they are used only where the compiler has them. */
#if defined(__has_attribute)
#if __has_attribute(btf_decl_tag)
#define __tag(x) __attribute__((btf_decl_tag(x)))
#endif
#if __has_attribute(btf_type_tag)
#define __type_tag(x) __attribute__((btf_type_tag(x)))
#endif
#endif
#ifndef __tag
#define __tag(x)
#endif
#ifndef __type_tag
#define __type_tag(x)
#endif

struct tagged {
	int plain;
	int marked __tag("member_tag");
	int __type_tag("user") *uptr;
} __tag("struct_tag");

__percpu_var struct tagged pcpu_tagged __tag("var_tag");

int __tag("func_tag") vars_use(struct tagged *t)
{
	s_counter++;
	pcpu_static++;
	return t->plain + g_int + s_counter + t_local + ext_declared + pcpu_int +
	       (int)pcpu_counters.hits + pcpu_array[1] + (int)pcpu_static;
}
