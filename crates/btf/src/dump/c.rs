//! The C dump: BTF types as compilable C declarations, like
//! `bpftool btf dump file F format c` (libbpf's `btf_dump`) prints them.
//!
//! Every type id from 1 up is taken in turn as a root, base types included for split BTF,
//! as bpftool does. For each root the dumper first orders the definitions the root needs
//! (see [`order`]) and then emits them (see [`emit`]): a struct must be fully defined
//! before another struct embeds it, while a pointer to it only needs a forward declaration.
//! Anonymous structs, unions and enums are written inline where they are used; names that
//! several distinct types share get a `___N` suffix from the second on, as libbpf does, so
//! that the output compiles. Struct layouts are reproduced with explicit padding fields and
//! `__attribute__((packed))` where the recorded offsets need it (see [`layout`]).
//!
//! The output is wrapped in the `__VMLINUX_H__` include guard and the clang
//! `preserve_access_index` pragma that bpftool emits; compilers other than clang ignore the
//! unknown pragma.
//!
//! For Debian's 6.1 vmlinux the output is byte for byte bpftool 7.1's. It differs where
//! bpftool's layout is wrong, by attributes only: enums of size 1 or 8 get
//! `__attribute__((mode(byte)))` or `mode(word)` (as later libbpf does); unions get
//! `__attribute__((packed))` or `__attribute__((aligned(N)))` when their recorded size needs
//! it; and padding inside packed structs always starts with an alignment marker. With these,
//! every module's C dump reproduces the recorded size and member offsets of its structs.
//!
//! Malformed input never panics: broken type references are written as `void`, reference
//! cycles that C cannot express are reported in a C comment and skipped.

mod decl;
mod emit;
mod layout;
mod names;
mod order;

use std::io::{self, Write};

use crate::btf::Btf;
use crate::types::TypeId;

use layout::Layout;
use names::Names;

/// The start of the header, as bpftool writes it.
const PROLOGUE: &str = "#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

";

/// The end of the header, as bpftool writes it.
const EPILOGUE: &str = "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
";

/// Bytes gathered before each write to the output.
const CHUNK: usize = 64 * 1024;

/// Writes every type of `btf` (for split BTF: the base's and its own) as C declarations.
pub fn dump_c(btf: &Btf, out: &mut dyn Write) -> io::Result<()> {
    let mut d = CDump::new(btf);
    d.buf.extend_from_slice(PROLOGUE.as_bytes());
    for id in 1..btf.end_id() {
        d.dump_root(id);
        if d.buf.len() >= CHUNK {
            out.write_all(&d.buf)?;
            d.buf.clear();
        }
    }
    d.buf.extend_from_slice(EPILOGUE.as_bytes());
    out.write_all(&d.buf)
}

/// Where a type stands in ordering: definitions are ordered once, and meeting a type that is
/// still being ordered means a reference cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum OrderState {
    #[default]
    NotOrdered,
    Ordering,
    Ordered,
}

/// Where a type stands in emission: meeting a type that is being emitted means it is
/// referenced from inside itself, which a forward declaration resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum EmitState {
    #[default]
    NotEmitted,
    Emitting,
    Emitted,
}

/// Per-type bookkeeping of the dumper.
#[derive(Debug, Clone, Copy, Default)]
struct TypeState {
    order: OrderState,
    emit: EmitState,
    /// A forward declaration (for a typedef: the typedef itself) has been written.
    fwd_emitted: bool,
    /// Some other type refers to this one. Anonymous enums nothing refers to are top-level
    /// constant declarations and are emitted on their own.
    referenced: bool,
}

/// The state of one C dump.
struct CDump<'a> {
    btf: &'a Btf,
    layout: Layout<'a>,
    /// Indexed by type id, 0 (void) included.
    states: Vec<TypeState>,
    names: Names<'a>,
    /// Definitions to emit for the current root, in order.
    queue: Vec<TypeId>,
    /// How many declarations are being written inside one another.
    decl_depth: u32,
    /// Output not yet handed to the writer.
    buf: Vec<u8>,
}

impl<'a> CDump<'a> {
    fn new(btf: &'a Btf) -> CDump<'a> {
        let n = btf.end_id() as usize;
        let mut states = vec![TypeState::default(); n.max(1)];
        states[0].order = OrderState::Ordered;
        states[0].emit = EmitState::Emitted;
        for id in 1..btf.end_id() {
            if let Some(t) = btf.type_by_id(id) {
                t.for_each_ref(|r| {
                    if let Some(s) = states.get_mut(r as usize) {
                        s.referenced = true;
                    }
                });
            }
        }
        CDump {
            btf,
            layout: Layout::new(btf),
            states,
            names: Names::new(btf),
            queue: Vec::new(),
            decl_depth: 0,
            buf: Vec::with_capacity(CHUNK + 4096),
        }
    }

    /// The state of `id`, or `None` for ids outside the BTF.
    fn state(&mut self, id: TypeId) -> Option<&mut TypeState> {
        self.states.get_mut(id as usize)
    }

    /// Orders and emits everything type `id` needs, then `id` itself, skipping what earlier
    /// roots already emitted.
    fn dump_root(&mut self, id: TypeId) {
        self.queue.clear();
        if let Err(e) = self.order(id, false, 0) {
            // The definitions ordered before the cycle was found are still emitted, so that
            // what follows can refer to them.
            let _ = write!(self.buf, "/* kbtf: skipping type [{id}]: {e} */\n\n");
        }
        let queue = std::mem::take(&mut self.queue);
        for &q in &queue {
            self.emit_type(q, 0, 0);
        }
        self.queue = queue;
    }
}
