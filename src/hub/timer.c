/* The hub's timer heap: see timer.h. */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>

void timer_heap_init(timer_heap_t *heap)
{
    heap->entries = NULL;
    heap->count = 0;
    heap->capacity = 0;
    heap->next_seq = 0;
}

void timer_heap_free(timer_heap_t *heap)
{
    for (size_t i = 0; i < heap->count; i++)
        heap->entries[i].node->index = TIMER_DETACHED;
    free(heap->entries);
    timer_heap_init(heap);
}

static int entry_before(const timer_entry_t *a, const timer_entry_t *b)
{
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    return a->seq < b->seq;
}

static void place(timer_heap_t *heap, size_t index, timer_entry_t entry)
{
    heap->entries[index] = entry;
    entry.node->index = index;
}

static void sift_up(timer_heap_t *heap, size_t index, timer_entry_t entry)
{
    while (index > 0) {
        size_t parent = (index - 1) / 2;

        if (!entry_before(&entry, &heap->entries[parent]))
            break;
        place(heap, index, heap->entries[parent]);
        index = parent;
    }
    place(heap, index, entry);
}

static void sift_down(timer_heap_t *heap, size_t index, timer_entry_t entry)
{
    for (;;) {
        size_t child = 2 * index + 1;

        if (child >= heap->count)
            break;
        if (child + 1 < heap->count &&
            entry_before(&heap->entries[child + 1], &heap->entries[child]))
            child++;
        if (!entry_before(&heap->entries[child], &entry))
            break;
        place(heap, index, heap->entries[child]);
        index = child;
    }
    place(heap, index, entry);
}

int timer_heap_push(timer_heap_t *heap, timer_node_t *node, double deadline)
{
    if (heap->count == heap->capacity) {
        size_t capacity = heap->capacity ? heap->capacity * 2 : 64;
        timer_entry_t *entries =
            realloc(heap->entries, capacity * sizeof(*entries));

        if (entries == NULL)
            return ENOMEM;
        heap->entries = entries;
        heap->capacity = capacity;
    }
    node->deadline = deadline;
    node->seq = heap->next_seq++;
    heap->count++;
    sift_up(
        heap, heap->count - 1,
        (timer_entry_t){.deadline = deadline, .seq = node->seq, .node = node});
    return 0;
}

void timer_heap_remove(timer_heap_t *heap, timer_node_t *node)
{
    size_t index = node->index;
    timer_entry_t last;

    if (index == TIMER_DETACHED)
        return;
    node->index = TIMER_DETACHED;
    last = heap->entries[--heap->count];
    if (index == heap->count)
        return;
    /* The last entry fills the hole and moves whichever way it belongs. */
    if (index > 0 && entry_before(&last, &heap->entries[(index - 1) / 2]))
        sift_up(heap, index, last);
    else
        sift_down(heap, index, last);
}
