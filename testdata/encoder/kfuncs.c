/* decl_tag_kfuncs: the .BTF_ids layout of Linux 6.9 and later (include/linux/btf_ids.h:
 * BTF_KFUNCS_START, BTF_ID_FLAGS, BTF_KFUNCS_END, and the older BTF_SET8_START and
 * BTF_ID_LIST), written out in assembler as those macros expand. The expected tags are
 * in the comments; crates/encoder/tests/features.rs checks them, and against pahole 1.30.
 */
struct kf_ctx {
	int refs;
	long value;
};

#define KF_ACQUIRE (1 << 0)
#define KF_RELEASE (1 << 1)
#define KF_FASTCALL (1 << 12)
#define STR(x) #x
#define XSTR(x) STR(x)

/* In a kfunc set, flags 0: bpf_kfunc. */
__attribute__((noinline)) struct kf_ctx *kf_acquire(int refs)
{
	static struct kf_ctx c;
	c.refs = refs;
	return &c;
}

/* In a kfunc set, KF_FASTCALL: bpf_kfunc and bpf_fastcall. */
__attribute__((noinline)) long kf_fast(struct kf_ctx *c)
{
	return c->value + 1;
}

/* In a kfunc set with other flags: bpf_kfunc only. */
__attribute__((noinline)) void kf_release(struct kf_ctx *c)
{
	c->refs--;
}

/* "__" inside the name: the last "__N" is cut, the rest is the name. */
__attribute__((noinline)) int kf__odd(int x)
{
	return x * 3;
}

/* In the second kfunc set too, without KF_FASTCALL there: the later symbol's flags win. */
__attribute__((noinline)) int kf_twice(int x)
{
	return x - 7;
}

/* In a BTF_SET8 without BTF_SET8_KFUNCS (as every set before Linux 6.9): no tag. */
__attribute__((noinline)) int not_kfunc_old_set(int x)
{
	return x ^ 5;
}

/* In a BTF_ID_LIST, not a set: no tag. */
__attribute__((noinline)) int not_kfunc_list(int x)
{
	return x | 9;
}

/* Not in .BTF_ids at all: no tag. */
__attribute__((noinline)) int plain_function(int x)
{
	return x + 11;
}

/* kf_missing is in a kfunc set but has no definition here: no FUNC, so no tag. */

#define ID(kind, name, n) \
	".local __BTF_ID__" #kind "__" #name "__" #n "\n" \
	".type __BTF_ID__" #kind "__" #name "__" #n ", STT_OBJECT\n" \
	".size __BTF_ID__" #kind "__" #name "__" #n ", 4\n" \
	"__BTF_ID__" #kind "__" #name "__" #n ":\n" \
	".zero 4\n"
#define ID_FLAGS(name, n, flags) ID(func, name, n) ".long " XSTR(flags) "\n"
#define SET8_START(name, flags) \
	".local __BTF_ID__set8__" #name "\n" \
	"__BTF_ID__set8__" #name ":\n" \
	".zero 4\n" \
	".long " XSTR(flags) "\n"
#define SET8_END(name) ".size __BTF_ID__set8__" #name ", .-__BTF_ID__set8__" #name "\n"

asm(".pushsection .BTF_ids,\"a\"\n"
    SET8_START(kf_set_one, 1)
    ID_FLAGS(kf_acquire, 1, KF_ACQUIRE)
    ID_FLAGS(kf_fast, 2, KF_FASTCALL)
    ID_FLAGS(kf_release, 3, KF_RELEASE)
    ID_FLAGS(kf__odd, 4, 0)
    ID_FLAGS(kf_twice, 5, KF_FASTCALL)
    ID_FLAGS(kf_missing, 6, 0)
    SET8_END(kf_set_one)
    SET8_START(old_set, 0)
    ID_FLAGS(not_kfunc_old_set, 7, 0)
    SET8_END(old_set)
    ".local __BTF_ID__list__some_ids\n"
    "__BTF_ID__list__some_ids:\n"
    ID(func, not_kfunc_list, 8)
    SET8_START(kf_set_two, 1)
    ID_FLAGS(kf_twice, 9, 0)
    SET8_END(kf_set_two)
    ".popsection\n");
