/*
 * The first unit of protos-ldr.o (ld -r of proto-a.o and proto-b.o): static functions whose
 * names proto-b.c uses again, with the same or other prototypes. What pahole 1.25 to 1.27
 * (and kbtf with consistent_func) make of each is in the comments; see docs/encoder.md.
 */

struct point {
	int x;
	int y;
};

struct rect {
	struct point a;
	struct point b;
};

/* The same prototype in both units: consistent, one FUNC. */
static __attribute__((noipa)) int area(const struct rect *r)
{
	return (r->b.x - r->a.x) * (r->b.y - r->a.y);
}

/* Two parameters here, one in proto-b.c: inconsistent, no FUNC. */
static __attribute__((noipa)) long show(struct point *p, long verbose)
{
	return verbose ? p->x * 1000L + p->y : p->x;
}

/* Same parameter count and return type, another parameter type in proto-b.c: the printed
 * prototypes differ, inconsistent. */
static __attribute__((noipa)) long pick(struct point *p, long i)
{
	return i ? p->y : p->x;
}

/* Returns void in both units, parameter types differ: pahole 1.25 to 1.27 first compare the
 * return types' unit-local ids, equal (0, void) here, and stop: counted consistent. */
static __attribute__((noipa)) void reset(struct point *p)
{
	p->x = 0;
	p->y = 0;
}

/* `const char *` here, `char *` in proto-b.c: qualifiers are not printed, consistent. */
static __attribute__((noipa)) long measure(const char *s)
{
	long n = 0;

	while (s[n])
		n++;
	return n;
}

long proto_a_entry(struct rect *r, struct point *p, long v, const char *s)
{
	reset(p);
	return area(r) + show(p, v) + pick(p, v) + measure(s);
}
