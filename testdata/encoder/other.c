/* Second unit for the `ld -r` fixture: repeats a type and a function name of shapes.c. */
struct list { struct list *next, *prev; };

struct list other_head;

int entry2(struct list *l)
{
	return l->next == l;
}
