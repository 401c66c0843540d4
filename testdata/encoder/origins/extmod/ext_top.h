/* A header at the top of the out-of-tree module (M=), outside its source directory src/.
 * The only unit there is the generated ext.mod.c, which does not count: by the rule, this
 * header's types are of kernel origin (docs/encoder.md, "Type origins"). */
struct ext_top {
	int flags;
};
