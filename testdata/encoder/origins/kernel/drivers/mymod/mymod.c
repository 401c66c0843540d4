/* The in-tree module's main file, compiled as kbuild does: from the kernel tree, by a path
 * relative to it, with -I./include. */
#include <linux/kobj.h>
#include "mymod.h"
#include "sub/deep.h"

struct mymod_local {
	int x;
};

struct knever *mymod_never;

int mymod_fn(struct mymod_priv *p, mymod_priv_t *q, union mymod_u *u, enum mymod_mode m,
	     struct kshared *ks, struct mymod_deep *d, struct mymod_local *l)
{
	struct fn_local {
		int y;
	} fl = { m };
	return p->k.refs + l->x + u->a + q->gfp + ks->kernel_version + d->depth + fl.y;
}
