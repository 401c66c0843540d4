/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kbtf_sample: a small out-of-tree module for kbtf's "without vmlinux" test (issue 5).
 * Its own types live here, so that DWARF says they come from this directory and not from
 * the kernel's headers.
 */
#ifndef KBTF_SAMPLE_H
#define KBTF_SAMPLE_H

#include <linux/types.h>
#include <linux/list.h>

struct sk_buff;

enum kbtf_sample_flag {
	KBTF_SAMPLE_SEEN_IPV4 = 1 << 0,
	KBTF_SAMPLE_SEEN_IPV6 = 1 << 1,
	KBTF_SAMPLE_SEEN_OTHER = 1 << 2,
};

/* The module's own struct: its members mix base types, an enum of its own and a kernel
 * type (struct list_head). */
struct kbtf_sample_stats {
	u64 packets;
	u64 bytes;
	u32 flags; /* enum kbtf_sample_flag bits */
	enum kbtf_sample_flag last_kind;
	u16 last_protocol;
	u16 last_len;
	struct list_head node;
};

u32 kbtf_sample_account(struct kbtf_sample_stats *stats, struct sk_buff *skb);

/* The kfuncs (BTF_ID_FLAGS needs them global; declared here for -Wmissing-prototypes). */
u64 kbtf_sample_kfunc_packets(struct sk_buff *skb);
u32 kbtf_sample_kfunc_flags(struct kbtf_sample_stats *stats);

#endif /* KBTF_SAMPLE_H */
