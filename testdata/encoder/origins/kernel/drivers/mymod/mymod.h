/* The in-tree module's own header, next to its sources. */
#include <linux/kobj.h>

struct mymod_priv {
	struct kobj k;
	union kval v;
	enum kstate s;
	kgfp_t gfp;
};

union mymod_u {
	int a;
	float b;
};

enum mymod_mode { MYMOD_A, MYMOD_B };

typedef struct mymod_priv mymod_priv_t;
