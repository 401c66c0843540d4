/* The out-of-tree module's own header, next to its sources. */
#include <linux/kobj.h>

struct ext_priv {
	struct kobj k;
	int count;
};
