/* kbtf encoder fixture: DWARF shapes beyond testdata/c (see README in this directory). */
#include <stdarg.h>

struct list { struct list *next, *prev; };

struct bits {
	unsigned char a : 3;
	unsigned char b : 5;
	int c : 20;
	long long d : 40;
	short e : 9;
	unsigned int : 0;
	unsigned int f : 1;
};

union __attribute__((packed)) mixed {
	char c[3];
	struct { unsigned int x : 12, y : 12; } s;
};

enum neg { N_MINUS = -5, N_PLUS = 5 };
enum wide { W_BIG = 0x100000000LL, W_NEG = -1 };
enum __attribute__((packed)) tiny { T_A, T_B };

typedef int (*cb_t)(int, ...);
typedef void fn_t(void);

struct holder {
	struct list head;
	struct bits b;
	union mixed m;
	enum neg n;
	enum wide w;
	enum tiny t;
	cb_t cb;
	fn_t *fn;
	int grid[2][3][4];
	char empty[0];
	_Bool flag;
	__int128 big;
	unsigned __int128 ubig;
	float f;
	double d;
	long double ld;
	const volatile int *cvp;
	void (*oldstyle)();
};

struct holder g_holder;

static int __attribute__((noinline)) helper(struct holder *h, int k)
{
	return h->b.c + k + h->grid[1][2][3];
}

static inline int inlined_only(int v) { return v * 3; }

int vsum(int n, ...)
{
	va_list ap;
	int s = 0;

	va_start(ap, n);
	while (n--)
		s += va_arg(ap, int);
	va_end(ap);
	return s + inlined_only(n);
}

int entry(struct holder *h)
{
	struct local { int x; } l = { h->n };
	return helper(h, l.x) + h->cb(1, 2, 3);
}
