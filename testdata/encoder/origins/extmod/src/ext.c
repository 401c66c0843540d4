/* The out-of-tree module's main file (in src/ of M=), compiled as kbuild does: from the
 * kernel tree, by its absolute path. */
#include <linux/kobj.h>
#include "ext.h"
#include "../ext_top.h"

int ext_fn(struct ext_priv *p, struct ext_top *t, kgfp_t gfp)
{
	return p->k.refs + p->count + t->flags + gfp;
}
