/* A second file of the in-tree module. It defines its own struct kshared, and reaches its
 * header through "..". */
#include "../mymod/sub/deep.h"

struct kshared {
	int module_version;
};

int mymod_helper(struct kshared *s, struct mymod_deep *d)
{
	return s->module_version + d->depth;
}
