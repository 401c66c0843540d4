#!/bin/sh
# Rebuilds the encoder fixtures and pahole 1.24's BTF for each (Debian 12: gcc 12,
# binutils 2.40, dwarves 1.24). Run from this directory: sh build.sh
set -e
CFLAGS="-g -O2 -fdebug-prefix-map=$(pwd)=. -fno-asynchronous-unwind-tables"
gcc $CFLAGS -gdwarf-5 -c shapes.c -o shapes-dwarf5.o
gcc $CFLAGS -gdwarf-4 -c shapes.c -o shapes-dwarf4.o
gcc $CFLAGS -gdwarf-5 -gz=zlib-gnu -c shapes.c -o shapes-zdebug.o
objcopy --compress-debug-sections=zlib shapes-dwarf5.o shapes-zlib.o
objcopy --compress-debug-sections=zstd shapes-dwarf5.o shapes-zstd.o
gcc $CFLAGS -gdwarf-5 -c other.c -o other.o
ld -r shapes-dwarf5.o other.o -o shapes-ldr.o
rm -f other.o
# The --btf_features fixtures (optimized_func, consistent_func, global_var): no pahole of
# those versions is installable here, so they have golden dumps instead of pahole output.
gcc $CFLAGS -gdwarf-5 -c proto-a.c -o proto-a.o
gcc $CFLAGS -gdwarf-5 -c proto-b.c -o proto-b.o
ld -r proto-a.o proto-b.o -o protos-ldr.o
rm -f proto-a.o proto-b.o
gcc $CFLAGS -gdwarf-5 -c clones.c -o clones.o
gcc $CFLAGS -gdwarf-4 -c clones.c -o clones-dwarf4.o
gcc $CFLAGS -gdwarf-5 -c globals.c -o globals.o
gcc $CFLAGS -gdwarf-5 -c globals-weak.c -o globals-weak.o
ld -r globals.o globals-weak.o -o globals-ldr.o
rm -f globals-weak.o
# decl_tag_kfuncs: .BTF_ids kfunc sets as Linux 6.9+ lays them out. Its reference is pahole
# 1.30 (Debian 13's), which `cargo xtask pahole-next` unpacks without installing it;
# PAHOLE_NEXT names that pahole (the fixture is rebuilt without it, the reference is not).
gcc $CFLAGS -gdwarf-5 -c kfuncs.c -o kfuncs.o
gcc $CFLAGS -gdwarf-5 -c kfuncs-truncated.c -o kfuncs-truncated.o
# The same on s390x (big-endian: the sets' words in that byte order), with Debian's cross gcc.
s390x-linux-gnu-gcc $CFLAGS -gdwarf-5 -c kfuncs.c -o kfuncs-s390x.o
if [ -n "$PAHOLE_NEXT" ]; then
	for o in kfuncs kfuncs-s390x; do
		rm -f $o.pahole130.btf
		LLVM_OBJCOPY=objcopy "$PAHOLE_NEXT" --btf_encode_detached $o.pahole130.btf \
			--btf_features=encode_force,var,float,enum64,decl_tag,type_tag,decl_tag_kfuncs $o.o
	done
fi
# The type-origin fixtures (--standalone): compiled as kbuild compiles modules, from the
# kernel tree (comp_dir), which the prefix maps name /usr/src/linux; the out-of-tree module
# by its absolute path, named /home/user/extmod.
ORIG=$(pwd)/origins
for v in 4 5; do
	OFLAGS="-g -O2 -gdwarf-$v -fno-asynchronous-unwind-tables -I./include \
		-fdebug-prefix-map=$ORIG/kernel=/usr/src/linux -fdebug-prefix-map=$ORIG/extmod=/home/user/extmod"
	(cd origins/kernel &&
		gcc $OFLAGS -c drivers/mymod/mymod.c -o /tmp/kbtf-mymod.o &&
		gcc $OFLAGS -c drivers/mymod/helper.c -o /tmp/kbtf-helper.o &&
		gcc $OFLAGS -c drivers/mymod/mymod.mod.c -o /tmp/kbtf-mymod.mod.o &&
		gcc $OFLAGS -c $ORIG/extmod/src/ext.c -o /tmp/kbtf-ext.o &&
		gcc $OFLAGS -c $ORIG/extmod/ext.mod.c -o /tmp/kbtf-ext.mod.o)
	ld -r /tmp/kbtf-mymod.o /tmp/kbtf-helper.o /tmp/kbtf-mymod.mod.o -o origins-intree-dwarf$v.o
	ld -r /tmp/kbtf-ext.o /tmp/kbtf-ext.mod.o -o origins-extmod-dwarf$v.o
	rm -f /tmp/kbtf-mymod.o /tmp/kbtf-helper.o /tmp/kbtf-mymod.mod.o /tmp/kbtf-ext.o /tmp/kbtf-ext.mod.o
done
# pahole 1.24 with Debian's elfutils cannot read zstd-compressed sections: shapes-zstd.o is
# compared with shapes-dwarf5.pahole.btf (the same DWARF, uncompressed).
for o in shapes-dwarf5 shapes-dwarf4 shapes-zdebug shapes-zlib shapes-ldr; do
	cp $o.o /tmp/kbtf-fixture.o
	LLVM_OBJCOPY=objcopy pahole -J /tmp/kbtf-fixture.o
	objcopy --dump-section .BTF=$o.pahole.btf /tmp/kbtf-fixture.o
	rm -f /tmp/kbtf-fixture.o
done
