/* Stands for kbuild's generated ext.mod.c, in the module's top directory. */
#include <linux/kobj.h>

struct kobj ext_this_module = { .name = "ext" };
