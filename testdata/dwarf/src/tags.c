/* kbtf DWARF fixture: BTF tag attributes, which only clang has (gcc 12 drops them with a
 * warning): btf_decl_tag on structs, unions, members, typedefs, functions, parameters and
 * per-CPU variables (DECL_TAG), and btf_type_tag on pointers (TYPE_TAG), one or several,
 * under const, through pointers to pointers and in function pointers, as the kernel's
 * __user, __rcu, __percpu and __kfunc-style annotations use them in clang-built kernels.
 * Built by `cargo xtask fixtures` with clang only (see docs/testing.md). */

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __type_tag(x) __attribute__((btf_type_tag(x)))
#define __user __type_tag("user")
#define __rcu __type_tag("rcu")
#define __percpu_var __attribute__((section(".data..percpu")))

struct node {
	struct node __rcu *next;
	int __user *__rcu *uptr_ptr;
	const char __user *name __tag("name_tag");
	unsigned int flags : 3 __tag("bits_tag");
	unsigned int more : 5;
	long __type_tag("a") __type_tag("b") *two_tags;
	int *const __user *const_under;
	void (*cb)(int __user *arg, struct node *n);
} __tag("node_tag") __tag("second_node_tag");

union value {
	long l __tag("l_tag");
	void __user *p;
} __tag("value_tag");

typedef struct node node_t __tag("typedef_tag");
typedef int __user *uint_ptr;

__percpu_var struct node pcpu_node __tag("pcpu_tag");
__percpu_var union value pcpu_value;
__percpu_var node_t pcpu_typedef __tag("a_tag") __tag("b_tag");

__attribute__((noinline)) int __tag("kfunc") __tag("second")
tags_walk(struct node *n __tag("nonnull"), int depth, uint_ptr out __tag("out_tag"))
{
	int sum = depth;
	for (; n; n = n->next)
		sum += n->flags + *n->uptr_ptr[0];
	*out = sum;
	return sum;
}

__attribute__((noinline)) long tags_value(union value *v __tag("v"), node_t *t)
{
	return v->l + t->more;
}

int tags_use(void)
{
	int x = 0;
	return tags_walk(&pcpu_node, 1, &x) + (int)tags_value(&pcpu_value, &pcpu_typedef);
}
