/* symbols.h — the head's symbol table: every label string stored once,
 * named by a 32-bit id (private to tsdb/).
 *
 * Strings are NUL-terminated in append-only arenas and never move or die
 * before the table, so symtab_str() pointers stay valid for its lifetime and
 * can be handed out as label_t strings without copying. Lookup is a hash
 * table split in 64 shards by the string's xxh3, each under a rwlock;
 * id -> string is a paged array read without any lock. Thread-safe. */
#ifndef PL_TSDB_SYMBOLS_H
#define PL_TSDB_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct symtab symtab_t;

symtab_t *symtab_new(void);
void symtab_free(symtab_t *st);
/* The id of s (len bytes, no NUL inside), adding it if new. -1 on
 * allocation failure or when the table is full (2^28 symbols). */
int symtab_intern(symtab_t *st, const char *s, size_t len, uint32_t *id);
/* The id of s if present. */
bool symtab_find(symtab_t *st, const char *s, size_t len, uint32_t *id);
/* The string of an id obtained from this table. */
const char *symtab_str(const symtab_t *st, uint32_t id);
uint32_t symtab_count(const symtab_t *st);
size_t symtab_bytes(const symtab_t *st); /* memory held */

#endif
