/* kbtf fixture: bitfields, packing, nested anonymous members.
 * Built with: gcc -g -O2 -c bitfields.c -o bitfields.o (see `cargo xtask fixtures`). */

enum colour { RED, GREEN = 5, BLUE = 7 };

struct flags {
	unsigned int a : 1;
	unsigned int b : 3;
	signed int c : 4;      /* signed bitfield */
	unsigned int : 0;      /* zero-width: forces alignment of the next field */
	unsigned int d : 7;
	enum colour col : 3;   /* enum bitfield */
	unsigned long long big : 40;
	unsigned long long rest : 24;
	unsigned char tail;
};

struct __attribute__((packed)) packed_hdr {
	unsigned char kind;
	unsigned int len;      /* unaligned member */
	unsigned short id : 12;
	unsigned short ver : 4;
};

struct outer {
	int x;
	union {                /* anonymous union */
		int i;
		float f;
		struct {           /* anonymous struct inside it */
			unsigned short lo : 8;
			unsigned short hi : 8;
		};
	};
	struct flags fl;
	char pad[3];
	_Bool on : 1;
};

struct __attribute__((aligned(64))) cacheline {
	long counter;
};

struct flags g_flags;
struct packed_hdr g_hdr;
struct outer g_outer;
struct cacheline g_line;

int use_flags(struct flags *f, struct outer *o, struct packed_hdr *h)
{
	return f->a + f->b + f->c + f->d + f->col + (int)f->big + o->i + o->hi + h->id + o->on;
}
