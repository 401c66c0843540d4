/* kbtf DWARF fixture: base types, pointers, qualifiers, typedefs, forward declarations.
 * Built by `cargo xtask fixtures` (see docs/testing.md for the builds and flags). */

/* Every C base type: BTF INT (with its encoding bits), FLOAT, and __int128 (16 bytes). */
struct base_types {
	char c;
	signed char sc;
	unsigned char uc;
	_Bool b;
	short s;
	unsigned short us;
	int i;
	unsigned int ui;
	long l;
	unsigned long ul;
	long long ll;
	unsigned long long ull;
	__int128 i128;
	unsigned __int128 u128;
	float f;
	double d;
	long double ld;
	/* No _Complex: with --btf_gen_floats (as the kernel runs it) pahole 1.24 stops with
	 * "Complex, interval and imaginary float types are not supported"; without it, it
	 * writes an INT 'complex double'. The kernel has no complex types. */
};

/* Pointers and qualifiers, in every order C allows. */
struct qualifiers {
	const int ci;
	volatile int vi;
	const volatile int cvi;
	int *p;
	const int *pc;
	int *const cp;
	const int *const cpc;
	int **pp;
	void *vp;
	const void *cvp;
	char *restrict rp;
	volatile unsigned long *const volatile cvpv;
	struct qualifiers *self;
};

/* Typedefs: of a base type, of a typedef, of a pointer, of an anonymous struct, of a
 * qualified type. */
typedef unsigned int u32_t;
typedef u32_t also_u32_t;
typedef char *string_t;
typedef struct {
	int x, y;
} point_t;
typedef const point_t cpoint_t;
typedef volatile u32_t reg_t;

/* Declared, never defined: only usable through a pointer (BTF FWD, struct and union). */
struct only_declared;
union only_declared_u;

struct uses_types {
	u32_t a;
	also_u32_t b;
	string_t name;
	point_t pt;
	cpoint_t *cpt;
	reg_t reg;
	struct only_declared *opaque;
	union only_declared_u *opaque_u;
};

struct base_types g_base;
struct qualifiers g_qual;
struct uses_types g_uses;

int types_use(struct uses_types *u)
{
	return (int)u->a + u->pt.x + (u->opaque != 0);
}
