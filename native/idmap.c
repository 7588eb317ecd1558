/* Id -> object map: see idmap.h. */
#include "idmap.h"

#include <stdlib.h>

static size_t slot_of(uint64_t id, size_t cap)
{
    id *= 0x9E3779B97F4A7C15ULL; /* Fibonacci hashing spreads sequential ids */
    return (size_t)(id >> 32) & (cap - 1);
}

void sc_idmap_init(sc_idmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void sc_idmap_free(sc_idmap *m)
{
    free(m->slots);
    sc_idmap_init(m);
}

void *sc_idmap_get(const sc_idmap *m, uint64_t id)
{
    if (m->cap == 0 || id == 0)
        return NULL;
    for (size_t i = slot_of(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].id == id)
            return m->slots[i].value;
        if (m->slots[i].id == 0)
            return NULL;
    }
}

static int grow(sc_idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    sc_idmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t j = 0; j < m->cap; j++) {
        if (m->slots[j].id == 0)
            continue;
        size_t i = slot_of(m->slots[j].id, cap);
        while (slots[i].id != 0)
            i = (i + 1) & (cap - 1);
        slots[i] = m->slots[j];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int sc_idmap_put(sc_idmap *m, uint64_t id, void *value)
{
    if ((m->count + 1) * 2 > m->cap && grow(m) < 0)
        return -1;
    size_t i = slot_of(id, m->cap);
    while (m->slots[i].id != 0 && m->slots[i].id != id)
        i = (i + 1) & (m->cap - 1);
    if (m->slots[i].id == 0)
        m->count++;
    m->slots[i].id = id;
    m->slots[i].value = value;
    return 0;
}

void *sc_idmap_remove(sc_idmap *m, uint64_t id)
{
    if (m->cap == 0 || id == 0)
        return NULL;
    size_t mask = m->cap - 1, i = slot_of(id, m->cap);
    while (m->slots[i].id != id) {
        if (m->slots[i].id == 0)
            return NULL;
        i = (i + 1) & mask;
    }
    void *value = m->slots[i].value;
    /* backward-shift: pull later members of the probe run into the hole */
    for (size_t j = (i + 1) & mask; m->slots[j].id != 0; j = (j + 1) & mask) {
        size_t home = slot_of(m->slots[j].id, m->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].id = 0;
    m->slots[i].value = NULL;
    m->count--;
    return value;
}
