/* kbtf DWARF fixture: enums (negative, unsigned, 64-bit, packed, anonymous) and arrays.
 * Built by `cargo xtask fixtures` (see docs/testing.md for the builds and flags). */

enum small { S_NEG = -2, S_ZERO = 0, S_MAX = 0x7fffffff };
enum unsigned_top { U_TOP = 0xffffffffu };
enum big64 { B_ONE = 1, B_HUGE = 0xfffffffffULL };          /* needs ENUM64 */
enum neg64 { N_MIN = -0x7fffffffffffffffLL - 1, N_ONE = 1 }; /* signed ENUM64 */
enum __attribute__((packed)) packed_enum { P_A, P_B = 200 }; /* 1 byte */
enum __attribute__((packed)) packed_neg { PN_A = -1, PN_B = 100 }; /* 1 byte, signed */
enum { ANON_A = 10, ANON_B };                                /* anonymous enum */
enum empty_enum;                                             /* declared only */

/* Arrays: multi-dimensional, of pointers, of structs, zero-length, flexible. */
struct arrays {
	int one[4];
	int two[2][3];
	char three[2][3][4];
	const char *names[5];
	enum small smalls[2];
	struct {
		int v;
	} recs[3];
	int zero[0];               /* GNU zero-length array */
};

struct flex {
	unsigned int n;
	enum packed_enum kinds[2];
	long items[];              /* flexible array member */
};

typedef int row_t[8];
typedef row_t matrix_t[4];

struct enum_users {
	enum small s;
	enum unsigned_top u;
	enum big64 b;
	enum neg64 n;
	enum packed_enum pe;
	enum packed_neg pn;
	enum empty_enum *decl;
	matrix_t m;
	int anon_value;
};

struct arrays g_arrays;
struct flex *g_flex;
struct enum_users g_enum_users;
int g_plain_array[16];
char g_string[] = "kbtf";

int enums_use(struct enum_users *e)
{
	return e->s + (int)e->b + e->pe + e->m[1][2] + ANON_B + g_arrays.two[1][2];
}
