/* Id -> object map used by the Python-facing side only (under the GIL), so Python holds plain
 * integer ids and can never hand the engine a dangling pointer. Open addressing with linear
 * probing and backward-shift deletion; ids are never 0. */
#ifndef SC_IDMAP_H
#define SC_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sc_idmap_slot {
    uint64_t id;
    void *value;
} sc_idmap_slot;

typedef struct sc_idmap {
    sc_idmap_slot *slots;
    size_t cap; /* power of two */
    size_t count;
} sc_idmap;

void sc_idmap_init(sc_idmap *m);
void sc_idmap_free(sc_idmap *m);
void *sc_idmap_get(const sc_idmap *m, uint64_t id);
int sc_idmap_put(sc_idmap *m, uint64_t id, void *value); /* 0 = ok, -1 = out of memory */
void *sc_idmap_remove(sc_idmap *m, uint64_t id);

#endif
