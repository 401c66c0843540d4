/* kbtf DWARF fixture: structs and unions, bitfields, anonymous members, packing, alignment.
 * Built by `cargo xtask fixtures` (see docs/testing.md for the builds and flags). */

enum mode { M_OFF, M_ON, M_AUTO };

/* Bitfields of several underlying types, signed and unsigned, a zero-width bitfield, a
 * bitfield too big for what is left of its unit, and a plain member after them. */
struct bits {
	unsigned int a : 1;
	unsigned int b : 3;
	signed int c : 4;
	unsigned int : 0;           /* zero-width: next field starts a new unit */
	unsigned int d : 7;
	unsigned char e : 2;        /* char bitfield */
	unsigned short f : 9;       /* short bitfield */
	enum mode m : 2;            /* enum bitfield */
	_Bool flag : 1;             /* _Bool bitfield */
	unsigned long long big : 40;
	unsigned long long more : 30; /* does not fit after big: next unit */
	long long sneg : 5;         /* signed 64-bit bitfield */
	unsigned char tail;
};

/* Packed: members at unaligned offsets, a bitfield straddling its type's unit (id: bits 40
 * to 51 of a short). */
struct __attribute__((packed)) packed {
	unsigned char kind;
	unsigned int len;
	unsigned short id : 12;
	unsigned short ver : 4;
	unsigned long long stamp;
};

/* Over-aligned struct, and an aligned member inside a normal struct. */
struct __attribute__((aligned(64))) cacheline {
	long counter;
};

struct has_aligned {
	char c;
	int x __attribute__((aligned(16)));
	struct cacheline line;
};

/* Anonymous struct and union members, nested. */
struct anon {
	int kind;
	union {
		int i;
		float f;
		struct {
			unsigned short lo : 8;
			unsigned short hi : 8;
		};
		struct {
			int a, b;
		} pair;
	};
	struct {
		union {
			long l;
			void *p;
		};
		int tag;
	};
};

/* A union with bitfields, and an empty struct (GNU C: size 0). */
union bits_u {
	unsigned int all;
	struct {
		unsigned int low : 16;
		unsigned int high : 16;
	};
	unsigned char byte : 3;
};

struct empty {
};

/* Self- and mutually-referencing structs (through pointers). */
struct list {
	struct list *next, *prev;
	struct owner *owner;
};

struct owner {
	struct list head;
	struct empty nothing;
};

struct bits g_bits;
struct packed g_packed;
struct has_aligned g_aligned;
struct anon g_anon;
union bits_u g_bits_u;
struct owner g_owner;

int records_use(struct bits *b, struct packed *p, struct anon *a)
{
	return b->a + b->c + b->e + b->m + (int)b->big + b->sneg + p->id + a->hi + a->tag;
}
