/* A module header in a subdirectory of the module's source directory. */
struct mymod_deep {
	int depth;
};
