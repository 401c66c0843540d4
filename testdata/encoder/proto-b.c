/* The second unit of protos-ldr.o; see proto-a.c. */

typedef unsigned long flags_t;

struct point {
	int x;
	int y;
};

struct rect {
	struct point a;
	struct point b;
};

static __attribute__((noipa)) int area(const struct rect *r)
{
	return (r->b.x - r->a.x) * (r->b.y - r->a.y);
}

static __attribute__((noipa)) long show(struct point *p)
{
	return p->x + p->y;
}

static __attribute__((noipa)) long pick(struct rect *r, long i)
{
	return i ? r->b.x : r->a.x;
}

static __attribute__((noipa)) void reset(struct rect *r)
{
	r->a.x = r->b.x = 0;
}

static __attribute__((noipa)) long measure(char *s)
{
	long n = 0;

	while (s[n])
		n++;
	return n;
}

long proto_b_entry(struct rect *r, struct point *p, long v, char *s, flags_t f)
{
	reset(r);
	return area(r) + show(p) + pick(r, v) + measure(s) + (long)f;
}
