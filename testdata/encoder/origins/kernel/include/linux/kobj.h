/* A "kernel header": every type defined here is of kernel origin. */
#ifndef _LINUX_KOBJ_H
#define _LINUX_KOBJ_H

struct kobj {
	int refs;
	const char *name;
};

union kval {
	long l;
	void *p;
};

enum kstate { KSTATE_OFF, KSTATE_ON };

typedef unsigned int kgfp_t;

/* helper.c (a module file) defines a struct of this name too: the module's wins. */
struct kshared {
	long kernel_version;
};

/* Only declared, nowhere defined: not classified. */
struct knever;

#endif
