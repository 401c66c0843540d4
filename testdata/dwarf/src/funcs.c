/* kbtf DWARF fixture: functions (global, static, inline, noinline), prototypes with varargs
 * and unspecified arguments, function pointers.
 * Built by `cargo xtask fixtures` (see docs/testing.md for the builds and flags). */

#include <stdarg.h>

struct ops;
typedef int (*handler_t)(void *ctx, int event);

struct ops {
	handler_t handle;
	void (*cleanup)(struct ops *ops);
	int (*open)(const char *path, int flags, ...); /* varargs */
	void (*notify)(void);                          /* no parameters */
	int (*legacy)();                               /* unspecified parameters */
	long (*table[2])(long);                        /* array of function pointers */
	int (*(*pick)(int which))(void *, int);        /* returns a function pointer */
};

/* Static and noinline: kept as a function with its own DWARF subprogram. */
static int __attribute__((noinline)) default_handle(void *ctx, int event)
{
	return ctx ? event : -event;
}

/* Static inline: inlined into its callers, no out-of-line copy. */
static inline int twice(int x)
{
	return 2 * x;
}

/* Global, varargs. */
int sum_ints(int count, ...)
{
	va_list ap;
	int s = 0;

	va_start(ap, count);
	while (count-- > 0)
		s += va_arg(ap, int);
	va_end(ap);
	return twice(s);
}

/* Global with a K&R-style definition (unspecified parameters in the prototype). */
int old_style(a, b)
	int a;
	long b;
{
	return a + (int)b;
}

/* Global noinline returning a function pointer. */
__attribute__((noinline)) handler_t pick_handler(int which)
{
	return which ? default_handle : 0;
}

/* A function with no parameters and no return value, and one taking a struct by value. */
__attribute__((noinline)) void no_args(void)
{
	__asm__ volatile("" ::: "memory");
}

struct pair {
	long a, b;
};

__attribute__((noinline)) long by_value(struct pair p, const struct ops *o)
{
	return p.a + p.b + (o != 0);
}

/* Many parameters of assorted types. */
unsigned long many_args(char a, short b, int c, long d, long long e, unsigned char f,
			float g, double h, void *i, const struct ops *j)
{
	return a + b + c + d + e + f + (long)g + (long)h + (unsigned long)i + (unsigned long)j;
}

/* Declared only, called: no DWARF definition here. */
extern int external_fn(int);

int run_ops(struct ops *o, void *ctx)
{
	struct pair p = { 1, 2 };

	no_args();
	if (o->handle)
		o->handle(ctx, 1);
	return twice(external_fn(3)) + (int)by_value(p, o) + old_style(1, 2);
}

struct ops g_ops = {
	.handle = default_handle,
};
