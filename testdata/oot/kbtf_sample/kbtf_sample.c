// SPDX-License-Identifier: GPL-2.0
/*
 * kbtf_sample: a small out-of-tree module for kbtf's "without vmlinux" test (issue 5).
 *
 * It has a struct of its own (struct kbtf_sample_stats, kbtf_sample.h), a function taking
 * struct sk_buff *, global and per-CPU variables of its own struct type, a kfunc set
 * (BTF_SET8 / BTF_KFUNCS) and a BTF_ID_LIST, so that its .BTF_ids section holds
 * __BTF_ID__ symbols naming both kernel and module types.
 *
 * Built against a kernel's headers only (no vmlinux), kbuild gives it no .BTF and
 * resolve_btfids never fills its .BTF_ids: every id below reads 0, and so does the kfunc
 * set's count (resolve_btfids writes it too; the flags words are there from the
 * compiler). kbtf's relocation is meant to fill them. module_init prints them, and the
 * return value of register_btf_kfunc_id_set(). That needs the module's BTF: without it
 * Linux 6.1 and 6.12 log "missing module BTF, cannot register kfunc(s)" and return 0.
 * Loading never fails because of BTF.
 *
 * Compiles against Linux 6.1 and 6.12 headers: BTF_KFUNCS_START and __bpf_kfunc are in
 * 6.12's headers but not in 6.1's, so they are feature-tested with #ifdef.
 */
#include <linux/module.h>
#include <linux/init.h>
#include <linux/skbuff.h>
#include <linux/if_ether.h>
#include <linux/percpu.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>

#include "kbtf_sample.h"

#ifndef __bpf_kfunc
#define __bpf_kfunc __used noinline
#endif

/* Newer kernels tag kfunc sets with BTF_SET8_KFUNCS (register_btf_kfunc_id_set requires
 * it); older ones only have BTF_SET8_START. */
#ifdef BTF_KFUNCS_START
#define KBTF_SAMPLE_KFUNCS_START BTF_KFUNCS_START
#define KBTF_SAMPLE_KFUNCS_END BTF_KFUNCS_END
#else
#define KBTF_SAMPLE_KFUNCS_START BTF_SET8_START
#define KBTF_SAMPLE_KFUNCS_END BTF_SET8_END
#endif


/* A global variable of the module's own type. */
struct kbtf_sample_stats kbtf_sample_global_stats = {
	.node = LIST_HEAD_INIT(kbtf_sample_global_stats.node),
};

/* A per-CPU variable of the module's own type (pahole gives per-CPU variables a VAR). */
DEFINE_PER_CPU(struct kbtf_sample_stats, kbtf_sample_pcpu_stats);

/* Takes struct sk_buff *: its BTF prototype refers to the kernel's struct sk_buff.
 * Exported and called with two different stats pointers, so that gcc keeps it whole
 * (no .constprop or .isra clone). */
noinline u32 kbtf_sample_account(struct kbtf_sample_stats *stats, struct sk_buff *skb)
{
	u16 proto = ntohs(skb->protocol);

	stats->packets++;
	stats->bytes += skb->len;
	stats->last_protocol = proto;
	stats->last_len = skb->len;
	if (proto == ETH_P_IP)
		stats->last_kind = KBTF_SAMPLE_SEEN_IPV4;
	else if (proto == ETH_P_IPV6)
		stats->last_kind = KBTF_SAMPLE_SEEN_IPV6;
	else
		stats->last_kind = KBTF_SAMPLE_SEEN_OTHER;
	stats->flags |= stats->last_kind;
	return stats->flags;
}
EXPORT_SYMBOL_GPL(kbtf_sample_account);

__bpf_kfunc u64 kbtf_sample_kfunc_packets(struct sk_buff *skb)
{
	return READ_ONCE(kbtf_sample_global_stats.packets) + (skb ? skb->len : 0);
}

__bpf_kfunc u32 kbtf_sample_kfunc_flags(struct kbtf_sample_stats *stats)
{
	return stats ? READ_ONCE(stats->flags) : 0;
}

KBTF_SAMPLE_KFUNCS_START(kbtf_sample_kfunc_ids)
BTF_ID_FLAGS(func, kbtf_sample_kfunc_packets)
BTF_ID_FLAGS(func, kbtf_sample_kfunc_flags, KF_TRUSTED_ARGS)
KBTF_SAMPLE_KFUNCS_END(kbtf_sample_kfunc_ids)

static const struct btf_kfunc_id_set kbtf_sample_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &kbtf_sample_kfunc_ids,
};

BTF_ID_LIST(kbtf_sample_ids)
BTF_ID(struct, sk_buff)
BTF_ID(struct, kbtf_sample_stats)

static int __init kbtf_sample_init(void)
{
	struct sk_buff *skb;
	u32 flags = 0;
	int ret;

	/* Use the sk_buff function on a real skb, so that it is not optimized away. */
	skb = alloc_skb(64, GFP_KERNEL);
	if (skb) {
		skb_put_zero(skb, 60);
		skb->protocol = htons(ETH_P_IP);
		flags = kbtf_sample_account(&kbtf_sample_global_stats, skb);
		kbtf_sample_account(get_cpu_ptr(&kbtf_sample_pcpu_stats), skb);
		put_cpu_ptr(&kbtf_sample_pcpu_stats);
		kfree_skb(skb);
	}
	pr_info("kbtf_sample: loaded: packets=%llu bytes=%llu flags=%#x\n",
		kbtf_sample_global_stats.packets, kbtf_sample_global_stats.bytes, flags);

	/* What .BTF_ids holds after loading (0 when nothing resolved it). */
	pr_info("kbtf_sample: btf_ids: sk_buff=%u kbtf_sample_stats=%u\n",
		kbtf_sample_ids[0], kbtf_sample_ids[1]);
	pr_info("kbtf_sample: kfunc set: cnt=%u flags=%#x ids=%u,%u pair_flags=%#x,%#x\n",
		kbtf_sample_kfunc_ids.cnt, kbtf_sample_kfunc_ids.flags,
		kbtf_sample_kfunc_ids.pairs[0].id, kbtf_sample_kfunc_ids.pairs[1].id,
		kbtf_sample_kfunc_ids.pairs[0].flags, kbtf_sample_kfunc_ids.pairs[1].flags);

	/* Needs the module's BTF ("missing module BTF" in the log when the kernel has none
	 * for it). Reported, never fatal. */
	ret = register_btf_kfunc_id_set(BPF_PROG_TYPE_SCHED_CLS, &kbtf_sample_kfunc_set);
	pr_info("kbtf_sample: register_btf_kfunc_id_set(SCHED_CLS) = %d\n", ret);
	return 0;
}

static void __exit kbtf_sample_exit(void)
{
	pr_info("kbtf_sample: unloaded\n");
}

module_init(kbtf_sample_init);
module_exit(kbtf_sample_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kbtf test module: own types, a struct sk_buff * function, kfuncs, BTF_ID_LIST");
