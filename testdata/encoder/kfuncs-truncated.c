/* decl_tag_kfuncs on a damaged .BTF_ids: the last kfunc set claims more bytes than the
 * section has, and its last pair has no flags word. pahole 1.30 stops ("kfunc 'kf_cut'
 * offset outside section '.BTF_ids'"); kbtf fails with an error naming the section, the
 * kfunc and the offset.
 */
__attribute__((noinline)) int kf_cut(int x)
{
	return x + 1;
}

asm(".pushsection .BTF_ids,\"a\"\n"
    ".local __BTF_ID__set8__cut_set\n"
    "__BTF_ID__set8__cut_set:\n"
    ".zero 4\n"
    ".long 1\n"
    ".local __BTF_ID__func__kf_cut__1\n"
    "__BTF_ID__func__kf_cut__1:\n"
    ".zero 4\n"
    ".size __BTF_ID__set8__cut_set, 16\n"
    ".popsection\n");
