/* Stands for kbuild's generated mymod.mod.c. */
#include <linux/kobj.h>

struct kobj mymod_this_module = { .name = "mymod" };
