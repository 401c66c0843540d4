/*
 * Static functions gcc 12 -O2 specializes into clones: nm shows scale.constprop.0,
 * scalar_of.isra.0 and drop_first.constprop.0, and no symbol of their own names. What
 * optimized_func (pahole 1.25 to 1.27's --btf_gen_optimized) makes of each is in the
 * comments; see docs/encoder.md.
 */

struct pair {
	long a;
	long b;
};

/* Always called with factor == 7: scale.constprop.0(x). factor has a DW_AT_const_value
 * (optimized out), x stays in %rdi: encoded as scale(long x, long factor). */
static __attribute__((noinline)) long scale(long x, long factor)
{
	return x * factor + (x >> 3);
}

/* Only p->a is read: IPA-SRA passes it by value, scalar_of.isra.0(a, k). The clone's DWARF
 * lists k first, in %rsi, where the first parameter is expected in %rdi: an unexpected
 * register, not encoded. */
static __attribute__((noinline)) long scalar_of(const struct pair *p, long k)
{
	return p->a * k - (p->a >> 2);
}

/* The first parameter is unused: drop_first.constprop.0(a). The clone's DWARF lists a
 * first, in %rdi, then unused without a register: pahole's check (by DIE order) passes,
 * encoded as drop_first(long unused, long a). */
static __attribute__((noinline)) long drop_first(long unused, long a)
{
	return a * 3 + (a >> 5);
}

/* Not specialized: an ordinary static function with its own symbol. */
static __attribute__((noinline)) long plain(long x, long y)
{
	return x * y + (x ^ y);
}

long clones_entry(long x, long y)
{
	struct pair p = { x, y };

	return scale(x, 7) + scale(y, 7) + scalar_of(&p, y) + scalar_of(&p, x) +
	       drop_first(x, y) + drop_first(y, x) + plain(x, y);
}
