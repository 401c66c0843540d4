/* kbtf fixture: one of each common BTF kind (int, ptr, array, struct, union, enum,
 * enum64, fwd, typedef, volatile, const, restrict, float, var, datasec).
 * Built with: gcc -g -O2 -c kinds.c -o kinds.o (see `cargo xtask fixtures`). */

typedef unsigned long long u64;
typedef int s32;
typedef s32 also_s32;          /* typedef of a typedef */

enum small { S_NEG = -1, S_ZERO = 0, S_MAX = 0x7fffffff };
enum big64 { B_ONE = 1, B_HUGE = 0xfffffffffULL };   /* needs ENUM64 */
enum unsigned_big { U_TOP = 0xffffffffu };

struct opaque;                 /* only ever used through a pointer: FWD */
union opaque_u;

struct node {
	struct node *next;
	struct opaque *priv;
	union opaque_u *upriv;
	const char *name;
	volatile int *vol;
	int *restrict rp;
	const volatile unsigned long cv;
	char inline_name[16];
	int matrix[3][4];
	u64 id;
	also_s32 s;
	float ratio;
	double precise;
	long double ld;
	enum small sm;
	enum big64 b64;
	enum unsigned_big ub;
	void *anything;
	int flex[];                /* flexible array member */
};

union value {
	long l;
	double d;
	unsigned char bytes[8];
	struct node *n;
};

struct node g_node;
union value g_value;
const int g_const = 42;
static volatile int g_counter;
int g_array[10];
char *g_strings[4];
enum big64 g_b64 = B_HUGE;
__thread int g_tls;

int touch(union value *v)
{
	g_counter++;
	return (int)v->l + g_node.s + g_const + g_array[g_counter & 7] + g_tls;
}
