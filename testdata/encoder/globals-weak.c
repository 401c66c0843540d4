/*
 * The second unit of globals-ldr.o (ld -r of globals.o and this): a weak definition that
 * globals.c's strong one overrides. Both DIEs keep a location, and after linking both point
 * at the strong definition's bytes: pahole 1.28 encodes two VARs at one offset, which the
 * kernel refuses; kbtf keeps the first (see docs/encoder.md).
 */

__attribute__((weak)) long overridden = 1;

long globals_weak_entry(void)
{
	return overridden;
}
