/* kbtf fixture: functions, function pointers, prototypes, varargs, static functions.
 * Built with: gcc -g -O2 -c funcs.c -o funcs.o (see `cargo xtask fixtures`). */

#include <stdarg.h>

struct ops;
typedef int (*handler_t)(void *ctx, int event);
typedef void (*cleanup_t)(struct ops *ops);

struct ops {
	handler_t handle;
	cleanup_t cleanup;
	int (*open)(const char *path, int flags, ...);   /* varargs prototype */
	void (*notify)(void);                              /* no parameters */
	long (*table[4])(long);                            /* array of function pointers */
	int (*(*get_handler)(int which))(void *, int);     /* returns a function pointer */
};

static int __attribute__((noinline)) default_handle(void *ctx, int event)
{
	return ctx ? event : -event;
}

static void __attribute__((noinline)) default_cleanup(struct ops *ops)
{
	ops->handle = 0;
}

int sum_ints(int count, ...)
{
	va_list ap;
	int s = 0;

	va_start(ap, count);
	while (count-- > 0)
		s += va_arg(ap, int);
	va_end(ap);
	return s;
}

handler_t pick(int which)
{
	return which ? default_handle : 0;
}

void run_ops(struct ops *o, void *ctx)
{
	if (o->handle)
		o->handle(ctx, 1);
	if (o->cleanup)
		o->cleanup(o);
}

struct ops g_ops = {
	.handle = default_handle,
	.cleanup = default_cleanup,
};

unsigned long many_args(char a, short b, int c, long d, long long e,
			unsigned char f, float g, double h, void *i, const struct ops *j)
{
	return a + b + c + d + e + f + (long)g + (long)h + (unsigned long)i + (unsigned long)j;
}
